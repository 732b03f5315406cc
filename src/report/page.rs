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
    pub n: String,
    pub created: String,
    pub published: Option<String>,
    pub retracted: Option<String>,
    pub retract_reason: Option<String>,
    /// The release that replaces a retracted one.
    pub replaced_by: Option<String>,
    pub synthetic: bool,
    pub verified_share: Option<String>,
    /// The method statement's numbers, formatted.
    pub rho: String,
    pub epsilon: String,
    pub budget_total: String,
    pub budget_spent: String,
    pub budget_remaining: String,
    pub noise_sd: String,
    /// About 1.96 noise standard deviations: "each figure may differ from the true count by about ±X".
    pub margin: String,
    pub left_out: usize,
    pub verified_only: bool,
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

/// How a release is named in lists, the feed and the verification page: "Survey title — Responses
/// received through 2026-11", in one language.
pub fn listed_title(
    conn: &mut crate::store::DbConn,
    surveys: &crate::survey::Surveys,
    i18n: &I18n,
    row: &crate::store::snapshots::SnapshotRow,
    lang: &str,
) -> Result<String, crate::store::StoreError> {
    let title = match surveys.version(conn, &row.survey_slug, row.survey_version)? {
        Some(s) => s.title(&s.language_for(lang)).to_owned(),
        None => row.survey_slug.clone(),
    };
    Ok(format!("{title} — {}", i18n.t(lang, "report_through").replace("{month}", &row.through_month)))
}

/// The English JSON document, whose SHA-256 the citation quotes.
pub fn json_bytes(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> String {
    render::json(s, survey, i18n, lang).to_string()
}

/// The line a coalition quotes: who, what, period, n, when, where, and the JSON's SHA-256.
pub fn citation(s: &Snapshot, survey: &Survey, i18n: &I18n, publisher: &Publisher<'_>) -> Option<String> {
    let date = s.row.published.as_ref()?;
    let url = format!("{}/reports/{}", publisher.public_url.unwrap_or(""), s.row.id);
    let hash = if s.row.json_sha256.is_empty() {
        hex::encode(Sha256::digest(json_bytes(s, survey, i18n, "en").as_bytes()))
    } else {
        s.row.json_sha256.clone()
    };
    Some(format!(
        "{}. “{}”, {}; n = {}. {} {}. {} SHA-256 (JSON, en): {}",
        publisher.organisation,
        survey.title("en"),
        i18n.t("en", "report_through").replace("{month}", &s.row.through_month),
        render::count_text(i18n, "en", s.row.n.max(0) as u64),
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
    let tables = render::table_views(s, survey, i18n, lang);
    let first_month = s.tables.iter().find(|t| t.question == "month").and_then(|t| t.rows.first().cloned());
    let period = match first_month {
        Some(first) if first != s.row.through_month => format!("{first} – {}", s.row.through_month),
        _ => s.row.through_month.clone(),
    };
    ReportBody {
        id: s.row.id.clone(),
        title: format!("{} — {}", survey.title(&survey.language_for(lang)), i18n.t(lang, "report_heading")),
        through: s.row.through_month.clone(),
        period,
        n: render::count_text(i18n, lang, s.row.n.max(0) as u64),
        created: s.row.created.clone(),
        published: s.row.published.clone(),
        retracted: s.row.retracted.clone(),
        retract_reason: s.row.retract_reason.clone(),
        replaced_by: s.row.replaced_by.clone(),
        synthetic: s.row.synthetic,
        verified_share: render::verified_share(s).map(|p| format!("{p:.0}")),
        rho: format!("{:.3}", s.rho()),
        epsilon: format!("{:.2}", render::epsilon_at_delta(s.rho())),
        budget_total: format!("{:.3}", s.spec.budget_total_micro as f64 / 1e6),
        budget_spent: format!("{:.3}", s.spec.budget_spent_micro as f64 / 1e6),
        budget_remaining: format!("{:.3}", (s.spec.budget_total_micro - s.spec.budget_spent_micro).max(0) as f64 / 1e6),
        noise_sd: format!("{:.1}", render::noise_sd(s)),
        margin: format!("{:.0}", (1.96 * render::noise_sd(s)).ceil()),
        left_out: s.spec.left_out.len(),
        verified_only: s.spec.verified_only,
        excluded: s.spec.excluded_months.join(", "),
        citation: citation(s, survey, i18n, publisher),
        tables,
        base,
    }
}
