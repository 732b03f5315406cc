//! Report pages: staff run, read, publish and retract snapshots; anyone reads published ones at
//! /reports, with CSV and JSON beside each. Every figure comes from a snapshot's released tables.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::{
    AppState, body,
    pages::Ui,
    public::html,
    staff::{Need, field, internal, plain, require, staff_form},
};
use crate::{
    i18n::negotiate,
    report::{self, ReportError, Snapshot, SnapshotSpec, render},
    staff::Staff,
    store::{StoreError, snapshots, surveys},
    survey::Survey,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(public_list))
        .route("/reports/{file}", web::get().to(public_report))
        .route("/staff/reports", web::get().to(staff_list))
        .route("/staff/reports", web::post().to(run))
        .route("/staff/reports/{file}", web::get().to(staff_report))
        .route("/staff/reports/{id}/publish", web::post().to(publish))
        .route("/staff/reports/{id}/retract", web::post().to(retract));
}

/// Everything a report page shows, in one language.
pub struct ReportBody {
    pub id: String,
    pub title: String,
    pub through: String,
    pub period: String,
    pub n: i64,
    pub k: u64,
    pub created: String,
    pub published: Option<String>,
    pub retracted: Option<String>,
    pub synthetic: bool,
    pub verified_share: Option<String>,
    pub rounding: bool,
    /// Months quarantined when the snapshot ran, comma-separated.
    pub excluded: String,
    pub citation: Option<String>,
    pub tables: Vec<render::TableView>,
    pub base: String,
}

#[derive(Template)]
#[template(path = "report_public.html")]
struct PublicReport<'a> {
    ui: Ui<'a>,
    r: ReportBody,
}

#[derive(Template)]
#[template(path = "report_file.html")]
pub struct ReportFile<'a> {
    pub ui: Ui<'a>,
    pub r: ReportBody,
    pub css: &'static str,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct PublicList<'a> {
    ui: Ui<'a>,
    reports: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "staff/report.html")]
struct StaffReport<'a> {
    ui: Ui<'a>,
    me: Staff,
    r: ReportBody,
    status: String,
    created_by: String,
}

#[derive(Template)]
#[template(path = "staff/reports.html")]
struct StaffList {
    me: Staff,
    surveys: Vec<String>,
    snapshots: Vec<snapshots::SnapshotRow>,
    month: String,
    error: Option<String>,
}

/// The English JSON document, whose SHA-256 the citation quotes.
pub fn json_bytes(s: &Snapshot, survey: &Survey, i18n: &crate::i18n::I18n, lang: &str) -> String {
    render::json(s, survey, i18n, lang).to_string()
}

pub fn body(s: &Snapshot, survey: &Survey, state: &AppState, lang: &str, base: String) -> ReportBody {
    let tables: Vec<render::TableView> =
        s.tables.iter().map(|t| render::table_view(t, survey, &state.i18n, lang)).collect();
    let first_month = s.tables.iter().find(|t| t.by.as_deref() == Some("month")).and_then(|t| t.cols.first().cloned());
    let period = match first_month {
        Some(first) if first != s.row.through_month => format!("{first} – {}", s.row.through_month),
        _ => s.row.through_month.clone(),
    };
    let title = format!("{} — {}", survey.title(&survey.language_for(lang)), state.i18n.t(lang, "report_heading"));
    let verified_share = render::verified_share(s).map(|p| format!("{p:.0}"));
    let citation = s.row.published.as_ref().map(|date| {
        let url = format!("{}/reports/{}", state.config.public_url.as_deref().unwrap_or(""), s.row.id);
        let hash = hex::encode(Sha256::digest(json_bytes(s, survey, &state.i18n, "en").as_bytes()));
        format!(
            "{}. “{}”, {}; n = {}. {} {}. {} SHA-256 (JSON, en): {}",
            state.config.organisation,
            survey.title("en"),
            state.i18n.t("en", "report_through").replace("{month}", &s.row.through_month),
            s.row.n,
            state.i18n.t("en", "report_published"),
            date,
            url,
            hash
        )
    });
    ReportBody {
        id: s.row.id.clone(),
        title,
        through: s.row.through_month.clone(),
        period,
        n: s.row.n,
        k: s.spec.k,
        created: s.row.created.clone(),
        published: s.row.published.clone(),
        retracted: s.row.retracted.clone(),
        synthetic: s.row.synthetic,
        verified_share,
        rounding: s.spec.rounding,
        excluded: s.spec.excluded_months.join(", "),
        citation,
        tables,
        base,
    }
}

fn lang_of(req: &HttpRequest) -> &'static str {
    let query = body::parse_form(req.query_string().as_bytes()).unwrap_or_default();
    let requested = query.iter().find(|(k, _)| k == "lang").map(|(_, v)| v.as_str());
    negotiate(requested, req.headers().get("accept-language").and_then(|v| v.to_str().ok()))
}

/// `ID`, `ID.csv` or `ID.json`.
fn split_file(file: &str) -> (&str, Option<&str>) {
    match file.rsplit_once('.') {
        Some((id, ext @ ("csv" | "json"))) => (id, Some(ext)),
        _ => (file, None),
    }
}

async fn load(state: &web::Data<AppState>, id: &str, public: bool) -> Result<(Snapshot, Arc<Survey>), HttpResponse> {
    let st = state.clone().into_inner();
    let id = id.to_owned();
    let found = state
        .store
        .run(move |c| {
            let Some(row) = snapshots::get(c, &id)? else { return Ok(None) };
            if public && row.status == "private" {
                return Ok(None);
            }
            let survey = st.intake.surveys.version(c, &row.survey_slug, row.survey_version)?;
            Ok(survey.map(|s| (Snapshot::from_row(row), s)))
        })
        .await
        .map_err(|e| internal(&e))?;
    match found {
        Some((Ok(snapshot), survey)) => Ok((snapshot, survey)),
        Some((Err(e), _)) => Err(internal(&e)),
        None => Err(plain(StatusCode::NOT_FOUND, "No such report.")),
    }
}

fn download(s: &Snapshot, survey: &Survey, state: &AppState, lang: &str, ext: &str) -> HttpResponse {
    let name = format!("chorus-{}-{}-{}", s.row.survey_slug, s.row.through_month, &s.row.id[..8]);
    let (body, content_type) = match ext {
        "csv" => (render::csv(s, survey, &state.i18n, lang), "text/csv; charset=utf-8"),
        _ => (json_bytes(s, survey, &state.i18n, lang), "application/json"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{name}.{ext}\"")))
        .body(body)
}

// ---- public ----------------------------------------------------------------------------------------

async fn public_list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let lang = lang_of(&req);
    let st = state.clone().into_inner();
    let rows = state
        .store
        .run(move |c| {
            let mut out = Vec::new();
            for row in snapshots::list(c, true)? {
                let title = match st.intake.surveys.version(c, &row.survey_slug, row.survey_version)? {
                    Some(s) => s.title(&s.language_for(lang)).to_owned(),
                    None => row.survey_slug.clone(),
                };
                let label =
                    format!("{title} — {}", st.i18n.t(lang, "report_through").replace("{month}", &row.through_month));
                out.push((row.id, label, row.status, row.published.unwrap_or_default()));
            }
            Ok(out)
        })
        .await;
    match rows {
        Ok(reports) => html(StatusCode::OK, PublicList { ui: ui(&state, lang), reports }),
        Err(e) => internal(&e),
    }
}

fn ui<'a>(state: &'a AppState, lang: &'a str) -> Ui<'a> {
    Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title }
}

async fn public_report(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let lang = lang_of(&req);
    let (id, ext) = split_file(&file);
    let (snapshot, survey) = match load(&state, id, true).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match ext {
        Some(ext) => download(&snapshot, &survey, &state, lang, ext),
        None => {
            let r = body(&snapshot, &survey, &state, lang, format!("/reports/{}", snapshot.row.id));
            html(StatusCode::OK, PublicReport { ui: ui(&state, lang), r })
        }
    }
}

// ---- staff -----------------------------------------------------------------------------------------

async fn staff_list_view(state: &web::Data<AppState>, me: Staff, error: Option<String>) -> HttpResponse {
    let rows = state.store.run(|c| Ok((surveys::list(c)?, snapshots::list(c, false)?))).await;
    match rows {
        Ok((surveys, snapshots)) => {
            let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            let month = crate::month::Month::now().to_string();
            html(
                status,
                StaffList { me, surveys: surveys.into_iter().map(|s| s.slug).collect(), snapshots, month, error },
            )
        }
        Err(e) => internal(&e),
    }
}

async fn staff_list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match require(&state, &req, Need::Any).await {
        Ok(me) => staff_list_view(&state, me, None).await,
        Err(r) => r,
    }
}

async fn run(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let (me, fields) = match staff_form(&state, &req, payload, Need::Any).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let spec = SnapshotSpec {
        survey: field(&fields, "survey"),
        through: field(&fields, "through"),
        k: field(&fields, "k").parse().unwrap_or(10),
        rounding: field(&fields, "rounding") == "on",
        verified_only: field(&fields, "verified_only") == "on",
        excluded_months: vec![],
    };
    let passphrase = SecretString::from(field(&fields, "passphrase"));
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state
        .store
        .run(move |c| {
            let now = st.clock.now();
            let result = report::run_snapshot(c, &st.intake.surveys, &passphrase, &spec, &actor, now);
            let target = match &result {
                Ok(s) => format!("{} through {} ({})", spec.survey, spec.through, s.row.id),
                Err(e) => format!("{} through {}: refused ({e})", spec.survey, spec.through),
            };
            st.accounts.audit(c, &actor, "snapshot_run", &target)?;
            Ok(result.map(|s| s.row.id))
        })
        .await;
    match outcome {
        Ok(Ok(id)) => HttpResponse::SeeOther().insert_header(("location", format!("/staff/reports/{id}"))).finish(),
        Ok(Err(ReportError::Store(e))) => internal(&e),
        Ok(Err(e)) => staff_list_view(&state, me, Some(e.to_string())).await,
        Err(e) => internal(&e),
    }
}

async fn staff_report(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let me = match require(&state, &req, Need::Any).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let lang = lang_of(&req);
    let (id, ext) = split_file(&file);
    let (snapshot, survey) = match load(&state, id, false).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match ext {
        Some(ext) => download(&snapshot, &survey, &state, lang, ext),
        None => {
            let r = body(&snapshot, &survey, &state, lang, format!("/staff/reports/{}", snapshot.row.id));
            let page = StaffReport {
                ui: ui(&state, lang),
                me,
                status: snapshot.row.status.clone(),
                created_by: snapshot.row.created_by.clone(),
                r,
            };
            html(StatusCode::OK, page)
        }
    }
}

async fn set_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: String,
    payload: web::Payload,
    to: &'static str,
) -> HttpResponse {
    let (me, _) = match staff_form(&state, &req, payload, Need::Admin).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let st = state.clone().into_inner();
    let outcome = state
        .store
        .run(move |c| -> Result<Result<String, &'static str>, StoreError> {
            let Some(row) = snapshots::get(c, &id)? else { return Ok(Err("No such snapshot.")) };
            let allowed = match to {
                "published" if row.synthetic => {
                    return Ok(Err("A snapshot that includes synthetic responses can never be published."));
                }
                "published" => row.status == "private",
                _ => row.status == "published",
            };
            if !allowed {
                return Ok(Err("That change is not possible from the snapshot's current status."));
            }
            let (y, m, d) = crate::month::civil_from_days(st.clock.now().div_euclid(86_400));
            snapshots::set_status(c, &id, to, &format!("{y:04}-{m:02}-{d:02}"))?;
            let action = if to == "published" { "publish" } else { "retract" };
            st.accounts.audit(
                c,
                &me.name,
                action,
                &format!("{} through {} ({id})", row.survey_slug, row.through_month),
            )?;
            Ok(Ok(id))
        })
        .await;
    match outcome {
        Ok(Ok(id)) => HttpResponse::SeeOther().insert_header(("location", format!("/staff/reports/{id}"))).finish(),
        Ok(Err(message)) => plain(StatusCode::CONFLICT, message),
        Err(e) => internal(&e),
    }
}

async fn publish(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    set_status(state, req, id.into_inner(), payload, "published").await
}

async fn retract(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    set_status(state, req, id.into_inner(), payload, "retracted").await
}
