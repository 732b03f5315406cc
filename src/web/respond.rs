//! The shared ways a handler answers, each written once: an HTML page, plain text, JSON, a redirect,
//! and [`WebError`], the one error type handlers return. An internal failure is logged here and
//! answered with an opaque 500: the client never sees what went wrong inside.

use std::fmt;

use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode};
use askama::Template;

use super::body;
use crate::i18n::negotiate;

/// A response that a handler gives instead of the one it meant to: a refusal, a redirect to sign
/// in, a page saying what went wrong (in the reader's language), or an opaque 500.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    location: Option<String>,
}

impl WebError {
    pub fn plain(status: StatusCode, text: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", body: text.into(), location: None }
    }

    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        Self { status, content_type: "application/json", body: value.to_string(), location: None }
    }

    /// A rendered page (e.g. a message in the respondent's language).
    pub fn page(status: StatusCode, page: impl Template) -> Self {
        match page.render() {
            Ok(body) => Self { status, content_type: "text/html; charset=utf-8", body, location: None },
            Err(e) => Self::internal(e),
        }
    }

    pub fn redirect(to: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SEE_OTHER,
            content_type: "text/plain",
            body: String::new(),
            location: Some(to.into()),
        }
    }

    /// Log an internal failure and answer with an opaque 500. The error values that reach here name
    /// a database, template or sealing failure, never a request's content or where it came from.
    pub fn internal(e: impl fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(to) = &self.location {
            res.insert_header(("location", to.as_str()));
        }
        res.content_type(self.content_type).body(self.body.clone())
    }
}

macro_rules! internal_from {
    ($($error:ty),+ $(,)?) => {
        $(impl From<$error> for WebError {
            fn from(e: $error) -> Self {
                Self::internal(e)
            }
        })+
    };
}

internal_from!(crate::store::StoreError, crate::keyring::KeyringError, askama::Error,);

pub type WebResult = Result<HttpResponse, WebError>;

pub fn html(status: StatusCode, page: impl Template) -> WebResult {
    let body = page.render()?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("location", to)).finish()
}

/// Form fields or a query string, read by name.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of a field, or "" when it is missing.
    pub fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Every value of a repeated field (checkboxes sharing a name).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn query(req: &HttpRequest) -> Self {
        Self(body::parse_form(req.query_string().as_bytes()).unwrap_or_default())
    }
}

/// The reader's language: a form's `lang` field, else `?lang=`, else Accept-Language.
pub fn language(req: &HttpRequest, form: Option<&Fields>) -> &'static str {
    let query = Fields::query(req);
    let chosen = form.map(|f| f.get("lang")).filter(|l| !l.is_empty()).or_else(|| Some(query.get("lang")));
    let accept = req.headers().get("accept-language").and_then(|v| v.to_str().ok());
    negotiate(chosen.as_deref().filter(|l| !l.is_empty()), accept)
}
