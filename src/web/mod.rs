//! HTTP: routes grouped by audience (public pages, JSON API), the security-header and request-log
//! middleware, and the embedded static files.

mod api;
mod auth;
pub mod body;
mod delivery;
mod explore;
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
    /// The submit path shared by the form and the API: checks and sealing on the blocking pool, then
    /// the group-commit writer. The receipt comes back only after the row is committed.
    pub async fn submit(
        self: Arc<Self>,
        slug: String,
        raw: RawAnswers,
        via: Via,
        code: Option<String>,
        client: Option<Client>,
    ) -> Result<(Receipt, Arc<Survey>), SubmitError> {
        let st = self.clone();
        let prepared =
            self.store.run(move |conn| st.intake.prepare(conn, &slug, &raw, &via, code.as_deref(), client)).await?;
        let Prepared { row, token, code, receipt, survey } = prepared;
        let spent_token = token.is_some();
        self.intake.writer.commit(row, token, code).await?;
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
        .route("/static/chorus.js", web::get().to(|| async { asset(assets::SCRIPT, "text/javascript; charset=utf-8") }))
        .route(
            "/favicon.ico",
            web::get().to(|| async { HttpResponse::Ok().content_type("image/x-icon").body(assets::FAVICON) }),
        )
        .configure(hashed_assets)
        .configure(public::routes)
        .configure(api::routes)
        .configure(staff::routes)
        .configure(surveys::routes)
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
