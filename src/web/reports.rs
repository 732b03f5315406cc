//! Report pages: staff run, read, publish and retract snapshots; anyone reads published ones at
//! /reports, with CSV and JSON beside each. What a report says is built in `report::page`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::SecretString;

use super::{
    AppState,
    auth::{AdminForm, Member, MemberForm},
    respond::{WebError, WebResult, html, language, redirect},
};
use crate::{
    i18n::Ui,
    keyring::KeyringError,
    report::{
        self, PublicationError, ReportError, Snapshot, SnapshotSpec, SnapshotStatus,
        page::{self, Publisher, ReportBody},
        render,
    },
    seal::SealError,
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

/// One snapshot in the staff list: what it covers and who made it, never its member hashes.
struct SnapshotView {
    id: String,
    survey_slug: String,
    through_month: String,
    n: i64,
    created: String,
    created_by: String,
    status: SnapshotStatus,
    synthetic: bool,
}

#[derive(Template)]
#[template(path = "staff/reports.html")]
struct StaffList {
    me: Staff,
    surveys: Vec<String>,
    snapshots: Vec<SnapshotView>,
    month: String,
    error: Option<String>,
}

fn publisher(state: &AppState) -> Publisher<'_> {
    Publisher { organisation: &state.config.organisation, public_url: state.config.public_url.as_deref() }
}

fn ui<'a>(state: &'a AppState, lang: &'a str) -> Ui<'a> {
    Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title }
}

/// `ID`, `ID.csv` or `ID.json`.
fn split_file(file: &str) -> (&str, Option<&str>) {
    match file.rsplit_once('.') {
        Some((id, ext @ ("csv" | "json"))) => (id, Some(ext)),
        _ => (file, None),
    }
}

async fn load(state: &web::Data<AppState>, id: &str, public: bool) -> Result<(Snapshot, Arc<Survey>), WebError> {
    let st = state.clone().into_inner();
    let id = id.to_owned();
    let found = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let Some(row) = snapshots::get(c, &id)? else { return Ok(None) };
            if public && row.status == SnapshotStatus::Private {
                return Ok(None);
            }
            let Some(survey) = st.intake.surveys.version(c, &row.survey_slug, row.survey_version)? else {
                return Ok(None);
            };
            Ok(Some((Snapshot::from_row(row)?, survey)))
        })
        .await?;
    found.ok_or_else(|| WebError::plain(StatusCode::NOT_FOUND, "No such report."))
}

fn download(s: &Snapshot, survey: &Survey, state: &AppState, lang: &str, ext: &str) -> HttpResponse {
    let name = format!("chorus-{}-{}-{}", s.row.survey_slug, s.row.through_month, &s.row.id[..8]);
    let (body, content_type) = match ext {
        "csv" => (render::csv(s, survey, &state.i18n, lang), "text/csv; charset=utf-8"),
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
        .await?;
    html(StatusCode::OK, PublicList { ui: ui(&state, lang), reports })
}

async fn public_report(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> WebResult {
    let lang = language(&req, None);
    let (id, ext) = split_file(&file);
    let (snapshot, survey) = load(&state, id, true).await?;
    if let Some(ext) = ext {
        return Ok(download(&snapshot, &survey, &state, lang, ext));
    }
    let base = format!("/reports/{}", snapshot.row.id);
    let r = page::body(&snapshot, &survey, &state.i18n, &publisher(&state), lang, base);
    html(StatusCode::OK, PublicReport { ui: ui(&state, lang), r })
}

// ---- staff -----------------------------------------------------------------------------------------

async fn staff_list_view(state: &web::Data<AppState>, me: Staff, error: Option<String>) -> WebResult {
    let (surveys, rows) =
        state.store.run(|c| Ok::<_, StoreError>((surveys::list(c)?, snapshots::list(c, false)?))).await?;
    let snapshots = rows
        .into_iter()
        .map(|s| SnapshotView {
            id: s.id,
            survey_slug: s.survey_slug,
            through_month: s.through_month,
            n: s.n,
            created: s.created,
            created_by: s.created_by,
            status: s.status,
            synthetic: s.synthetic,
        })
        .collect();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let month = crate::month::Month::now().to_string();
    html(status, StaffList { me, surveys: surveys.into_iter().map(|s| s.slug).collect(), snapshots, month, error })
}

async fn staff_list(state: web::Data<AppState>, Member(me): Member) -> WebResult {
    staff_list_view(&state, me, None).await
}

async fn run(state: web::Data<AppState>, form: MemberForm) -> WebResult {
    let fields = &form.fields;
    let spec = SnapshotSpec {
        survey: fields.get("survey"),
        through: fields.get("through"),
        k: fields.get("k").parse().unwrap_or(10),
        rounding: fields.get("rounding") == "on",
        verified_only: fields.get("verified_only") == "on",
        excluded_months: vec![],
    };
    let passphrase = SecretString::from(fields.get("passphrase"));
    let st = state.clone().into_inner();
    let actor = form.me.name.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            // Online guessing: past the per-account or global limit on wrong passphrases, refuse
            // before any key derivation, and say so in the audit trail.
            let survey = crate::staff::typed_name(&spec.survey);
            if let Err(too_many) = st.passphrase_tries.check(&actor) {
                st.accounts.audit(c, &actor, "passphrase_throttled", &survey)?;
                return Ok(Err(too_many.to_string()));
            }
            match report::run_and_audit(c, &st.intake.surveys, &st.accounts, &passphrase, &spec, &actor) {
                Ok(snapshot) => Ok(Ok(snapshot.row.id)),
                Err(ReportError::Store(e)) => Err(e),
                Err(e) => {
                    if matches!(e, ReportError::Keyring(KeyringError::Seal(SealError::WrongPassphrase))) {
                        st.passphrase_tries.failed(&actor);
                        st.accounts.audit(c, &actor, "passphrase_failed", &survey)?;
                    }
                    Ok(Err(e.to_string()))
                }
            }
        })
        .await?;
    match outcome {
        Ok(id) => Ok(redirect(&format!("/staff/reports/{id}"))),
        Err(message) => staff_list_view(&state, form.me, Some(message)).await,
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
    let (snapshot, survey) = load(&state, id, false).await?;
    if let Some(ext) = ext {
        return Ok(download(&snapshot, &survey, &state, lang, ext));
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
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let (y, m, d) = crate::month::civil_from_days(st.clock.now().div_euclid(86_400));
            let today = format!("{y:04}-{m:02}-{d:02}");
            Ok(report::change_status(c, &st.accounts, &form.me.name, &target, to, &today))
        })
        .await?;
    match outcome {
        Ok(()) => Ok(redirect(&format!("/staff/reports/{id}"))),
        Err(PublicationError::Store(e)) => Err(e.into()),
        Err(PublicationError::NotFound) => Err(WebError::plain(StatusCode::NOT_FOUND, "No such snapshot.")),
        Err(e) => Err(WebError::plain(StatusCode::CONFLICT, e.to_string())),
    }
}

async fn publish(state: web::Data<AppState>, id: web::Path<String>, form: AdminForm) -> WebResult {
    change_status(state, id.into_inner(), form, SnapshotStatus::Published).await
}

async fn retract(state: web::Data<AppState>, id: web::Path<String>, form: AdminForm) -> WebResult {
    change_status(state, id.into_inner(), form, SnapshotStatus::Retracted).await
}
