//! `chorus backup` and `chorus restore`: encrypted snapshots of the database (see crate::backup).

use std::path::Path;

use anyhow::Context;

use super::{BackupMake, Console};
use crate::{backup, config::Config, telemetry::say};

pub(super) fn make(console: &Console, make: BackupMake) -> anyhow::Result<()> {
    let mut texts = make.recipient.clone();
    if let Some(f) = &make.recipients_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("could not read {}", f.display()))?;
        texts.extend(text.lines().map(str::to_owned));
    }
    let recipients = backup::recipients(&texts)?;
    let now = console.accounts.clock.now();
    let mut conn = console.conn()?;
    let destroyed_first = backup::first_destruction(&mut conn)?;
    let expires = match make.expires {
        Some(d) => d,
        None => backup::default_expiry(now, make.keep_days, destroyed_first.as_ref()),
    };
    backup::check_date(&expires)?;
    if let Some((slug, day)) = destroyed_first.as_ref().filter(|(_, day)| expires.as_str() > day.as_str()) {
        eprintln!(
            "warning: the sealed answers of {slug} are to be destroyed on {day}, but this backup keeps them until {expires}"
        );
    }
    let created = format!("{}T{}Z", crate::month::date(now), hms(now));
    let out = backup::target(&make.out, &created, &expires);
    let header = backup::create(&console.store, &mut conn, &console.config, &recipients, &created, &expires, &out)?;
    console.audit(&mut conn, "backup", &format!("{} recipients, expires {}", recipients.len(), header.expires))?;
    say(format!(
        "Backup written to {} ({} database, {} recipients), to be deleted after {}. Keep it off this server.",
        out.display(),
        header.backend,
        recipients.len(),
        header.expires
    ));
    if backup::expiry_in_name(&out.file_name().unwrap_or_default().to_string_lossy()).is_none() {
        eprintln!(
            "note: the file's name does not carry its expiry date, so `chorus backup prune` will not delete it; write into a folder to get a dated name"
        );
    }
    Ok(())
}

fn hms(now: i64) -> String {
    let s = now.rem_euclid(86_400);
    format!("{:02}{:02}{:02}", s / 3600, s % 3600 / 60, s % 60)
}

pub(super) fn restore(config: &Config, file: &Path, identity: &Path) -> anyhow::Result<()> {
    let (header, body) = backup::open(file, identity)?;
    if header.expires < crate::month::today() {
        eprintln!("warning: this backup expired on {}; it should have been deleted", header.expires);
    }
    backup::restore(&config.database_url, &header, &body)?;
    // Migrate (a backup from an older version gains the newer tables) and audit the restore.
    let console = Console::open(config.clone())?;
    let mut conn = console.conn()?;
    console.audit(&mut conn, "restore", &format!("backup of {} expiring {}", header.created, header.expires))?;
    say(format!(
        "Restored the backup of {} into {}. The answers still open only with the stewards' passphrases.",
        header.created,
        config.database_url.redacted()
    ));
    Ok(())
}

pub(super) fn prune(dir: &Path, today: Option<String>) -> anyhow::Result<()> {
    let today = today.unwrap_or_else(crate::month::today);
    backup::check_date(&today)?;
    let (deleted, skipped) = backup::prune(dir, &today)?;
    for p in &deleted {
        say(format!("deleted {}", p.display()));
    }
    for p in &skipped {
        eprintln!("skipped {} (no expiry date in its name)", p.display());
    }
    say(format!("{} expired backups deleted", deleted.len()));
    Ok(())
}
