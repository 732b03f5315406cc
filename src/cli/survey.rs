//! `chorus survey`: import (TOML or XLSForm), list, open, close, export, mark for testing and purge
//! test answers. Definitions only, never answers.

use std::io::Write;

use anyhow::{Context, bail};

use super::{Console, SurveyCommand};
use crate::{
    retention,
    store::{
        responses,
        surveys::{self, SurveyStatus},
    },
    survey::{
        Survey, Surveys,
        edit::{self, EditError},
        xlsform,
    },
    telemetry::say,
};

pub(super) fn run(console: &Console, command: SurveyCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    match command {
        SurveyCommand::Import { file, yes } => {
            let bytes = std::fs::read(&file).with_context(|| format!("could not read {}", file.display()))?;
            let cache = Surveys::default();
            let proposed = match edit::propose(&mut conn, &cache, &bytes) {
                Ok(p) => p,
                Err(EditError::Invalid(e)) => bail!("{} is not a valid survey:\n{e}", file.display()),
                Err(EditError::Refused(r)) => {
                    bail!("{} is refused: answers are stored under these ids\n{}", file.display(), r.join("\n"))
                }
                Err(e) => return Err(e.into()),
            };
            let slug = proposed.survey.slug.clone();
            if let Some((current, diff)) = &proposed.current
                && !proposed.unchanged()
            {
                say(format!("{slug}: changes from version {current} to {}:", proposed.survey.version));
                for c in &diff.changes {
                    say(format!("  {c}"));
                }
                if diff.is_empty() {
                    say("  (texts or settings only)");
                }
                if !yes {
                    bail!("nothing stored: run again with --yes to create version {}", proposed.survey.version);
                }
            }
            let outcome = edit::commit(&mut conn, &cache, &proposed)?;
            console.audit(&mut conn, "survey_import", &format!("{slug} v{}", proposed.survey.version))?;
            let row = surveys::get(&mut conn, &slug)?.context("survey missing after import")?;
            say(format!("{slug} version {}: {outcome:?} ({})", proposed.survey.version, row.status));
        }
        SurveyCommand::List => {
            let rows = surveys::list(&mut conn)?;
            say("slug\tversion\tstatus\tresponses");
            for row in rows {
                let n = responses::count(&mut conn, &row.slug)?;
                let testing = if row.testing { "\ttesting" } else { "" };
                say(format!("{}\t{}\t{}\t{}{testing}", row.slug, row.current_version, row.status, n));
            }
        }
        SurveyCommand::Open { slug } => set_status(console, &mut conn, &slug, SurveyStatus::Open)?,
        SurveyCommand::Close { slug } => set_status(console, &mut conn, &slug, SurveyStatus::Closed)?,
        SurveyCommand::Export { slug, format, out } => {
            let row = surveys::get(&mut conn, &slug)?.with_context(|| format!("no survey `{slug}`"))?;
            let text = surveys::definition(&mut conn, &slug, row.current_version)?.context("definition missing")?;
            let bytes = if format == "xlsform" {
                let survey = Survey::parse(&text).map_err(|e| anyhow::anyhow!("stored definition: {e}"))?;
                xlsform::export(&survey).context("could not write the XLSForm")?
            } else {
                text.into_bytes()
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, bytes).with_context(|| format!("could not write {}", path.display()))?
                }
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
        SurveyCommand::Testing { slug, off } => {
            if !surveys::set_testing(&mut conn, &slug, !off)? {
                bail!("no survey `{slug}`");
            }
            console.audit(&mut conn, if off { "survey_testing_off" } else { "survey_testing_on" }, &slug)?;
            say(if off {
                format!("{slug} is no longer marked for testing")
            } else {
                format!("{slug} is marked for testing")
            });
        }
        SurveyCommand::PurgeTest { slug } => {
            if surveys::get(&mut conn, &slug)?.is_none() {
                bail!("no survey `{slug}`");
            }
            let n = surveys::purge_synthetic(&mut conn, &slug)?;
            console.audit(&mut conn, "survey_purge_test", &format!("{slug}: {n} synthetic or test responses"))?;
            say(format!("Removed {n} synthetic or test responses from {slug}."));
        }
        SurveyCommand::Retention { slug, days } => {
            let st = match days {
                Some(d) => {
                    let st = retention::set_days(&mut conn, &slug, d)?;
                    console.audit(&mut conn, "retention_set", &format!("{slug}: {d} days"))?;
                    st
                }
                None => retention::status(&mut conn, &slug)?,
            };
            say(format!(
                "{}: {} sealed answers; kept {} days after closing{}; {}",
                st.slug,
                st.sealed,
                st.days,
                st.closed_on.as_deref().map(|d| format!(" (closed {d})")).unwrap_or_default(),
                match (&st.destroyed_on, &st.destroy_on) {
                    (Some(d), _) if st.sealed == 0 => format!("destroyed {d}"),
                    (_, Some(d)) => format!("to be destroyed on {d}"),
                    (_, None) if st.closed_on.is_none() => "destruction is scheduled when the survey closes".to_owned(),
                    (_, None) => "destruction is scheduled once a release is made or the budget is spent".to_owned(),
                }
            ));
        }
        SurveyCommand::Destroy { slug, confirm } => {
            if confirm != slug {
                bail!("to destroy the answers of {slug}, repeat its slug: --confirm {slug}");
            }
            let n = retention::destroy(&mut conn, &console.accounts, "cli", &slug, "by an admin")?;
            say(format!(
                "{n} sealed answers of {slug} destroyed; its releases stay. Backups made before still hold them until they expire."
            ));
        }
        SurveyCommand::DestroyDue => {
            for row in surveys::list(&mut conn)?.into_iter().filter(|r| r.status == SurveyStatus::Closed) {
                retention::survey_status_changed(&mut conn, &row.slug, SurveyStatus::Closed, &crate::month::today())?;
            }
            let done = retention::run_due(&mut conn, &console.accounts)?;
            for (slug, n) in &done {
                say(format!("{n} sealed answers of {slug} destroyed (retention period over)"));
            }
            say(format!("{} surveys reached the end of their retention", done.len()));
        }
    }
    Ok(())
}

fn set_status(
    console: &Console,
    conn: &mut crate::store::DbConn,
    slug: &str,
    status: SurveyStatus,
) -> anyhow::Result<()> {
    // A running server re-reads the status within a second; this process has no cache to keep.
    if !Surveys::default().set_status(conn, slug, status)? {
        bail!("no survey `{slug}`");
    }
    retention::survey_status_changed(conn, slug, status, &crate::month::today())?;
    let action = if status == SurveyStatus::Open { "survey_open" } else { "survey_close" };
    console.audit(conn, action, slug)?;
    say(format!("{slug} is {status}"));
    Ok(())
}
