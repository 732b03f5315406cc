//! Three middlewares on every request: HEAD served as GET, security headers, and the request log.

use std::{sync::LazyLock, time::Instant};

use crate::assets;
use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderValue},
    },
    middleware::Next,
};

/// Uptime monitors ask with HEAD: every page answers it as it answers GET. The route sees GET; the
/// HTTP layer remembers the request was HEAD and sends the headers (with the body's length) only.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// The method as the log names it: one of HTTP's own, or `OTHER`, so a client cannot write words of
/// its choosing into the log.
fn method_name(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN.iter().find(|(m, _)| m == method).map_or("OTHER", |(_, name)| name)
}

/// Routes whose latency could tell whether a receipt matched a row: their lines carry none.
fn latency_hidden(route: &str) -> bool {
    matches!(route, "/withdraw" | "/api/v1/withdraw")
}

/// The policy of every page that does not narrow it (`policy`).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// `CSP` as sent, built once.
static DEFAULT_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| policy(CSP));

/// A Content-Security-Policy as sent: `base` with the inline sources respondent pages need
/// (`with_inline_sources`).
fn policy(base: &str) -> HeaderValue {
    HeaderValue::from_str(&with_inline_sources(base)).expect("a policy is ASCII")
}

/// The default policy with nowhere a form may be sent: for the staff preview of a form.
pub fn policy_without_forms() -> HeaderValue {
    let base = CSP.replace("form-action 'self'", "form-action 'none'");
    debug_assert_ne!(base, CSP, "the default policy names form-action 'self'");
    policy(&base)
}

/// The policy with the hash of the inline stylesheet added to `style-src` (only that exact text
/// applies inline; `script-src` stays `'self'` alone), and `data:` to `img-src`, for the empty
/// favicon respondent pages name so that the browser asks for none.
fn with_inline_sources(csp: &str) -> String {
    csp.split(';')
        .map(|d| {
            let d = d.trim();
            match d.split_whitespace().next() {
                Some("style-src") => format!("{d} {}", *assets::INLINE_STYLE_SOURCE),
                Some("img-src") => format!("{d} data:"),
                _ => d.to_owned(),
            }
        })
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Staff pages send their own origin on same-site POSTs so the Origin check can work (with
    // no-referrer, Chromium sends `Origin: null`); respondent pages never send a referrer anywhere.
    let staff = req.path().starts_with("/staff") || req.path().starts_with("/setup");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    // A page may narrow the policy (the staff preview of a form forbids submitting it).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, DEFAULT_POLICY.clone());
    }
    let referrer = if staff { "same-origin" } else { "no-referrer" };
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    // Nothing Chorus serves should linger in a shared phone's cache, not even the stylesheet.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Logs method (a known one, or `OTHER`), matched route pattern, status and latency — never the
/// path's values, the query string, any header or the peer address (docs/privacy.md). Withdrawal
/// lines carry no latency. Everything is at INFO, which `CHORUS_LOG=warn` filters out; a request
/// that fails before a response (a malformed one) is logged at DEBUG.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_name(req.method());
    let res = next.call(req).await;
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            // The request is gone with the error; its route is not looked up again for a debug line.
            let status = e.as_response_error().status_code().as_u16();
            tracing::debug!(target: "chorus::http", method = %method, status, "request failed");
            return Err(e);
        }
    };
    if !tracing::enabled!(target: "chorus::http", tracing::Level::INFO) {
        return Ok(res); // no line to write (`CHORUS_LOG=warn`): no pattern to build either
    }
    // Asked after the call, the pattern comes from the path the router recorded when it matched, not
    // from a second match of the path against every route.
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
    let status = res.status().as_u16();
    if latency_hidden(&route) {
        tracing::info!(target: "chorus::http", method = %method, route = %route, status, "request");
    } else {
        let ms = started.elapsed().as_millis() as u64;
        tracing::info!(target: "chorus::http", method = %method, route = %route, status, ms, "request");
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_inline_texts_are_allowed() {
        let csp = with_inline_sources("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains(&format!("style-src 'self' {}", *assets::INLINE_STYLE_SOURCE)), "{csp}");
        assert!(csp.contains("img-src 'self' data:"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
    }
}
