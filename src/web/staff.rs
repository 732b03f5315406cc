//! Staff pages under /staff, and the one-time /setup. Sessions live in a cookie scoped to /staff, so no
//! staff cookie ever reaches a respondent page.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AppState,
    body::{self, BodyError},
    public::html,
};
use crate::{
    keyring::KeyringError,
    staff::{LoginError, Role, Staff, StaffError, same_token},
    store::{StoreError, responses, staff as staff_store, surveys},
};

pub const COOKIE: &str = "chorus_staff";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(setup_page))
        .route("/setup", web::post().to(setup))
        .route("/staff/login", web::get().to(login_page))
        .route("/staff/login", web::post().to(login))
        .route("/staff/logout", web::post().to(logout))
        .route("/staff", web::get().to(dashboard))
        .route("/staff/users", web::get().to(users_page))
        .route("/staff/users", web::post().to(add_user))
        .route("/staff/users/{name}/disable", web::post().to(disable_user))
        .route("/staff/audit", web::get().to(audit_page))
        .route("/staff/surveys/{slug}/quarantine", web::post().to(quarantine));
}

// ---- views ----------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/setup.html")]
struct SetupPage {
    token: String,
    needs_key: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/dashboard.html")]
struct DashboardPage {
    me: Staff,
    surveys: Vec<SurveySummary>,
}

struct SurveySummary {
    slug: String,
    version: i32,
    status: String,
    total: i64,
    months: Vec<(String, i64)>,
    quarantined: Vec<String>,
    /// The last 24 hours, newest first: (hour label, accepted, rate limited, honeypot, too fast, bad code).
    hours: Vec<(String, [u64; 5])>,
    alert: Option<(u64, u64)>,
    daily: Vec<crate::store::defences::DailyRow>,
    batches: Vec<(String, i64, i64)>,
}

#[derive(Template)]
#[template(path = "staff/users.html")]
struct UsersPage {
    me: Staff,
    users: Vec<staff_store::UserRow>,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/audit.html")]
struct AuditPage {
    me: Staff,
    entries: Vec<(String, String, String, String)>,
}

// ---- helpers --------------------------------------------------------------------------------------

fn cookie_value(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("cookie")?.to_str().ok()?;
    header.split(';').find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}="))).map(str::to_owned)
}

fn host(req: &HttpRequest) -> String {
    req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned()
}

/// `Secure` unless the page is served on loopback (plain http on a steward's own machine).
fn session_cookie(req: &HttpRequest, token: &str, max_age: i64) -> String {
    let host = host(req);
    let name = host
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
        .map_or(host.as_str(), |(h, _)| h);
    let loopback = name == "localhost" || name.starts_with("127.") || name == "[::1]";
    let secure = if loopback { "" } else { "; Secure" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/staff; Max-Age={max_age}{secure}")
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("location", to)).finish()
}

pub(super) fn internal(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "staff request failed");
    HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("Internal error")
}

pub(super) fn plain(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(text.to_owned())
}

/// A POST from another site is refused outright, whatever it carries.
fn foreign_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else { return false };
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin == "null" || origin_host != host(req)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Any,
    Admin,
}

/// The signed-in member, or the response to send instead: a redirect to the login page for pages,
/// 401 for actions, 403 for a researcher on an admin page.
pub(super) async fn require(state: &web::Data<AppState>, req: &HttpRequest, need: Need) -> Result<Staff, HttpResponse> {
    let anonymous = || {
        if req.method() == actix_web::http::Method::GET {
            redirect("/staff/login")
        } else {
            plain(StatusCode::UNAUTHORIZED, "Sign in first.")
        }
    };
    let Some(token) = cookie_value(req) else { return Err(anonymous()) };
    let st = state.clone().into_inner();
    let staff = state.store.run(move |c| st.accounts.session(c, &token)).await.map_err(|e| internal(&e))?;
    match staff {
        None => Err(anonymous()),
        Some(s) if need == Need::Admin && s.role != Role::Admin => Err(plain(StatusCode::FORBIDDEN, "Admins only.")),
        Some(s) => Ok(s),
    }
}

/// Read a staff form: Origin checked, body parsed, and (for a session) its CSRF token checked.
pub(super) async fn form(
    req: &HttpRequest,
    payload: web::Payload,
    csrf: Option<&str>,
) -> Result<Vec<(String, String)>, HttpResponse> {
    if foreign_origin(req) {
        return Err(plain(StatusCode::FORBIDDEN, "Cross-site request refused."));
    }
    let fields = body::read(payload).await.and_then(|b| body::parse_form(&b)).map_err(|e| match e {
        BodyError::TooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, "Too large."),
        BodyError::Malformed(m) => plain(StatusCode::BAD_REQUEST, m),
    })?;
    if let Some(expected) = csrf {
        let given = field(&fields, "csrf");
        if !same_token(&given, expected) {
            return Err(plain(
                StatusCode::FORBIDDEN,
                "The form's security token is missing or wrong; reload the page.",
            ));
        }
    }
    Ok(fields)
}

/// A state-changing staff request: the signed-in member with the needed role, and the form's fields
/// after the Origin and CSRF checks.
pub(super) async fn staff_form(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
    need: Need,
) -> Result<(Staff, Vec<(String, String)>), HttpResponse> {
    let me = require(state, req, need).await?;
    let fields = form(req, payload, Some(&me.csrf)).await?;
    Ok((me, fields))
}

pub(super) fn field(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

// ---- setup ----------------------------------------------------------------------------------------

fn setup_token_ok(state: &AppState, given: &str) -> bool {
    let token = state.setup_token.lock().unwrap_or_else(|p| p.into_inner());
    token.as_ref().is_some_and(|t| same_token(t.expose_secret(), given))
}

async fn setup_state(state: &web::Data<AppState>) -> Result<(bool, bool), HttpResponse> {
    let st = state.clone().into_inner();
    state
        .store
        .run(move |c| {
            let admin = staff_store::any_admin(c)?;
            let key = crate::keyring::Keyring::has_key(c).map_err(|e| StoreError::Pool(e.to_string()))?;
            let _ = &st;
            Ok((admin, key))
        })
        .await
        .map_err(|e| internal(&e))
}

async fn setup_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (has_admin, has_key) = match setup_state(&state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = body::parse_form(req.query_string().as_bytes()).unwrap_or_default();
    let token = field(&query, "token");
    if has_admin || !setup_token_ok(&state, &token) {
        return plain(StatusCode::NOT_FOUND, "Not found.");
    }
    html(StatusCode::OK, SetupPage { token, needs_key: !has_key, error: None })
}

async fn setup(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let fields = match form(&req, payload, None).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (has_admin, has_key) = match setup_state(&state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = field(&fields, "token");
    if has_admin || !setup_token_ok(&state, &token) {
        return plain(StatusCode::NOT_FOUND, "Not found.");
    }
    let again = |error: &str| {
        html(
            StatusCode::BAD_REQUEST,
            SetupPage { token: token.clone(), needs_key: !has_key, error: Some(error.to_owned()) },
        )
    };
    let (name, password, passphrase) =
        (field(&fields, "name"), field(&fields, "password"), field(&fields, "passphrase"));
    if password != field(&fields, "password_again") {
        return again("The two passwords differ.");
    }
    if !has_key && passphrase != field(&fields, "passphrase_again") {
        return again("The two passphrases differ.");
    }
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| {
            Ok(create_first_admin(
                &st,
                c,
                &name,
                &SecretString::from(password),
                (!has_key).then(|| SecretString::from(passphrase)),
            ))
        })
        .await;
    match outcome {
        Ok(Ok(())) => {
            *state.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
            redirect("/staff/login?setup=done")
        }
        Ok(Err(message)) => again(&message),
        Err(e) => internal(&e),
    }
}

/// The first admin and (when missing) the report key, as one step. Used by /setup and `chorus init`.
pub fn create_first_admin(
    state: &AppState,
    conn: &mut crate::store::DbConn,
    name: &str,
    password: &SecretString,
    passphrase: Option<SecretString>,
) -> Result<(), String> {
    if staff_store::any_admin(conn).map_err(|e| e.to_string())? {
        return Err("An admin already exists.".into());
    }
    // Check everything cheap before the slow key derivation, so a typo costs no key.
    if password.expose_secret().chars().count() < crate::staff::password::MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword.to_string());
    }
    if let Some(p) = &passphrase {
        crate::seal::check_passphrase_strength(p).map_err(|e| e.to_string())?;
    }
    let user = state.accounts.add_user(conn, name, "admin", password).map_err(|e| e.to_string())?;
    if let Some(p) = passphrase {
        match state.intake.keyring.init(conn, &p) {
            Ok(id) => {
                let _ = state.accounts.audit(conn, &user.name, "keys_init", &id);
            }
            Err(KeyringError::AlreadyInitialised) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    state.accounts.audit(conn, &user.name, "setup", &user.name).map_err(|e| e.to_string())?;
    Ok(())
}

// ---- sessions -------------------------------------------------------------------------------------

async fn login_page(req: HttpRequest) -> HttpResponse {
    let done = req.query_string().contains("setup=done");
    html(
        StatusCode::OK,
        LoginPage { error: None, notice: done.then(|| "Setup is complete. Sign in with your new account.".into()) },
    )
}

async fn login(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let fields = match form(&req, payload, None).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let name = field(&fields, "name");
    let password = SecretString::from(field(&fields, "password"));
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| {
            let result = st.accounts.login(c, &name, &password);
            let action = if result.is_ok() { "login" } else { "login_failed" };
            st.accounts.audit(c, &name, action, &name)?;
            Ok(result)
        })
        .await;
    match outcome {
        Ok(Ok((_, token))) => HttpResponse::SeeOther()
            .insert_header(("location", "/staff"))
            .insert_header(("set-cookie", session_cookie(&req, token.expose_secret(), crate::staff::ABSOLUTE_TIMEOUT)))
            .finish(),
        Ok(Err(LoginError::Refused)) => {
            html(StatusCode::UNAUTHORIZED, LoginPage { error: Some(LoginError::Refused.to_string()), notice: None })
        }
        Ok(Err(LoginError::Store(e))) | Err(e) => internal(&e),
    }
}

async fn logout(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (me, _) = match staff_form(&state, &req, payload, Need::Any).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let token = cookie_value(&req).unwrap_or_default();
    let st = state.clone().into_inner();
    match state
        .store
        .run(move |c| {
            st.accounts.logout(c, &token)?;
            st.accounts.audit(c, &me.name, "logout", &me.name)
        })
        .await
    {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header(("location", "/staff/login"))
            .insert_header(("set-cookie", session_cookie(&req, "", 0)))
            .finish(),
        Err(e) => internal(&e),
    }
}

// ---- pages ----------------------------------------------------------------------------------------

async fn dashboard(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let me = match require(&state, &req, Need::Any).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let st = state.clone().into_inner();
    let summaries = state
        .store
        .run(move |c| {
            let mut out = Vec::new();
            for row in surveys::list(c)? {
                let months = responses::count_by_month(c, &row.slug)?;
                let flood = &st.intake.flood;
                let hours = flood
                    .recent(&row.slug, 24)
                    .into_iter()
                    .map(|h| {
                        let (y, m, d) = crate::month::civil_from_days((h.hour * 3600).div_euclid(86_400));
                        (format!("{y:04}-{m:02}-{d:02} {:02}:00", h.hour.rem_euclid(24)), h.counts)
                    })
                    .collect();
                out.push(SurveySummary {
                    total: months.iter().map(|(_, n)| n).sum(),
                    quarantined: crate::store::defences::quarantined(c, &row.slug)?,
                    alert: flood.alert(&row.slug),
                    hours,
                    daily: crate::store::defences::daily(c, &row.slug, 7)?,
                    batches: crate::store::defences::code_batches(c, &row.slug)?,
                    slug: row.slug,
                    version: row.current_version,
                    status: row.status,
                    months,
                });
            }
            Ok(out)
        })
        .await;
    match summaries {
        Ok(surveys) => html(StatusCode::OK, DashboardPage { me, surveys }),
        Err(e) => internal(&e),
    }
}

/// Exclude a month of a survey from reports after a confirmed flood, or bring it back.
async fn quarantine(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (me, fields) = match staff_form(&state, &req, payload, Need::Admin).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let month = field(&fields, "month");
    if crate::month::Month::parse(&month).is_none() {
        return plain(StatusCode::BAD_REQUEST, "The month must look like 2026-11.");
    }
    let on = field(&fields, "action") != "release";
    let slug = slug.into_inner();
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| {
            if surveys::get(c, &slug)?.is_none() {
                return Ok(false);
            }
            crate::store::defences::set_quarantine(c, &slug, &month, on)?;
            let action = if on { "quarantine" } else { "quarantine_release" };
            st.accounts.audit(c, &me.name, action, &format!("{slug} {month}"))?;
            Ok(true)
        })
        .await;
    match outcome {
        Ok(true) => redirect("/staff"),
        Ok(false) => plain(StatusCode::NOT_FOUND, "No such survey."),
        Err(e) => internal(&e),
    }
}

async fn users_view(
    state: &web::Data<AppState>,
    me: Staff,
    error: Option<String>,
    notice: Option<String>,
) -> HttpResponse {
    match state.store.run(staff_store::users).await {
        Ok(users) => {
            let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            html(status, UsersPage { me, users, error, notice })
        }
        Err(e) => internal(&e),
    }
}

async fn users_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match require(&state, &req, Need::Admin).await {
        Ok(me) => users_view(&state, me, None, None).await,
        Err(r) => r,
    }
}

async fn add_user(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (me, fields) = match staff_form(&state, &req, payload, Need::Admin).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let (name, role, password) =
        (field(&fields, "name"), field(&fields, "role"), SecretString::from(field(&fields, "password")));
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state
        .store
        .run(move |c| {
            let result = st.accounts.add_user(c, &name, &role, &password);
            if result.is_ok() {
                st.accounts.audit(c, &actor, "user_add", &format!("{name} ({role})"))?;
            }
            Ok(result.map(|u| u.name))
        })
        .await;
    match outcome {
        Ok(Ok(name)) => users_view(&state, me, None, Some(format!("Added {name}."))).await,
        Ok(Err(e)) => users_view(&state, me, Some(e.to_string()), None).await,
        Err(e) => internal(&e),
    }
}

async fn disable_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (me, _) = match staff_form(&state, &req, payload, Need::Admin).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let name = name.into_inner();
    if name == me.name {
        return users_view(&state, me, Some("You cannot disable your own account.".into()), None).await;
    }
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state
        .store
        .run(move |c| {
            let result = st.accounts.set_disabled(c, &name, true);
            if result.is_ok() {
                st.accounts.audit(c, &actor, "user_disable", &name)?;
            }
            Ok(result.map(|()| name))
        })
        .await;
    match outcome {
        Ok(Ok(name)) => users_view(&state, me, None, Some(format!("Disabled {name}."))).await,
        Ok(Err(e)) => users_view(&state, me, Some(e.to_string()), None).await,
        Err(e) => internal(&e),
    }
}

async fn audit_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let me = match require(&state, &req, Need::Admin).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    match state.store.run(|c| staff_store::audit_recent(c, 500)).await {
        Ok(rows) => {
            let entries = rows.into_iter().map(|r| (utc(r.at), r.actor, r.action, r.target)).collect();
            html(StatusCode::OK, AuditPage { me, entries })
        }
        Err(e) => internal(&e),
    }
}

/// `YYYY-MM-DD HH:MM UTC` for the audit page.
fn utc(secs: i64) -> String {
    let (y, m, d) = crate::month::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}
