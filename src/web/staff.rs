//! Staff pages under /staff, and the one-time /setup. Handlers are thin: the extractors in
//! `web::auth` decide who may ask, the domain modules do the work, templates get view structs.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AppState,
    auth::{Admin, AdminForm, Member, MemberForm, OpenForm, session_cookie, session_cookie_value},
    respond::{Fields, WebError, WebResult, html, redirect},
};
use crate::{
    intake::dashboard::{self, QuarantineError, SurveySummary},
    keyring::Keyring,
    staff::{LoginError, Role, SetupError, Staff, StaffError, same_token},
    store::{StoreError, staff as staff_store},
};

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
    needs_key: bool,
    error: Option<String>,
    /// The rule the passphrase must meet, in words.
    rule: &'static str,
    /// Stewards (n) and how many of them a report needs (k).
    n: usize,
    k: usize,
    slots: Vec<StewardSlot>,
}

/// One steward's fields on the setup form. The first keeps the field names of a 1-of-1 setup.
struct StewardSlot {
    number: usize,
    name_field: String,
    field: String,
    again: String,
    default_name: String,
    /// A freshly generated passphrase to offer (7 EFF words, about 90 bits).
    suggestion: String,
}

/// The most stewards the setup page offers; `chorus keys init` takes more.
const MAX_SETUP_STEWARDS: usize = 9;

fn slot(i: usize) -> StewardSlot {
    let suffix = if i == 1 { String::new() } else { format!("_{i}") };
    StewardSlot {
        number: i,
        name_field: format!("steward{suffix}"),
        field: format!("passphrase{suffix}"),
        again: format!("passphrase_again{suffix}"),
        default_name: format!("steward-{i}"),
        suggestion: crate::seal::generate_passphrase(7).expose_secret().to_owned(),
    }
}

/// n and k from the form or the query (`?stewards=3&threshold=2`), within the page's bounds.
fn custody_shape(fields: &Fields) -> (usize, usize) {
    let n = fields.get("stewards").trim().parse().unwrap_or(1usize).clamp(1, MAX_SETUP_STEWARDS);
    let k = fields.get("threshold").trim().parse().unwrap_or(1usize).clamp(1, n);
    (n, k)
}

impl SetupPage {
    fn new(needs_key: bool, error: Option<String>, (n, k): (usize, usize)) -> Self {
        Self { needs_key, error, rule: crate::seal::PASSPHRASE_RULE, n, k, slots: (1..=n).map(slot).collect() }
    }
}

#[derive(Template)]
#[template(path = "staff/dashboard.html")]
struct DashboardPage {
    me: Staff,
    surveys: Vec<SurveySummary>,
    /// Per survey: sealed answers kept, and when they will be destroyed (or why not yet known).
    retention: Vec<(String, i64, String)>,
    /// k and n of the report key custody, when a key exists.
    custody: Option<(usize, usize)>,
}

/// One account as the users page shows it: never its password hash.
struct UserView {
    name: String,
    role: Role,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "staff/users.html")]
struct UsersPage {
    me: Staff,
    users: Vec<UserView>,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/audit.html")]
struct AuditPage {
    me: Staff,
    entries: Vec<(String, String, String, String)>,
    actor: String,
    action: String,
    page: i64,
    /// Query strings of the previous and next pages, when there are any.
    previous: Option<String>,
    next: Option<String>,
}

/// Entries per audit page.
const AUDIT_PAGE: i64 = 100;

fn plain(status: StatusCode, text: &str) -> WebError {
    WebError::plain(status, text)
}

// ---- setup ----------------------------------------------------------------------------------------

fn setup_token_ok(state: &AppState, given: &str) -> bool {
    let token = state.setup_token.lock().unwrap_or_else(|p| p.into_inner());
    token.as_ref().is_some_and(|t| same_token(t.expose_secret(), given))
}

/// (an admin exists, a report key exists)
async fn setup_state(state: &web::Data<AppState>) -> Result<(bool, bool), WebError> {
    let found = state
        .store
        .run(|c| -> Result<_, crate::keyring::KeyringError> { Ok((staff_store::any_admin(c)?, Keyring::has_key(c)?)) })
        .await?;
    Ok(found)
}

/// The setup form, while no admin exists. It asks for the one-time setup code, which travels only in
/// the POST body, never in a URL that proxies and histories keep.
async fn setup_page(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    let (has_admin, has_key) = setup_state(&state).await?;
    let pending = state.setup_token.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    if has_admin || !pending {
        return Err(plain(StatusCode::NOT_FOUND, "Not found."));
    }
    html(StatusCode::OK, SetupPage::new(!has_key, None, custody_shape(&Fields::query(&req))))
}

async fn setup(state: web::Data<AppState>, OpenForm(fields): OpenForm) -> WebResult {
    let (has_admin, has_key) = setup_state(&state).await?;
    let token = fields.get("token");
    if has_admin || !setup_token_ok(&state, &token) {
        return Err(plain(StatusCode::NOT_FOUND, "Not found."));
    }
    let shape = custody_shape(&fields);
    let again = |error: String| html(StatusCode::BAD_REQUEST, SetupPage::new(!has_key, Some(error), shape));
    let (name, password) = (fields.get("name"), fields.get("password"));
    if password != fields.get("password_again") {
        return again("The two passwords differ.".into());
    }
    let mut stewards = Vec::new();
    if !has_key {
        for s in (1..=shape.0).map(slot) {
            let passphrase = fields.get(&s.field);
            if passphrase != fields.get(&s.again) {
                return again(format!("The two passphrases of steward {} differ.", s.number));
            }
            let name = Some(fields.get(&s.name_field).trim().to_owned()).filter(|n| !n.is_empty());
            stewards.push(crate::keyring::NewSteward {
                name: name.unwrap_or(s.default_name),
                passphrase: SecretString::from(passphrase),
            });
        }
    }
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let custody = (!has_key).then_some((stewards.as_slice(), shape.1));
            Ok(crate::staff::create_first_admin_with_stewards(
                &st.accounts,
                &st.intake.keyring,
                c,
                &name,
                &SecretString::from(password),
                custody,
            ))
        })
        .await?;
    match outcome {
        Ok(()) => {
            *state.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
            crate::app::forget_setup_file(&state.config);
            Ok(redirect("/staff/login?setup=done"))
        }
        Err(e) if e.is_user_error() => again(e.to_string()),
        Err(SetupError::Store(e)) => Err(e.into()),
        Err(e) => Err(WebError::internal(e)),
    }
}

// ---- sessions -------------------------------------------------------------------------------------

async fn login_page(req: HttpRequest) -> WebResult {
    let done = Fields::query(&req).get("setup") == "done";
    let notice = done.then(|| "Setup is complete. Sign in with your new account.".into());
    html(StatusCode::OK, LoginPage { error: None, notice })
}

async fn login(state: web::Data<AppState>, req: HttpRequest, OpenForm(fields): OpenForm) -> WebResult {
    let name = fields.get("name");
    let password = SecretString::from(fields.get("password"));
    // The address goes to the in-memory failure throttle only.
    let addr = super::client_address(&req, state.config.limits.trusted_proxy_header.as_deref()).map(|c| c.addr);
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let result = st.accounts.login(c, &name, &password, addr);
            let attempt = match &result {
                Ok(_) => crate::staff::Attempt::SignedIn,
                Err((attempt, _)) => *attempt,
            };
            // A typed name is kept cut to 40 characters: it cannot bloat the trail.
            let shown = crate::staff::typed_name(&name);
            st.accounts.audit(c, &shown, attempt.action(), &shown)?;
            Ok(result.map_err(|(_, e)| e))
        })
        .await?;
    match outcome {
        Ok((_, token)) => Ok(HttpResponse::SeeOther()
            .insert_header(("location", "/staff"))
            .insert_header(("set-cookie", session_cookie(&req, token.expose_secret(), crate::staff::ABSOLUTE_TIMEOUT)))
            .finish()),
        Err(LoginError::Refused) => {
            html(StatusCode::UNAUTHORIZED, LoginPage { error: Some(LoginError::Refused.to_string()), notice: None })
        }
        Err(LoginError::Store(e)) => Err(e.into()),
    }
}

async fn logout(state: web::Data<AppState>, req: HttpRequest, form: MemberForm) -> WebResult {
    let token = session_cookie_value(&req).unwrap_or_default();
    let st = state.clone().into_inner();
    state
        .store
        .run(move |c| {
            st.accounts.logout(c, &token)?;
            st.accounts.audit(c, &form.me.name, "logout", &form.me.name)
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/staff/login"))
        .insert_header(("set-cookie", session_cookie(&req, "", 0)))
        .finish())
}

// ---- pages ----------------------------------------------------------------------------------------

async fn dashboard(state: web::Data<AppState>, Member(me): Member) -> WebResult {
    let st = state.clone().into_inner();
    let (surveys, retention, custody) = state
        .store
        .run(move |c| -> Result<_, WebError> {
            let surveys = dashboard::dashboard(c, &st.intake)?;
            let mut retention = Vec::new();
            for s in &surveys {
                let r = crate::retention::status(c, &s.slug).map_err(WebError::internal)?;
                let when = match (&r.destroyed_on, &r.destroy_on, &r.closed_on) {
                    (Some(d), _, _) => format!("destroyed on {d}"),
                    (None, Some(d), _) => format!("to be destroyed on {d}"),
                    (None, None, None) => {
                        format!("kept until {} days after the survey closes and its final release is made", r.days)
                    }
                    (None, None, Some(_)) => {
                        format!("kept until {} days after its final release (or its budget is spent)", r.days)
                    }
                };
                retention.push((s.slug.clone(), r.sealed, when));
            }
            let custody =
                Keyring::custody(c).map_err(WebError::internal)?.map(|c| (c.threshold, c.stewards.len().max(1)));
            Ok((surveys, retention, custody))
        })
        .await?;
    html(StatusCode::OK, DashboardPage { me, surveys, retention, custody })
}

/// Exclude a month of a survey from reports after a confirmed flood, or bring it back.
async fn quarantine(state: web::Data<AppState>, slug: web::Path<String>, form: AdminForm) -> WebResult {
    let month = form.fields.get("month");
    let on = form.fields.get("action") != "release";
    let slug = slug.into_inner();
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let result = dashboard::set_quarantine(c, &slug, &month, on);
            if result.is_ok() {
                let action = if on { "quarantine" } else { "quarantine_release" };
                st.accounts.audit(c, &form.me.name, action, &format!("{slug} {month}"))?;
            }
            Ok(result)
        })
        .await?;
    match outcome {
        Ok(()) => Ok(redirect("/staff")),
        Err(QuarantineError::NoSurvey) => Err(plain(StatusCode::NOT_FOUND, "No such survey.")),
        Err(QuarantineError::BadMonth) => Err(plain(StatusCode::BAD_REQUEST, "The month must look like 2026-11.")),
        Err(QuarantineError::Store(e)) => Err(e.into()),
    }
}

async fn users_view(
    state: &web::Data<AppState>,
    me: Staff,
    error: Option<String>,
    notice: Option<String>,
) -> WebResult {
    let rows = state.store.run(staff_store::users).await?;
    let users = rows.into_iter().map(|u| UserView { name: u.name, role: u.role, disabled: u.disabled }).collect();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    html(status, UsersPage { me, users, error, notice })
}

async fn users_page(state: web::Data<AppState>, Admin(me): Admin) -> WebResult {
    users_view(&state, me, None, None).await
}

/// Run an account change with its audit entry; a refusal the admin can fix is shown on the page.
async fn account_change(
    state: &web::Data<AppState>,
    me: Staff,
    change: impl FnOnce(&AppState, &mut crate::store::DbConn, &str) -> Result<String, StaffError> + Send + 'static,
) -> WebResult {
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state.store.run(move |c| -> Result<_, StoreError> { Ok(change(&st, c, &actor)) }).await?;
    match outcome {
        Ok(notice) => users_view(state, me, None, Some(notice)).await,
        Err(StaffError::Store(e)) => Err(e.into()),
        Err(e) => users_view(state, me, Some(e.to_string()), None).await,
    }
}

async fn add_user(state: web::Data<AppState>, form: AdminForm) -> WebResult {
    let (name, role, password) =
        (form.fields.get("name"), form.fields.get("role"), SecretString::from(form.fields.get("password")));
    account_change(&state, form.me, move |st, c, actor| {
        let role = Role::parse(&role).ok_or(StaffError::BadRole)?;
        let user = st.accounts.add_user(c, &name, role, &password)?;
        st.accounts.audit(c, actor, "user_add", &format!("{} ({role})", user.name))?;
        Ok(format!("Added {}.", user.name))
    })
    .await
}

async fn disable_user(state: web::Data<AppState>, name: web::Path<String>, form: AdminForm) -> WebResult {
    let name = name.into_inner();
    if name == form.me.name {
        return users_view(&state, form.me, Some("You cannot disable your own account.".into()), None).await;
    }
    account_change(&state, form.me, move |st, c, actor| {
        st.accounts.set_disabled(c, &name, true)?;
        st.accounts.audit(c, actor, "user_disable", &name)?;
        Ok(format!("Disabled {name}."))
    })
    .await
}

/// The audit trail, newest first, a page at a time, filterable by actor and action: every entry stays
/// reachable however many come after it.
async fn audit_page(state: web::Data<AppState>, req: HttpRequest, Admin(me): Admin) -> WebResult {
    let query = Fields::query(&req);
    let (actor, action) = (query.get("actor").trim().to_owned(), query.get("action").trim().to_owned());
    let page = query.get("page").parse::<i64>().unwrap_or(0).clamp(0, i64::MAX / AUDIT_PAGE - 1);
    let (a, b) = (actor.clone(), action.clone());
    let mut rows = state
        .store
        .run(move |c| {
            let filter = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
            let (a, b) = (filter(&a), filter(&b));
            staff_store::audit_page(c, a.as_deref(), b.as_deref(), page * AUDIT_PAGE, AUDIT_PAGE + 1)
        })
        .await?;
    let more = rows.len() as i64 > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE as usize);
    let link = |p: i64| {
        let mut q = format!("page={p}");
        for (k, v) in [("actor", &actor), ("action", &action)] {
            if !v.is_empty() {
                q.push_str(&format!("&{k}={}", percent(v)));
            }
        }
        q
    };
    let (previous, next) = ((page > 0).then(|| link(page - 1)), more.then(|| link(page + 1)));
    let entries = rows.into_iter().map(|r| (utc(r.at), r.actor, r.action, r.target)).collect();
    html(StatusCode::OK, AuditPage { me, entries, actor, action, page, previous, next })
}

/// Percent-encode a query value (everything but unreserved characters).
fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `YYYY-MM-DD HH:MM UTC` for the audit page.
fn utc(secs: i64) -> String {
    let (y, m, d) = crate::month::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}
