//! A report as people read it: the view every report page and file is built from, and the citation
//! line. The staff pages, the public pages and `chorus report --format html` all use this.

use askama::Template;
use sha2::{Digest, Sha256};

use super::{Snapshot, render};
use crate::{
    i18n::{I18n, Ui},
    survey::Survey,
};

/// Who publishes, for citations: the organisation and the public address of this installation.
pub struct Publisher<'a> {
    pub organisation: &'a str,
    pub public_url: Option<&'a str>,
}

/// Everything a report page shows, in one language.
pub struct ReportBody {
    pub id: String,
    pub title: String,
    pub through: String,
    pub period: String,
    pub n: i64,
    pub k: u64,
    pub created: String,
    pub published: Option<String>,
    pub retracted: Option<String>,
    pub synthetic: bool,
    pub verified_share: Option<String>,
    pub rounding: bool,
    /// Months quarantined when the snapshot ran, comma-separated.
    pub excluded: String,
    pub citation: Option<String>,
    pub tables: Vec<render::TableView>,
    /// Where this report lives, for its CSV and JSON links.
    pub base: String,
}

/// A report as one self-contained HTML file (stylesheet inline), for `chorus report --format html`.
#[derive(Template)]
#[template(path = "report_file.html")]
pub struct ReportFile<'a> {
    pub ui: Ui<'a>,
    pub r: ReportBody,
    pub css: &'static str,
}

/// The English JSON document, whose SHA-256 the citation quotes.
pub fn json_bytes(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> String {
    render::json(s, survey, i18n, lang).to_string()
}

/// The line a coalition quotes: who, what, period, n, when, where, and the JSON's SHA-256.
pub fn citation(s: &Snapshot, survey: &Survey, i18n: &I18n, publisher: &Publisher<'_>) -> Option<String> {
    let date = s.row.published.as_ref()?;
    let url = format!("{}/reports/{}", publisher.public_url.unwrap_or(""), s.row.id);
    let hash = hex::encode(Sha256::digest(json_bytes(s, survey, i18n, "en").as_bytes()));
    Some(format!(
        "{}. “{}”, {}; n = {}. {} {}. {} SHA-256 (JSON, en): {}",
        publisher.organisation,
        survey.title("en"),
        i18n.t("en", "report_through").replace("{month}", &s.row.through_month),
        s.row.n,
        i18n.t("en", "report_published"),
        date,
        url,
        hash
    ))
}

pub fn body(
    s: &Snapshot,
    survey: &Survey,
    i18n: &I18n,
    publisher: &Publisher<'_>,
    lang: &str,
    base: String,
) -> ReportBody {
    let tables: Vec<render::TableView> = s.tables.iter().map(|t| render::table_view(t, survey, i18n, lang)).collect();
    let first_month = s.tables.iter().find(|t| t.by.as_deref() == Some("month")).and_then(|t| t.cols.first().cloned());
    let period = match first_month {
        Some(first) if first != s.row.through_month => format!("{first} – {}", s.row.through_month),
        _ => s.row.through_month.clone(),
    };
    ReportBody {
        id: s.row.id.clone(),
        title: format!("{} — {}", survey.title(&survey.language_for(lang)), i18n.t(lang, "report_heading")),
        through: s.row.through_month.clone(),
        period,
        n: s.row.n,
        k: s.spec.k,
        created: s.row.created.clone(),
        published: s.row.published.clone(),
        retracted: s.row.retracted.clone(),
        synthetic: s.row.synthetic,
        verified_share: render::verified_share(s).map(|p| format!("{p:.0}")),
        rounding: s.spec.rounding,
        excluded: s.spec.excluded_months.join(", "),
        citation: citation(s, survey, i18n, publisher),
        tables,
        base,
    }
}
