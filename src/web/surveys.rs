//! Staff survey pages: the list (status, version, languages, stored answers), the admin upload of a
//! TOML or XLSForm definition with its diff and confirmation, opening and closing, and the preview of
//! the respondent form in each language (no submission possible) with its untranslated strings.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
    web,
};
use askama::Template;

use super::{
    AppState,
    auth::{AdminForm, AdminUpload, Member},
    pages::{self, Ui},
    respond::{WebError, WebResult, html, redirect},
};
use crate::{
    staff::Staff,
    store::{
        StoreError, responses,
        surveys::{self, Imported, SurveyStatus},
    },
    survey::{
        RawAnswers, Survey,
        edit::{self, EditError, Proposed},
    },
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff/surveys", web::get().to(list))
        .route("/staff/surveys", web::post().to(upload))
        .route("/staff/surveys/confirm", web::post().to(confirm))
        .route("/staff/surveys/{slug}", web::get().to(detail))
        .route("/staff/surveys/{slug}/status", web::post().to(status))
        .route("/staff/surveys/{slug}/preview/{lang}", web::get().to(preview));
}

/// A changed definition waiting for an admin's confirmation, in RAM only.
pub struct PendingImport {
    admin: String,
    at: Instant,
    proposed: Proposed,
}

/// How long a shown diff can be confirmed, and how many may wait at once.
const PENDING_TTL: Duration = Duration::from_secs(30 * 60);
const PENDING_MAX: usize = 16;

// ---- views ----------------------------------------------------------------------------------------

/// One survey as the list shows it.
struct SurveyView {
    slug: String,
    title: String,
    version: i32,
    status: SurveyStatus,
    testing: bool,
    languages: String,
    review: String,
    answers: i64,
}

#[derive(Template)]
#[template(path = "staff/surveys.html")]
struct ListPage {
    me: Staff,
    surveys: Vec<SurveyView>,
    errors: Vec<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/survey_confirm.html")]
struct ConfirmPage {
    me: Staff,
    slug: String,
    from: i32,
    to: i32,
    answers: i64,
    changes: Vec<String>,
    pending: String,
}

struct LanguageView {
    code: String,
    name: String,
    review: bool,
    untranslated: Vec<(String, String)>,
    /// Strings awaiting a community reviewer, as (key, English, this language): the survey's own
    /// texts while its translation says `review = true`, and the interface strings while
    /// locales/LANG.toml does.
    review_survey: Vec<(String, String, String)>,
    review_ui: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "staff/survey.html")]
struct DetailPage {
    me: Staff,
    slug: String,
    title: String,
    version: i32,
    status: SurveyStatus,
    answers: i64,
    languages: Vec<LanguageView>,
    /// The public address respondents use (`/s/{path}`); the slug is never one.
    public_path: String,
}

// ---- handlers -------------------------------------------------------------------------------------

async fn list_view(state: &web::Data<AppState>, me: Staff, errors: Vec<String>, notice: Option<String>) -> WebResult {
    let st = state.clone().into_inner();
    let surveys = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let mut out = Vec::new();
            for row in surveys::list(c)? {
                let Some(s) = st.intake.surveys.version(c, &row.slug, row.current_version)? else { continue };
                out.push(SurveyView {
                    title: s.title("en").to_owned(),
                    languages: s.languages.join(", "),
                    review: s.needs_review.join(", "),
                    answers: responses::count(c, &row.slug)?,
                    slug: row.slug,
                    version: row.current_version,
                    status: row.status,
                    testing: row.testing,
                });
            }
            Ok(out)
        })
        .await?;
    let code = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    html(code, ListPage { me, surveys, errors, notice })
}

async fn list(state: web::Data<AppState>, Member(me): Member) -> WebResult {
    list_view(&state, me, Vec::new(), None).await
}

/// Read an uploaded definition. A new survey is stored as a draft at once (a draft shows nothing to
/// respondents); a change to an existing one is shown as a diff and waits for confirmation.
async fn upload(state: web::Data<AppState>, form: AdminUpload) -> WebResult {
    let AdminUpload { me, file, .. } = form;
    if file.is_empty() {
        return list_view(&state, me, vec!["Choose a file to import.".into()], None).await;
    }
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let proposed = match edit::propose(c, &st.intake.surveys, &file) {
                Ok(p) => p,
                Err(EditError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(e)),
            };
            if proposed.current.is_some() {
                return Ok(Ok((proposed, None)));
            }
            let outcome = match edit::commit(c, &st.intake.surveys, &proposed) {
                Ok(o) => o,
                Err(EditError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(e)),
            };
            st.accounts.audit(
                c,
                &actor,
                "survey_import",
                &format!("{} v{} (draft)", proposed.survey.slug, proposed.survey.version),
            )?;
            Ok(Ok((proposed, Some(outcome))))
        })
        .await?;
    let (proposed, stored) = match outcome {
        Ok(found) => found,
        Err(EditError::Refused(reasons)) => {
            let mut errors = vec!["Refused: answers are already stored under these ids.".to_owned()];
            errors.extend(reasons);
            return list_view(&state, me, errors, None).await;
        }
        Err(e) => return list_view(&state, me, e.to_string().lines().map(str::to_owned).collect(), None).await,
    };
    if stored.is_some() {
        return Ok(redirect(&format!("/staff/surveys/{}", proposed.survey.slug)));
    }
    if proposed.unchanged() {
        let notice = format!("{} is unchanged: nothing stored.", proposed.survey.slug);
        return list_view(&state, me, Vec::new(), Some(notice)).await;
    }
    let (from, diff) = proposed.current.clone().unwrap_or_default();
    let mut changes: Vec<String> = diff.changes.iter().map(ToString::to_string).collect();
    if changes.is_empty() {
        changes.push("Texts, translations or settings only: no question or option changes.".into());
    }
    let page = ConfirmPage {
        slug: proposed.survey.slug.clone(),
        from,
        to: proposed.survey.version,
        answers: proposed.answers,
        changes,
        pending: String::new(),
        me,
    };
    let id = hex::encode(crate::seal::random::<16>());
    {
        let mut pending = state.pending_imports.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.at.elapsed() < PENDING_TTL);
        if pending.len() >= PENDING_MAX
            && let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(id.clone(), PendingImport { admin: page.me.name.clone(), at: Instant::now(), proposed });
    }
    html(StatusCode::OK, ConfirmPage { pending: id, ..page })
}

/// Store the version an admin has seen the diff of: only that admin, only within 30 minutes.
async fn confirm(state: web::Data<AppState>, form: AdminForm) -> WebResult {
    let id = form.fields.get("pending");
    let taken = {
        let mut pending = state.pending_imports.lock().unwrap_or_else(|p| p.into_inner());
        match pending.remove(&id) {
            Some(p) if p.admin == form.me.name && p.at.elapsed() < PENDING_TTL => Some(p),
            _ => None,
        }
    };
    let Some(p) = taken else {
        return list_view(&state, form.me, vec!["That change has expired: upload the file again.".into()], None).await;
    };
    let st = state.clone().into_inner();
    let actor = form.me.name.clone();
    let slug = p.proposed.survey.slug.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            // The survey may have changed since the diff was shown: propose again and compare.
            let again = match edit::propose(c, &st.intake.surveys, p.proposed.text.as_bytes()) {
                Ok(a) => a,
                Err(EditError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(e)),
            };
            if again.survey.version != p.proposed.survey.version {
                return Ok(Err(EditError::Invalid("the survey changed since the diff was shown: upload again".into())));
            }
            match edit::commit(c, &st.intake.surveys, &again) {
                Ok(o) => {
                    let detail = format!("{} v{}", again.survey.slug, again.survey.version);
                    st.accounts.audit(c, &actor, "survey_import", &detail)?;
                    Ok(Ok(o))
                }
                Err(EditError::Store(e)) => Err(e),
                Err(e) => Ok(Err(e)),
            }
        })
        .await?;
    match outcome {
        Ok(Imported::Unchanged) => list_view(&state, form.me, Vec::new(), Some(format!("{slug} is unchanged."))).await,
        Ok(_) => Ok(redirect(&format!("/staff/surveys/{slug}"))),
        Err(e) => list_view(&state, form.me, e.to_string().lines().map(str::to_owned).collect(), None).await,
    }
}

/// Open or close a survey (admin). Opening a draft purges its synthetic and test answers.
async fn status(state: web::Data<AppState>, slug: web::Path<String>, form: AdminForm) -> WebResult {
    let to = match form.fields.get("action").as_str() {
        "open" => SurveyStatus::Open,
        "close" => SurveyStatus::Closed,
        _ => return Err(WebError::plain(StatusCode::BAD_REQUEST, "Open or close.")),
    };
    let slug = slug.into_inner();
    let st = state.clone().into_inner();
    let (s, actor) = (slug.clone(), form.me.name.clone());
    let found = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let found = st.intake.surveys.set_status(c, &s, to)?;
            if found {
                let action = if to == SurveyStatus::Open { "survey_open" } else { "survey_close" };
                st.accounts.audit(c, &actor, action, &s)?;
            }
            Ok(found)
        })
        .await?;
    if !found {
        return Err(WebError::plain(StatusCode::NOT_FOUND, "No such survey."));
    }
    Ok(redirect(&format!("/staff/surveys/{slug}")))
}

async fn current(
    state: &web::Data<AppState>,
    slug: String,
) -> Result<(Arc<Survey>, surveys::SurveyRow, i64), WebError> {
    let st = state.clone().into_inner();
    let found = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let Some(row) = surveys::get(c, &slug)? else { return Ok(None) };
            let Some(s) = st.intake.surveys.version(c, &slug, row.current_version)? else { return Ok(None) };
            Ok(Some((s, row, responses::count(c, &slug)?)))
        })
        .await?;
    found.ok_or_else(|| WebError::plain(StatusCode::NOT_FOUND, "No such survey."))
}

async fn detail(state: web::Data<AppState>, slug: web::Path<String>, Member(me): Member) -> WebResult {
    let (survey, row, answers) = current(&state, slug.into_inner()).await?;
    let languages = survey
        .languages
        .iter()
        .map(|l| LanguageView {
            code: l.clone(),
            name: state.i18n.t(l, "language_name").to_owned(),
            review: survey.needs_review.contains(l),
            review_survey: if survey.needs_review.contains(l) {
                survey
                    .text_keys()
                    .into_iter()
                    .filter_map(|k| {
                        let own = survey.own_text(l, &k)?.to_owned();
                        Some((k.clone(), survey.own_text("en", &k).unwrap_or_default().to_owned(), own))
                    })
                    .collect()
            } else {
                Vec::new()
            },
            review_ui: if l != "en" && state.i18n.awaiting_review(l) { state.i18n.side_by_side(l) } else { Vec::new() },
            untranslated: if l == "en" {
                Vec::new()
            } else {
                survey
                    .untranslated(l)
                    .into_iter()
                    .map(|k| {
                        let en = survey.own_text("en", &k).unwrap_or_default().to_owned();
                        (k, en)
                    })
                    .collect()
            },
        })
        .collect();
    html(
        StatusCode::OK,
        DetailPage {
            me,
            slug: survey.slug.clone(),
            title: survey.title("en").to_owned(),
            version: row.current_version,
            status: row.status,
            answers,
            languages,
            public_path: state.public_path(&survey.slug),
        },
    )
}

/// The respondent form exactly as respondents see it in one language, built from the same view
/// structs and template, but with no token and no target: the form's action is empty and the page's
/// Content-Security-Policy says `form-action 'none'`, so the browser sends nothing anywhere.
async fn preview(state: web::Data<AppState>, path: web::Path<(String, String)>, Member(_me): Member) -> WebResult {
    let (slug, lang) = path.into_inner();
    let (survey, _, _) = current(&state, slug).await?;
    let Some(lang) =
        crate::i18n::LANGUAGES.iter().copied().find(|l| *l == lang && survey.languages.iter().any(|s| s == l))
    else {
        return Err(WebError::plain(StatusCode::NOT_FOUND, "This survey is not offered in that language."));
    };
    let ui = Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title };
    let text = |key: &str| survey.text(lang, key).unwrap_or_default().to_owned();
    let support = crate::config::support_in(&state.config.support, lang)
        .into_iter()
        .map(|o| pages::Support { name: o.name.clone(), reach: o.reach.clone() })
        .collect();
    let page = pages::Form {
        path: String::new(),
        title: text("title"),
        intro: text("intro"),
        consent: text("consent"),
        token: String::new(),
        notices: Vec::new(),
        code_label: survey.codes.label_key().map(|k| ui.t(k).to_owned()),
        support,
        errors: Vec::new(),
        // The screening question (asked on a step of its own) first, then the form.
        questions: [true, false]
            .into_iter()
            .flat_map(|screening| {
                pages::questions(
                    &survey,
                    &Ui { i18n: ui.i18n, lang, page_title: ui.page_title },
                    &RawAnswers::default(),
                    &[],
                    "preview",
                    screening,
                )
            })
            .collect(),
        screen: None,
        preview_end: survey
            .screen
            .and_then(|i| survey.text(lang, &format!("q.{}.end", survey.questions[i].id)))
            .map(str::to_owned),
        ui,
    };
    // The action names no survey (`/s/` is no route), and the policy forbids submitting at all.
    let body = page.render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, super::middleware::policy_without_forms()))
        .body(body))
}
