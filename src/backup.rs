//! Encrypted backups (issue 18, item 5): a consistent snapshot of the database, encrypted with age
//! to one or more X25519 recipients, in the age file format (so `age -d` opens it too).
//!
//! Inside the encryption: one line of JSON (format, backend, creation time, the date after which
//! the backup must not exist), then the snapshot: an SQLite database file (`VACUUM INTO`, a
//! consistent copy taken inside one read transaction while the server runs) or a PostgreSQL
//! `pg_dump --format=custom` archive. The expiry date is also in the file's name
//! (`…expires-YYYY-MM-DD.age`), so `chorus backup prune` deletes expired files without any key.
//!
//! Everything in the snapshot that was sealed stays sealed: answers still need k stewards.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    str::FromStr,
};

use diesel::{RunQueryDsl, sql_types::Text};
use serde::{Deserialize, Serialize};

use crate::{
    config::{Backend, Config, DatabaseUrl},
    store::{DbConn, Store},
};

pub const FORMAT: &str = "chorus-backup/1";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no recipient: give at least one age X25519 recipient (age1…)")]
    NoRecipient,
    #[error("not an age X25519 recipient: {0}")]
    BadRecipient(String),
    #[error("the identity file could not be read: {0}")]
    Identity(String),
    #[error("the backup could not be decrypted with this identity (or it was altered): {0}")]
    Decrypt(String),
    #[error("not a Chorus backup: {0}")]
    Format(String),
    #[error("the backup is of a {found:?} database; this server uses {expected:?}")]
    WrongBackend { found: String, expected: String },
    #[error("the target is not empty: {0}; restore only into an empty data folder or database")]
    NotEmpty(String),
    #[error("{0} failed: {1}")]
    Tool(&'static str, String),
    #[error("the expiry date must be YYYY-MM-DD: {0}")]
    BadDate(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the retention periods could not be read: {0}")]
    Retention(String),
}

/// What a backup says of itself (the first line of its plaintext).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    pub backend: String,
    pub created: String,
    pub expires: String,
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Parse age X25519 recipients (`age1…`).
pub fn recipients(texts: &[String]) -> Result<Vec<age::x25519::Recipient>, BackupError> {
    let out: Vec<_> = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty() && !t.starts_with('#'))
        .map(|t| age::x25519::Recipient::from_str(t).map_err(|_| BackupError::BadRecipient(t.to_owned())))
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(BackupError::NoRecipient);
    }
    Ok(out)
}

/// Check a YYYY-MM-DD date.
pub fn check_date(d: &str) -> Result<(), BackupError> {
    let ok = d.len() == 10
        && d.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() })
        && crate::month::Month::parse(&d[..7]).is_some();
    if ok { Ok(()) } else { Err(BackupError::BadDate(d.to_owned())) }
}

/// The file a backup goes to: `out` itself, or, when `out` is a folder, a name with the creation
/// time and the expiry date in it.
pub fn target(out: &Path, created: &str, expires: &str) -> PathBuf {
    if out.is_dir() {
        out.join(format!("chorus-backup-{}-expires-{expires}.age", created.replace(':', "")))
    } else {
        out.to_owned()
    }
}

/// Take a consistent snapshot and write it, encrypted, to `out`.
pub fn create(
    store: &Store,
    conn: &mut DbConn,
    config: &Config,
    recipients: &[age::x25519::Recipient],
    created: &str,
    expires: &str,
    out: &Path,
) -> Result<Header, BackupError> {
    check_date(expires)?;
    if recipients.is_empty() {
        return Err(BackupError::NoRecipient);
    }
    let backend = store.backend();
    let url = &config.database_url;
    let snapshot = match backend {
        Backend::Sqlite => sqlite_snapshot(conn, &config.data_dir)?,
        Backend::Postgres => zeroize::Zeroizing::new(run_tool(
            "pg_dump",
            Command::new("pg_dump").args(["--format=custom", "--no-owner", "--no-privileges", url.expose()]),
            None,
        )?),
    };
    let header = Header {
        format: FORMAT.to_owned(),
        backend: backend_name(backend).to_owned(),
        created: created.to_owned(),
        expires: expires.to_owned(),
    };
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| BackupError::Format(e.to_string()))?;
    // Written beside the target and renamed, so a half-written backup never carries the final name.
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial)?;
    let mut w = encryptor.wrap_output(std::io::BufWriter::new(file))?;
    w.write_all(serde_json::to_string(&header).expect("a header serializes").as_bytes())?;
    w.write_all(b"\n")?;
    w.write_all(&snapshot)?;
    w.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, out)?;
    Ok(header)
}

/// `VACUUM INTO` a file in the data folder, read it back and remove it.
fn sqlite_snapshot(conn: &mut DbConn, data_dir: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, BackupError> {
    let DbConn::Sqlite(c) = conn else { unreachable!("an SQLite store gives SQLite connections") };
    let tmp = data_dir.join(format!(".backup-{}.db", crate::seal::random_id()));
    let result = diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(tmp.to_string_lossy().into_owned())
        .execute(c)
        .map_err(BackupError::from)
        .and_then(|_| Ok(std::fs::read(&tmp)?));
    // Best effort: the copy is deleted whatever happened (it holds only what the database holds).
    let _removed = std::fs::remove_file(&tmp);
    Ok(zeroize::Zeroizing::new(result?))
}

fn run_tool(name: &'static str, cmd: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, BackupError> {
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BackupError::Tool(name, e.to_string()))?;
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(bytes)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(BackupError::Tool(
            name,
            String::from_utf8_lossy(&out.stderr).lines().take(5).collect::<Vec<_>>().join("; "),
        ));
    }
    Ok(out.stdout)
}

/// Decrypt a backup with the identities of an age identity file; the header and the snapshot.
pub fn open(file: &Path, identity_file: &Path) -> Result<(Header, zeroize::Zeroizing<Vec<u8>>), BackupError> {
    let identities = age::IdentityFile::from_file(identity_file.to_string_lossy().into_owned())
        .map_err(|e| BackupError::Identity(e.to_string()))?
        .into_identities()
        .map_err(|e| BackupError::Identity(e.to_string()))?;
    let decryptor = age::Decryptor::new(BufReader::new(std::fs::File::open(file)?))
        .map_err(|e| BackupError::Decrypt(e.to_string()))?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| BackupError::Decrypt(e.to_string()))?;
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| BackupError::Decrypt(e.to_string()))?;
    let header: Header = serde_json::from_str(line.trim_end()).map_err(|e| BackupError::Format(e.to_string()))?;
    if header.format != FORMAT {
        return Err(BackupError::Format(format!("format {:?}", header.format)));
    }
    let mut body = zeroize::Zeroizing::new(Vec::new());
    reader.read_to_end(&mut body).map_err(|e| BackupError::Decrypt(e.to_string()))?;
    Ok((header, body))
}

/// Restore a decrypted backup into an empty data folder (SQLite: the database file must not exist)
/// or an empty PostgreSQL database.
pub fn restore(url: &DatabaseUrl, header: &Header, body: &[u8]) -> Result<(), BackupError> {
    let backend = Backend::from_url(url.expose()).map_err(BackupError::Format)?;
    if header.backend != backend_name(backend) {
        return Err(BackupError::WrongBackend {
            found: header.backend.clone(),
            expected: backend_name(backend).into(),
        });
    }
    match backend {
        Backend::Sqlite => {
            let path = PathBuf::from(crate::store::sqlite_file(url));
            if path.exists() && std::fs::metadata(&path)?.len() > 0 {
                return Err(BackupError::NotEmpty(path.display().to_string()));
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::File::options().write(true).create_new(!path.exists()).truncate(true).open(&path)?;
            f.write_all(body)?;
            f.sync_all()?;
        }
        Backend::Postgres => {
            let tables = run_tool(
                "psql",
                Command::new("psql").args([
                    "--no-psqlrc",
                    "--tuples-only",
                    "--no-align",
                    "--command",
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
                    url.expose(),
                ]),
                None,
            )?;
            let n = String::from_utf8_lossy(&tables).trim().to_owned();
            if n != "0" {
                return Err(BackupError::NotEmpty(format!("the database has {n} tables")));
            }
            run_tool(
                "pg_restore",
                Command::new("pg_restore").args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--dbname",
                    url.expose(),
                ]),
                Some(body),
            )?;
        }
    }
    Ok(())
}

/// The survey whose sealed answers are due to be destroyed first, and the day (among surveys that
/// still hold sealed answers and whose destruction day is known).
pub fn first_destruction(conn: &mut DbConn) -> Result<Option<(String, String)>, BackupError> {
    let mut first: Option<(String, String)> = None;
    for row in crate::store::surveys::list(conn)? {
        let status = crate::retention::status(conn, &row.slug).map_err(|e| BackupError::Retention(e.to_string()))?;
        if let (Some(day), true) = (status.destroy_on, status.sealed > 0)
            && first.as_ref().is_none_or(|(_, d)| day < *d)
        {
            first = Some((row.slug, day));
        }
    }
    Ok(first)
}

/// A backup's expiry when none is given: `keep_days` from now, but no later than the first day a
/// survey's sealed answers in it are due to be destroyed, so destruction is not undone by a
/// backup kept longer (never before today).
pub fn default_expiry(now: i64, keep_days: u32, first_destruction: Option<&(String, String)>) -> String {
    let kept = crate::month::date(now + i64::from(keep_days) * 86_400);
    let today = crate::month::date(now);
    match first_destruction {
        Some((_, day)) if *day < kept => day.clone().max(today),
        _ => kept,
    }
}

/// The expiry date in a backup file's name (`…expires-YYYY-MM-DD.age`).
pub fn expiry_in_name(name: &str) -> Option<&str> {
    let at = name.rfind("expires-")? + "expires-".len();
    let date = name.get(at..at + 10)?;
    check_date(date).ok().map(|()| date)
}

/// Delete the backups in `dir` whose expiry date is before `today`; returns the deleted and the
/// skipped (no date in the name) files.
pub fn prune(dir: &Path, today: &str) -> Result<(Vec<PathBuf>, Vec<PathBuf>), BackupError> {
    let (mut deleted, mut skipped) = (Vec::new(), Vec::new());
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() || !name.ends_with(".age") {
            continue;
        }
        match expiry_in_name(&name) {
            Some(date) if date < today => {
                std::fs::remove_file(entry.path())?;
                deleted.push(entry.path());
            }
            Some(_) => {}
            None => skipped.push(entry.path()),
        }
    }
    Ok((deleted, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_expires_no_later_than_the_first_destruction() {
        let now = 1_800_000_000; // 2027-01-15
        assert_eq!(default_expiry(now, 90, None), "2027-04-15");
        let soon = ("harms".to_owned(), "2027-02-01".to_owned());
        assert_eq!(default_expiry(now, 90, Some(&soon)), "2027-02-01");
        let late = ("harms".to_owned(), "2028-01-01".to_owned());
        assert_eq!(default_expiry(now, 90, Some(&late)), "2027-04-15");
        let past = ("harms".to_owned(), "2026-12-01".to_owned());
        assert_eq!(default_expiry(now, 90, Some(&past)), "2027-01-15", "never before today");
    }

    #[test]
    fn expiry_is_read_from_names() {
        assert_eq!(expiry_in_name("chorus-backup-2026-11-30T071500Z-expires-2027-02-28.age"), Some("2027-02-28"));
        assert_eq!(expiry_in_name("nightly.age"), None);
        assert_eq!(expiry_in_name("x-expires-2027-13-01.age"), None);
        assert!(check_date("2027-02-28").is_ok() && check_date("2027-2-28").is_err());
    }
}
