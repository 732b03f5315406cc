//! Respondent pages: landing, form, receipt, withdrawal, safety. No cookies, nothing from elsewhere,
//! everything works without JavaScript; the language travels only in links and form fields.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;

use super::{
    AppState,
    body::{self, BodyError},
    client_address,
    pages::{self, Ui},
    respond::{Fields, WebError, WebResult, language},
};
use crate::{
    intake::{CodeProblem, SubmitError, Via, token::TokenProblem},
    store::StoreError,
    survey::{AnswerError, CodesMode, RawAnswers, Survey},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(landing))
        .route("/s/{slug}", web::get().to(form))
        .route("/s/{slug}", web::post().to(submit))
        .route("/withdraw", web::get().to(withdraw_page))
        .route("/withdraw", web::post().to(withdraw))
        .route("/safety", web::get().to(safety))
        .route("/exit", web::get().to(exit));
}

fn ui<'a>(state: &'a AppState, lang: &'a str) -> Ui<'a> {
    Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title }
}

/// A respondent page: a template that fails to render is an opaque 500, logged without content.
fn html(status: StatusCode, page: impl Template) -> HttpResponse {
    super::respond::html(status, page).unwrap_or_else(|e| actix_web::ResponseError::error_response(&e))
}

/// A short page in the respondent's language saying what happened (and what to do).
fn refusal(state: &AppState, lang: &str, status: StatusCode, heading: &str, body: &str) -> WebError {
    let ui = ui(state, lang);
    WebError::page(status, pages::Message { heading: ui.t(heading).to_owned(), body: ui.t(body).to_owned(), ui })
}

fn message(state: &AppState, lang: &str, status: StatusCode, heading: &str, body: &str) -> HttpResponse {
    actix_web::ResponseError::error_response(&refusal(state, lang, status, heading, body))
}

/// An internal failure, logged, and answered in the respondent's language without detail.
fn internal(state: &AppState, lang: &str, e: &dyn std::fmt::Display) -> WebError {
    // The error names a database or sealing failure, never a request's content or origin.
    tracing::error!(error = %e, "request failed");
    refusal(state, lang, StatusCode::INTERNAL_SERVER_ERROR, "error_heading", "error_internal")
}

pub async fn not_found(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    message(&state, language(&req, None), StatusCode::NOT_FOUND, "error_heading", "error_not_found")
}

async fn landing(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    let lang = language(&req, None);
    let st = state.clone().into_inner();
    let open = state
        .store
        .run(move |conn| st.intake.surveys.open_surveys(conn))
        .await
        .map_err(|e| internal(&state, lang, &e))?;
    let surveys = open.iter().map(|s| (s.slug.clone(), s.title(&s.language_for(lang)).to_owned())).collect();
    Ok(html(StatusCode::OK, pages::Landing { ui: ui(&state, lang), surveys }))
}

async fn safety(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    html(StatusCode::OK, pages::Safety { ui: ui(&state, language(&req, None)) })
}

/// The quick exit goes through here so that no page names another site; the Location header does.
async fn exit(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("location", state.config.exit_url.as_str())).finish()
}

async fn form(state: web::Data<AppState>, req: HttpRequest, slug: web::Path<String>) -> HttpResponse {
    let lang = language(&req, None);
    render_form(&state, &slug, lang, &RawAnswers::default(), &[], None).await
}

/// Render the form (fresh, or again after a problem with the respondent's answers kept).
async fn render_form(
    state: &web::Data<AppState>,
    slug: &str,
    lang: &'static str,
    raw: &RawAnswers,
    errors: &[AnswerError],
    notice: Option<&str>,
) -> HttpResponse {
    let st = state.clone().into_inner();
    let slug_owned = slug.to_owned();
    let found = state
        .store
        .run(move |conn| -> Result<Option<(Arc<Survey>, bool, String)>, StoreError> {
            let Some((survey, open)) = st.intake.surveys.current(conn, &slug_owned)? else { return Ok(None) };
            let token = if open { st.intake.tokens.issue(conn, &slug_owned)? } else { String::new() };
            Ok(Some((survey, open, token)))
        })
        .await;
    let (survey, open, token) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return message(state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found"),
        Err(e) => return actix_web::ResponseError::error_response(&internal(state, lang, &e)),
    };
    if !open {
        return message(state, lang, StatusCode::GONE, "error_heading", "error_closed");
    }
    let survey_lang = survey.language_for(lang);
    let ui = ui(state, lang);
    let text = |key: &str| survey.text(&survey_lang, key).unwrap_or_default().to_owned();
    let page = pages::Form {
        slug: survey.slug.clone(),
        title: text("title"),
        intro: text("intro"),
        consent: text("consent"),
        token,
        notice: notice.map(|n| ui.t(n).to_owned()),
        code: match survey.codes {
            CodesMode::Off => None,
            CodesMode::Optional => Some(false),
            CodesMode::Required => Some(true),
        },
        errors: errors
            .iter()
            .filter_map(|e| {
                survey.question(&e.question).map(|(i, q)| {
                    (
                        q.id.clone(),
                        format!(
                            "{} {}",
                            ui.tn("form_question_number", &(i + 1)),
                            survey.text(&survey_lang, &format!("q.{}", q.id)).unwrap_or_default()
                        ),
                    )
                })
            })
            .collect(),
        questions: pages::questions(
            &survey,
            &Ui { i18n: ui.i18n, lang: &survey_lang, page_title: ui.page_title },
            raw,
            errors,
        ),
        ui,
    };
    let status = if errors.is_empty() && notice.is_none() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    html(status, page)
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    payload: web::Payload,
) -> WebResult {
    let slug = slug.into_inner();
    let fields = read_form(&state, &req, payload).await?;
    let lang = language(&req, Some(&fields));
    let via = Via::Form { token: fields.get("token"), honeypot_filled: !fields.get("website").is_empty() };
    let code = fields.get("code");
    let raw = RawAnswers::from_form(&fields.0);
    let addr = client_address(&req, state.config.limits.trusted_proxy_header.as_deref());
    let outcome =
        state.clone().into_inner().submit(slug.clone(), RawAnswers::from_form(&fields.0), via, Some(code), addr).await;
    Ok(match outcome {
        Ok((receipt, survey)) => {
            let survey_lang = survey.language_for(lang);
            let ui = ui(&state, lang);
            let thanks = survey.text(&survey_lang, "thanks").unwrap_or_default().to_owned();
            // 200 with the receipt in the body, never a redirect: the receipt must not enter a URL or the history.
            html(StatusCode::OK, pages::ReceiptPage { ui, receipt: receipt.display(), thanks })
        }
        Err(SubmitError::Invalid(errors)) => render_form(&state, &slug, lang, &raw, &errors, None).await,
        Err(SubmitError::Token(TokenProblem::TooFast)) => {
            render_form(&state, &slug, lang, &raw, &[], Some("form_too_fast")).await
        }
        Err(SubmitError::Token(TokenProblem::Expired | TokenProblem::Invalid)) => {
            render_form(&state, &slug, lang, &raw, &[], Some("form_token_expired")).await
        }
        Err(SubmitError::BadCode(problem)) => {
            let key = match problem {
                CodeProblem::Required => "code_required",
                CodeProblem::NotValid => "code_invalid",
            };
            render_form(&state, &slug, lang, &raw, &[], Some(key)).await
        }
        Err(SubmitError::RateLimited) => {
            message(&state, lang, StatusCode::TOO_MANY_REQUESTS, "error_heading", "error_too_many")
        }
        Err(SubmitError::Honeypot) => {
            message(&state, lang, StatusCode::BAD_REQUEST, "error_heading", "error_bad_request")
        }
        Err(SubmitError::AlreadyReceived) => {
            message(&state, lang, StatusCode::OK, "receipt_heading", "already_received")
        }
        Err(SubmitError::UnknownSurvey) => {
            message(&state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found")
        }
        Err(SubmitError::Closed) => message(&state, lang, StatusCode::GONE, "error_heading", "error_closed"),
        Err(SubmitError::NotReady) => {
            message(&state, lang, StatusCode::SERVICE_UNAVAILABLE, "error_heading", "error_unavailable")
        }
        // Every other outcome is listed above, so a new kind of refusal cannot fall through to a 500.
        Err(e @ (SubmitError::Store(_) | SubmitError::Seal(_) | SubmitError::Encode(_))) => {
            return Err(internal(&state, lang, &e));
        }
    })
}

/// A respondent form's fields, or the page that says (in their language) why it could not be read.
async fn read_form(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<Fields, WebError> {
    body::read(payload).await.and_then(|b| body::parse_form(&b)).map(Fields).map_err(|e| {
        let (status, text) = match e {
            BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "error_too_large"),
            BodyError::Malformed(_) => (StatusCode::BAD_REQUEST, "error_bad_request"),
        };
        refusal(state, language(req, None), status, "error_heading", text)
    })
}

async fn withdraw_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    html(StatusCode::OK, pages::Withdraw { ui: ui(&state, language(&req, None)), done: false })
}

async fn withdraw(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> WebResult {
    let fields = read_form(&state, &req, payload).await?;
    let lang = language(&req, Some(&fields));
    let receipt = fields.get("receipt");
    state.intake.withdraw(&receipt).await.map_err(|e| internal(&state, lang, &e))?;
    // The same page whether or not the receipt matched.
    Ok(html(StatusCode::OK, pages::Withdraw { ui: ui(&state, lang), done: true }))
}
