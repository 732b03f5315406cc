//! HTTP: routes grouped by audience (public pages, JSON API), the security-header and request-log
//! middleware, and the embedded static files.

mod api;
mod auth;
pub mod body;
mod explore;
mod middleware;
mod pages;
mod public;
mod reports;
mod respond;
mod staff;
mod verify;

use std::{
    net::{IpAddr, TcpListener},
    sync::{Arc, Mutex},
};

use secrecy::SecretString;

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};

use crate::{
    assets,
    clock::Clock,
    config::Config,
    i18n::I18n,
    intake::{Intake, Prepared, Receipt, SubmitError, Via, flood::Outcome},
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
}

/// The address a request comes from: the peer, or the one configured proxy header. It goes to the
/// in-memory rate limiter and nowhere else.
fn client_address(req: &actix_web::HttpRequest, trusted_header: Option<&str>) -> Option<IpAddr> {
    if let Some(name) = trusted_header {
        // A proxy that appends to X-Forwarded-For puts the address it saw last.
        let value = req.headers().get(name)?.to_str().ok()?;
        return value.rsplit(',').next()?.trim().parse().ok();
    }
    req.peer_addr().map(|a| a.ip())
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
        addr: Option<IpAddr>,
    ) -> Result<(Receipt, Arc<Survey>), SubmitError> {
        let st = self.clone();
        let prepared =
            self.store.run(move |conn| st.intake.prepare(conn, &slug, &raw, &via, code.as_deref(), addr)).await?;
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
        .configure(public::routes)
        .configure(api::routes)
        .configure(staff::routes)
        // Before reports: /reports/{file} would otherwise take /reports/verify and the rest.
        .configure(verify::routes)
        .configure(explore::routes)
        .configure(reports::routes);
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

/// Start serving on an already-bound listener (port 0 in tests).
pub fn serve(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(middleware::security_headers))
            .wrap(actix_web::middleware::from_fn(middleware::request_log))
            .configure(routes)
            .default_service(web::to(public::not_found))
    })
    .listen(listener)?
    .disable_signals()
    .run();
    Ok(server)
}
