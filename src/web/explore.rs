//! The release explorer: choose a published release, a question and a breakdown, and see the table
//! with its chart, as counts or percentages with intervals, and the same table across releases over
//! time. Server-rendered forms; it works without JavaScript. Only released numbers are shown.

use std::sync::Arc;

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;

use super::{
    AppState,
    respond::{Fields, WebResult, html, language},
};
use crate::{
    i18n::Ui,
    report::{
        Snapshot, SnapshotStatus,
        render::{self, TableView},
    },
    store::{StoreError, snapshots},
    survey::Survey,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/explore", web::get().to(explore));
}

/// One release in the chooser and the comparison.
struct ReleaseChoice {
    id: String,
    label: String,
    selected: bool,
}

/// A row of the comparison across releases: the answer, then one formatted value per release.
struct CompareRow {
    label: String,
    values: Vec<String>,
}

#[derive(Template)]
#[template(path = "report_explore.html")]
struct Explore<'a> {
    ui: Ui<'a>,
    releases: Vec<ReleaseChoice>,
    questions: Vec<(String, String, bool)>,
    breakdowns: Vec<(String, String, bool)>,
    percent: bool,
    view: Option<TableView>,
    compare_heads: Vec<String>,
    compare: Vec<CompareRow>,
}

async fn explore(state: web::Data<AppState>, req: HttpRequest) -> WebResult {
    let lang = language(&req, None);
    let query = Fields::query(&req);
    let st = state.clone().into_inner();
    let published: Vec<(Snapshot, Arc<Survey>)> = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            let mut out = Vec::new();
            for row in snapshots::list(c, true)?.into_iter().filter(|r| r.status == SnapshotStatus::Published) {
                if let Some(s) = st.intake.surveys.version(c, &row.survey_slug, row.survey_version)? {
                    out.push((Snapshot::from_row(row)?, s));
                }
            }
            Ok(out)
        })
        .await?;
    let chosen_id = query.get("release");
    let chosen = published.iter().find(|(s, _)| s.row.id == chosen_id).or(published.first());
    let releases = published
        .iter()
        .map(|(s, survey)| ReleaseChoice {
            id: s.row.id.clone(),
            label: format!(
                "{} — {}",
                survey.title(&survey.language_for(lang)),
                state.i18n.t(lang, "report_through").replace("{month}", &s.row.through_month)
            ),
            selected: chosen.is_some_and(|(c, _)| c.row.id == s.row.id),
        })
        .collect();
    let percent = query.get("show") != "count";
    let (mut questions, mut breakdowns, mut view) = (Vec::new(), Vec::new(), None);
    let (mut compare_heads, mut compare) = (Vec::new(), Vec::new());
    if let Some((snapshot, survey)) = chosen {
        let views = render::table_views(snapshot, survey, &state.i18n, lang);
        let q = query.get("q");
        let q =
            if views.iter().any(|v| v.id == q) { q } else { views.first().map(|v| v.id.clone()).unwrap_or_default() };
        for v in views.iter().filter(|v| v.one_way()) {
            questions.push((v.id.clone(), v.title.clone(), v.id == q));
        }
        let by = query.get("by");
        breakdowns.push((String::new(), state.i18n.t(lang, "explore_no_breakdown").to_owned(), by.is_empty()));
        for v in views.iter().filter(|v| v.id.starts_with(&format!("{q}~"))) {
            let b = v.by.clone().unwrap_or_default();
            breakdowns.push((b.clone(), v.title.clone(), b == by));
        }
        let wanted = if by.is_empty() { q.clone() } else { format!("{q}~{by}") };
        view = views.into_iter().find(|v| v.id == wanted);
        // The same one-way table in every published release of this survey, oldest first.
        if by.is_empty() {
            let same: Vec<(&Snapshot, TableView)> = published
                .iter()
                .rev()
                .filter(|(s, _)| s.row.survey_slug == snapshot.row.survey_slug)
                .filter_map(|(s, sv)| {
                    render::table_views(s, sv, &state.i18n, lang).into_iter().find(|v| v.id == q).map(|v| (s, v))
                })
                .collect();
            if same.len() > 1 {
                compare_heads = same.iter().map(|(s, _)| s.row.through_month.clone()).collect();
                if let Some((_, first)) = same.first() {
                    for (i, (label, _)) in first.rows.iter().enumerate() {
                        let values = same
                            .iter()
                            .map(|(_, v)| {
                                v.rows.get(i).and_then(|(_, cells)| cells.first()).map_or_else(String::new, |c| {
                                    if percent && c.percent.is_some() {
                                        format!("{}% ({})", c.percent_text(), c.ci_text())
                                    } else {
                                        c.count_text(&state.i18n, lang)
                                    }
                                })
                            })
                            .collect();
                        compare.push(CompareRow { label: label.clone(), values });
                    }
                }
            }
        }
    }
    let ui = Ui { i18n: &state.i18n, lang, page_title: &state.config.page_title };
    html(StatusCode::OK, Explore { ui, releases, questions, breakdowns, percent, view, compare_heads, compare })
}
