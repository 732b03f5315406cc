//! `chorus survey`: import, list, open, close and print definitions (never answers).

use anyhow::{Context, bail};

use super::{Console, SurveyCommand};
use crate::{
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
    let action = if status == SurveyStatus::Open { "survey_open" } else { "survey_close" };
    console.audit(conn, action, slug)?;
    say(format!("{slug} is {status}"));
    Ok(())
}
