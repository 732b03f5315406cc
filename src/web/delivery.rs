//! How responses travel, decided in one place, outside every other middleware: which are compressed
//! (BREACH, docs/threat-model.md), the long cache lifetime of content-hashed assets (everything else
//! stays `no-store`), and the Content-Security-Policy source of the inline stylesheet of respondent
//! pages (docs/privacy.md).

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
};

use std::sync::LazyLock;

use super::middleware;
use crate::assets;

static DEFAULT_POLICY: LazyLock<HeaderValue> =
    LazyLock::new(|| HeaderValue::from_str(&with_inline_sources(middleware::CSP)).expect("the policy is ASCII"));

/// Whether a response to this request may be compressed. Not for staff pages, nor for any request
/// that carries a cookie (only staff sessions set one): they hold a CSRF token or a session-bound
/// value that stays the same across requests, next to text a third party can influence, which is
/// what BREACH needs to read a secret from compressed lengths. Respondent and public pages hold no
/// such secret: their one secret-like value (a form token, a receipt) is new in every response.
pub fn may_compress(path: &str, has_cookie: bool) -> bool {
    let staff = path.starts_with("/staff") || path.starts_with("/setup");
    !staff && !has_cookie
}

/// Runs outermost, around `Compress`: it takes `Accept-Encoding` away from requests whose responses
/// must not be compressed, so `Compress` sends them as they are.
pub async fn delivery(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let has_cookie = req.headers().contains_key(header::COOKIE);
    if !may_compress(req.path(), has_cookie) {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    let immutable = assets::by_path(req.path()).is_some();
    let mut res = next.call(req).await?;
    let ok = res.status().is_success();
    let h = res.headers_mut();
    if immutable && ok {
        // The path changes whenever the content does, so a copy is never stale.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    }
    let policy = match h.get(header::CONTENT_SECURITY_POLICY) {
        // Nearly every response carries the default policy: its rewrite is made once, not per response.
        Some(csp) if csp.as_bytes() == middleware::CSP.as_bytes() => Some(DEFAULT_POLICY.clone()),
        Some(csp) => csp.to_str().ok().and_then(|csp| HeaderValue::from_str(&with_inline_sources(csp)).ok()),
        None => None,
    };
    if let Some(v) = policy {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
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

    #[test]
    fn staff_and_cookies_are_never_compressed() {
        assert!(may_compress("/s/harms", false));
        assert!(may_compress("/reports", false));
        assert!(!may_compress("/staff/reports", false));
        assert!(!may_compress("/setup", false));
        assert!(!may_compress("/reports", true));
    }
}
