//! `chorus codes`: single-use outreach codes that mark responses as verified.

use std::path::PathBuf;

use anyhow::{Context, bail};
use askama::Template;

use super::{CodesCommand, Console};
use crate::{
    i18n::{I18n, LANGUAGES},
    intake::codes,
    store::defences,
    survey::Surveys,
    telemetry::say,
};

/// A printable page of cards, one code each, in the respondent's language (and English). The page
/// names neither the survey's slug nor its title: a card found in a bag says only where to go and
/// which box the code goes in.
#[derive(Template)]
#[template(path = "codes.html")]
struct CodeCards<'a> {
    lang: &'a str,
    batch: &'a str,
    url: String,
    organisation: &'a str,
    codes: Vec<String>,
    /// What to do with the code: in the card's language, then in English when that is another.
    texts: Vec<(&'static str, String)>,
}

/// The card's sentence in `lang`, naming the code box by the label the form shows in that language.
fn card_text(i18n: &I18n, lang: &str, label_key: &str) -> String {
    i18n.t(lang, "card_text").replace("{label}", i18n.t(lang, label_key))
}

pub(super) fn run(console: &Console, command: CodesCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    match command {
        CodesCommand::Issue { slug, count, batch, html, lang } => {
            let Some(lang) = LANGUAGES.iter().copied().find(|l| *l == lang) else {
                bail!("--lang {lang}: cards can be printed in {}", LANGUAGES.join(", "));
            };
            let Some((survey, _)) = Surveys::default().current(&mut conn, &slug)? else {
                bail!("no survey `{slug}`");
            };
            let Some(label_key) = survey.codes.label_key() else {
                bail!("survey `{slug}` takes no outreach codes (codes = \"off\"): its form has no box to enter one");
            };
            let batch = batch.trim().to_owned();
            let issued = codes::issue(&mut conn, &slug, &batch, count)?;
            console.audit(&mut conn, "codes_issue", &format!("{slug}: {count} codes, batch {batch}"))?;
            let path_part = console.config.survey_paths.path_for(&slug);
            let url = format!("{}/s/{path_part}", console.config.public_url.as_deref().unwrap_or(""));
            let path =
                html.unwrap_or_else(|| PathBuf::from(format!("codes-{}.html", batch.replace(['/', '\\', ' '], "-"))));
            if console.config.public_url.is_none() {
                eprintln!("warning: public_url is not set, so the cards carry no web address (only the path)");
            }
            let i18n = I18n::load();
            let mut texts = vec![(lang, card_text(&i18n, lang, label_key))];
            if lang != "en" {
                texts.push(("en", card_text(&i18n, "en", label_key)));
            }
            let organisation = &console.config.organisation;
            let cards = CodeCards { lang, batch: &batch, url, organisation, codes: issued.clone(), texts };
            std::fs::write(&path, cards.render()?).with_context(|| format!("could not write {}", path.display()))?;
            say("code,batch,survey");
            for c in &issued {
                say(format!("{c},{batch},{slug}"));
            }
            eprintln!("{count} codes stored (hashed) for {slug}; printable cards ({lang}) in {}", path.display());
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
