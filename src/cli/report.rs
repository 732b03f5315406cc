//! `chorus report`: run a snapshot from the console and write it out (stored as a private snapshot).

use std::path::PathBuf;

use anyhow::Context;
use askama::Template;

use super::{Console, passphrase};
use crate::{
    assets,
    i18n::{I18n, LANGUAGES, Ui},
    report::{
        self, SnapshotSpec,
        page::{self, Publisher, ReportFile},
        render,
    },
    survey::Surveys,
};

pub(super) fn run(
    console: &Console,
    mut spec: SnapshotSpec,
    passphrase_file: Option<PathBuf>,
    format: &str,
    out: Option<PathBuf>,
    lang: &str,
) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let surveys = Surveys::default();
    let (survey, _) =
        surveys.current(&mut conn, &spec.survey)?.with_context(|| format!("no survey `{}`", spec.survey))?;
    if spec.k == 0 {
        spec.k = u64::from(survey.k);
    }
    let pass = passphrase(passphrase_file.as_ref(), "Steward passphrase: ")?;
    let started = std::time::Instant::now();
    let snapshot = report::run_and_audit(&mut conn, &surveys, &console.accounts, &pass, &spec, "cli")?;
    let survey = surveys.version(&mut conn, &spec.survey, snapshot.row.survey_version)?.context("survey version")?;
    let i18n = I18n::load();
    let lang = LANGUAGES.iter().copied().find(|l| *l == lang).unwrap_or("en");
    let text = match format {
        "csv" => render::csv(&snapshot, &survey, &i18n, lang),
        "html" => {
            let publisher = Publisher {
                organisation: &console.config.organisation,
                public_url: console.config.public_url.as_deref(),
            };
            let base = format!("/staff/reports/{}", snapshot.row.id);
            let r = page::body(&snapshot, &survey, &i18n, &publisher, lang, base);
            let ui = Ui { i18n: &i18n, lang, page_title: &survey.slug };
            ReportFile { ui, r, css: assets::STYLE }.render()?
        }
        _ => serde_json::to_string_pretty(&render::json(&snapshot, &survey, &i18n, lang))?,
    };
    match out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?,
        None => print!("{text}"),
    }
    eprintln!(
        "snapshot {} of {} through {}: n = {}, {} tables, {:.2} s{}",
        snapshot.row.id,
        spec.survey,
        spec.through,
        snapshot.row.n,
        snapshot.tables.len(),
        started.elapsed().as_secs_f64(),
        if snapshot.row.synthetic { " (includes synthetic responses: never publishable)" } else { "" }
    );
    Ok(())
}
