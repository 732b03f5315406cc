//! The `chorus` command line. Each subcommand is a thin call into the library.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    app::{self, Application},
    config::Config,
    keyring::Keyring,
    store::{Store, responses, surveys},
    survey::Survey,
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
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Run a disclosure-controlled snapshot of a survey and write it out (stored as a private snapshot).
    Report {
        slug: String,
        /// The last month of receipt to include (YYYY-MM).
        #[arg(long)]
        through: String,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long, value_parser = ["json", "csv", "html"], default_value = "json")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Smallest count released (never below the survey's k, never below 5).
        #[arg(long)]
        k: Option<u64>,
        /// Round released counts randomly to base 5.
        #[arg(long)]
        rounding: bool,
        /// Only responses given with a valid outreach code.
        #[arg(long)]
        verified_only: bool,
        /// Language of labels.
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Single-use outreach codes that mark responses as verified.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
enum CodesCommand {
    /// Make N codes: CSV on standard output, and a printable page of cards.
    Issue {
        slug: String,
        #[arg(long)]
        count: u32,
        /// A label for this batch (e.g. the outreach team or event).
        #[arg(long)]
        batch: String,
        /// Where to write the printable cards (default: codes-BATCH.html).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Codes issued and used, per batch.
    List { slug: String },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Write N realistic synthetic responses through the normal sealing path (marked synthetic).
    Seed {
        slug: String,
        #[arg(long)]
        count: u64,
        /// Seed even though the survey already holds real responses.
        #[arg(long)]
        force: bool,
    },
    /// Open (decrypt) every answer of a survey and count them: the benchmark's decrypt-only loop.
    OpenAll {
        slug: String,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "researcher"])]
        role: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List accounts.
    List,
    /// Disable an account (its sessions end at once).
    Disable { name: String },
    /// Set a new password (its sessions end at once).
    ResetPassword {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the first report key, sealed under the steward's passphrase.
    Init {
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Re-seal the report keys under a new passphrase (answers are untouched).
    ChangePassphrase {
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Make a new report key for new answers; older answers stay readable with their key.
    Rotate {
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Print a random diceware passphrase (7 words from the EFF long list).
    GeneratePassphrase,
}

#[derive(Subcommand)]
enum SurveyCommand {
    /// Validate and import a definition file (a higher version of a slug becomes current).
    Import { file: PathBuf },
    /// One line per survey: slug, version, status, stored responses.
    List,
    /// Open a survey for answers.
    Open { slug: String },
    /// Close a survey: its form answers 410 from then on.
    Close { slug: String },
    /// Print a survey's current definition (never any answers).
    Export { slug: String },
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
            serve(config)
        }
        Command::Migrate => {
            let store = app::open_store(&config)?;
            say(format!("database {} is up to date ({:?})", config.database_url, store.backend()));
            Ok(())
        }
        Command::Keys { command } => keys(&config, command),
        Command::Survey { command } => survey(&config, command),
        Command::Init { admin, password_file, passphrase_file } => init(&config, admin, password_file, passphrase_file),
        Command::User { command } => user(&config, command),
        Command::Report { slug, through, passphrase_file, format, out, k, rounding, verified_only, lang } => {
            let spec = crate::report::SnapshotSpec {
                survey: slug,
                through,
                k: k.unwrap_or(0),
                rounding,
                verified_only,
                excluded_months: vec![],
            };
            report(&config, spec, passphrase_file, &format, out, &lang)
        }
        Command::Dev { command: DevCommand::Seed { slug, count, force } } => seed(&config, &slug, count, force),
        Command::Dev { command: DevCommand::OpenAll { slug, passphrase_file } } => {
            open_all(&config, &slug, passphrase_file)
        }
        Command::Codes { command } => codes(&config, command),
        Command::Version => unreachable!(),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = actix_web::rt::System::new();
    rt.block_on(async move {
        let bind = config.bind.clone();
        let app = Application::build(config)?;
        let store = app.state.store.clone();
        let has_key =
            store.run(|c| Keyring::has_key(c).map_err(|e| crate::store::StoreError::Pool(e.to_string()))).await?;
        let host = bind.rsplit_once(':').map_or(bind.as_str(), |(h, _)| h);
        let host = if host == "0.0.0.0" || host == "[::]" { "127.0.0.1" } else { host };
        say(format!("Chorus is listening on http://{host}:{}/", app.port));
        let setup = app.state.setup_token.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|t| t.expose_secret().to_owned());
        if let Some(token) = setup {
            say(format!(
                "No admin exists yet. Finish setup in your browser (this link works once, until this process ends):\n\n    http://{host}:{}/setup?token={token}\n",
                app.port
            ));
        } else if !has_key {
            say("No report key exists yet, so answers cannot be accepted. Create one with `chorus keys init`.");
        }
        let handle = app.server.handle();
        actix_web::rt::spawn(async move {
            let _ = actix_web::rt::signal::ctrl_c().await;
            handle.stop(true).await;
        });
        app.server.await.context("server error")
    })
}

/// Commands run at the console are audited as `cli`: the operating system knows who ran them.
fn audit(config: &Config, conn: &mut crate::store::DbConn, action: &str, target: &str) -> anyhow::Result<()> {
    app::accounts(config, std::sync::Arc::new(crate::clock::Clock::default())).audit(conn, "cli", action, target)?;
    Ok(())
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

fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let keyring = app::keyring(config);
    let mut conn = store.conn()?;
    match command {
        KeysCommand::Init { passphrase_file } => {
            let pass = new_password(passphrase_file.as_ref(), "Steward passphrase")?;
            let id = keyring.init(&mut conn, &pass)?;
            audit(config, &mut conn, "keys_init", &id)?;
            say(format!(
                "Report key {id} created. Answers can now be accepted; keep the passphrase safe — without it no report can be made."
            ));
        }
        KeysCommand::ChangePassphrase { passphrase_file, new_passphrase_file } => {
            let old = passphrase(passphrase_file.as_ref(), "Current passphrase: ")?;
            let new = new_password(new_passphrase_file.as_ref(), "New passphrase")?;
            keyring.change_passphrase(&mut conn, &old, &new)?;
            audit(config, &mut conn, "keys_change_passphrase", "all report keys")?;
            say("The report keys are now sealed under the new passphrase.");
        }
        KeysCommand::Rotate { passphrase_file } => {
            let pass = passphrase(passphrase_file.as_ref(), "Steward passphrase: ")?;
            let id = keyring.rotate(&mut conn, &pass)?;
            audit(config, &mut conn, "keys_rotate", &id)?;
            say(format!(
                "New report key {id} is active; a running server starts using it at its next epoch or restart."
            ));
        }
        KeysCommand::GeneratePassphrase => unreachable!(),
    }
    Ok(())
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

fn init(
    config: &Config,
    admin: Option<String>,
    password_file: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let mut conn = store.conn()?;
    if crate::store::staff::any_admin(&mut conn)? {
        bail!("Chorus is already set up: an admin exists. Use `chorus user add` for more accounts.");
    }
    if Keyring::has_key(&mut conn)? {
        bail!("a report key already exists; use `chorus user add NAME --role admin` to add the first admin");
    }
    let admin = match admin {
        Some(a) => a,
        None => {
            eprint!("Admin name: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let password = new_password(password_file.as_ref(), "Admin password (12+ characters)")?;
    let passphrase = new_password(passphrase_file.as_ref(), "Steward passphrase (20+ characters or 5+ words)")?;
    let state = web_state(config, store.clone())?;
    crate::web::staff::create_first_admin(&state, &mut conn, &admin, &password, Some(passphrase))
        .map_err(anyhow::Error::msg)?;
    say(format!("Admin {admin} and the report key are ready. Start the service with `chorus serve`."));
    Ok(())
}

/// The application state without a server, for commands that share its services.
fn web_state(config: &Config, store: Store) -> anyhow::Result<crate::web::AppState> {
    let clock = std::sync::Arc::new(crate::clock::Clock::default());
    Ok(crate::web::AppState {
        intake: app::intake(config, store.clone(), clock.clone())?,
        accounts: app::accounts(config, clock.clone()),
        store,
        i18n: crate::i18n::I18n::load(),
        clock,
        setup_token: std::sync::Mutex::new(None),
        config: config.clone(),
    })
}

fn report(
    config: &Config,
    mut spec: crate::report::SnapshotSpec,
    passphrase_file: Option<PathBuf>,
    format: &str,
    out: Option<PathBuf>,
    lang: &str,
) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let state = web_state(config, store.clone())?;
    let mut conn = store.conn()?;
    let (survey, _) = state
        .intake
        .surveys
        .current(&mut conn, &spec.survey)?
        .with_context(|| format!("no survey `{}`", spec.survey))?;
    if spec.k == 0 {
        spec.k = u64::from(survey.k);
    }
    let pass = passphrase(passphrase_file.as_ref(), "Steward passphrase: ")?;
    let started = std::time::Instant::now();
    let result = crate::report::run_snapshot(&mut conn, &state.intake.surveys, &pass, &spec, "cli", state.clock.now());
    let target = match &result {
        Ok(s) => format!("{} through {} ({})", spec.survey, spec.through, s.row.id),
        Err(e) => format!("{} through {}: refused ({e})", spec.survey, spec.through),
    };
    state.accounts.audit(&mut conn, "cli", "snapshot_run", &target)?;
    let snapshot = result?;
    let survey = state
        .intake
        .surveys
        .version(&mut conn, &spec.survey, snapshot.row.survey_version)?
        .context("survey version")?;
    let lang = if crate::i18n::LANGUAGES.contains(&lang) { lang } else { "en" };
    let text = match format {
        "csv" => crate::report::render::csv(&snapshot, &survey, &state.i18n, lang),
        "html" => {
            use askama::Template;
            let ui = crate::web::pages::Ui { i18n: &state.i18n, lang, page_title: &survey.slug };
            let r = crate::web::reports::body(
                &snapshot,
                &survey,
                &state,
                lang,
                format!("/staff/reports/{}", snapshot.row.id),
            );
            crate::web::reports::ReportFile { ui, r, css: crate::web::STYLE }.render()?
        }
        _ => serde_json::to_string_pretty(&crate::report::render::json(&snapshot, &survey, &state.i18n, lang))?,
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

#[derive(askama::Template)]
#[template(path = "codes.html")]
struct CodeCards<'a> {
    survey: &'a str,
    batch: &'a str,
    url: String,
    codes: Vec<String>,
}

fn codes(config: &Config, command: CodesCommand) -> anyhow::Result<()> {
    use askama::Template;
    let store = app::open_store(config)?;
    let mut conn = store.conn()?;
    match command {
        CodesCommand::Issue { slug, count, batch, html } => {
            let row = surveys::get(&mut conn, &slug)?.with_context(|| format!("no survey `{slug}`"))?;
            if !(1..=100_000).contains(&count) {
                bail!("--count must be between 1 and 100000");
            }
            let batch = batch.trim().to_owned();
            if batch.is_empty() || batch.len() > 60 {
                bail!("--batch needs a label of 1 to 60 characters");
            }
            let codes: Vec<String> = (0..count).map(|_| crate::intake::codes::generate()).collect();
            let hashes: Vec<Vec<u8>> = codes
                .iter()
                .map(|c| {
                    crate::intake::codes::hash(
                        &slug,
                        &crate::intake::codes::normalise(c).expect("generated codes parse"),
                    )
                })
                .collect();
            crate::store::defences::insert_codes(&mut conn, &slug, &batch, &hashes)?;
            audit(config, &mut conn, "codes_issue", &format!("{slug}: {count} codes, batch {batch}"))?;
            let url = format!("{}/s/{slug}", config.public_url.as_deref().unwrap_or(""));
            let path =
                html.unwrap_or_else(|| PathBuf::from(format!("codes-{}.html", batch.replace(['/', '\\', ' '], "-"))));
            let cards = CodeCards { survey: &row.slug, batch: &batch, url, codes: codes.clone() };
            std::fs::write(&path, cards.render()?).with_context(|| format!("could not write {}", path.display()))?;
            say("code,batch,survey");
            for c in &codes {
                say(format!("{c},{batch},{slug}"));
            }
            eprintln!("{count} codes stored (hashed) for {slug}; printable cards in {}", path.display());
        }
        CodesCommand::List { slug } => {
            say("batch\tissued\tused");
            for (batch, issued, used) in crate::store::defences::code_batches(&mut conn, &slug)? {
                say(format!("{batch}\t{issued}\t{used}"));
            }
        }
    }
    Ok(())
}

fn open_all(config: &Config, slug: &str, passphrase_file: Option<PathBuf>) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let mut conn = store.conn()?;
    let pass = passphrase(passphrase_file.as_ref(), "Steward passphrase: ")?;
    let started = std::time::Instant::now();
    let mut unsealed = Keyring::unseal(&mut conn, &pass)?;
    let mut bytes = 0usize;
    let n = unsealed.for_each_answer(&mut conn, slug, crate::month::Month::now(), &[], |a| {
        bytes += a.plaintext.payload().len();
        Ok(())
    })?;
    eprintln!("opened {n} answers ({bytes} payload bytes) in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn seed(config: &Config, slug: &str, count: u64, force: bool) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let state = web_state(config, store.clone())?;
    let mut conn = store.conn()?;
    let (survey, _) = state.intake.surveys.current(&mut conn, slug)?.with_context(|| format!("no survey `{slug}`"))?;
    let real = responses::count_real(&mut conn, slug)?;
    if real > 0 && !force {
        bail!("{slug} already holds {real} real responses; refusing to mix synthetic ones in (use --force to insist)");
    }
    let bar = indicatif::ProgressBar::new(count);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} synthetic responses ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rng = rand::rng();
    let mut left = count;
    while left > 0 {
        let n = left.min(1_000);
        let batch: Vec<_> = (0..n).map(|_| crate::dev::synthetic_answers(&survey, &mut rng)).collect();
        state.intake.store_synthetic(&mut conn, &survey, &batch).map_err(|e| anyhow::anyhow!("{e}"))?;
        bar.inc(n);
        left -= n;
    }
    bar.finish();
    state.accounts.audit(&mut conn, "cli", "dev_seed", &format!("{slug}: {count} synthetic responses"))?;
    say(format!("Seeded {count} synthetic responses into {slug}."));
    Ok(())
}

fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let store = app::open_store(config)?;
    let accounts = app::accounts(config, std::sync::Arc::new(crate::clock::Clock::default()));
    let mut conn = store.conn()?;
    match command {
        UserCommand::Add { name, role, password_file } => {
            let password = new_password(password_file.as_ref(), "Password (12+ characters)")?;
            accounts.add_user(&mut conn, &name, &role, &password)?;
            accounts.audit(&mut conn, "cli", "user_add", &format!("{name} ({role})"))?;
            say(format!("Added {name} ({role})."));
        }
        UserCommand::List => {
            say("name\trole\tstate");
            for u in crate::store::staff::users(&mut conn)? {
                say(format!("{}\t{}\t{}", u.name, u.role, if u.disabled { "disabled" } else { "active" }));
            }
        }
        UserCommand::Disable { name } => {
            accounts.set_disabled(&mut conn, &name, true)?;
            accounts.audit(&mut conn, "cli", "user_disable", &name)?;
            say(format!("Disabled {name}; their sessions have ended."));
        }
        UserCommand::ResetPassword { name, password_file } => {
            let password = new_password(password_file.as_ref(), "New password (12+ characters)")?;
            accounts.reset_password(&mut conn, &name, &password)?;
            accounts.audit(&mut conn, "cli", "user_reset_password", &name)?;
            say(format!("New password set for {name}; their sessions have ended."));
        }
    }
    Ok(())
}

fn survey(config: &Config, command: SurveyCommand) -> anyhow::Result<()> {
    let store: Store = app::open_store(config)?;
    let mut conn = store.conn()?;
    match command {
        SurveyCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("could not read {}", file.display()))?;
            let survey =
                Survey::parse(&text).map_err(|e| anyhow::anyhow!("{} is not a valid survey:\n{e}", file.display()))?;
            let outcome = surveys::import(&mut conn, &survey.slug, survey.version, &text)?;
            audit(config, &mut conn, "survey_import", &format!("{} v{}", survey.slug, survey.version))?;
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
        SurveyCommand::Open { slug } | SurveyCommand::Close { slug } if surveys::get(&mut conn, &slug)?.is_none() => {
            bail!("no survey `{slug}`");
        }
        SurveyCommand::Open { slug } => {
            surveys::set_status(&mut conn, &slug, "open")?;
            audit(config, &mut conn, "survey_open", &slug)?;
            say(format!("{slug} is open"));
        }
        SurveyCommand::Close { slug } => {
            surveys::set_status(&mut conn, &slug, "closed")?;
            audit(config, &mut conn, "survey_close", &slug)?;
            say(format!("{slug} is closed"));
        }
        SurveyCommand::Export { slug } => {
            let row = surveys::get(&mut conn, &slug)?.with_context(|| format!("no survey `{slug}`"))?;
            let text = surveys::definition(&mut conn, &slug, row.current_version)?.context("definition missing")?;
            print!("{text}");
        }
    }
    Ok(())
}
