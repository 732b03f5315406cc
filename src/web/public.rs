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
    intake::{CodeProblem, Receipt, SubmitError, Via, token::TokenProblem},
    store::StoreError,
    survey::{AnswerError, AnswerErrorKind, RawAnswers, Survey},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(landing))
        .route("/s/{path}", web::get().to(form))
        .route("/s/{path}", web::post().to(submit))
        .route("/receipt", web::post().to(receipt_again))
        .route("/withdraw", web::get().to(withdraw_page))
        .route("/withdraw", web::post().to(withdraw))
        .route("/safety", web::get().to(safety))
        .route("/forget.css", web::get().to(forget))
        .route("/exit", web::get().to(exit))
        .route("/leave", web::get().to(leave));
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
    let surveys = open
        .iter()
        .map(|s| pages::SurveyLink {
            path: state.public_path(&s.slug),
            title: s.title(&s.language_for(lang)).to_owned(),
            minutes: s.minutes.and_then(|m| usize::try_from(m).ok()),
        })
        .collect();
    Ok(html(StatusCode::OK, pages::Landing { ui: ui(&state, lang), surveys }))
}

async fn safety(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    html(StatusCode::OK, pages::Safety { ui: ui(&state, language(&req, None)) })
}

/// An empty stylesheet that every respondent page loads, answered with `Clear-Site-Data: "cache"`.
/// Chromium keeps a page it left in its back/forward cache (even one served with `no-store`), ticks
/// and typed text included, and shows it again on Back. A page of this site that loads after the form
/// (the receipt, a refusal, any other page) makes Chromium evict this site's cached pages, so Back
/// fetches the form anew: fresh and empty, its fields under new names (see [`field_prefix`]).
/// A stylesheet rather than a header on the page itself: the page that was left enters the
/// back/forward cache only once the next page commits, after that page's own headers were read.
async fn forget() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("clear-site-data", "\"cache\""))
        .content_type("text/css; charset=utf-8")
        .body("/* Clear-Site-Data: the browser forgets this site's cached pages. */\n")
}

/// The quick-exit link without JavaScript: a blank page of this site that loads /forget.css (so the
/// form she was on is dropped from the back/forward cache, now that it is in there) and moves on to
/// /exit at once. With JavaScript the link goes straight to /exit with `location.replace`.
async fn leave() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title></title>\
         <link rel=\"stylesheet\" href=\"/forget.css\"><meta http-equiv=\"refresh\" content=\"0; url=/exit\">\
         </head><body></body></html>",
    )
}

/// The quick exit goes through here so that no page names another site; the Location header does.
async fn exit(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("location", state.config.exit_url.as_str())).finish()
}

/// The slug behind a public path; the slug itself is not an address (it would name the survey's
/// purpose in the address bar and the history), so `/s/{slug}` is a 404 like any unknown path.
async fn slug_of(state: &web::Data<AppState>, lang: &'static str, path: String) -> Result<String, WebError> {
    match state.clone().into_inner().slug_for_path(path).await {
        Ok(Some(slug)) => Ok(slug),
        Ok(None) => Err(refusal(state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found")),
        Err(e) => Err(internal(state, lang, &e)),
    }
}

async fn form(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> WebResult {
    let lang = language(&req, None);
    let slug = slug_of(&state, lang, path.into_inner()).await?;
    Ok(render(&state, &slug, lang, Step::First, &RawAnswers::default(), &[], None).await)
}

/// Which page of a survey to render.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A fresh visit: the screening question alone when the survey has one, else the form.
    First,
    /// The form (after the screening step, or again after a problem with the answers).
    Form,
}

async fn render_form(
    state: &web::Data<AppState>,
    slug: &str,
    lang: &'static str,
    raw: &RawAnswers,
    errors: &[AnswerError],
    notice: Option<&str>,
) -> HttpResponse {
    render(state, slug, lang, Step::Form, raw, errors, notice).await
}

/// The screening step's answer (`step=screen`, posted, never in the address): an option that ends the
/// survey gets the survey's kind end text, and nothing is kept; any other answer, or none (every
/// question can be skipped), gets the form, which carries the answer along in a hidden field. No
/// token is issued before this point, and nothing is stored here.
async fn screen_answer(state: &web::Data<AppState>, slug: &str, lang: &'static str, raw: &RawAnswers) -> HttpResponse {
    let survey = match current(state, slug).await {
        Ok(Some((survey, true))) => survey,
        Ok(Some((_, false))) => return message(state, lang, StatusCode::GONE, "error_heading", "error_closed"),
        Ok(None) => return message(state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found"),
        Err(e) => return actix_web::ResponseError::error_response(&internal(state, lang, &e)),
    };
    if survey.ends_survey(raw) {
        return screened_out(state, lang, &survey);
    }
    // Only the screening answer goes on; any other field sent with this step is dropped.
    let mut kept = RawAnswers::default();
    if let Some(q) = survey.screen.map(|i| &survey.questions[i]) {
        kept.0.insert(q.id.clone(), raw.values(&q.id).to_vec());
    }
    render_form(state, slug, lang, &kept, &[], None).await
}

/// A survey's current version and whether it is open.
async fn current(state: &web::Data<AppState>, slug: &str) -> Result<Option<(Arc<Survey>, bool)>, StoreError> {
    if let Some(found) = state.intake.surveys.cached(slug) {
        return Ok(Some(found));
    }
    let st = state.clone().into_inner();
    let slug = slug.to_owned();
    state.store.run(move |conn| st.intake.surveys.current(conn, &slug)).await
}

/// The kind page for an answer that ends the survey: its end text, and nothing stored.
fn screened_out(state: &AppState, lang: &'static str, survey: &Survey) -> HttpResponse {
    let survey_lang = survey.language_for(lang);
    let ui = ui(state, lang);
    let body = survey
        .screen
        .and_then(|i| survey.text(&survey_lang, &format!("q.{}.end", survey.questions[i].id)))
        .unwrap_or_default()
        .to_owned();
    html(StatusCode::OK, pages::Message { heading: ui.t("screen_end_heading").to_owned(), body, ui })
}

/// The per-rendering prefix of the form's answer fields: a hash of the form's single-use token, so
/// every rendering names its fields differently. Chromium restores a page's form state (after Back, a
/// reload, or from its back/forward cache) by field name; a form rendered again never has the names
/// of the one she filled in, so her ticks and text have nowhere to go. The server reads the names back
/// from the token sent with the form. (Names are not secret: the point is only that they never repeat.)
pub fn field_prefix(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest([b"chorus/form-field-names/v1\0".as_slice(), token.trim().as_bytes()].concat());
    format!("a{}", &hex::encode(digest)[..12])
}

/// The answers in a form's fields: `<prefix>.<question id>` for the prefix of the token sent with it,
/// or `q.<question id>` (the stable names partner front ends and tests may post).
fn form_answers(fields: &Fields) -> RawAnswers {
    let prefix = format!("{}.", field_prefix(&fields.get("token")));
    let pairs: Vec<(String, String)> = fields
        .0
        .iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix(&prefix).or_else(|| k.strip_prefix("q."))?;
            Some((format!("q.{id}"), v.clone()))
        })
        .collect();
    RawAnswers::from_form(&pairs)
}

/// Tokens whose answers a refusal has already shown back once (hash → when). A browser may send a
/// refused form's POST again from its history (Back after leaving, a reload): that copy must not show
/// her answers to whoever holds the phone now. A new rendering always carries a new token, so sending
/// again from the re-shown page is never affected. Kept in memory only, for at most a token's lifetime.
static ECHOED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<[u8; 32], std::time::Instant>>> =
    std::sync::LazyLock::new(Default::default);
const ECHOED_CAP: usize = 200_000;

fn echo_key(token: &str) -> Option<[u8; 32]> {
    use sha2::Digest;
    let token = token.trim();
    (!token.is_empty())
        .then(|| sha2::Sha256::digest([b"chorus/echoed/v1\0".as_slice(), token.as_bytes()].concat()).into())
}

/// Whether a refusal already showed this token's answers back (so this POST is a copy).
fn echoed_before(token: &str) -> bool {
    echo_key(token).is_some_and(|k| ECHOED.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&k))
}

/// Note that a refusal is showing this token's answers back.
fn remember_echo(token: &str) {
    let Some(key) = echo_key(token) else { return };
    let mut seen = ECHOED.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() >= ECHOED_CAP {
        seen.retain(|_, at| at.elapsed() < crate::intake::token::MAX_AGE);
        if seen.len() >= ECHOED_CAP {
            seen.clear();
        }
    }
    seen.insert(key, std::time::Instant::now());
}

/// A survey, whether it is open, whether it can take answers (set up), and a new form token.
type FormState = (Arc<Survey>, bool, bool, String);

/// The screening step posts no answers, so it needs no token.
fn needs_token(survey: &Survey, step: Step) -> bool {
    step == Step::Form || survey.screen.is_none()
}

/// `render`'s `FormState` without a database hop, once the survey, the setup and the form key are in
/// memory (a page costs a thread hand-off less: docs/benchmarks.md); None sends the caller to the
/// database. Only an open, set-up survey is answered here: every other page reads the database.
fn form_state_from_memory(state: &AppState, slug: &str, step: Step) -> Option<Result<FormState, StoreError>> {
    let (survey, open) = state.intake.surveys.cached(slug)?;
    if !open || !state.intake.keyring.known_ready() {
        return None;
    }
    let token = if needs_token(&survey, step) {
        match state.intake.tokens.issue_from_memory(slug)? {
            Ok(token) => token,
            Err(e) => return Some(Err(e)),
        }
    } else {
        String::new()
    };
    Some(Ok((survey, true, true, token)))
}

/// Render the screening step or the form (fresh, or again after a problem with the respondent's
/// answers kept). Before setup (no report key) or while the survey is closed, a page says so instead
/// of a form whose answers could not be taken.
async fn render(
    state: &web::Data<AppState>,
    slug: &str,
    lang: &'static str,
    step: Step,
    raw: &RawAnswers,
    errors: &[AnswerError],
    notice: Option<&str>,
) -> HttpResponse {
    let found = match form_state_from_memory(state, slug, step) {
        Some(found) => found.map(Some),
        None => {
            let st = state.clone().into_inner();
            let slug_owned = slug.to_owned();
            state
                .store
                .run(move |conn| -> Result<Option<FormState>, StoreError> {
                    let Some((survey, open)) = st.intake.surveys.current(conn, &slug_owned)? else { return Ok(None) };
                    // Whether the survey can take answers (set up: a report key exists), checked before showing the form.
                    let ready = open && st.intake.keyring.ready(conn)?;
                    let token = if ready && needs_token(&survey, step) {
                        st.intake.tokens.issue(conn, &slug_owned)?
                    } else {
                        String::new()
                    };
                    Ok(Some((survey, open, ready, token)))
                })
                .await
        }
    };
    let (survey, open, ready, token) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return message(state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found"),
        Err(e) => return actix_web::ResponseError::error_response(&internal(state, lang, &e)),
    };
    if !open {
        return message(state, lang, StatusCode::GONE, "error_heading", "error_closed");
    }
    if !ready {
        return message(state, lang, StatusCode::SERVICE_UNAVAILABLE, "form_not_ready_heading", "form_not_ready");
    }
    let survey_lang = survey.language_for(lang);
    if step == Step::First
        && let Some(q) = survey.screen.map(|i| &survey.questions[i])
    {
        let ui = ui(state, lang);
        let qui = Ui { i18n: ui.i18n, lang: &survey_lang, page_title: ui.page_title };
        let view = pages::questions(&survey, &qui, &RawAnswers::default(), &[], "q", true).into_iter().next();
        let text = |key: &str| survey.text(&survey_lang, key).unwrap_or_default().to_owned();
        let page = pages::Screen {
            path: state.public_path(&survey.slug),
            title: text("title"),
            intro: text("intro"),
            question: view.filter(|v| v.id == q.id).expect("the screening question is the first"),
            ui,
        };
        return html(StatusCode::OK, page);
    }
    // Every problem at once: a refusal for the token or the code also lists what is wrong with the answers.
    let mut errors = errors.to_vec();
    if errors.is_empty() && notice.is_some() && !raw.0.is_empty() {
        errors = survey.validate_submission(raw).err().unwrap_or_default();
    }
    let ui = ui(state, lang);
    let text = |key: &str| survey.text(&survey_lang, key).unwrap_or_default().to_owned();
    let mut notices: Vec<String> = notice.map(|n| ui.t(n).to_owned()).into_iter().collect();
    if errors.iter().any(|e| e.kind == AnswerErrorKind::Empty) {
        notices.push(ui.t("form_empty").to_owned());
    }
    let prefix = field_prefix(&token);
    let page = pages::Form {
        path: state.public_path(&survey.slug),
        title: text("title"),
        intro: text("intro"),
        consent: text("consent"),
        token,
        notices,
        code_label: survey.codes.label_key().map(|k| ui.t(k).to_owned()),
        support: support(state, lang),
        errors: errors
            .iter()
            .filter_map(|e| {
                survey.question(&e.question).map(|(i, q)| {
                    (
                        q.id.clone(),
                        format!(
                            "{} {}",
                            ui.tn("form_question_number", &survey.number(i)),
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
            &errors,
            &prefix,
            false,
        ),
        screen: pages::screen_field(&survey, raw, &prefix),
        preview_end: None,
        ui,
    };
    let status = if errors.is_empty() && notice.is_none() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    html(status, page)
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> WebResult {
    let slug = slug_of(&state, language(&req, None), path.into_inner()).await?;
    let client = client_address(&req, state.config.limits.trusted_proxy_header.as_deref());
    let fields = match read_form(&state, &req, payload).await {
        Ok(fields) => fields,
        // An unreadable body costs its sender a submission, and nobody else anything.
        Err(e) if state.intake.charge_unreadable(client) => {
            drop(e);
            return Ok(message(
                &state,
                language(&req, None),
                StatusCode::TOO_MANY_REQUESTS,
                "error_heading",
                "error_too_many",
            ));
        }
        Err(e) => return Err(e),
    };
    let lang = language(&req, Some(&fields));
    let via = Via::Form { token: fields.get("token"), honeypot_filled: !fields.get("website").is_empty() };
    let code = fields.get("code");
    // A refusal shows her answers back once per token; a copy of a refused form sent again from the
    // history is refused with the form empty, saying why (if it now passes, it is stored as usual).
    let token = fields.get("token");
    let copy = echoed_before(&token);
    let raw = form_answers(&fields);
    if fields.get("step") == "screen" {
        return Ok(screen_answer(&state, &slug, lang, &raw).await);
    }
    let outcome = state.clone().into_inner().submit(slug.clone(), form_answers(&fields), via, Some(code), client).await;
    // Only a token this server issued (so one a rendered page carried) is remembered.
    let echoes = matches!(
        outcome,
        Err(SubmitError::Invalid(_)
            | SubmitError::Token(TokenProblem::TooFast | TokenProblem::Expired)
            | SubmitError::BadCode(_))
    );
    if echoes {
        remember_echo(&token);
    }
    Ok(match outcome {
        Err(SubmitError::Invalid(_) | SubmitError::Token(_) | SubmitError::BadCode(_)) if copy => {
            render_form(&state, &slug, lang, &RawAnswers::default(), &[], Some("form_resent")).await
        }
        Ok((receipt, survey)) => {
            // 200 with the receipt in the body, never a redirect: the receipt must not enter a URL or the history.
            receipt_page(&state, lang, &receipt, &survey)
        }
        Err(SubmitError::Invalid(errors)) => render_form(&state, &slug, lang, &raw, &errors, None).await,
        Err(SubmitError::ScreenedOut(_)) => match current(&state, &slug).await {
            Ok(Some((survey, _))) => screened_out(&state, lang, &survey),
            Ok(None) => message(&state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found"),
            Err(e) => return Err(internal(&state, lang, &e)),
        },
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
            // A reload or a second tap re-sends the form: the code is kept nowhere, so it cannot be shown.
            let ui = ui(&state, lang);
            let body = format!("{} {}", ui.t("already_received"), ui.t("receipt_not_again"));
            html(StatusCode::OK, pages::Message { heading: ui.t("receipt_heading").to_owned(), body, ui })
        }
        Err(SubmitError::UnknownSurvey) => {
            message(&state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found")
        }
        Err(SubmitError::Closed) => message(&state, lang, StatusCode::GONE, "error_heading", "error_closed"),
        Err(SubmitError::NotReady) => {
            message(&state, lang, StatusCode::SERVICE_UNAVAILABLE, "form_not_ready_heading", "form_not_ready")
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

/// The deployment's support organisations that work in `lang` (none when none are configured).
fn support(state: &AppState, lang: &str) -> Vec<pages::Support> {
    crate::config::support_in(&state.config.support, lang)
        .into_iter()
        .map(|o| pages::Support { name: o.name.clone(), reach: o.reach.clone() })
        .collect()
}

fn receipt_page(state: &AppState, lang: &'static str, receipt: &Receipt, survey: &Survey) -> HttpResponse {
    let survey_lang = survey.language_for(lang);
    let thanks = survey.text(&survey_lang, "thanks").unwrap_or_default().to_owned();
    let page = pages::ReceiptPage {
        ui: ui(state, lang),
        receipt: receipt.display(),
        groups: receipt.groups(),
        path: state.public_path(&survey.slug),
        thanks,
        support: support(state, lang),
    };
    html(StatusCode::OK, page)
}

/// The receipt page again, in the language chosen on it: its language buttons post the code back here
/// (a reload of this page posts it again). Nothing is looked up or stored: the page shows only the
/// code it was sent, and the survey's thank-you text.
async fn receipt_again(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> WebResult {
    let fields = read_form(&state, &req, payload).await?;
    let lang = language(&req, Some(&fields));
    let Ok(receipt) = Receipt::read(&fields.get("receipt")) else {
        return Err(refusal(&state, lang, StatusCode::BAD_REQUEST, "error_heading", "error_bad_request"));
    };
    let slug = slug_of(&state, lang, fields.get("path")).await?;
    let st = state.clone().into_inner();
    let found = state
        .store
        .run(move |conn| st.intake.surveys.current(conn, &slug))
        .await
        .map_err(|e| internal(&state, lang, &e))?;
    let Some((survey, _)) = found else {
        return Err(refusal(&state, lang, StatusCode::NOT_FOUND, "error_heading", "error_not_found"));
    };
    Ok(receipt_page(&state, lang, &receipt, &survey))
}

async fn withdraw_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    html(StatusCode::OK, pages::Withdraw { ui: ui(&state, language(&req, None)), done: false, problem: None })
}

async fn withdraw(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> WebResult {
    let fields = read_form(&state, &req, payload).await?;
    let lang = language(&req, Some(&fields));
    let receipt = fields.get("receipt");
    // A code whose check symbol does not match (or that is not a code at all) is mistyped: said from
    // the typed text alone, before any lookup, so this reveals nothing about any stored answer.
    if Receipt::read(&receipt).is_err() {
        let ui = ui(&state, lang);
        let problem = Some(ui.t("withdraw_mistyped").to_owned());
        return Ok(html(StatusCode::BAD_REQUEST, pages::Withdraw { ui, done: false, problem }));
    }
    state.intake.withdraw(&receipt).await.map_err(|e| internal(&state, lang, &e))?;
    // The same page whether or not the receipt matched.
    Ok(html(StatusCode::OK, pages::Withdraw { ui: ui(&state, lang), done: true, problem: None }))
}
