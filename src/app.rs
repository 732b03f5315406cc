//! Assembling the application: open the store, migrate, import the default survey, bind, serve.
//! `chorus serve` and the integration tests both start Chorus through here.

use std::{net::TcpListener, sync::Arc, time::Duration};

use anyhow::Context;

use crate::{
    config::Config,
    i18n::I18n,
    intake::{self, Intake, token::FormTokens},
    keyring::Keyring,
    store::Store,
    web::{self, AppState},
};

pub struct Application {
    pub state: Arc<AppState>,
    pub server: actix_web::dev::Server,
    pub port: u16,
}

/// Open and migrate the store named by the configuration; create the data folder for SQLite.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("could not create the data folder {}", config.data_dir.display()))?;
    let store = Store::open(&config.database_url, config.sqlite_synchronous)
        .with_context(|| format!("could not open the database {}", config.database_url))?;
    store.migrate().context("could not migrate the database")?;
    let mut conn = store.conn()?;
    intake::ensure_default_survey(&mut conn).context("could not import the default survey")?;
    Ok(store)
}

pub fn keyring(config: &Config) -> Arc<Keyring> {
    Arc::new(Keyring::new(config.kdf, config.epoch_max_answers))
}

impl Application {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let store = open_store(&config)?;
        let listener =
            TcpListener::bind(&config.bind).with_context(|| format!("could not listen on {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let intake = Intake::new(store.clone(), keyring(&config), FormTokens::new(Duration::ZERO));
        let state = Arc::new(AppState { store, intake, i18n: I18n::load(), config });
        let server = web::serve(listener, state.clone())?;
        Ok(Self { state, server, port })
    }
}
