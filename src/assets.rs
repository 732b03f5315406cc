//! The stylesheets, the script and the favicon, embedded in the binary. Pages a respondent can reach
//! carry their stylesheet inline and load the script from `/static/chorus.js`, `no-store` (nothing
//! of this site is left in a browser's cache: docs/privacy.md): the questionnaire, the landing and
//! message pages only the respondent rules, without comments or indentation (every byte is paid
//! for on a cheap phone's data plan); public report pages the whole stylesheet. Staff pages link the
//! whole stylesheet and the favicon under a content-hashed path that browsers may keep for a year;
//! a report file written by `chorus report --format html` carries it inline.

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

/// The whole stylesheet: the respondent rules, then the staff and report rules.
pub const STYLE: &str = concat!(include_str!("../static/respondent.css"), include_str!("../static/style.css"));
/// The script as the repository holds it (with its comments).
const SCRIPT_SOURCE: &str = include_str!("../static/chorus.js");

/// The respondent rules alone, as sent inline.
pub static RESPONDENT_STYLE: LazyLock<String> = LazyLock::new(|| compact_css(include_str!("../static/respondent.css")));

/// The script as sent: without its comment lines and indentation.
pub static SCRIPT: LazyLock<String> = LazyLock::new(|| compact_script(SCRIPT_SOURCE));

/// A stylesheet without comments and without the whitespace that means nothing: runs become one
/// space, and none is kept beside `{`, `}`, `;`, `,` or `>`, nor a `;` before `}`. A space between
/// selectors (the descendant combinator) stays.
fn compact_css(css: &str) -> String {
    let mut text = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    text.push_str(rest);
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let joins = |c: Option<char>| matches!(c, Some('{' | '}' | ';' | ',' | '>'));
        if !out.is_empty() && !joins(out.chars().last()) && !joins(word.chars().next()) {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.replace(";}", "}")
}

/// A script without its comment lines and indentation. Only whole-line `//` comments go, so no
/// string or expression is ever cut.
fn compact_script(js: &str) -> String {
    js.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect::<Vec<_>>().join("\n")
}
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

/// The Content-Security-Policy sources that allow the two inline stylesheets (respondent rules, whole)
/// and no other inline style: `'sha256-…'` of each exact text.
pub static INLINE_STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let source = |css: &str| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(css.as_bytes())));
    format!("{} {}", source(&RESPONDENT_STYLE), source(STYLE))
});

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

    /// Compacting removes comments and whitespace only: without any whitespace, the compact text is
    /// the source without its comments; and a descendant combinator keeps its space.
    #[test]
    fn compact_css_drops_comments_and_idle_whitespace_only() {
        let source = include_str!("../static/respondent.css");
        let bare = |s: &str| s.split_whitespace().collect::<String>();
        let mut uncommented = String::new();
        for (i, part) in source.split("/*").enumerate() {
            uncommented.push_str(if i == 0 { part } else { part.split_once("*/").map_or("", |p| p.1) });
        }
        assert_eq!(bare(&RESPONDENT_STYLE).replace(";}", "}"), bare(&uncommented).replace(";}", "}"));
        assert!(!RESPONDENT_STYLE.contains("/*") && !RESPONDENT_STYLE.contains('\n'));
        assert!(RESPONDENT_STYLE.len() < source.len() * 85 / 100, "{} of {}", RESPONDENT_STYLE.len(), source.len());
        assert_eq!(compact_css(".a .b > c , d { x: y ; }\n/* z */ e{f:g}"), ".a .b>c,d{x: y}e{f:g}");
    }

    #[test]
    fn the_script_loses_only_comment_lines_and_indentation() {
        let kept: Vec<&str> =
            SCRIPT_SOURCE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect();
        assert_eq!(SCRIPT.lines().collect::<Vec<_>>(), kept);
        assert!(SCRIPT.contains("\"use strict\";") && SCRIPT.contains("function forget()"));
    }
}
