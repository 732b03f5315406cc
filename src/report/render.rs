//! Turning a release's tables into what people read: labelled views for HTML (with bar charts),
//! CSV and JSON. Everything here is post-processing of released numbers: percentages, intervals
//! that include the noise, and the display rule that shows small values as "fewer than 5".

use serde_json::{Value, json};

use super::{
    Snapshot, StoredTable,
    catalogue::{ANSWERED, NOT_ASKED},
    mechanism::{
        accuracy::{Shown, proportion_interval, shown},
        budget::{Rho, epsilon},
    },
};
use crate::{i18n::I18n, survey::Survey};

/// Released values under this are shown as "fewer than 5", so a released 0 reads like a released 3.
pub const DISPLAY_THRESHOLD: u64 = 5;
/// The delta at which the method statement quotes epsilon.
pub const DELTA: f64 = 1e-6;

pub struct CellView {
    /// The stored table the count comes from (an option's own table inside a question's view).
    pub table: String,
    pub row: String,
    pub col: Option<String>,
    pub shown: Shown,
    pub percent: Option<f64>,
    pub ci: Option<(f64, f64)>,
}

/// A released count as a reader sees it, in their language: the number, or "fewer than 5".
pub fn count_text(i18n: &I18n, lang: &str, x: u64) -> String {
    match shown(x, DISPLAY_THRESHOLD) {
        Shown::Count(n) => n.to_string(),
        Shown::FewerThan(t) => i18n.t(lang, "report_fewer_than").replace("{n}", &t.to_string()),
    }
}

impl CellView {
    pub fn count_text(&self, i18n: &I18n, lang: &str) -> String {
        match self.shown {
            Shown::Count(n) => n.to_string(),
            Shown::FewerThan(t) => i18n.t(lang, "report_fewer_than").replace("{n}", &t.to_string()),
        }
    }
    pub fn percent_text(&self) -> String {
        self.percent.map(|p| format!("{:.1}", p * 100.0)).unwrap_or_default()
    }
    pub fn ci_text(&self) -> String {
        self.ci.map(|(l, h)| format!("{:.1}–{:.1}", l * 100.0, h * 100.0)).unwrap_or_default()
    }
    /// Bar and whisker positions on a 0–100 scale for the inline SVG chart.
    pub fn bar(&self) -> Option<(String, String, String)> {
        let p = self.percent?;
        let (lo, hi) = self.ci.unwrap_or((p, p));
        Some((format!("{:.2}", p * 100.0), format!("{:.2}", lo * 100.0), format!("{:.2}", hi * 100.0)))
    }
}

pub struct TableView {
    pub id: String,
    pub title: String,
    pub by: Option<String>,
    /// Who the table counts, in words ("those asked this question: 120").
    pub base: String,
    /// Said under a multiple-choice table: percentages can add up to more than 100.
    pub note: Option<String>,
    pub col_labels: Vec<(String, String)>,
    /// Row label and its cells (one for a one-way table, one per column for a two-way table).
    pub rows: Vec<(String, Vec<CellView>)>,
    pub col_totals: Vec<String>,
    /// The standard deviation of the noise on each count, rounded up for print.
    pub noise_sd: String,
}

impl TableView {
    pub fn one_way(&self) -> bool {
        self.by.is_none()
    }
}

fn category_label(survey: &Survey, i18n: &I18n, lang: &str, question: &str, id: &str) -> String {
    match id {
        "n" => i18n.t(lang, "report_total").to_owned(),
        "skipped" | "not_asked" | "answered" | "chosen" | "not_chosen" | "verified" | "not_verified" => {
            i18n.t(lang, &format!("report_{id}")).to_owned()
        }
        _ if question == "month" => id.to_owned(),
        _ => match survey.question(question) {
            Some((_, q)) => q
                .options
                .iter()
                .find(|o| o.id == id)
                .map(|o| survey.option_label(i18n, lang, q, o))
                .unwrap_or_else(|| id.to_owned()),
            None => id.to_owned(),
        },
    }
}

fn question_label(survey: &Survey, i18n: &I18n, lang: &str, question: &str) -> String {
    match question {
        "month" => i18n.t(lang, "report_month").to_owned(),
        "verified" => i18n.t(lang, "report_verified_heading").to_owned(),
        "n" => i18n.t(lang, "report_total").to_owned(),
        _ => survey.text(lang, &format!("q.{question}")).unwrap_or(question).to_owned(),
    }
}

pub fn title(t: &StoredTable, survey: &Survey, i18n: &I18n, lang: &str) -> String {
    let mut title = question_label(survey, i18n, lang, &t.question);
    if let Some(o) = &t.option {
        title = format!("{title} — {}", category_label(survey, i18n, lang, &t.question, o));
    }
    if let Some(by) = &t.by {
        title = format!("{title} ({} {})", i18n.t(lang, "report_by"), question_label(survey, i18n, lang, by));
    }
    title
}

/// Rounded up to two significant figures: a printed noise level is never smaller than the real one.
fn sd_text(sd: f64) -> String {
    super::mechanism::accuracy::printed_sd(sd).to_string()
}

fn cols(t: &StoredTable) -> usize {
    t.cols.len().max(1)
}

fn cell(t: &StoredTable, r: usize, c: usize) -> u64 {
    t.cells[r * cols(t) + c]
}

/// Those who gave an answer, per column: the column's population less prefer-not-to-say, skipped
/// and not asked.
fn answered(t: &StoredTable, c: usize) -> u64 {
    let total = if t.cols.is_empty() { t.total } else { t.col_totals[c] };
    total - t.non_answer_rows.iter().map(|&r| cell(t, r, c)).sum::<u64>()
}

/// Those who were asked, per table.
fn asked(t: &StoredTable) -> u64 {
    t.total - t.not_asked_row.map_or(0, |r| t.row_totals[r])
}

/// A cell with its percentage of `base` and an interval that covers sampling and noise.
fn cell_view(t: &StoredTable, row: &str, c: usize, x: u64, base: Option<(u64, f64)>) -> CellView {
    let shown = shown(x, DISPLAY_THRESHOLD);
    let (percent, ci) = match base {
        Some((m, sm)) if matches!(shown, Shown::Count(_)) && m >= DISPLAY_THRESHOLD && x <= m => {
            let i = proportion_interval(x, m, t.noise_sd, sm);
            (Some(x as f64 / m as f64), Some((i.low, i.high)))
        }
        _ => (None, None),
    };
    CellView { table: t.id.clone(), row: row.to_owned(), col: t.cols.get(c).cloned(), shown, percent, ci }
}

fn base_text(i18n: &I18n, lang: &str, t: &StoredTable, answered_all: u64) -> String {
    let (asked_n, answered_n) = (count_text(i18n, lang, asked(t)), count_text(i18n, lang, answered_all));
    let key = if t.not_asked_row.is_some() { "report_base_asked" } else { "report_base_all" };
    i18n.t(lang, key).replace("{asked}", &asked_n).replace("{answered}", &answered_n)
}

/// The view of one stored table; a multiple-choice question's table takes its options' tables in.
fn view(t: &StoredTable, all: &[StoredTable], survey: &Survey, i18n: &I18n, lang: &str) -> TableView {
    let by = t.by.clone();
    let col_labels: Vec<(String, String)> = t
        .cols
        .iter()
        .map(|c| (c.clone(), category_label(survey, i18n, lang, by.as_deref().unwrap_or_default(), c)))
        .collect();
    let multiple = t.rows.first().map(String::as_str) == Some(ANSWERED);
    let mut rows = Vec::new();
    let answer_sd = t.noise_sd * ((t.rows.len() - t.non_answer_rows.len()).max(1) as f64).sqrt();
    if multiple {
        // One row per option: those who chose it, as a share of those who answered (in each column).
        let options = all.iter().filter(|o| o.question == t.question && o.option.is_some() && o.by == t.by);
        for o in options {
            let label = category_label(survey, i18n, lang, &t.question, o.option.as_deref().unwrap_or_default());
            let cells = (0..cols(t))
                .map(|c| cell_view(o, "chosen", c, cell(o, 0, c), Some((answered(t, c), t.noise_sd))))
                .collect();
            rows.push((label, cells));
        }
    } else {
        for (r, row) in t.rows.iter().enumerate().filter(|(r, _)| !t.non_answer_rows.contains(r)) {
            let label = category_label(survey, i18n, lang, &t.question, row);
            let cells =
                (0..cols(t)).map(|c| cell_view(t, row, c, cell(t, r, c), Some((answered(t, c), answer_sd)))).collect();
            rows.push((label, cells));
        }
    }
    for &r in &t.non_answer_rows {
        let row = &t.rows[r];
        let label = category_label(survey, i18n, lang, &t.question, row);
        rows.push((label, (0..cols(t)).map(|c| cell_view(t, row, c, cell(t, r, c), None)).collect()));
    }
    let answered_all = (0..cols(t)).map(|c| answered(t, c)).sum();
    TableView {
        id: t.id.clone(),
        title: title(t, survey, i18n, lang),
        by,
        base: base_text(i18n, lang, t, answered_all),
        note: multiple.then(|| i18n.t(lang, "report_multiple_note").to_owned()),
        col_labels,
        rows,
        col_totals: t.col_totals.iter().map(|&v| count_text(i18n, lang, v)).collect(),
        noise_sd: sd_text(t.noise_sd),
    }
}

/// The tables as readers see them: options of a multiple-choice question inside their question's
/// table, the release total and the verified count in the method statement instead.
pub fn table_views(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> Vec<TableView> {
    s.tables
        .iter()
        .filter(|t| t.option.is_none() && t.question != "n" && t.question != "verified")
        .map(|t| view(t, &s.tables, survey, i18n, lang))
        .collect()
}

/// The share of verified responses, from the released verified count (post-processing, so shown
/// whatever its size, but only when both parts reach the display threshold).
pub fn verified_share(s: &Snapshot) -> Option<f64> {
    let (n, v) = (s.row.n.max(0) as u64, s.row.verified_n.max(0) as u64);
    (v >= DISPLAY_THRESHOLD && n.saturating_sub(v) >= DISPLAY_THRESHOLD).then(|| 100.0 * v as f64 / n as f64)
}

/// epsilon at `DELTA` for a rho, for the method statement.
pub fn epsilon_at_delta(rho: f64) -> f64 {
    Rho::new(rho).ok().and_then(|r| epsilon(r, DELTA).ok()).unwrap_or(f64::INFINITY)
}

/// The largest per-cell noise standard deviation of the release's tables.
pub fn noise_sd(s: &Snapshot) -> f64 {
    s.tables.iter().map(|t| t.noise_sd).fold(0.0, f64::max)
}

fn round1(v: f64) -> f64 {
    (v * 1000.0).round() / 10.0
}

fn count_json(x: u64) -> (Value, Value) {
    match shown(x, DISPLAY_THRESHOLD) {
        Shown::Count(n) => (json!(n), Value::Null),
        Shown::FewerThan(t) => (Value::Null, json!(t)),
    }
}

/// The JSON document of a release. Its SHA-256 is quoted in the citation line.
pub fn json(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> Value {
    let tables: Vec<Value> = s
        .tables
        .iter()
        .map(|t| {
            let percentages = t.rows.first().map(String::as_str) != Some(ANSWERED) && t.question != "n";
            let answer_sd = t.noise_sd * ((t.rows.len() - t.non_answer_rows.len()).max(1) as f64).sqrt();
            let mut cells = Vec::new();
            for (r, row) in t.rows.iter().enumerate() {
                for c in 0..cols(t) {
                    let base = (percentages && !t.non_answer_rows.contains(&r)).then(|| (answered(t, c), answer_sd));
                    let v = cell_view(t, row, c, cell(t, r, c), base);
                    let (count, fewer_than) = count_json(cell(t, r, c));
                    let mut out = json!({
                        "row": row,
                        "col": v.col,
                        "count": count,
                        "fewer_than": fewer_than,
                        "noise_sd": super::mechanism::accuracy::printed_sd(t.noise_sd),
                    });
                    if let Some(p) = v.percent {
                        out["percent"] = json!(round1(p));
                    }
                    if let Some((l, h)) = v.ci {
                        out["ci_low"] = json!(round1(l));
                        out["ci_high"] = json!(round1(h));
                    }
                    cells.push(out);
                }
            }
            json!({
                "id": t.id,
                "title": title(t, survey, i18n, lang),
                "question": t.question,
                "option": t.option,
                "by": t.by,
                "population": count_json(t.total).0,
                "asked": count_json(asked(t)).0,
                "not_asked_counted": t.not_asked_row.is_some(),
                "cells": cells,
            })
        })
        .collect();
    let rho = s.rho();
    json!({
        "snapshot": {
            "id": s.row.id,
            "survey": s.row.survey_slug,
            "version": s.row.survey_version,
            "through": s.row.through_month,
            "n": count_json(s.row.n.max(0) as u64).0,
            "verified_only": s.spec.verified_only,
            "verified_share": verified_share(s).map(|p| (p * 10.0).round() / 10.0),
            "synthetic": s.row.synthetic,
            "created": s.row.created,
            "language": lang,
            "excluded_months": s.spec.excluded_months,
            "left_out": s.spec.left_out,
            "privacy": {
                "mechanism": "discrete Gaussian noise (Canonne, Kamath and Steinke 2020, OpenDP's exact sampler) on every cell of every table, then consistent post-processing",
                "guarantee": "zero-concentrated differential privacy",
                "unit": "one respondent: a whole answer set, added or removed",
                "rho_this_release": rho,
                "epsilon_this_release": (epsilon_at_delta(rho) * 1000.0).round() / 1000.0,
                "delta": DELTA,
                "budget_total": s.spec.budget_total_micro as f64 / 1e6,
                "budget_spent": s.spec.budget_spent_micro as f64 / 1e6,
                "budget_remaining": ((s.spec.budget_total_micro - s.spec.budget_spent_micro).max(0)) as f64 / 1e6,
                "tables": s.tables.len(),
                "noise_sd_per_count": super::mechanism::accuracy::printed_sd(noise_sd(s)),
                "display_threshold": DISPLAY_THRESHOLD,
            },
        },
        "tables": tables,
    })
}

/// The CSV of a release: a metadata header (lines starting with `#`: release, period, base, method,
/// privacy, how to cite), then one row per cell with codes and their labels in the chosen language:
/// table, title, row, row_label, column, column_label, count (blank under the display threshold),
/// fewer_than, noise_sd, percent, ci_low, ci_high.
pub fn csv(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    let doc = json(s, survey, i18n, lang);
    let snap = &doc["snapshot"];
    let privacy = &snap["privacy"];
    let mut out = format!(
        "# release: {}\n# survey: {} (version {})\n# responses received through: {}\n# respondents (after noise): {}\n\
         # method: {}; {} ({}); rho {} for this release, budget {} of {} spent\n\
         # each count has noise with a standard deviation of about {}; counts under {} are left blank (fewer_than)\n\
         # percentages are of those who answered; intervals are 95% and include the noise\n\
         # cite the published report at /reports/{} with the SHA-256 of its JSON\n",
        s.row.id,
        s.row.survey_slug,
        s.row.survey_version,
        s.row.through_month,
        snap["n"],
        privacy["mechanism"].as_str().unwrap_or_default(),
        privacy["guarantee"].as_str().unwrap_or_default(),
        privacy["unit"].as_str().unwrap_or_default(),
        privacy["rho_this_release"],
        privacy["budget_spent"],
        privacy["budget_total"],
        privacy["noise_sd_per_count"],
        DISPLAY_THRESHOLD,
        s.row.id,
    );
    out.push_str("table,title,row,row_label,column,column_label,count,fewer_than,noise_sd,percent,ci_low,ci_high\n");
    for (t, stored) in doc["tables"].as_array().into_iter().flatten().zip(&s.tables) {
        for c in t["cells"].as_array().into_iter().flatten() {
            let text = |v: &Value| match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let row = text(&c["row"]);
            let col = text(&c["col"]);
            let row_label = category_label(survey, i18n, lang, &stored.question, &row);
            let col_label =
                stored.by.as_deref().map(|b| category_label(survey, i18n, lang, b, &col)).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                field(&text(&t["id"])),
                field(&text(&t["title"])),
                field(&row),
                field(&row_label),
                field(&col),
                field(&col_label),
                text(&c["count"]),
                text(&c["fewer_than"]),
                text(&c["noise_sd"]),
                text(&c["percent"]),
                text(&c["ci_low"]),
                text(&c["ci_high"]),
            ));
        }
    }
    out
}

/// Whether a stored table counts those not asked (for tests and readers of the JSON).
pub fn counts_not_asked(t: &StoredTable) -> bool {
    t.rows.iter().any(|r| r == NOT_ASKED)
}

/// A golden test: released numbers turned into CSV, with the interval worked out by hand.
#[cfg(test)]
mod golden {
    use super::*;
    use crate::{report::SnapshotSpec, store::snapshots::SnapshotRow};

    const SURVEY: &str = r#"
format = 1
slug = "golden"
version = 1
languages = ["en"]
title = "Golden"
[[sections]]
id = "s"
title = "S"
[[sections.questions]]
id = "colour"
type = "single"
label = "Colour"
options = [{ id = "red", label = "Red" }, { id = "blue", label = "Blue" }, { id = "green", label = "Green" }]
"#;

    fn snapshot(tables: Vec<StoredTable>) -> Snapshot {
        Snapshot {
            row: SnapshotRow {
                id: "g".into(),
                survey_slug: "golden".into(),
                survey_version: 1,
                through_month: "2026-11".into(),
                spec: String::new(),
                n: 95,
                verified_n: 0,
                synthetic: false,
                created: String::new(),
                created_at: 0,
                created_by: String::new(),
                tables: String::new(),
                status: crate::report::SnapshotStatus::Private,
                published: None,
                retracted: None,
                rho_micro: 500_000,
                fingerprint: vec![],
                doc_json: String::new(),
                doc_csv: String::new(),
                json_sha256: String::new(),
                csv_sha256: String::new(),
                sig_json: String::new(),
                sig_csv: String::new(),
                signing_key_id: String::new(),
                retract_reason: None,
                replaced_by: None,
                headlines: "[]".into(),
            },
            spec: SnapshotSpec::new("golden", "2026-11"),
            tables,
        }
    }

    #[test]
    fn percentages_intervals_and_fewer_than_five() {
        let survey = Survey::parse(SURVEY).unwrap();
        // Released: red 50, blue 30, green 12, prefer not to say 3, skipped 0; noise sd 2 per count.
        let t = StoredTable::for_test(
            "colour",
            &["red", "blue", "green", "pns", "skipped"],
            vec![50, 30, 12, 3, 0],
            vec![3, 4],
            2.0,
        );
        let csv = csv(&snapshot(vec![t]), &survey, &I18n::load(), "en");
        // Red, by hand: p = 50/92 = 0.5435; Wilson centre (p + z²/2m)/(1 + z²/m) = 0.5417, half-width
        // z/(1 + z²/m)·sqrt(p(1-p)/m + z²/4m²) = 0.0998; noise variance (2² + p²·(2·√3)²)/92² = 0.000891,
        // times z² = 0.003424; half = sqrt(0.0998² + 0.003424) = 0.1157: 42.6 to 65.7. The same by hand
        // for blue (centre 0.3331, Wilson 0.0941, noise 0.002395: 22.7 to 43.9) and green (centre
        // 0.1453, Wilson 0.0690, noise 0.001908: 6.4 to 22.7). Under 5: shown as "fewer than 5".
        let expected = "\
table,title,row,row_label,column,column_label,count,fewer_than,noise_sd,percent,ci_low,ci_high
colour,Colour,red,Red,,,50,,2.0,54.3,42.6,65.7
colour,Colour,blue,Blue,,,30,,2.0,32.6,22.7,43.9
colour,Colour,green,Green,,,12,,2.0,13.0,6.4,22.7
colour,Colour,pns,Prefer not to say,,,,5,2.0,,,
colour,Colour,skipped,Skipped,,,,5,2.0,,,
";
        let body = csv.lines().skip_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n") + "\n";
        assert_eq!(body, expected);
        assert!(csv.starts_with("# release: g\n") && csv.contains("# method: discrete Gaussian"), "{csv}");
    }
}
