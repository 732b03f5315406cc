//! The stylesheet, the script and the favicon, embedded in the binary. Pages a respondent can reach
//! carry the stylesheet inline and load the script from `/static/chorus.js`, `no-store` (nothing of
//! this site is left in a browser's cache: docs/privacy.md); staff pages link the stylesheet and the
//! favicon under a content-hashed path that browsers may keep for a year; a report file written by
//! `chorus report --format html` carries the stylesheet inline.

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

pub const STYLE: &str = include_str!("../static/style.css");
pub const SCRIPT: &str = include_str!("../static/chorus.js");
/// A plain grey disc: it names nothing.
pub const FAVICON: &[u8] = include_bytes!("../static/favicon.ico");

/// One embedded file under its content-hashed path.
pub struct Asset {
    /// `/static/style.<hash>.css`: a new file gets a new path, so the old one may be cached for good.
    pub path: String,
    pub body: &'static [u8],
    pub content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body)[..8]);
    Asset { path: format!("/static/{stem}.{hash}.{ext}"), body, content_type }
}

/// The stylesheet and the favicon, hashed once at first use.
pub static HASHED: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        hashed("style", "css", STYLE.as_bytes(), "text/css; charset=utf-8"),
        hashed("favicon", "ico", FAVICON, "image/x-icon"),
    ]
});

/// The embedded file at a content-hashed path; `None` for any other path (an old hash included).
pub fn by_path(path: &str) -> Option<&'static Asset> {
    HASHED.iter().find(|a| a.path == path)
}

pub fn style_path() -> &'static str {
    &HASHED[0].path
}

pub fn favicon_path() -> &'static str {
    &HASHED[1].path
}

/// The Content-Security-Policy source that allows the inline stylesheet of respondent pages and no
/// other inline style: `'sha256-…'` of its exact text.
pub static INLINE_STYLE_SOURCE: LazyLock<String> =
    LazyLock::new(|| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(STYLE.as_bytes()))));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_paths_change_with_the_content() {
        let a = hashed("style", "css", b"body{}", "text/css");
        let b = hashed("style", "css", b"body{ }", "text/css");
        assert_ne!(a.path, b.path);
        assert!(a.path.starts_with("/static/style.") && a.path.ends_with(".css"), "{}", a.path);
        assert_eq!(by_path(style_path()).map(|a| a.body), Some(STYLE.as_bytes()));
        assert!(by_path("/static/style.0000000000000000.css").is_none());
    }
}
