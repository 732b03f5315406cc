//! How responses travel, decided in one place, outside every other middleware: which are compressed
//! (BREACH, docs/threat-model.md), and the long cache lifetime of content-hashed assets (everything
//! else stays `no-store`).

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
};

use crate::assets;

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
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_and_cookies_are_never_compressed() {
        assert!(may_compress("/s/harms", false));
        assert!(may_compress("/reports", false));
        assert!(!may_compress("/staff/reports", false));
        assert!(!may_compress("/setup", false));
        assert!(!may_compress("/reports", true));
    }
}
