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
    /// Languages whose file says `review = true`: every string awaits a community reviewer.
    review: Vec<&'static str>,
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
        let review = SOURCES
            .iter()
            .filter(|(_, src)| {
                toml::from_str::<toml::Table>(src).ok().and_then(|t| t.get("review")?.as_bool()) == Some(true)
            })
            .map(|(lang, _)| *lang)
            .collect();
        Self { strings, review }
    }

    /// Whether `lang`'s interface strings await community review (`review = true` in its file).
    pub fn awaiting_review(&self, lang: &str) -> bool {
        self.review.contains(&lang)
    }

    /// Every interface string of `lang` beside the English, by key: what a reviewer reads.
    pub fn side_by_side(&self, lang: &str) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> =
            self.strings["en"].iter().map(|(k, en)| (k.clone(), en.clone(), self.t(lang, k).to_owned())).collect();
        rows.sort();
        rows
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
    use std::collections::BTreeSet;

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

    /// Each respondent-facing promise, with the document section that backs it and a phrase that
    /// section must still contain. If docs/privacy.md or docs/crypto.md is reworded so a section or
    /// its phrase goes away, this fails: re-read the promise against the new text and update both.
    const PROMISES: &[(&str, &str, &str, &str)] = &[
        // (key, document, section heading, phrase the section must contain)
        (
            "home_how_1",
            "privacy.md",
            "## Rate limits and flood counts: addresses in RAM only",
            "Key and counters live only in memory",
        ),
        ("home_how_1", "privacy.md", "## What the database keeps about respondents", "Never stored: an address"),
        ("home_how_2", "crypto.md", "## Epochs", "The current epoch key lives only in the server's memory"),
        ("home_how_3", "crypto.md", "## Report runs: where the private key is unwrapped", "typing the passphrase"),
        (
            "home_how_4",
            "privacy.md",
            "## Releases: differential privacy, and nothing else leaves",
            "No command, page or API exports an answer",
        ),
        ("home_how_5", "privacy.md", "## What the database keeps about respondents", "Withdrawal deletes the row"),
        ("home_how_5", "privacy.md", "## What the database keeps about respondents", "backups"),
        ("safety_4", "privacy.md", "## Cookies and headers", "Respondent pages set no cookie"),
        (
            "safety_4",
            "privacy.md",
            "## Rate limits and flood counts: addresses in RAM only",
            "Nothing here is logged or written to the database",
        ),
        (
            "receipt_explain",
            "privacy.md",
            "## What the database keeps about respondents",
            "the receipt is never stored",
        ),
        (
            "receipt_not_again",
            "privacy.md",
            "## What the database keeps about respondents",
            "the receipt is never stored",
        ),
        (
            "withdraw_explain",
            "privacy.md",
            "## What the database keeps about respondents",
            "Withdrawal deletes the row",
        ),
        ("form_code_hint", "privacy.md", "## What the database keeps about respondents", "which code is not recorded"),
        // The survey's own consent text (surveys/harms.toml, every translation).
        ("survey:consent", "crypto.md", "## Epochs", "The current epoch key lives only in the server's memory"),
        ("survey:consent", "crypto.md", "## Report runs: where the private key is unwrapped", "typing the passphrase"),
        (
            "survey:consent",
            "privacy.md",
            "## Releases: differential privacy, and nothing else leaves",
            "discrete Gaussian noise",
        ),
        ("survey:consent", "privacy.md", "## What the database keeps about respondents", "backups"),
    ];

    /// English wordings that promised more than the code does (issue 16). None may come back.
    const OVERPROMISES: &[&str] = &[
        "nobody can read",
        "no one can read",
        "cannot read them",
        "never keep your internet address",
        "no record of your internet address",
        "leave no trace",
        "clear your browsing history",
        "clear your browser history",
    ];

    fn doc(name: &str) -> String {
        std::fs::read_to_string(format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The text of one `## ` section, up to the next heading of the same or higher level.
    fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
        let start = text.lines().position(|l| l.trim_end() == heading)?;
        let lines: Vec<&str> = text.lines().collect();
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.starts_with("## ") || l.starts_with("# "))
            .map_or(lines.len(), |e| start + 1 + e);
        let from = text.find(lines[start]).unwrap();
        let to = if end == lines.len() { text.len() } else { text.find(lines[end]).unwrap() };
        Some(&text[from..to])
    }

    fn harms() -> toml::Table {
        toml::from_str(include_str!("../surveys/harms.toml")).unwrap()
    }

    /// The survey's text `key` in `lang` (English inline, others under [translations.<lang>]).
    fn survey_text(survey: &toml::Table, lang: &str, key: &str) -> Option<String> {
        let v = if lang == "en" { survey.get(key) } else { survey.get("translations")?.get(lang)?.get(key) };
        v.and_then(|v| v.as_str()).map(str::to_owned)
    }

    #[test]
    fn promise_keys_are_backed_by_the_privacy_docs() {
        let i = I18n::load();
        let survey = harms();
        for (key, file, heading, phrase) in PROMISES {
            let text = doc(file);
            let body = section(&text, heading)
                .unwrap_or_else(|| panic!("docs/{file} has no section {heading:?}, which backs {key}"));
            let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(phrase),
                "docs/{file} {heading:?} no longer says {phrase:?}, which backs {key}: re-check the promise"
            );
            for lang in LANGUAGES {
                let s = match key.strip_prefix("survey:") {
                    Some(k) => survey_text(&survey, lang, k),
                    None => i.strings[lang].get(*key).cloned(),
                };
                assert!(s.is_some_and(|s| !s.trim().is_empty()), "promise {key} is missing or empty in {lang}");
            }
        }
        let mut english: Vec<(String, String)> = i.strings["en"].iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for k in ["intro", "consent", "thanks"] {
            english.push((format!("survey:{k}"), survey_text(&survey, "en", k).unwrap()));
        }
        for (k, v) in english {
            let lower = v.to_lowercase();
            for bad in OVERPROMISES {
                assert!(!lower.contains(bad), "{k} promises more than Chorus does: {bad:?}");
            }
        }
    }

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            out.insert(rest[open..open + close + 1].to_owned());
            rest = &rest[open + close + 1..];
        }
        out
    }

    #[test]
    fn every_language_has_the_same_keys_and_placeholders_as_english() {
        let i = I18n::load();
        let en = &i.strings["en"];
        for lang in LANGUAGES {
            let strings = &i.strings[lang];
            for (key, english) in en {
                let s = strings.get(key).unwrap_or_else(|| panic!("{lang} lacks {key}"));
                assert!(!s.trim().is_empty(), "{lang} {key} is empty");
                assert_eq!(placeholders(s), placeholders(english), "{lang} {key}: placeholders differ from English");
            }
            for key in strings.keys() {
                assert!(en.contains_key(key), "{lang} has {key}, which English does not");
            }
        }
        // Non-English files stay marked for community review.
        for (lang, src) in SOURCES.iter().filter(|(l, _)| *l != "en") {
            let table: toml::Table = toml::from_str(src).unwrap();
            assert_eq!(
                table.get("review").and_then(|v| v.as_bool()),
                Some(true),
                "locales/{lang}.toml must keep review = true"
            );
        }
        // The survey: every launch language translates the same texts, with the same placeholders.
        let survey = harms();
        let translations = survey["translations"].as_table().unwrap();
        let keys = |lang: &str| -> BTreeSet<String> {
            translations[lang].as_table().unwrap().keys().filter(|k| *k != "review").cloned().collect()
        };
        let reference = keys("fr");
        for lang in LANGUAGES.iter().filter(|l| **l != "en") {
            assert_eq!(keys(lang), reference, "surveys/harms.toml: {lang} translates a different set of texts from fr");
            for k in ["title", "intro", "consent", "thanks"] {
                let en = survey_text(&survey, "en", k).unwrap();
                let s = survey_text(&survey, lang, k).unwrap_or_else(|| panic!("harms.toml {lang} lacks {k}"));
                assert_eq!(placeholders(&s), placeholders(&en), "harms.toml {lang} {k}: placeholders differ");
            }
        }
    }

    /// Strings that name a button or box, and the key of that button's own label: the string must
    /// contain the label exactly as that language shows it.
    const NAMED_LABELS: &[(&str, &str)] = &[
        ("form_token_expired", "form_submit"),
        ("form_too_fast", "form_submit"),
        ("safety_1", "quick_exit"),
        ("safety_9", "quick_exit"),
        ("safety_limits", "quick_exit"),
        ("survey:consent", "quick_exit"),
    ];

    #[test]
    fn strings_that_name_a_label_use_that_languages_real_label() {
        let i = I18n::load();
        let survey = harms();
        for (message, label) in NAMED_LABELS {
            for lang in LANGUAGES {
                let text = match message.strip_prefix("survey:") {
                    Some(k) => survey_text(&survey, lang, k).unwrap(),
                    None => i.t(lang, message).to_owned(),
                };
                let name = i.t(lang, label);
                assert!(!name.is_empty(), "{lang} lacks {label}");
                assert!(
                    text.contains(name),
                    "{lang} {message} must name the button as {label} shows it ({name:?}): {text:?}"
                );
            }
        }
    }

    /// Taiwan forms and the Hong Kong forms written instead (Traditional Chinese is in Hong Kong usage).
    const TAIWAN_FORMS: [(&str, &str); 10] = [
        ("裡", "裏"),
        ("什麼", "甚麼"),
        ("螢幕", "屏幕"),
        ("網路", "網絡"),
        ("位址", "地址"),
        ("雜訊", "噪音"),
        ("上傳", "上載"),
        ("作業系統", "操作系統"),
        ("填答者", "作答者"),
        ("外展碼", "外展代碼"),
    ];

    /// Traditional Chinese follows Hong Kong usage throughout (issue 16: the larger community here),
    /// so no Taiwan form where Hong Kong writes another word.
    #[test]
    fn traditional_chinese_is_hong_kong_usage() {
        let i = I18n::load();
        for (k, v) in &i.strings["zh-Hant"] {
            for (tw, hk) in TAIWAN_FORMS {
                assert!(!v.contains(tw), "zh-Hant {k} writes {tw} (Taiwan); Hong Kong writes {hk}: {v}");
            }
        }
        assert!(i.awaiting_review("zh-Hant") && !i.awaiting_review("en"));
        let rows = i.side_by_side("zh-Hant");
        assert!(rows.iter().any(|(k, en, zh)| k == "quick_exit" && en == "Exit now" && zh == "立即離開"));
    }

    /// The default survey's own Traditional Chinese text is in Hong Kong usage too.
    #[test]
    fn the_default_surveys_traditional_chinese_is_hong_kong_usage() {
        let survey = crate::survey::Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        let keys = survey.text_keys();
        assert!(keys.len() > 100, "{} keys", keys.len());
        for k in &keys {
            let v = survey.own_text("zh-Hant", k).unwrap_or_else(|| panic!("zh-Hant lacks {k}"));
            for (tw, hk) in TAIWAN_FORMS {
                assert!(!v.contains(tw), "the survey's zh-Hant {k} writes {tw} (Taiwan); Hong Kong writes {hk}: {v}");
            }
        }
    }

    /// Chinese uses 你 throughout (issue 16), never the formal 您.
    #[test]
    fn chinese_uses_one_register() {
        let i = I18n::load();
        let survey = harms();
        for lang in ["zh-Hans", "zh-Hant"] {
            for (k, v) in &i.strings[lang] {
                assert!(!v.contains('您'), "{lang} {k} uses 您");
            }
            for (k, v) in survey["translations"][lang].as_table().unwrap() {
                assert!(!v.as_str().unwrap_or("").contains('您'), "harms.toml {lang} {k} uses 您");
            }
        }
    }
}
