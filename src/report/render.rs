//! Turning a snapshot's released tables into what people read: labelled views for HTML (with bar
//! charts), CSV and JSON. Percentages and intervals come from released numbers only.

use serde_json::{Value, json};

use super::{Snapshot, StoredTable, stats::wilson};
use crate::{i18n::I18n, survey::Survey};

/// An interval wider than this (as a fraction) is flagged "E": use with caution.
const WIDE: f64 = 0.20;
/// No percentage interval under this denominator.
const MIN_DENOMINATOR: u64 = 30;

pub struct CellView {
    pub row: String,
    pub row_label: String,
    pub col: Option<String>,
    pub count: Option<u64>,
    pub percent: Option<f64>,
    pub ci: Option<(f64, f64)>,
    pub flags: Vec<&'static str>,
}

impl CellView {
    pub fn shown(&self) -> String {
        self.count.map_or_else(|| "x".to_owned(), |c| c.to_string())
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
    pub fn flags_text(&self) -> String {
        self.flags.join(" ")
    }
}

pub struct TableView {
    pub id: String,
    pub title: String,
    pub question: String,
    pub by: Option<String>,
    pub withheld: bool,
    pub total: Option<u64>,
    pub col_labels: Vec<(String, String)>,
    /// One-way tables: one cell per row. Two-way: rows of cells, one per column.
    pub rows: Vec<(String, Vec<CellView>)>,
    pub col_totals: Vec<String>,
}

impl TableView {
    pub fn one_way(&self) -> bool {
        self.by.is_none()
    }
}

fn category_label(survey: &Survey, i18n: &I18n, lang: &str, question: &str, id: &str) -> String {
    match id {
        "not_answered" => i18n.t(lang, "report_not_answered").to_owned(),
        "chosen" => i18n.t(lang, "report_chosen").to_owned(),
        "not_chosen" => i18n.t(lang, "report_not_chosen").to_owned(),
        "no_answer" => i18n.t(lang, "report_no_answer").to_owned(),
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
    if question == "month" {
        return i18n.t(lang, "report_month").to_owned();
    }
    survey.text(lang, &format!("q.{question}")).unwrap_or(question).to_owned()
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

/// Released denominators: per column (two-way) or for the table, those who gave an answer. `None`
/// when any part of it is suppressed, so no percentage can leak a hidden count.
fn denominators(t: &StoredTable) -> Vec<Option<u64>> {
    let cols = t.cols.len().max(1);
    (0..cols)
        .map(|c| {
            let total = if t.cols.is_empty() { t.total } else { t.col_totals.get(c).copied().flatten() }?;
            let non: Option<u64> = t.non_answer_rows.iter().map(|&r| t.cells[r * cols + c]).sum();
            total.checked_sub(non?)
        })
        .collect()
}

pub fn table_view(t: &StoredTable, survey: &Survey, i18n: &I18n, lang: &str) -> TableView {
    let cols = t.cols.len().max(1);
    let denominators = denominators(t);
    let rows = t
        .rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let cells = (0..cols)
                .map(|c| {
                    let count = t.cells[r * cols + c];
                    let answer = !t.non_answer_rows.contains(&r);
                    let denom = denominators[c].filter(|_| answer && !t.withheld);
                    let percent = match (count, denom) {
                        (Some(x), Some(n)) if n > 0 && x <= n => Some(x as f64 / n as f64),
                        _ => None,
                    };
                    let ci = match (count, denom) {
                        (Some(x), Some(n)) if n >= MIN_DENOMINATOR => wilson(x, n),
                        _ => None,
                    };
                    let mut flags = Vec::new();
                    if ci.is_some_and(|(l, h)| h - l > WIDE) {
                        flags.push("E");
                    }
                    if percent.is_some() && ci.is_none() {
                        flags.push("n<30");
                    }
                    CellView {
                        row: row.clone(),
                        row_label: category_label(survey, i18n, lang, &t.question, row),
                        col: t.cols.get(c).cloned(),
                        count,
                        percent,
                        ci,
                        flags,
                    }
                })
                .collect();
            (category_label(survey, i18n, lang, &t.question, row), cells)
        })
        .collect();
    let by = t.by.clone();
    TableView {
        id: t.id.clone(),
        title: title(t, survey, i18n, lang),
        question: t.question.clone(),
        col_labels: t
            .cols
            .iter()
            .map(|c| (c.clone(), category_label(survey, i18n, lang, by.as_deref().unwrap_or_default(), c)))
            .collect(),
        by,
        withheld: t.withheld,
        total: t.total,
        rows,
        col_totals: t.col_totals.iter().map(|v| v.map_or_else(|| "x".to_owned(), |v| v.to_string())).collect(),
    }
}

/// The share of verified responses, published only when both the verified and the unverified counts
/// reach k: otherwise the share would reveal a count below k.
pub fn verified_share(s: &Snapshot) -> Option<f64> {
    let (n, v, k) = (s.row.n.max(0) as u64, s.row.verified_n.max(0) as u64, s.spec.k);
    (v >= k && n - v >= k).then(|| 100.0 * v as f64 / n as f64)
}

fn round1(v: f64) -> f64 {
    (v * 1000.0).round() / 10.0
}

/// The JSON document of a snapshot. Its SHA-256 is quoted in the citation line.
pub fn json(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> Value {
    let tables: Vec<Value> = s
        .tables
        .iter()
        .map(|t| {
            let view = table_view(t, survey, i18n, lang);
            let cells: Vec<Value> = view
                .rows
                .iter()
                .flat_map(|(_, cells)| cells)
                .map(|c| {
                    let mut v = json!({
                        "row": c.row,
                        "col": c.col,
                        "count": c.count,
                        "suppressed": c.count.is_none(),
                        "flags": c.flags,
                    });
                    if let Some(p) = c.percent {
                        v["percent"] = json!(round1(p));
                    }
                    if let Some((l, h)) = c.ci {
                        v["ci_low"] = json!(round1(l));
                        v["ci_high"] = json!(round1(h));
                    }
                    v
                })
                .collect();
            json!({
                "id": t.id,
                "title": view.title,
                "question": t.question,
                "option": t.option,
                "by": t.by,
                "withheld": t.withheld,
                "total": t.total,
                "cells": cells,
            })
        })
        .collect();
    json!({
        "snapshot": {
            "id": s.row.id,
            "survey": s.row.survey_slug,
            "version": s.row.survey_version,
            "through": s.row.through_month,
            "n": s.row.n,
            "k": s.spec.k,
            "rounding": if s.spec.rounding { "random base 5" } else { "none" },
            "verified_only": s.spec.verified_only,
            "verified_share": verified_share(s).map(round_share),
            "synthetic": s.row.synthetic,
            "created": s.row.created,
            "language": lang,
        },
        "tables": tables,
    })
}

fn round_share(p: f64) -> f64 {
    (p * 10.0).round() / 10.0
}

/// One CSV row per cell: table, row, column, count (blank when suppressed), suppressed, percent,
/// ci_low, ci_high, flags.
pub fn csv(s: &Snapshot, survey: &Survey, i18n: &I18n, lang: &str) -> String {
    let mut out = String::from("table,title,row,column,count,suppressed,percent,ci_low,ci_high,flags\n");
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    for t in &s.tables {
        let view = table_view(t, survey, i18n, lang);
        for (_, cells) in &view.rows {
            for c in cells {
                let (lo, hi) = c
                    .ci
                    .map_or((String::new(), String::new()), |(l, h)| (round1(l).to_string(), round1(h).to_string()));
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    field(&t.id),
                    field(&view.title),
                    field(&c.row),
                    field(c.col.as_deref().unwrap_or("")),
                    c.count.map(|v| v.to_string()).unwrap_or_default(),
                    c.count.is_none(),
                    c.percent.map(|p| round1(p).to_string()).unwrap_or_default(),
                    lo,
                    hi,
                    c.flags.join(" "),
                ));
            }
        }
        out.push_str(&format!(
            "{},{},total,,{},{},,,,\n",
            field(&t.id),
            field(&view.title),
            t.total.map(|v| v.to_string()).unwrap_or_default(),
            t.total.is_none()
        ));
    }
    out
}
