//! `chorus survey`: import, list, open, close and print definitions (never answers).

use anyhow::{Context, bail};

use super::{Console, SurveyCommand};
use crate::{
    retention,
    store::{
        responses,
        surveys::{self, SurveyStatus},
    },
    survey::{Survey, Surveys},
    telemetry::say,
};

pub(super) fn run(console: &Console, command: SurveyCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    match command {
        SurveyCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("could not read {}", file.display()))?;
            let survey =
                Survey::parse(&text).map_err(|e| anyhow::anyhow!("{} is not a valid survey:\n{e}", file.display()))?;
            let outcome = surveys::import(&mut conn, &survey.slug, survey.version, &text)?;
            console.audit(&mut conn, "survey_import", &format!("{} v{}", survey.slug, survey.version))?;
            say(format!("{} version {}: {:?}", survey.slug, survey.version, outcome));
        }
        SurveyCommand::List => {
            let rows = surveys::list(&mut conn)?;
            say("slug\tversion\tstatus\tresponses");
            for row in rows {
                let n = responses::count(&mut conn, &row.slug)?;
                say(format!("{}\t{}\t{}\t{}", row.slug, row.current_version, row.status, n));
            }
        }
        SurveyCommand::Open { slug } => set_status(console, &mut conn, &slug, SurveyStatus::Open)?,
        SurveyCommand::Close { slug } => set_status(console, &mut conn, &slug, SurveyStatus::Closed)?,
        SurveyCommand::Export { slug } => {
            let row = surveys::get(&mut conn, &slug)?.with_context(|| format!("no survey `{slug}`"))?;
            let text = surveys::definition(&mut conn, &slug, row.current_version)?.context("definition missing")?;
            print!("{text}");
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
