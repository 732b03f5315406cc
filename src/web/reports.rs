//! Report pages: staff run, read, publish and retract snapshots; anyone reads published ones at
//! /reports, with CSV and JSON beside each. What a report says is built in `report::page`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AppState,
    auth::{AdminForm, Member, MemberForm},
    respond::{Fields, WebError, WebResult, html, language, redirect},
};
use crate::{
    i18n::Ui,
    report::{
        self, PendingError, Progress, PublicationError, ReportError, Snapshot, SnapshotSpec, SnapshotStatus,
        page::{self, Publisher, ReportBody},
        pending::Ctx,
        render,
    },
    staff::Staff,
    store::{StoreError, snapshots, surveys},
    survey::Survey,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(public_list))
        .route("/reports/{file}", web::get().to(public_report))
        .route("/reports/{id}/factsheet", web::get().to(factsheet))
        .route("/staff/reports", web::get().to(staff_list))
        .route("/staff/reports", web::post().to(run))
        .route("/staff/reports/pending/{id}/contribute", web::post().to(contribute))
        .route("/staff/reports/pending/{id}/cancel", web::post().to(cancel))
        .route("/staff/reports/{file}", web::get().to(staff_report))
        .route("/staff/reports/{id}/publish", web::get().to(publish_preview))
        .route("/staff/reports/{id}/publish", web::post().to(publish))
        .route("/staff/reports/{id}/retract", web::post().to(retract))
        .route("/staff/surveys/{slug}/budget", web::post().to(set_budget));
}

#[derive(Template)]
#[template(path = "report_public.html")]
struct PublicReport<'a> {
    ui: Ui<'a>,
    r: ReportBody,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct PublicList<'a> {
    ui: Ui<'a>,
    reports: Vec<(String, String, SnapshotStatus, String)>,
}

#[derive(Template)]
#[template(path = "staff/report.html")]
struct StaffReport<'a> {
    ui: Ui<'a>,
    me: Staff,
    r: ReportBody,
    status: SnapshotStatus,
    created_by: String,
}

/// One release in the staff list: what it covers, what it cost and who made it.
struct SnapshotView {
    id: String,
    survey_slug: String,
    through_month: String,
    n: i64,
    rho: String,
    created: String,
    created_by: String,
    status: SnapshotStatus,
    synthetic: bool,
}

/// A survey's privacy budget, formatted.
struct BudgetView {
    slug: String,
    total: String,
    spent: String,
    remaining: String,
}

/// A release waiting for stewards, formatted (staff times, to the minute, UTC).
struct PendingRunView {
    id: String,
    what: String,
    requested_by: String,
    expires: String,
    have: usize,
    need: usize,
    /// (steward, staff account, when)
    contributors: Vec<(String, String, String)>,
    mine: bool,
}

#[derive(Template)]
#[template(path = "staff/reports.html")]
struct StaffList {
    me: Staff,
    pending: Vec<PendingRunView>,
    stewards: Vec<String>,
    threshold: usize,
    budgets: Vec<BudgetView>,
    breakdowns: Vec<String>,
    snapshots: Vec<SnapshotView>,
    month: String,
    default_rho: f64,
    error: Option<String>,
}

/// A staff time to the minute, UTC.
fn minute(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{} {:02}:{:02} UTC", crate::month::date(t), s / 3600, (s / 60) % 60)
}

fn publisher(state: &AppState) -> Publisher<'_> {
    Publisher { organisation: &state.config.organisation, public_url: state.config.public_url.as_deref() }
}

fn ui<'a>(state: &'a AppState, lang: &'a str) -> Ui<'a> {
    Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title }
}

/// `ID`, `ID.csv`, `ID.json`, or their signatures `ID.csv.sig`, `ID.json.sig`.
fn split_file(file: &str) -> (&str, Option<&str>) {
    for ext in ["csv.sig", "json.sig", "csv", "json"] {
        if let Some(id) = file.strip_suffix(ext).and_then(|f| f.strip_suffix('.')) {
            return (id, Some(ext));
        }
    }
    (file, None)
}

/// A stored release; on the public side, a retracted one is a 410 whose notice is in `lang`.
async fn load(
    state: &web::Data<AppState>,
    id: &str,
    public: bool,
    lang: &'static str,
) -> Result<(Snapshot, Arc<Survey>), WebError> {
    let st = state.clone().into_inner();
    let id = id.to_owned();
    let found = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let Some(row) = snapshots::get(c, &id)? else { return Ok(None) };
            if public && row.status == SnapshotStatus::Private {
                return Ok(None);
            }
            if public && row.status == SnapshotStatus::Retracted {
                let t = |key: &str| st.i18n.t(lang, key);
                let mut notice = t("report_gone").replace("{date}", row.retracted.as_deref().unwrap_or_default());
                if let Some(reason) = &row.retract_reason {
                    notice.push_str(&format!(" {} {reason}", t("report_retracted_reason")));
                }
                if let Some(next) = &row.replaced_by {
                    notice.push(' ');
                    notice.push_str(&t("report_replaced").replace("{link}", &format!("/reports/{next}")));
                }
                return Ok(Some(Err(notice)));
            }
            let Some(survey) = st.intake.surveys.version(c, &row.survey_slug, row.survey_version)? else {
                return Ok(None);
            };
            Ok(Some(Ok((Snapshot::from_row(row)?, survey))))
        })
        .await?;
    match found {
        Some(Ok(found)) => Ok(found),
        // A retracted release is gone, in every format: its numbers must not keep circulating.
        Some(Err(notice)) => Err(WebError::plain(StatusCode::GONE, notice)),
        None => Err(WebError::plain(StatusCode::NOT_FOUND, state.i18n.t(lang, "report_not_found").to_owned())),
    }
}

/// Files are in English (the signed, cited bytes) unless `?lang=` asks for another language: a
/// browser's Accept-Language must not silently swap the file a citation names.
fn file_language(req: &HttpRequest) -> &'static str {
    crate::i18n::negotiate(Some(&Fields::query(req).get("lang")), None)
}

/// A release's CSV or JSON (in English: the signed bytes as published), or a signature of them.
fn download(s: &Snapshot, survey: &Survey, state: &AppState, lang: &str, ext: &str) -> HttpResponse {
    let name = format!("chorus-{}-{}-{}", s.row.survey_slug, s.row.through_month, &s.row.id[..8]);
    let signed = lang == "en" && !s.row.doc_json.is_empty();
    let (body, content_type) = match ext {
        "csv" if signed => (s.row.doc_csv.clone(), "text/csv; charset=utf-8"),
        "json" if signed => (s.row.doc_json.clone(), "application/json"),
        "csv" => (render::csv(s, survey, &state.i18n, lang), "text/csv; charset=utf-8"),
        "csv.sig" => (s.row.sig_csv.clone(), "text/plain; charset=utf-8"),
        "json.sig" => (s.row.sig_json.clone(), "text/plain; charset=utf-8"),
        _ => (page::json_bytes(s, survey, &state.i18n, lang), "application/json"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{name}.{ext}\"")))
        .body(body)
}

// ---- public ----------------------------------------------------------------------------------------

async fn public_list(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    let lang = language(&req, None);
    let st = state.clone().into_inner();
    let reports = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let mut out = Vec::new();
            for row in snapshots::list(c, true)?.into_iter().filter(|r| r.status == SnapshotStatus::Published) {
                let label = page::listed_title(c, &st.intake.surveys, &st.i18n, &row, lang)?;
                out.push((row.id, label, row.status, row.published.unwrap_or_default()));
            }
            Ok(out)
        })
        .await?;
    html(StatusCode::OK, PublicList { ui: ui(&state, lang), reports })
}

async fn public_report(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> WebResult {
    let lang = language(&req, None);
    let (id, ext) = split_file(&file);
    let (snapshot, survey) = load(&state, id, true, lang).await?;
    if let Some(ext) = ext {
        return Ok(download(&snapshot, &survey, &state, file_language(&req), ext));
    }
    let base = format!("/reports/{}", snapshot.row.id);
    let r = page::body(&snapshot, &survey, &state.i18n, &publisher(&state), lang, base);
    html(StatusCode::OK, PublicReport { ui: ui(&state, lang), r })
}

// ---- staff -----------------------------------------------------------------------------------------

async fn staff_list_view(state: &web::Data<AppState>, me: Staff, error: Option<String>) -> WebResult {
    let st = state.clone().into_inner();
    let (budgets, breakdowns, rows, pending, custody) = state
        .store
        .run(move |c| -> Result<_, ReportError> {
            let pending = st.pending_runs.list(c, &st.accounts)?;
            let custody = crate::keyring::Keyring::custody(c)?;
            let mut budgets = Vec::new();
            let mut breakdowns = vec!["month".to_owned()];
            for row in surveys::list(c)? {
                let b = report::budget(c, &row.slug)?;
                budgets.push(BudgetView {
                    total: format!("{:.3}", b.total),
                    spent: format!("{:.3}", b.spent),
                    remaining: format!("{:.3}", b.remaining()),
                    slug: row.slug.clone(),
                });
                if let Some(s) = st.intake.surveys.version(c, &row.slug, row.current_version)? {
                    for q in s.questions.iter().filter(|q| q.breakdown) {
                        if !breakdowns.contains(&q.id) {
                            breakdowns.push(q.id.clone());
                        }
                    }
                }
            }
            Ok((budgets, breakdowns, snapshots::list(c, false)?, pending, custody))
        })
        .await
        .map_err(WebError::internal)?;
    let snapshots = rows
        .into_iter()
        .map(|s| SnapshotView {
            id: s.id,
            survey_slug: s.survey_slug,
            through_month: s.through_month,
            n: s.n,
            rho: format!("{:.3}", s.rho_micro as f64 / 1e6),
            created: s.created,
            created_by: s.created_by,
            status: s.status,
            synthetic: s.synthetic,
        })
        .collect();
    let pending = pending
        .into_iter()
        .map(|p| {
            let mut what = format!("{} through {}, rho {:.3}", p.spec.survey, p.spec.through, p.spec.rho);
            if !p.spec.by.is_empty() {
                what.push_str(&format!(", by {}", p.spec.by.join(", ")));
            }
            if p.spec.verified_only {
                what.push_str(", outreach-code answers only");
            }
            PendingRunView {
                mine: p.requested_by == me.name,
                id: p.id,
                what,
                requested_by: p.requested_by,
                expires: minute(p.expires_at),
                have: p.contributors.len(),
                need: p.threshold,
                contributors: p.contributors.into_iter().map(|c| (c.steward, c.account, minute(c.at))).collect(),
            }
        })
        .collect();
    let (stewards, threshold) = custody.map_or((vec![], 1), |c| (c.stewards, c.threshold));
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let month = crate::month::Month::now().to_string();
    let default_rho = report::DEFAULT_RELEASE_RHO;
    let page =
        StaffList { me, pending, stewards, threshold, budgets, breakdowns, snapshots, month, default_rho, error };
    html(status, page)
}

async fn staff_list(state: web::Data<AppState>, Member(me): Member) -> WebResult {
    staff_list_view(&state, me, None).await
}

/// Ask for a release. It waits for k stewards' shares; a steward asking may give their own share
/// with the request (with one steward needed, that runs it at once). A researcher asks without any
/// passphrase.
async fn run(state: web::Data<AppState>, form: MemberForm) -> WebResult {
    let fields = &form.fields;
    let spec = SnapshotSpec {
        verified_only: fields.get("verified_only") == "on",
        // An unreadable number is refused by the run with a message naming the rule.
        rho: fields.get("rho").trim().parse().unwrap_or(f64::NAN),
        by: fields.all("by"),
        ..SnapshotSpec::new(fields.get("survey"), fields.get("through"))
    };
    let passphrase = SecretString::from(fields.get("passphrase"));
    let steward = fields.get("steward");
    let st = state.clone().into_inner();
    let actor = form.me.name.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let ctx = Ctx { surveys: &st.intake.surveys, accounts: &st.accounts, tries: &st.passphrase_tries };
            let share = (!passphrase.expose_secret().is_empty())
                .then_some((Some(steward.as_str()).filter(|s| !s.is_empty()), &passphrase));
            let started = std::time::Instant::now();
            let result = st.pending_runs.request(c, &ctx, spec, &actor, share);
            ran(&st, &result, started);
            settle(result)
        })
        .await?;
    answer(&state, form.me, outcome).await
}

/// A steward gives their share to a waiting release.
async fn contribute(state: web::Data<AppState>, id: web::Path<String>, form: MemberForm) -> WebResult {
    let passphrase = SecretString::from(form.fields.get("passphrase"));
    let steward = form.fields.get("steward");
    let st = state.clone().into_inner();
    let actor = form.me.name.clone();
    let id = id.into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let ctx = Ctx { surveys: &st.intake.surveys, accounts: &st.accounts, tries: &st.passphrase_tries };
            let steward = Some(steward.as_str()).filter(|s| !s.is_empty());
            let started = std::time::Instant::now();
            let result = st.pending_runs.contribute(c, &ctx, &id, &actor, steward, &passphrase);
            ran(&st, &result, started);
            settle(result)
        })
        .await?;
    answer(&state, form.me, outcome).await
}

/// The one who asked, or an admin, cancels a waiting release; its shares are wiped.
async fn cancel(state: web::Data<AppState>, id: web::Path<String>, form: MemberForm) -> WebResult {
    let st = state.clone().into_inner();
    let (actor, admin) = (form.me.name.clone(), form.me.role == crate::store::staff::Role::Admin);
    let id = id.into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            match st.pending_runs.cancel(c, &st.accounts, &id, &actor, admin) {
                Ok(()) => Ok(Ok(None)),
                Err(e) => e.into_store().map(Err),
            }
        })
        .await?;
    answer(&state, form.me, outcome).await
}

/// /metrics: how long a release that ran took (the last share's key derivation included), nothing of it.
fn ran(st: &AppState, result: &Result<Progress, PendingError>, started: std::time::Instant) {
    if matches!(result, Ok(Progress::Released(_))) {
        st.intake.metrics.report_run(started.elapsed());
    }
}

/// A release made, still waiting, or refused (with the reason shown on the page).
fn settle(result: Result<Progress, PendingError>) -> Result<Result<Option<String>, String>, StoreError> {
    match result {
        Ok(Progress::Released(snapshot)) => Ok(Ok(Some(snapshot.row.id))),
        Ok(Progress::Waiting { .. }) => Ok(Ok(None)),
        Err(e) => e.into_store().map(Err),
    }
}

async fn answer(state: &web::Data<AppState>, me: Staff, outcome: Result<Option<String>, String>) -> WebResult {
    match outcome {
        Ok(Some(id)) => Ok(redirect(&format!("/staff/reports/{id}"))),
        Ok(None) => Ok(redirect("/staff/reports")),
        Err(message) => staff_list_view(state, me, Some(message)).await,
    }
}

async fn staff_report(
    state: web::Data<AppState>,
    req: HttpRequest,
    file: web::Path<String>,
    Member(me): Member,
) -> WebResult {
    let lang = language(&req, None);
    let (id, ext) = split_file(&file);
    let (snapshot, survey) = load(&state, id, false, "en").await?;
    if let Some(ext) = ext {
        return Ok(download(&snapshot, &survey, &state, file_language(&req), ext));
    }
    let base = format!("/staff/reports/{}", snapshot.row.id);
    let r = page::body(&snapshot, &survey, &state.i18n, &publisher(&state), lang, base);
    let page = StaffReport {
        ui: ui(&state, lang),
        me,
        status: snapshot.row.status,
        created_by: snapshot.row.created_by.clone(),
        r,
    };
    html(StatusCode::OK, page)
}

async fn change_status(state: web::Data<AppState>, id: String, form: AdminForm, to: SnapshotStatus) -> WebResult {
    let st = state.clone().into_inner();
    let target = id.clone();
    let notes = report::Notes {
        reason: Some(form.fields.get("reason")),
        replaced_by: Some(form.fields.get("replaced_by")),
        headlines: form
            .fields
            .all("headline")
            .iter()
            .filter_map(|h| h.split_once('|').map(|(t, r)| (t.to_owned(), r.to_owned())))
            .take(MAX_HEADLINES)
            .collect(),
    };
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let today = crate::month::date(st.clock.now());
            Ok(report::change_status(c, &st.accounts, &form.me.name, &target, to, &today, &notes))
        })
        .await?;
    match outcome {
        Ok(()) => Ok(redirect(&format!("/staff/reports/{id}"))),
        Err(PublicationError::Store(e)) => Err(e.into()),
        Err(PublicationError::NotFound) => Err(WebError::plain(StatusCode::NOT_FOUND, "No such snapshot.")),
        Err(e @ (PublicationError::NoReason | PublicationError::BadReplacement)) => {
            Err(WebError::plain(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(e) => Err(WebError::plain(StatusCode::CONFLICT, e.to_string())),
    }
}

async fn publish(state: web::Data<AppState>, id: web::Path<String>, form: AdminForm) -> WebResult {
    change_status(state, id.into_inner(), form, SnapshotStatus::Published).await
}

async fn retract(state: web::Data<AppState>, id: web::Path<String>, form: AdminForm) -> WebResult {
    change_status(state, id.into_inner(), form, SnapshotStatus::Retracted).await
}

/// An admin sets a survey's total privacy budget (never below what is spent); audited.
async fn set_budget(state: web::Data<AppState>, slug: web::Path<String>, form: AdminForm) -> WebResult {
    let total: f64 = form.fields.get("total").trim().parse().unwrap_or(f64::NAN);
    let slug = slug.into_inner();
    let st = state.clone().into_inner();
    let actor = form.me.name.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let result = report::set_budget(c, &slug, total);
            if result.is_ok() {
                st.accounts.audit(c, &actor, "budget_set", &format!("{slug}: total rho {total:.3}"))?;
            }
            Ok(result)
        })
        .await?;
    match outcome {
        Ok(_) => Ok(redirect("/staff/reports")),
        Err(ReportError::Store(e)) => Err(e.into()),
        Err(e) => staff_list_view(&state, form.me, Some(e.to_string())).await,
    }
}

/// The most figures a fact sheet carries: one or two printed pages.
const MAX_HEADLINES: usize = 8;

/// One figure an admin may put on the fact sheet: a released answer of a one-way table.
struct HeadlineChoice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "staff/publish.html")]
struct PublishPreview<'a> {
    ui: Ui<'a>,
    me: Staff,
    r: ReportBody,
    choices: Vec<HeadlineChoice>,
    /// What a citation would lack: said before anything is published.
    warnings: Vec<String>,
}

/// The release as it will be published, the figures to choose for its fact sheet, and a confirm button.
async fn publish_preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    crate::web::auth::Admin(me): crate::web::auth::Admin,
) -> WebResult {
    let lang = language(&req, None);
    let (snapshot, survey) = load(&state, &id, false, "en").await?;
    if snapshot.row.status != SnapshotStatus::Private || snapshot.row.synthetic {
        return Err(WebError::plain(StatusCode::CONFLICT, "Only a private release of real answers can be published."));
    }
    let r = page::body(&snapshot, &survey, &state.i18n, &publisher(&state), lang, format!("/staff/reports/{id}"));
    let mut choices = Vec::new();
    for view in render::table_views(&snapshot, &survey, &state.i18n, lang).iter().filter(|v| v.one_way()) {
        for (label, cells) in &view.rows {
            if let Some(c) = cells.first().filter(|c| c.percent.is_some()) {
                choices.push(HeadlineChoice {
                    value: format!("{}|{}", c.table, c.row),
                    label: format!("{} — {}: {}%", view.title, label, c.percent_text()),
                });
            }
        }
    }
    let mut warnings = Vec::new();
    if state.config.public_url.is_none() {
        warnings.push("public_url is not set: citation lines and the fact sheet will carry no web address.".to_owned());
    }
    if state.config.organisation == crate::config::DEFAULT_ORGANISATION {
        warnings.push("organisation is not set: citations will name the software, not your organisation.".to_owned());
    }
    html(StatusCode::OK, PublishPreview { ui: ui(&state, lang), me, r, choices, warnings })
}

/// One headline figure on a fact sheet, formatted.
struct Figure {
    question: String,
    answer: String,
    percent: String,
    low: String,
    high: String,
    count: String,
    base: String,
}

#[derive(Template)]
#[template(path = "report_factsheet.html")]
struct FactSheet<'a> {
    ui: Ui<'a>,
    r: ReportBody,
    organisation: String,
    figures: Vec<Figure>,
    verify_url: String,
}

/// A release's fact sheet: the figures an admin chose when publishing, each with its interval and
/// base, the method in plain words, the citation and where to verify it. Prints on one or two pages.
async fn factsheet(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> WebResult {
    let lang = language(&req, None);
    let (snapshot, survey) = load(&state, &id, true, lang).await?;
    let chosen: Vec<(String, String)> = serde_json::from_str(&snapshot.row.headlines).unwrap_or_default();
    let views = render::table_views(&snapshot, &survey, &state.i18n, lang);
    let mut figures = Vec::new();
    for (table, row) in &chosen {
        for view in views.iter().filter(|v| v.one_way()) {
            for (label, cells) in &view.rows {
                let Some(c) = cells.first().filter(|c| &c.table == table && &c.row == row) else { continue };
                let (Some(p), Some((lo, hi))) = (c.percent, c.ci) else { continue };
                figures.push(Figure {
                    question: view.title.clone(),
                    answer: label.clone(),
                    percent: format!("{:.0}", p * 100.0),
                    low: format!("{:.0}", lo * 100.0),
                    high: format!("{:.0}", hi * 100.0),
                    count: c.count_text(&state.i18n, lang),
                    base: view.base.clone(),
                });
            }
        }
    }
    let base = format!("/reports/{}", snapshot.row.id);
    let r = page::body(&snapshot, &survey, &state.i18n, &publisher(&state), lang, base);
    let verify_url = format!("{}/reports/verify", state.config.public_url.as_deref().unwrap_or(""));
    let organisation = state.config.organisation.clone();
    html(StatusCode::OK, FactSheet { ui: ui(&state, lang), r, organisation, figures, verify_url })
}
