//! Interface strings for respondent pages, embedded from locales/*.toml. A missing key falls back to
//! English. The language travels only in links (`?lang=`), never in a cookie.

use std::collections::HashMap;

pub const LANGUAGES: &[&str] = &["en", "fr", "zh-Hans", "zh-Hant", "ko", "vi", "th"];

const SOURCES: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en.toml")),
    ("fr", include_str!("../locales/fr.toml")),
    ("zh-Hans", include_str!("../locales/zh-Hans.toml")),
    ("zh-Hant", include_str!("../locales/zh-Hant.toml")),
    ("ko", include_str!("../locales/ko.toml")),
    ("vi", include_str!("../locales/vi.toml")),
    ("th", include_str!("../locales/th.toml")),
];

pub struct I18n {
    strings: HashMap<&'static str, HashMap<String, String>>,
}

impl Default for I18n {
    fn default() -> Self {
        Self::load()
    }
}

impl I18n {
    pub fn load() -> Self {
        let strings = SOURCES
            .iter()
            .map(|(lang, src)| {
                let table: toml::Table = toml::from_str(src).unwrap_or_else(|e| panic!("locales/{lang}.toml: {e}"));
                let map = table.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect();
                (*lang, map)
            })
            .collect();
        Self { strings }
    }

    pub fn t<'a>(&'a self, lang: &str, key: &str) -> &'a str {
        self.strings
            .get(lang)
            .and_then(|m| m.get(key))
            .or_else(|| self.strings["en"].get(key))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// A string with `{n}` replaced.
    pub fn tn(&self, lang: &str, key: &str, n: usize) -> String {
        self.t(lang, key).replace("{n}", &n.to_string())
    }
}

/// The language to use: `?lang=` when it names a supported language, else the best match from
/// Accept-Language, else English.
pub fn negotiate(query_lang: Option<&str>, accept_language: Option<&str>) -> &'static str {
    if let Some(l) = query_lang.and_then(match_tag) {
        return l;
    }
    let Some(header) = accept_language else { return "en" };
    let mut tags: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|part| {
            let mut it = part.trim().split(';');
            let tag = it.next()?.trim();
            let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0));
    tags.into_iter().filter(|(q, _)| *q > 0.0).find_map(|(_, t)| match_tag(t)).unwrap_or("en")
}

fn match_tag(tag: &str) -> Option<&'static str> {
    let lower = tag.to_ascii_lowercase();
    if let Some(l) = LANGUAGES.iter().find(|l| l.eq_ignore_ascii_case(tag)) {
        return Some(l);
    }
    if lower.starts_with("zh") {
        let traditional = ["hant", "tw", "hk", "mo"].iter().any(|t| lower.split('-').any(|p| p == *t));
        return Some(if traditional { "zh-Hant" } else { "zh-Hans" });
    }
    let primary = lower.split('-').next()?;
    LANGUAGES.iter().find(|l| **l == primary).copied()
}

/// What every respondent page needs: the language, its strings, the neutral title.
pub struct Ui<'a> {
    pub i18n: &'a I18n,
    pub lang: &'a str,
    pub page_title: &'a str,
}

impl Ui<'_> {
    pub fn t(&self, key: &str) -> &str {
        self.i18n.t(self.lang, key)
    }
    pub fn tn(&self, key: &str, n: &usize) -> String {
        self.i18n.tn(self.lang, key, *n)
    }
    /// Links to the same page in every language, labelled in that language.
    pub fn languages(&self) -> Vec<(&'static str, &str, bool)> {
        LANGUAGES.iter().map(|l| (*l, self.i18n.t(l, "language_name"), *l == self.lang)).collect()
    }
    pub fn dir(&self) -> &'static str {
        "ltr"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("ko"), Some("fr")), "ko");
        assert_eq!(negotiate(Some("xx"), Some("fr-CA,en;q=0.5")), "fr");
        assert_eq!(negotiate(None, Some("zh-TW,zh;q=0.9")), "zh-Hant");
        assert_eq!(negotiate(None, Some("zh-CN")), "zh-Hans");
        assert_eq!(negotiate(None, Some("de, th;q=0.3")), "th");
        assert_eq!(negotiate(None, None), "en");
    }

    #[test]
    fn every_language_has_every_key() {
        let i = I18n::load();
        let en = &i.strings["en"];
        for lang in LANGUAGES {
            for key in en.keys() {
                assert!(i.strings[lang].contains_key(key), "{lang} lacks {key}");
            }
        }
    }
}
