//! JSON API v1 for partner front ends: the same validation and sealing as the form.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState, body, client_address,
    respond::{WebError, WebResult, language},
};
use crate::{
    intake::{SubmitError, Via},
    survey::{Join, JsonAnswers, Kind},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Surveys are addressed by their public path (config `survey_paths`), never by the slug.
    cfg.route("/api/v1/surveys/{path}", web::get().to(survey))
        .route("/api/v1/surveys/{path}/responses", web::post().to(respond))
        .route("/api/v1/withdraw", web::post().to(withdraw));
}

fn error(status: StatusCode, message: &str, question: Option<&str>) -> WebError {
    let mut body = json!({ "error": message });
    if let Some(q) = question {
        body["question"] = json!(q);
    }
    WebError::json(status, &body)
}

/// An internal failure, logged, answered with an opaque JSON 500.
fn internal(e: &dyn std::fmt::Display) -> WebError {
    tracing::error!(error = %e, "api request failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
}

/// Read a JSON body with our own errors: 413 over the limit, 400 for bad UTF-8 or JSON.
async fn json_body<T: serde::de::DeserializeOwned>(payload: web::Payload) -> Result<T, WebError> {
    let bytes = body::read(payload).await.map_err(|e| match e {
        body::BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "the request body is over 64 KiB", None),
        body::BodyError::Malformed(m) => error(StatusCode::BAD_REQUEST, m, None),
    })?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| error(StatusCode::BAD_REQUEST, "the body is not valid UTF-8", None))?;
    serde_json::from_str(text).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("malformed JSON: {e}"), None))
}

/// The slug behind a public path, or the API's 404.
async fn slug_of(state: &web::Data<AppState>, path: String) -> Result<String, WebError> {
    match state.clone().into_inner().slug_for_path(path).await {
        Ok(Some(slug)) => Ok(slug),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, "no such survey", None)),
        Err(e) => Err(internal(&e)),
    }
}

async fn survey(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> WebResult {
    let lang = language(&req, None);
    let st = state.clone().into_inner();
    let slug = slug_of(&state, path.into_inner()).await?;
    let found = state.store.run(move |conn| st.intake.surveys.current(conn, &slug)).await.map_err(|e| internal(&e))?;
    let Some((s, open)) = found else { return Err(error(StatusCode::NOT_FOUND, "no such survey", None)) };
    if !open {
        return Err(error(StatusCode::GONE, "this survey is closed", None));
    }
    let lang = s.language_for(lang);
    let questions: Vec<Value> = s
        .questions
        .iter()
        .map(|q| {
            let mut v = json!({
                "id": q.id,
                "type": q.kind.as_str(),
                "label": s.text(&lang, &format!("q.{}", q.id)).unwrap_or_default(),
                "options": q.options.iter().map(|o| {
                    let mut opt = json!({"id": o.id, "label": s.option_label(&state.i18n, &lang, q, o)});
                    // An option that stands alone: answers that add any other option are refused.
                    if q.kind == Kind::Multiple && o.exclusive {
                        opt["exclusive"] = json!(true);
                    }
                    // An option that ends the survey: a submission choosing it is refused (422), nothing stored.
                    if o.ends {
                        opt["ends"] = json!(true);
                    }
                    opt
                }).collect::<Vec<_>>(),
            });
            if let Some(n) = q.max_selected {
                v["max_selected"] = json!(n);
            }
            if q.kind == Kind::Text {
                v["max_length"] = json!(q.max_length);
                v["read_by"] = json!(s.text(&lang, &format!("q.{}.read_by", q.id)).unwrap_or_default());
            }
            if let Some(rule) = &q.show_if {
                // The definition's own shape: one condition as it always was, several under all/any.
                let conditions: Vec<_> = rule
                    .conditions
                    .iter()
                    .map(|c| {
                        let target = &s.questions[c.question];
                        json!({
                            "question": target.id,
                            "any_of": c.any_of.iter().map(|&o| target.options[o].id.as_str()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                v["show_if"] = match (rule.join, <[_; 1]>::try_from(conditions)) {
                    (_, Ok([one])) => one,
                    (Join::All, Err(all)) => json!({ "all": all }),
                    (Join::Any, Err(any)) => json!({ "any": any }),
                };
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "path": state.public_path(&s.slug),
        "version": s.version,
        "title": s.title(&lang),
        "language": lang,
        "languages": s.languages,
        "minutes": s.minutes,
        "screen": s.screen.map(|i| s.questions[i].id.as_str()),
        "questions": questions,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseBody {
    answers: JsonAnswers,
    #[serde(default)]
    code: Option<String>,
}

async fn respond(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> WebResult {
    let slug = slug_of(&state, path.into_inner()).await?;
    let client = client_address(&req, state.config.limits.trusted_proxy_header.as_deref());
    // A body that cannot be read costs its sender a submission (and nobody else anything).
    let unreadable = |e: WebError| {
        if state.intake.charge_unreadable(client) {
            return error(StatusCode::TOO_MANY_REQUESTS, "too many submissions; please try again later", None);
        }
        e
    };
    let body: ResponseBody = json_body(payload).await.map_err(unreadable)?;
    let raw = body
        .answers
        .into_raw()
        .map_err(|e| unreadable(error(StatusCode::BAD_REQUEST, &e.message(), Some(&e.question))))?;
    let outcome = state.clone().into_inner().submit(slug, raw, Via::Api, body.code, client).await;
    let refusal = match outcome {
        Ok((receipt, _)) => return Ok(HttpResponse::Created().json(json!({ "receipt": receipt.display() }))),
        Err(SubmitError::Invalid(errors)) => {
            // Nothing answered at all names no question: {"error": "you have not answered anything"}.
            let first = &errors[0];
            error(StatusCode::BAD_REQUEST, &first.message(), Some(first.question.as_str()).filter(|q| !q.is_empty()))
        }
        // The screening answer ends the survey (an under-age respondent): refused, nothing stored.
        Err(SubmitError::ScreenedOut(q)) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("the answer to \"{q}\" ends the survey: nothing was stored"),
            Some(q.as_str()),
        ),
        Err(SubmitError::UnknownSurvey) => error(StatusCode::NOT_FOUND, "no such survey", None),
        Err(SubmitError::Closed) => error(StatusCode::GONE, "this survey is closed", None),
        Err(SubmitError::RateLimited) => {
            error(StatusCode::TOO_MANY_REQUESTS, "many answers are arriving; please try again later", None)
        }
        Err(SubmitError::BadCode(problem)) => {
            WebError::json(StatusCode::BAD_REQUEST, &json!({ "error": problem.to_string(), "field": "code" }))
        }
        Err(SubmitError::NotReady) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "the survey cannot take answers yet", None)
        }
        // Only the form has tokens and a honeypot; the API never produces these.
        Err(SubmitError::Token(_) | SubmitError::Honeypot | SubmitError::AlreadyReceived) => {
            error(StatusCode::BAD_REQUEST, "refused", None)
        }
        // Every other outcome is listed above, so a new kind of refusal cannot fall through to a 500.
        Err(e @ (SubmitError::Store(_) | SubmitError::Seal(_) | SubmitError::Encode(_))) => internal(&e),
    };
    Err(refusal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    receipt: String,
}

async fn withdraw(state: web::Data<AppState>, payload: web::Payload) -> WebResult {
    let body: WithdrawBody = json_body(payload).await?;
    state.intake.withdraw(&body.receipt).await.map_err(|e| internal(&e))?;
    // The same answer whether or not the receipt matched anything.
    Ok(HttpResponse::Accepted().json(json!({ "status": "accepted" })))
}
