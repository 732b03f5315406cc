//! `chorus codes`: single-use outreach codes that mark responses as verified.

use std::path::PathBuf;

use anyhow::Context;
use askama::Template;

use super::{CodesCommand, Console};
use crate::{intake::codes, store::defences, telemetry::say};

/// A printable page of cards, one code each.
#[derive(Template)]
#[template(path = "codes.html")]
struct CodeCards<'a> {
    survey: &'a str,
    batch: &'a str,
    url: String,
    organisation: &'a str,
    codes: Vec<String>,
}

pub(super) fn run(console: &Console, command: CodesCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    match command {
        CodesCommand::Issue { slug, count, batch, html } => {
            let batch = batch.trim().to_owned();
            let issued = codes::issue(&mut conn, &slug, &batch, count)?;
            console.audit(&mut conn, "codes_issue", &format!("{slug}: {count} codes, batch {batch}"))?;
            let url = format!("{}/s/{slug}", console.config.public_url.as_deref().unwrap_or(""));
            let path =
                html.unwrap_or_else(|| PathBuf::from(format!("codes-{}.html", batch.replace(['/', '\\', ' '], "-"))));
            if console.config.public_url.is_none() {
                eprintln!("warning: public_url is not set, so the cards carry no web address (only the path)");
            }
            let organisation = &console.config.organisation;
            let cards = CodeCards { survey: &slug, batch: &batch, url, organisation, codes: issued.clone() };
            std::fs::write(&path, cards.render()?).with_context(|| format!("could not write {}", path.display()))?;
            say("code,batch,survey");
            for c in &issued {
                say(format!("{c},{batch},{slug}"));
            }
            eprintln!("{count} codes stored (hashed) for {slug}; printable cards in {}", path.display());
        }
        CodesCommand::List { slug } => {
            say("batch\tissued\tused");
            for (batch, issued, used) in defences::code_batches(&mut conn, &slug)? {
                say(format!("{batch}\t{issued}\t{used}"));
            }
        }
    }
    Ok(())
}
