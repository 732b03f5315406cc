//! Assembling the application: open the store, migrate, import the default survey, bind, serve.
//! `chorus serve` and the integration tests both start Chorus through here.

use std::{
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use secrecy::SecretString;

use crate::{
    clock::Clock,
    config::Config,
    i18n::I18n,
    intake::{self, Intake, flood::FloodStats, limits::Limits, token::FormTokens, writer::Writer},
    keyring::Keyring,
    seal::random,
    staff::{Accounts, Passwords},
    store::Store,
    web::{self, AppState},
};

pub struct Application {
    pub state: Arc<AppState>,
    pub server: actix_web::dev::Server,
    pub port: u16,
    /// The PROXY-protocol listener's port, when `proxy_protocol_bind` is set.
    pub proxy_port: Option<u16>,
    /// The `/metrics` listener's port, when `metrics_bind` is set.
    pub metrics_port: Option<u16>,
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
    // The release-signing key is made on the first start that has a report key to seal it to.
    crate::report::signing::ensure_key(&mut conn, &crate::month::today())
        .context("could not make the release-signing key")?;
    Ok(store)
}

/// The submit path's services: keys, form tokens, in-memory limits and flood counts.
pub fn intake(config: &Config, store: Store, clock: Arc<Clock>) -> Result<Intake, crate::store::StoreError> {
    let limits = Limits::new(clock.clone(), &config.limits);
    let flood = FloodStats::new(clock.clone(), config.limits.flood_alert_factor);
    let tokens = FormTokens::new(Duration::from_secs(config.limits.min_fill_seconds), clock);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let writer = Writer::start(&store, metrics.clone())?;
    Ok(Intake::new(store, keyring(config), tokens, limits, flood, writer, metrics))
}

pub fn accounts(config: &Config, clock: Arc<Clock>) -> Accounts {
    Accounts::new(Passwords::new(config.passwords), clock)
}

/// Where the one-time setup code is written when standard output is not a terminal (a container's or
/// service manager's log would keep it): `setup-code` in the data folder, readable by the owner only.
pub fn setup_file(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("setup-code")
}

/// Write the setup code to [`setup_file`], created with mode 0600 (replacing an older one).
pub fn write_setup_file(config: &Config, code: &str) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = setup_file(config);
    forget_setup_file(config);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(file, "{code}")?;
    Ok(path)
}

/// Remove the setup-code file, once setup is done or when a new process makes a new code.
pub fn forget_setup_file(config: &Config) {
    match std::fs::remove_file(setup_file(config)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(error = %e, "could not remove the setup-code file");
        }
        _ => {}
    }
}

fn any_admin(store: &Store) -> anyhow::Result<bool> {
    let mut conn = store.conn()?;
    Ok(crate::store::staff::any_admin(&mut conn)?)
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
        let proxied = match &config.proxy_protocol_bind {
            Some(bind) => {
                Some(TcpListener::bind(bind).with_context(|| format!("could not listen on {bind} (PROXY protocol)"))?)
            }
            None => None,
        };
        let proxy_port = proxied.as_ref().map(TcpListener::local_addr).transpose()?.map(|a| a.port());
        let metrics = match &config.metrics_bind {
            Some(bind) => {
                Some(TcpListener::bind(bind).with_context(|| format!("could not listen on {bind} (metrics)"))?)
            }
            None => None,
        };
        let metrics_port = metrics.as_ref().map(TcpListener::local_addr).transpose()?.map(|a| a.port());
        let clock = Arc::new(Clock::default());
        let intake = intake(&config, store.clone(), clock.clone())?;
        let accounts = accounts(&config, clock.clone());
        // While no admin exists, a random one-time token lets the person at the console finish setup.
        let setup_token = if any_admin(&store)? {
            forget_setup_file(&config);
            None
        } else {
            Some(SecretString::from(hex::encode(random::<16>())))
        };
        let state = Arc::new(AppState {
            store,
            intake,
            accounts,
            i18n: I18n::load(),
            passphrase_tries: crate::keyring::PassphraseTries::new(clock.clone()),
            pending_runs: crate::report::PendingRuns::new(clock.clone(), config.pending_run_ttl),
            clock,
            setup_token: Mutex::new(setup_token),
            pending_imports: Mutex::default(),
            config,
        });
        let server = web::serve(listener, proxied, state.clone())?;
        if let Some(listener) = metrics {
            // A server of its own: its own port, no other route, stopped with the process.
            actix_web::rt::spawn(web::serve_metrics(listener, state.intake.metrics.clone())?);
        }
        // On a schedule: the scrub (arrival order off the disk), then the totals of any month that
        // has ended. Hourly detail stays in RAM; nothing respondent-related is written finer.
        let every = state.config.scrub_interval;
        let scheduled = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval_at(actix_web::rt::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                scrub_and_flush(&scheduled, false).await;
            }
        });
        // Releases waiting for stewards expire on time even if no one opens the reports page: their
        // shares must not outlive the expiry in RAM.
        let waiting = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if !waiting.pending_runs.any_expired() {
                    continue;
                }
                let st = waiting.clone();
                if let Err(e) = waiting.store.run(move |c| st.pending_runs.expire(c, &st.accounts)).await {
                    tracing::warn!(error = %e, "could not expire waiting releases");
                }
            }
        });
        // Sealed answers past their retention are destroyed on the hour (and at start).
        let keeper = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let st = keeper.clone();
                match keeper.store.run(move |c| crate::retention::run_due(c, &st.accounts)).await {
                    Ok(done) => {
                        for (slug, n) in done {
                            tracing::info!(survey = %slug, destroyed = n, "sealed answers destroyed: retention period over");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not apply the retention periods"),
                }
            }
        });
        Ok(Self { state, server, port, proxy_port, metrics_port })
    }
}

/// The scrub and the monthly totals (`all`: the current month's too, at shutdown). Failures are
/// logged, never fatal: the next run retries.
pub async fn scrub_and_flush(state: &Arc<AppState>, all: bool) {
    let st = state.clone();
    if let Err(e) = state.store.run(move |c| intake::flush_monthly(&st.intake, c, all)).await {
        tracing::warn!(error = %e, "could not write the monthly intake totals");
    }
    match state.intake.scrub(false).await {
        Ok(r) => tracing::info!(
            answers = r.answers_rewritten,
            ms = r.took.as_millis() as u64,
            wal_emptied = r.wal_emptied,
            "scrub done"
        ),
        Err(e) => tracing::warn!(error = %e, "scrub failed; the next one retries"),
    }
}
