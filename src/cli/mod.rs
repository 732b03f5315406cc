//! The `chorus` command line. Each subcommand is a thin call into the library's domain modules; only
//! `serve` starts the web service, and console commands neither start the writer thread nor build
//! web state. Console actions are audited as `cli`: the operating system knows who ran them.

mod backup;
mod codes;
mod dev;
mod keys;
mod report;
mod serve;
mod survey;
mod user;

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    app,
    clock::Clock,
    config::Config,
    keyring::Keyring,
    staff::Accounts,
    store::{Conn, Store},
    telemetry::{self, say},
};

#[derive(Parser)]
#[command(
    name = "chorus",
    version,
    about = "Anonymous surveys whose answers are sealed and whose only output is safe aggregates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web service.
    Serve {
        /// Address to listen on (overrides CHORUS_BIND).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Create or update the database tables, then exit.
    Migrate,
    /// Erase arrival order from the database now (docs/privacy.md); safe while `chorus serve` runs,
    /// whose writer then waits for it.
    Scrub {
        /// Rewrite every answer, not only this month's and last month's (in chunks: a running
        /// service's submissions wait a moment per chunk).
        #[arg(long)]
        full: bool,
        /// Everything in one transaction, then VACUUM on SQLite: a fresh file, but submissions wait
        /// for the whole run. For maintenance windows.
        #[arg(long)]
        vacuum: bool,
    },
    /// Print the version.
    Version,
    /// The report key that seals answers.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Survey definitions.
    Survey {
        #[command(subcommand)]
        command: SurveyCommand,
    },
    /// First run without a browser: create the first admin and the report key.
    Init {
        /// Name of the first admin.
        #[arg(long)]
        admin: Option<String>,
        /// Read the password from this file instead of asking for it.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Read the steward passphrase from this file instead of asking for it.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Make a release of a survey under its privacy budget and write it out (stored as private), or
    /// print a stored release again (`chorus report show ID`).
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        show: Option<ReportCommand>,
        #[command(flatten)]
        run: Option<ReportRun>,
    },
    /// A survey's privacy budget: what is spent and what remains; `--set` changes the total.
    Budget {
        /// The survey's slug.
        slug: String,
        /// The new total budget (rho, zCDP); never below what is already spent.
        #[arg(long)]
        set: Option<f64>,
    },
    /// Single-use outreach codes that mark responses as verified.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
    /// Write an encrypted backup (age, to X25519 recipients) of the database, or prune expired ones.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        prune: Option<BackupCommand>,
        #[command(flatten)]
        make: Option<BackupMake>,
    },
    /// Restore an encrypted backup into an empty data folder or database.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// An age identity file (AGE-SECRET-KEY-1…) of one of the backup's recipients.
        #[arg(long)]
        identity: PathBuf,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
pub(super) enum ReportCommand {
    /// Print a stored release again (the same numbers: never new noise).
    Show {
        /// The release's id.
        id: String,
        /// Output format.
        #[arg(long, value_parser = ["json", "csv", "html"], default_value = "json")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Language of labels.
        #[arg(long, default_value = "en")]
        lang: String,
    },
}

#[derive(clap::Args)]
pub(super) struct ReportRun {
    /// The survey's slug.
    pub slug: String,
    /// The last month of receipt to include (YYYY-MM).
    #[arg(long)]
    pub through: String,
    /// The share of the survey's privacy budget this release spends (rho, zCDP).
    #[arg(long, default_value_t = crate::report::DEFAULT_RELEASE_RHO)]
    pub rho: f64,
    /// Cross every question with these breakdowns (comma-separated: month and breakdown questions).
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Release only these catalogue tables (comma-separated ids, as a release JSON names them: age, officials~month …).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Only responses given with a valid outreach code.
    #[arg(long)]
    pub verified_only: bool,
    /// A steward's passphrase file (first line); repeat it for k stewards under k-of-n custody.
    #[arg(long)]
    pub passphrase_file: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_parser = ["json", "csv", "html"], default_value = "json")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Language of labels.
    #[arg(long, default_value = "en")]
    pub lang: String,
}

#[derive(Subcommand)]
pub(super) enum BackupCommand {
    /// Delete the backups in a folder whose expiry date (in their names) has passed.
    Prune {
        /// The folder holding backup files (their names carry their expiry date).
        dir: PathBuf,
        /// Prune as of this date (YYYY-MM-DD) instead of today.
        #[arg(long)]
        today: Option<String>,
    },
}

#[derive(clap::Args)]
pub(super) struct BackupMake {
    /// The backup file, or a folder to write a named one in (`chorus-backup-…-expires-DATE.age`).
    #[arg(long)]
    pub out: PathBuf,
    /// An age X25519 recipient (age1…); repeat for several. Keep the identities off this server.
    #[arg(long)]
    pub recipient: Vec<String>,
    /// A file of recipients, one per line (# comments).
    #[arg(long)]
    pub recipients_file: Option<PathBuf>,
    /// The date after which the backup must be deleted (YYYY-MM-DD); default: in `--keep-days`,
    /// or sooner if a survey's sealed answers in it are due to be destroyed sooner.
    #[arg(long)]
    pub expires: Option<String>,
    /// Days to keep the backup when `--expires` is not given.
    #[arg(long, default_value_t = 90)]
    pub keep_days: u32,
}

#[derive(Subcommand)]
pub(super) enum CodesCommand {
    /// Make N codes: CSV on standard output, and a printable page of cards.
    Issue {
        /// The survey's slug.
        slug: String,
        /// How many to make.
        #[arg(long)]
        count: u32,
        /// A label for this batch (e.g. the outreach team or event).
        #[arg(long)]
        batch: String,
        /// Where to write the printable cards (default: codes-BATCH.html).
        #[arg(long)]
        html: Option<PathBuf>,
        /// The language of the cards (en fr zh-Hans zh-Hant ko vi th); other than English, each card
        /// also says it in English. Print one batch per language the outreach team needs.
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Codes issued and used, per batch.
    List {
        /// The survey's slug.
        slug: String,
    },
}

#[derive(Subcommand)]
pub(super) enum DevCommand {
    /// Write N realistic synthetic responses through the normal sealing path (marked synthetic).
    Seed {
        /// The survey's slug.
        slug: String,
        /// How many synthetic responses to write.
        #[arg(long)]
        count: u64,
        /// Seed even though the survey already holds real responses.
        #[arg(long)]
        force: bool,
    },
    /// Open (decrypt) every answer of a survey and count them: the benchmark's decrypt-only loop.
    OpenAll {
        /// The survey's slug.
        slug: String,
        /// Read the steward passphrase from this file instead of asking for it.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(super) enum UserCommand {
    /// Add an account.
    Add {
        /// The account's name.
        name: String,
        /// The account's role: admin (everything) or researcher (reports).
        #[arg(long, value_parser = ["admin", "researcher"])]
        role: String,
        /// Read the password from this file instead of asking for it.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List accounts.
    List,
    /// Disable an account (its sessions end at once).
    Disable {
        /// The account's name.
        name: String,
    },
    /// Set a new password (its sessions end at once).
    ResetPassword {
        /// The account's name.
        name: String,
        /// Read the password from this file instead of asking for it.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Create the first report key under k-of-n custody: one passphrase file per steward (repeat
    /// `--passphrase-file`), or prompts. Without options: one steward (1-of-1).
    Init {
        /// How many stewards hold a share (default: as many passphrase files as given, or 1).
        #[arg(long)]
        stewards: Option<usize>,
        /// How many stewards it takes to open the answers (default 1).
        #[arg(long)]
        threshold: Option<usize>,
        /// The stewards' names or labels, comma-separated, in the order of the passphrase files
        /// (default steward-1, steward-2 …).
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
        /// One steward's passphrase file (first line); repeat once per steward.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
    /// One steward re-seals their own share under a new passphrase (the others are untouched).
    ChangePassphrase {
        /// The steward (default: whichever the current passphrase opens).
        #[arg(long)]
        steward: Option<String>,
        /// Read the steward's current passphrase from this file instead of asking for it.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Read the new steward passphrase from this file instead of asking for it.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Make a new report key for new answers; older answers stay readable with their key. Needs k
    /// stewards.
    Rotate {
        /// A current steward's passphrase file; repeat for k stewards.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
    /// The stewards and the threshold (no secrets).
    Stewards,
    /// Add a steward (a fresh sharing for everyone; needs k current stewards).
    AddSteward {
        /// The new steward's name or label.
        name: String,
        /// The new steward's passphrase file (or a prompt).
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        /// A new threshold (default: unchanged).
        #[arg(long)]
        threshold: Option<usize>,
        /// A current steward's passphrase file; repeat for k stewards.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
    /// Remove a steward: a fresh unseal key is shared among the others, so the removed steward's
    /// share and passphrase open nothing from then on. Needs k current stewards.
    RemoveSteward {
        /// The steward's name, as `chorus keys stewards` lists it.
        name: String,
        /// A new threshold (default: unchanged, if still possible).
        #[arg(long)]
        threshold: Option<usize>,
        /// A current steward's passphrase file; repeat for k stewards.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
    /// A fresh unseal key shared among the same stewards under a new threshold (and, on an
    /// installation from before custody, the conversion to custody). Needs k current stewards.
    Reshare {
        /// How many stewards it takes from now on (default: unchanged).
        #[arg(long)]
        threshold: Option<usize>,
        /// A current steward's passphrase file; repeat for k stewards.
        #[arg(long)]
        passphrase_file: Vec<PathBuf>,
    },
    /// Print a random diceware passphrase (7 words from the EFF long list).
    GeneratePassphrase,
    /// Replace the release-signing key (the old public key stays listed with its dates), optionally
    /// with an existing unencrypted OpenSSH Ed25519 private key.
    RotateSigningKey {
        /// An OpenSSH Ed25519 private key file to use instead of a new key.
        #[arg(long)]
        import: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(super) enum SurveyCommand {
    /// Validate and import a definition: a TOML file or an XLSForm (.xlsx). A new survey starts as a
    /// draft; a changed one shows what changes and becomes version N+1 only with --yes.
    Import {
        /// The definition file: TOML (docs/surveys.md) or an XLSForm workbook (.xlsx).
        file: PathBuf,
        /// Confirm the changes shown, creating the next version of an existing survey.
        #[arg(long)]
        yes: bool,
    },
    /// One line per survey: slug, version, status, stored responses.
    List,
    /// Open a survey for answers (a draft's synthetic and test answers are purged first).
    Open {
        /// The survey's slug.
        slug: String,
    },
    /// Close a survey: its form answers 410 from then on.
    Close {
        /// The survey's slug.
        slug: String,
    },
    /// Print or write a survey's current definition (never any answers).
    Export {
        /// The survey's slug.
        slug: String,
        /// `toml` (the definition as stored) or `xlsform` (an .xlsx workbook that imports back).
        #[arg(long, default_value = "toml", value_parser = ["toml", "xlsform"])]
        format: String,
        /// Write to this file instead of standard output (an XLSForm is binary: use this).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Mark a survey for testing (or unmark it): `chorus dev seed` writes only into drafts and these.
    Testing {
        /// The survey's slug.
        slug: String,
        /// Remove the mark instead.
        #[arg(long)]
        off: bool,
    },
    /// Delete a survey's synthetic and test answers (seeded with `chorus dev seed`); real ones stay.
    PurgeTest {
        /// The survey's slug.
        slug: String,
    },
    /// A survey's retention: how many sealed answers exist and when they will be destroyed;
    /// `--days` sets the period kept after the survey closes and a release of it exists.
    Retention {
        /// The survey's slug.
        slug: String,
        /// Keep sealed answers this many days after the survey closes and a release of it exists.
        #[arg(long)]
        days: Option<i32>,
    },
    /// Destroy every sealed answer of a survey now (cannot be undone; releases stay).
    Destroy {
        /// The survey's slug.
        slug: String,
        /// The slug again, to confirm.
        #[arg(long)]
        confirm: String,
    },
    /// Destroy the answers of every survey whose retention period is over (for a daily timer;
    /// `chorus serve` also does it every hour).
    DestroyDue,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Version = cli.command {
        say(format!("chorus {}", env!("CARGO_PKG_VERSION")));
        return Ok(());
    }
    if let Command::Keys { command: KeysCommand::GeneratePassphrase } = cli.command {
        say(crate::seal::generate_passphrase(7).expose_secret());
        return Ok(());
    }
    let mut config = Config::load()?;
    telemetry::init_stderr(&config.log);
    match cli.command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            serve::serve(config)
        }
        Command::Migrate => {
            let store = app::open_store(&config)?;
            say(format!("database {} is up to date ({:?})", config.database_url, store.backend()));
            Ok(())
        }
        Command::Scrub { full, vacuum } => serve::scrub(&Console::open(config)?, full, vacuum),
        Command::Keys { command } => keys::run(&Console::open(config)?, command),
        Command::Survey { command } => survey::run(&Console::open(config)?, command),
        Command::Init { admin, password_file, passphrase_file } => {
            user::init(&Console::open(config)?, admin, password_file, passphrase_file)
        }
        Command::User { command } => user::run(&Console::open(config)?, command),
        Command::Report { show: Some(ReportCommand::Show { id, format, out, lang }), .. } => {
            report::show(&Console::open(config)?, &id, &format, out, &lang)
        }
        Command::Report { run: Some(run), .. } => report::run(&Console::open(config)?, run),
        Command::Report { .. } => {
            bail!("say which survey to release (chorus report SLUG --through YYYY-MM) or `show ID`")
        }
        Command::Budget { slug, set } => report::budget(&Console::open(config)?, &slug, set),
        Command::Dev { command } => dev::run(&Console::open(config)?, command),
        Command::Backup { prune: Some(BackupCommand::Prune { dir, today }), .. } => backup::prune(&dir, today),
        Command::Backup { make: Some(make), .. } => backup::make(&Console::open(config)?, make),
        Command::Backup { .. } => bail!("say where to write the backup (--out FILE) or `prune DIR`"),
        // Not through Console: the target must stay empty, so nothing is migrated before.
        Command::Restore { file, identity } => backup::restore(&config, &file, &identity),
        Command::Codes { command } => codes::run(&Console::open(config)?, command),
        Command::Version => unreachable!("handled above"),
    }
}

/// What a console command works with: the configuration, the migrated store, the staff accounts
/// (for the audit trail) and the keyring. No web state, no writer thread.
struct Console {
    config: Config,
    store: Store,
    accounts: Accounts,
    keyring: Arc<Keyring>,
}

impl Console {
    fn open(config: Config) -> anyhow::Result<Self> {
        let store = app::open_store(&config)?;
        let accounts = app::accounts(&config, Arc::new(Clock::default()));
        let keyring = app::keyring(&config);
        Ok(Self { config, store, accounts, keyring })
    }

    fn conn(&self) -> anyhow::Result<Conn> {
        Ok(self.store.conn()?)
    }

    /// Record a console action in the audit trail.
    fn audit(&self, conn: &mut crate::store::DbConn, action: &str, target: &str) -> anyhow::Result<()> {
        self.accounts.audit(conn, "cli", action, target)?;
        Ok(())
    }
}

/// A passphrase from a file (first line), or typed at a prompt without echo.
fn passphrase(file: Option<&PathBuf>, prompt: &str) -> anyhow::Result<SecretString> {
    let text = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
            text.lines().next().unwrap_or_default().to_owned()
        }
        None => rpassword::prompt_password(prompt).context("could not read the passphrase")?,
    };
    if text.trim().is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(SecretString::from(text))
}

/// k stewards' passphrases: one per file given, or, without files, as many prompts as the
/// threshold asks for.
fn steward_passphrases(conn: &mut crate::store::DbConn, files: &[PathBuf]) -> anyhow::Result<Vec<SecretString>> {
    if !files.is_empty() {
        return files.iter().map(|f| passphrase(Some(f), "")).collect();
    }
    let k = Keyring::custody(conn)?.map_or(1, |c| c.threshold);
    (1..=k).map(|i| passphrase(None, &format!("Steward passphrase ({i} of {k}): "))).collect()
}

/// A password from a file (first line), or typed twice at a prompt without echo.
fn new_password(file: Option<&PathBuf>, what: &str) -> anyhow::Result<SecretString> {
    let first = passphrase(file, &format!("{what}: "))?;
    if file.is_none() {
        let again = passphrase(None, "Again: ")?;
        if again.expose_secret() != first.expose_secret() {
            bail!("the two entries differ");
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every option says what it is for in `--help`.
    #[test]
    fn every_option_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "chorus", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
