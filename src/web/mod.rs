//! HTTP: routes grouped by audience (public pages, JSON API), the security-header and request-log
//! middleware, and the embedded static files.

mod api;
mod auth;
pub mod body;
mod delivery;
mod explore;
mod keys;
mod middleware;
mod pages;
mod proxy;
mod public;
mod reports;
mod respond;
mod staff;
mod surveys;
mod verify;

use std::{
    net::{IpAddr, TcpListener},
    sync::{Arc, Mutex},
};

use secrecy::SecretString;

use actix_web::{App, HttpResponse, dev::Server, web};

use crate::{
    assets,
    clock::Clock,
    config::Config,
    i18n::I18n,
    intake::{Client, Intake, Prepared, Receipt, SubmitError, Via, flood::Outcome},
    staff::Accounts,
    store::Store,
    survey::{RawAnswers, Survey},
};

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub intake: Intake,
    pub accounts: Accounts,
    pub i18n: I18n,
    pub clock: Arc<Clock>,
    /// The one-time setup token, while no admin exists; it lives only in this process's memory.
    pub setup_token: Mutex<Option<SecretString>>,
    /// Wrong steward passphrases at report runs, per account and overall, in RAM.
    pub passphrase_tries: crate::keyring::PassphraseTries,
    /// Releases asked for on the web, waiting for their stewards' shares (RAM only).
    pub pending_runs: crate::report::PendingRuns,
    /// Changed survey definitions shown to an admin as a diff, waiting for confirmation (RAM only).
    pub pending_imports: Mutex<std::collections::HashMap<String, surveys::PendingImport>>,
}

/// The address a request comes from: the source a PROXY-protocol header named (on that listener
/// only), else the one configured proxy header, else the peer. It goes to the in-memory rate limiter
/// and nowhere else.
fn client_address(req: &actix_web::HttpRequest, trusted_header: Option<&str>) -> Option<Client> {
    if let Some(proxy::Proxied(addr)) = req.conn_data::<proxy::Proxied>() {
        // The PROXY header is the only signal on this listener; forwarding headers are not read.
        return Some(Client { addr: *addr, proxied: true });
    }
    let addr: IpAddr = match trusted_header {
        Some(name) => {
            // A proxy that appends to X-Forwarded-For puts the address it saw last.
            let value = req.headers().get(name)?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse().ok()?
        }
        None => req.peer_addr()?.ip(),
    };
    Some(Client { addr, proxied: false })
}

impl AppState {
    /// The slug behind a public survey path (`/s/{path}`, `/api/v1/surveys/{path}`), if any.
    pub async fn slug_for_path(self: Arc<Self>, path: String) -> Result<Option<String>, crate::store::StoreError> {
        if let Some(known) = self.intake.surveys.cached_slug_for_path(&self.config.survey_paths, &path) {
            return Ok(known);
        }
        let st = self.clone();
        self.store.run(move |conn| st.intake.surveys.slug_for_path(conn, &st.config.survey_paths, &path)).await
    }

    /// A survey's public path (without `/s/`).
    pub fn public_path(&self, slug: &str) -> String {
        self.config.survey_paths.path_for(slug)
    }

    /// The submit path shared by the form and the API. The checks and the sealing take microseconds
    /// and run here, on the actix worker, when what they read is in memory (it nearly always is); what
    /// needs the database (a code, a survey status older than a second, a new epoch) runs on the
    /// blocking pool. Then the one hand-off: the group-commit writer. The receipt comes back only after
    /// the row is committed.
    pub async fn submit(
        self: Arc<Self>,
        slug: String,
        raw: RawAnswers,
        via: Via,
        code: Option<String>,
        client: Option<Client>,
    ) -> Result<(Receipt, Arc<Survey>), SubmitError> {
        let metrics = self.intake.metrics.clone();
        let outcome = self.submit_counted(slug, raw, via, code, client).await;
        match &outcome {
            Ok(_) => metrics.accepted(),
            Err(e) => metrics.refused(e.refusal()),
        }
        outcome
    }

    async fn submit_counted(
        self: Arc<Self>,
        slug: String,
        raw: RawAnswers,
        via: Via,
        code: Option<String>,
        client: Option<Client>,
    ) -> Result<(Receipt, Arc<Survey>), SubmitError> {
        let found = match self.intake.look_up(None, &slug, &via, code.as_deref())? {
            Some(found) => found,
            None => {
                let st = self.clone();
                let (slug, via) = (slug.clone(), via.clone());
                self.store
                    .run(move |c| st.intake.look_up(Some(c), &slug, &via, code.as_deref()))
                    .await?
                    .expect("a lookup with a connection always answers")
            }
        };
        let checked = self.intake.check(found, &raw, &via, client)?;
        let prepared = match self.intake.seal(None, &checked)? {
            Some(prepared) => prepared,
            None => {
                let st = self.clone();
                self.store.run(move |c| st.intake.seal(Some(c), &checked)).await?.expect("sealed with a connection")
            }
        };
        self.intake.prepare_epoch_if_due();
        let Prepared { row, token, code, mut receipt, survey } = prepared;
        let spent_token = token.is_some();
        receipt.place(self.intake.writer.commit(row, token, code).await?);
        self.intake.flood.record(&survey.slug, Outcome::Accepted);
        if spent_token && self.intake.tokens.note_spend() {
            let st = self.clone();
            if let Err(e) = self.store.run(move |c| st.intake.tokens.rotate_if_worn(c)).await {
                tracing::warn!(error = %e, "could not rotate the form-token key");
            }
        }
        Ok((receipt, survey))
    }
}

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/static/style.css", web::get().to(|| async { asset(assets::STYLE, "text/css; charset=utf-8") }))
        .route(
            "/static/chorus.js",
            web::get().to(|| async { asset(assets::SCRIPT.as_str(), "text/javascript; charset=utf-8") }),
        )
        .route(
            "/favicon.ico",
            web::get().to(|| async { HttpResponse::Ok().content_type("image/x-icon").body(assets::FAVICON) }),
        )
        .configure(hashed_assets)
        .configure(public::routes)
        .configure(api::routes)
        .configure(staff::routes)
        .configure(surveys::routes)
        .configure(keys::routes)
        // Before reports: /reports/{file} would otherwise take /reports/verify and the rest.
        .configure(verify::routes)
        .configure(explore::routes)
        .configure(reports::routes);
}

/// Each embedded file under its content-hashed path (an old or unknown hash is no route: a 404). The
/// long cache lifetime is set in `delivery`, after the headers every response gets.
fn hashed_assets(cfg: &mut web::ServiceConfig) {
    for a in assets::HASHED.iter() {
        cfg.route(
            &a.path,
            web::get().to(move || async move { HttpResponse::Ok().content_type(a.content_type).body(a.body) }),
        );
    }
}

fn asset(body: &'static str, content_type: &str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).body(body)
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "database unreachable"}))
        }
    }
}

/// Serve `GET /metrics` (and nothing else) on a listener of its own, for an operator's Prometheus
/// (`metrics_bind`). The request log and the submit path's middleware are not on it: it sees no
/// respondent. One worker is enough for a scrape every few seconds.
pub fn serve_metrics(listener: TcpListener, metrics: Arc<crate::metrics::Metrics>) -> std::io::Result<Server> {
    let metrics = web::Data::from(metrics);
    Ok(actix_web::HttpServer::new(move || {
        App::new().app_data(metrics.clone()).route(
            "/metrics",
            web::get().to(|m: web::Data<crate::metrics::Metrics>| async move {
                HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(m.render())
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// Start serving on already-bound listeners (port 0 in tests): the ordinary one, and optionally the
/// PROXY-protocol one, whose connections must begin with a PROXY header (`web::proxy`).
pub fn serve(listener: TcpListener, proxied: Option<TcpListener>, state: Arc<AppState>) -> std::io::Result<Server> {
    use actix_http::{HttpService, Protocol, error::DispatchError};
    use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
    use actix_web::dev::AppConfig;

    let data = web::Data::from(state);
    let app = move || {
        App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(middleware::head_as_get))
            .wrap(actix_web::middleware::from_fn(middleware::security_headers))
            .wrap(actix_web::middleware::from_fn(middleware::request_log))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(actix_web::middleware::from_fn(delivery::delivery))
            .configure(routes)
            .default_service(web::to(public::not_found))
            .into_factory()
            .map_err(|e: actix_web::Error| e.error_response())
    };
    // As actix-web's HttpServer would: a second to finish a response after the client went away.
    let disconnect = std::time::Duration::from_secs(1);
    let plain_app = app.clone();
    let mut builder = Server::build().disable_signals().listen("chorus", listener, move || {
        HttpService::build()
            .client_disconnect_timeout(disconnect)
            .finish(map_config(plain_app(), |_| AppConfig::default()))
            .tcp()
    })?;
    if let Some(proxied) = proxied {
        builder = builder.listen("chorus-proxy-protocol", proxied, move || {
            let http = HttpService::build()
                .client_disconnect_timeout(disconnect)
                .on_connect_ext(|io: &proxy::Stream, ext| {
                    if let Some(source) = io.source {
                        ext.insert(proxy::Proxied(source));
                    }
                })
                .finish(map_config(app(), |_| AppConfig::default()));
            fn_service(|io: actix_web::rt::net::TcpStream| async move {
                // A connection without a valid PROXY header is closed before any HTTP is read.
                let (stream, peer) = proxy::accept(io).await.map_err(DispatchError::Io)?;
                Ok((stream, Protocol::Http1, peer))
            })
            .and_then(http)
        })?;
    }
    Ok(builder.run())
}
