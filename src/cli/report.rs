//! `chorus report` and `chorus budget`: releases from the console (stored as private releases),
//! printing a stored release again, and the privacy budget.

use std::{
    io::IsTerminal,
    path::PathBuf,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use anyhow::Context;
use askama::Template;

use super::{Console, ReportRun, steward_passphrases};
use crate::{
    assets,
    i18n::{I18n, LANGUAGES, Ui},
    keyring::Unlock,
    report::{
        self, Snapshot, SnapshotSpec,
        page::{self, Publisher, ReportFile},
        render,
    },
    store::snapshots,
    survey::{Survey, Surveys},
    telemetry::say,
};

pub(super) fn run(console: &Console, run: ReportRun) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let surveys = Surveys::default();
    let budget = report::budget(&mut conn, &run.slug)?;
    // Said before the passphrase is asked for, so nobody types it for a release the budget refuses.
    eprintln!(
        "privacy budget of {}: total rho {:.3}, spent {:.3}, remaining {:.3}; this release asks for {:.3}",
        run.slug,
        budget.total,
        budget.spent,
        budget.remaining(),
        run.rho
    );
    let spec = SnapshotSpec {
        verified_only: run.verified_only,
        rho: run.rho,
        tables: run.tables,
        by: run.by,
        ..SnapshotSpec::new(run.slug, run.through)
    };
    let passes = steward_passphrases(&mut conn, &run.passphrase_file)?;
    let started = std::time::Instant::now();
    let opened = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let snapshot = std::thread::scope(|scope| {
        // Only on a terminal: a bar redrawn in a log file or a pipe is noise.
        if std::io::stderr().is_terminal() {
            scope.spawn(|| progress(&opened, &done));
        }
        let run = report::run_and_audit_by(
            &mut conn,
            &surveys,
            &console.accounts,
            Unlock::Passphrases(&passes),
            &spec,
            "cli",
            Some(&opened),
        );
        done.store(true, Ordering::Relaxed);
        run
    })?;
    drop(passes);
    let survey = surveys.version(&mut conn, &spec.survey, snapshot.row.survey_version)?.context("survey version")?;
    write(console, &snapshot, &survey, &run.format, run.out, &run.lang)?;
    eprintln!(
        "release {} of {} through {}: n = {}, {} tables, rho {:.3} spent, {:.3} of {:.3} now used, {:.2} s{}",
        snapshot.row.id,
        spec.survey,
        spec.through,
        snapshot.row.n,
        snapshot.tables.len(),
        snapshot.rho(),
        snapshot.spec.budget_spent_micro as f64 / 1e6,
        snapshot.spec.budget_total_micro as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        if snapshot.row.synthetic { " (includes synthetic responses: never publishable)" } else { "" }
    );
    Ok(())
}

/// A spinner with the answers opened so far and how many a second, until `done`.
fn progress(opened: &AtomicU64, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {human_pos} answers opened ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    while !done.load(Ordering::Relaxed) {
        bar.set_position(opened.load(Ordering::Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bar.set_position(opened.load(Ordering::Relaxed));
    bar.finish_and_clear();
}

/// Print a stored release again: the same numbers, never new noise.
pub(super) fn show(console: &Console, id: &str, format: &str, out: Option<PathBuf>, lang: &str) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let row = snapshots::get(&mut conn, id)?.with_context(|| format!("no release `{id}`"))?;
    let survey = Surveys::default()
        .version(&mut conn, &row.survey_slug, row.survey_version)?
        .context("the release's survey version is missing")?;
    let snapshot = Snapshot::from_row(row)?;
    write(console, &snapshot, &survey, format, out, lang)
}

pub(super) fn budget(console: &Console, slug: &str, set: Option<f64>) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let budget = match set {
        Some(total) => {
            let b = report::set_budget(&mut conn, slug, total)?;
            console.audit(&mut conn, "budget_set", &format!("{slug}: total rho {total:.3}"))?;
            b
        }
        None => report::budget(&mut conn, slug)?,
    };
    say(format!(
        "{slug}: total rho {:.3}, spent {:.3}, remaining {:.3} (zero-concentrated differential privacy)",
        budget.total,
        budget.spent,
        budget.remaining()
    ));
    Ok(())
}

fn write(
    console: &Console,
    snapshot: &Snapshot,
    survey: &Survey,
    format: &str,
    out: Option<PathBuf>,
    lang: &str,
) -> anyhow::Result<()> {
    let i18n = I18n::load();
    let lang = LANGUAGES.iter().copied().find(|l| *l == lang).unwrap_or("en");
    let text = match format {
        "csv" => render::csv(snapshot, survey, &i18n, lang),
        "html" => {
            let publisher = Publisher {
                organisation: &console.config.organisation,
                public_url: console.config.public_url.as_deref(),
            };
            let base = format!("/staff/reports/{}", snapshot.row.id);
            let r = page::body(snapshot, survey, &i18n, &publisher, lang, base);
            let ui = Ui { i18n: &i18n, lang, page_title: &survey.slug };
            ReportFile { ui, r, css: assets::STYLE }.render()?
        }
        _ => serde_json::to_string_pretty(&render::json(snapshot, survey, &i18n, lang))?,
    };
    match out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
