//! Settings: built-in defaults, then an optional `chorus.toml`, then `CHORUS_*` environment variables.
//! The environment is laid over the file's table and one `Deserialize` with `deny_unknown_fields`
//! reads the result, so a key is declared once, in [`Raw`]; an unknown key or a bad value stops the
//! start and names the key. Nothing is clamped: a value out of range is refused.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::seal::KdfCost;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key `{key}`: {message}")]
    Bad { key: String, message: String },
    #[error("could not read {path}: {message}")]
    File { path: String, message: String },
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Bad { key: key.to_owned(), message: message.into() }
}

/// The two database engines, told apart by the URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Dispatch on the scheme ourselves: diesel's MultiConnection would try SQLite, which takes any
    /// string as a file name, so a mistyped URL would silently create an empty database.
    pub fn from_url(url: &str) -> Result<Self, String> {
        match url.split_once("://").map(|(s, _)| s) {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some(other) => {
                Err(format!("unsupported scheme `{other}://`; use sqlite://PATH or postgres://USER@HOST/DB"))
            }
            None => Err("no scheme; use sqlite://PATH or postgres://USER@HOST/DB".into()),
        }
    }
}

/// A database URL. Its password (if any) is kept out of `Debug` and `Display`.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
        let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => format!("{userinfo}@{host}"),
            },
            None => authority.to_owned(),
        };
        let tail = tail.map(|t| t.split('?').next().unwrap_or_default());
        match tail {
            Some(t) => format!("{scheme}://{authority}/{t}"),
            None => format!("{scheme}://{authority}"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// What SQLite's `synchronous` pragma is set to. `full` (the default) fsyncs the WAL on every commit,
/// so an acknowledged answer survives a power cut; `normal` may lose the last commits on power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    Full,
    Normal,
}

/// The organisation named in citations until one is configured (a start-up warning says so).
pub const DEFAULT_ORGANISATION: &str = "Chorus";

/// A neutral page that a quick exit can land on without drawing attention.
pub const DEFAULT_EXIT_URL: &str = "https://weather.gc.ca/";

/// Argon2id cost of staff passwords (PHC strings keep their own cost, so raising it keeps old hashes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl PasswordCost {
    /// OWASP's minimum for Argon2id.
    pub const FLOOR: Self = Self { memory_kib: 19 * 1024, iterations: 2 };
}

/// The flood defences on the submit path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitLimits {
    /// Accepted submissions per client address per hour (0: no limit).
    pub per_address_per_hour: u32,
    /// Accepted submissions per hour per client of the PROXY-protocol listener (0: no limit). With
    /// Tor's `HiddenServiceExportCircuitID haproxy` a client is one circuit.
    pub proxied_per_address_per_hour: u32,
    /// Valid form submissions per minute across all clients (0: no limit).
    pub global_per_minute: u32,
    /// Valid API submissions per minute across all clients (0: no limit): a budget apart from the form's.
    pub api_global_per_minute: u32,
    /// The least time between showing the form and accepting it.
    pub min_fill_seconds: u64,
    /// Behind a reverse proxy: the one request header that carries the client address. None trusts no header.
    pub trusted_proxy_header: Option<String>,
    /// Alert when an hour's accepted submissions pass this many times the trailing median.
    pub flood_alert_factor: u32,
}

/// The public address of each survey, `/s/{path}`: a neutral word set per deployment
/// (`survey_paths = { harms = "start" }`), else a short string derived from the slug. The slug itself
/// never serves the form, so the address bar, the history and a printed card do not name the
/// survey's purpose; staff pages, reports and the database keep the slug.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SurveyPaths(BTreeMap<String, String>);

impl SurveyPaths {
    /// The public path of a survey (without `/s/`).
    pub fn path_for(&self, slug: &str) -> String {
        self.0.get(slug).cloned().unwrap_or_else(|| Self::derived(slug))
    }

    /// The path a survey has when none is configured: eight hex digits of a hash of its slug, stable
    /// across restarts (printed cards keep working) and telling a reader nothing about the survey.
    pub fn derived(slug: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest([b"chorus/survey-path/v1\0".as_slice(), slug.as_bytes()].concat());
        hex::encode(&digest[..4])
    }

    /// The slug whose configured path this is.
    pub fn configured_slug(&self, path: &str) -> Option<&str> {
        self.0.iter().find(|(_, p)| *p == path).map(|(s, _)| s.as_str())
    }

    /// Whether `slug`'s public path is `path` (a configured survey answers only at its configured path).
    pub fn matches(&self, slug: &str, path: &str) -> bool {
        self.path_for(slug) == path
    }

    pub fn new(paths: BTreeMap<String, String>) -> Result<Self, String> {
        let word = |s: &str| {
            (2..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let mut seen = std::collections::HashSet::new();
        for (slug, path) in &paths {
            if !word(path) {
                return Err(format!("`{path}` (for {slug}) must be 2-40 characters of a-z, 0-9 and -"));
            }
            if path == slug {
                return Err(format!("the path of {slug} may not be its slug: the address would name the survey"));
            }
            if !seen.insert(path) {
                return Err(format!("`{path}` is given to two surveys"));
            }
        }
        Ok(Self(paths))
    }
}

/// A group a respondent can reach for support, shown under the questions marked `support_after` and
/// on the receipt page, to respondents whose page language is one the group works in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportOrg {
    pub name: String,
    /// How to reach them: a phone number, an address, a web site, as it should be printed.
    pub reach: String,
    /// The languages they work in (codes as in `i18n::LANGUAGES`).
    pub languages: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupportFile {
    #[serde(default)]
    organisation: Vec<SupportOrg>,
}

/// Read the support file (`support_file`): `[[organisation]]` tables with name, reach, languages.
pub fn read_support(text: &str) -> Result<Vec<SupportOrg>, String> {
    let file: SupportFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    for org in &file.organisation {
        if org.name.trim().is_empty() || org.reach.trim().is_empty() {
            return Err("every organisation needs a name and a way to reach it".into());
        }
        if org.languages.is_empty() {
            return Err(format!("{}: languages is empty", org.name));
        }
        if let Some(l) = org.languages.iter().find(|l| !crate::i18n::LANGUAGES.contains(&l.as_str())) {
            return Err(format!("{}: `{l}` is not one of {}", org.name, crate::i18n::LANGUAGES.join(", ")));
        }
    }
    Ok(file.organisation)
}

/// The support organisations for a page in `lang`, in the file's order.
pub fn support_in<'a>(orgs: &'a [SupportOrg], lang: &str) -> Vec<&'a SupportOrg> {
    orgs.iter().filter(|o| o.languages.iter().any(|l| l == lang)).collect()
}

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub bind: String,
    /// An extra listener that requires a PROXY protocol (v1 or v2) header on every connection, e.g.
    /// for an onion service with `HiddenServiceExportCircuitID haproxy`. None: no such listener.
    pub proxy_protocol_bind: Option<String>,
    /// Where `/metrics` is served (Prometheus text format), on a listener of its own. None: nowhere.
    pub metrics_bind: Option<String>,
    pub log: String,
    pub page_title: String,
    pub sqlite_synchronous: SqliteSync,
    pub epoch_max_answers: u64,
    pub kdf: KdfCost,
    pub passwords: PasswordCost,
    pub public_url: Option<String>,
    /// Where the quick exit leads: a neutral, common site.
    pub exit_url: String,
    /// The organisation named in citation lines.
    pub organisation: String,
    pub limits: SubmitLimits,
    /// How often `chorus serve` scrubs arrival order from the database (docs/privacy.md).
    pub scrub_interval: std::time::Duration,
    /// Each survey's public address.
    pub survey_paths: SurveyPaths,
    /// Support organisations from `support_file` (none when it is not set).
    pub support: Vec<SupportOrg>,
    /// How long a release asked for on the web waits for its k stewards' shares (RAM only).
    pub pending_run_ttl: std::time::Duration,
}

/// Every key a file or the environment may set, with its default. `deny_unknown_fields` makes a typo
/// fatal; numbers accept TOML integers or, since the environment only holds text, digit strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    data_dir: String,
    database_url: Option<String>,
    bind: String,
    proxy_protocol_bind: Option<String>,
    metrics_bind: Option<String>,
    log: String,
    page_title: String,
    sqlite_synchronous: String,
    #[serde(deserialize_with = "number")]
    epoch_max_answers: u64,
    #[serde(deserialize_with = "number")]
    kdf_memory_mib: u64,
    #[serde(deserialize_with = "number")]
    kdf_iterations: u64,
    #[serde(deserialize_with = "number")]
    kdf_parallelism: u64,
    #[serde(deserialize_with = "number")]
    password_memory_mib: u64,
    #[serde(deserialize_with = "number")]
    password_iterations: u64,
    public_url: Option<String>,
    exit_url: String,
    organisation: String,
    #[serde(deserialize_with = "number")]
    submit_limit_per_hour: u64,
    #[serde(deserialize_with = "number")]
    submit_limit_global_per_minute: u64,
    #[serde(deserialize_with = "number")]
    api_limit_global_per_minute: u64,
    #[serde(deserialize_with = "number")]
    proxy_protocol_limit_per_hour: u64,
    #[serde(deserialize_with = "number")]
    min_fill_seconds: u64,
    trusted_proxy_header: Option<String>,
    #[serde(deserialize_with = "number")]
    flood_alert_factor: u64,
    #[serde(deserialize_with = "number")]
    scrub_interval_minutes: u64,
    #[serde(deserialize_with = "paths")]
    survey_paths: BTreeMap<String, String>,
    support_file: Option<String>,
    #[serde(deserialize_with = "number")]
    pending_run_minutes: u64,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            data_dir: "chorus-data".into(),
            database_url: None,
            bind: "127.0.0.1:8080".into(),
            proxy_protocol_bind: None,
            metrics_bind: None,
            log: "info".into(),
            page_title: "Survey".into(),
            sqlite_synchronous: "full".into(),
            epoch_max_answers: 10_000,
            kdf_memory_mib: u64::from(KdfCost::DEFAULT.memory_kib / 1024),
            kdf_iterations: u64::from(KdfCost::DEFAULT.iterations),
            kdf_parallelism: u64::from(KdfCost::DEFAULT.parallelism),
            password_memory_mib: u64::from(PasswordCost::FLOOR.memory_kib / 1024),
            password_iterations: u64::from(PasswordCost::FLOOR.iterations),
            public_url: None,
            exit_url: DEFAULT_EXIT_URL.into(),
            organisation: DEFAULT_ORGANISATION.into(),
            submit_limit_per_hour: 20,
            submit_limit_global_per_minute: 600,
            api_limit_global_per_minute: 600,
            proxy_protocol_limit_per_hour: 20,
            min_fill_seconds: 3,
            trusted_proxy_header: None,
            flood_alert_factor: 5,
            scrub_interval_minutes: 60,
            survey_paths: BTreeMap::new(),
            support_file: None,
            pending_run_minutes: 30,
        }
    }
}

fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(i64),
        Text(String),
    }
    match Number::deserialize(d)? {
        Number::Int(n) => u64::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is out of range"))),
        Number::Text(s) => {
            s.trim().parse().map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number")))
        }
    }
}

/// `survey_paths`: a TOML table (`{ harms = "start" }`) or, from the environment, `harms=start,other=x`.
fn paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Paths {
        Table(BTreeMap<String, String>),
        Text(String),
    }
    match Paths::deserialize(d)? {
        Paths::Table(t) => Ok(t),
        Paths::Text(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (slug, path) = p
                    .split_once('=')
                    .ok_or_else(|| <D::Error as serde::de::Error>::custom(format!("`{p}` is not slug=path")))?;
                Ok((slug.trim().to_owned(), path.trim().to_owned()))
            })
            .collect(),
    }
}

/// Variables read by other parts (the config file's path, tests, the benchmark) are not settings.
fn is_setting(key: &str) -> bool {
    key != "CONFIG" && !key.starts_with("TEST_") && !key.starts_with("BENCH_")
}

impl Config {
    /// Defaults, then `chorus.toml` (or the file named by `CHORUS_CONFIG`), then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = match env.iter().find(|(k, _)| k == "CHORUS_CONFIG") {
            Some((_, path)) => Some(PathBuf::from(path)),
            None => Some(PathBuf::from("chorus.toml")).filter(|p| p.exists()),
        };
        let text = match &file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?,
            ),
            None => None,
        };
        Self::from_sources(text.as_deref(), &env)
    }

    pub fn from_sources(file: Option<&str>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut table: toml::Table = match file {
            Some(text) => text.parse().map_err(|e: toml::de::Error| bad("chorus.toml", e.message()))?,
            None => toml::Table::new(),
        };
        let mut from_env = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("CHORUS_").filter(|k| is_setting(k)) else { continue };
            let key = key.to_ascii_lowercase();
            table.insert(key.clone(), toml::Value::String(value.clone()));
            from_env.push((key, name.clone()));
        }
        let raw: Raw = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().message().to_owned();
            // A bad value is named by its path; an unknown key by serde's message, which quotes it.
            let key = if path.is_empty() || path == "." {
                message.split('`').nth(1).map_or_else(|| "chorus.toml".to_owned(), str::to_owned)
            } else {
                path
            };
            let key = from_env.iter().find(|(k, _)| *k == key).map_or(key, |(_, name)| name.clone());
            ConfigError::Bad { key, message }
        })?;
        raw.build()
    }
}

fn small(key: &str, value: u64) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| bad(key, format!("{value} is out of range")))
}

impl Raw {
    fn build(self) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(self.data_dir);
        let database_url = match self.database_url {
            Some(url) => {
                Backend::from_url(&url).map_err(|e| bad("database_url", e))?;
                DatabaseUrl::new(url)
            }
            None => DatabaseUrl::new(format!("sqlite://{}", data_dir.join("chorus.db").display())),
        };
        if self.bind.parse::<std::net::SocketAddr>().is_err() && !self.bind.contains(':') {
            return Err(bad("bind", format!("`{}` is not an address like 127.0.0.1:8080", self.bind)));
        }
        let proxy_protocol_bind = match self.proxy_protocol_bind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(b) if b.parse::<std::net::SocketAddr>().is_ok() || b.contains(':') => Some(b.to_owned()),
            Some(b) => return Err(bad("proxy_protocol_bind", format!("`{b}` is not an address like 127.0.0.1:8081"))),
        };
        let metrics_bind = match self.metrics_bind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(b) if b.parse::<std::net::SocketAddr>().is_ok() || b.contains(':') => Some(b.to_owned()),
            Some(b) => return Err(bad("metrics_bind", format!("`{b}` is not an address like 127.0.0.1:9464"))),
        };
        let sqlite_synchronous = match self.sqlite_synchronous.as_str() {
            "full" => SqliteSync::Full,
            "normal" => SqliteSync::Normal,
            other => return Err(bad("sqlite_synchronous", format!("`{other}` is not `full` or `normal`"))),
        };
        let kdf_memory_mib = small("kdf_memory_mib", self.kdf_memory_mib)?;
        let kdf = KdfCost {
            memory_kib: kdf_memory_mib.checked_mul(1024).ok_or_else(|| bad("kdf_memory_mib", "out of range"))?,
            iterations: small("kdf_iterations", self.kdf_iterations)?,
            parallelism: small("kdf_parallelism", self.kdf_parallelism)?,
        };
        if !kdf.meets_floor() || kdf.parallelism == 0 {
            return Err(bad(
                "kdf_memory_mib",
                "the passphrase KDF may not be cheaper than RFC 9106's second setting (64 MiB, t=3)",
            ));
        }
        if !kdf.within_ceiling() {
            return Err(bad("kdf_memory_mib", "above the ceiling a report run will accept (see docs/crypto.md)"));
        }
        let passwords = PasswordCost {
            memory_kib: small("password_memory_mib", self.password_memory_mib)?
                .checked_mul(1024)
                .ok_or_else(|| bad("password_memory_mib", "out of range"))?,
            iterations: small("password_iterations", self.password_iterations)?,
        };
        if passwords.memory_kib < PasswordCost::FLOOR.memory_kib
            || passwords.iterations < PasswordCost::FLOOR.iterations
        {
            return Err(bad("password_memory_mib", "below OWASP's minimum for Argon2id (19 MiB, t=2)"));
        }
        if !(1..=10_000).contains(&self.epoch_max_answers) {
            return Err(bad("epoch_max_answers", "must be between 1 and 10000"));
        }
        let trusted_proxy_header = match self.trusted_proxy_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) if h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => Some(h.to_ascii_lowercase()),
            Some(h) => return Err(bad("trusted_proxy_header", format!("`{h}` is not a header name"))),
        };
        if !self.exit_url.starts_with("https://") && !self.exit_url.starts_with("http://") {
            return Err(bad("exit_url", "must be an http(s) address"));
        }
        if self.page_title.trim().is_empty() {
            return Err(bad("page_title", "may not be empty"));
        }
        if self.flood_alert_factor < 2 {
            return Err(bad("flood_alert_factor", "must be at least 2 (an hour at twice the usual is not a flood)"));
        }
        // The scrub bounds how long arrival order sits on disk: never off, never rarer than daily.
        if !(1..=1440).contains(&self.scrub_interval_minutes) {
            return Err(bad("scrub_interval_minutes", "must be between 1 and 1440 (a day)"));
        }
        let survey_paths = SurveyPaths::new(self.survey_paths).map_err(|e| bad("survey_paths", e))?;
        let support = match self.support_file.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| bad("support_file", format!("{path}: {e}")))?;
                read_support(&text).map_err(|e| bad("support_file", format!("{path}: {e}")))?
            }
        };
        // Shares of the unseal key wait in RAM this long: long enough to gather stewards, no longer.
        if !(1..=1440).contains(&self.pending_run_minutes) {
            return Err(bad("pending_run_minutes", "must be between 1 and 1440 (a day)"));
        }
        let limits = SubmitLimits {
            per_address_per_hour: small("submit_limit_per_hour", self.submit_limit_per_hour)?,
            proxied_per_address_per_hour: small("proxy_protocol_limit_per_hour", self.proxy_protocol_limit_per_hour)?,
            global_per_minute: small("submit_limit_global_per_minute", self.submit_limit_global_per_minute)?,
            api_global_per_minute: small("api_limit_global_per_minute", self.api_limit_global_per_minute)?,
            min_fill_seconds: self.min_fill_seconds,
            trusted_proxy_header,
            flood_alert_factor: small("flood_alert_factor", self.flood_alert_factor)?,
        };
        Ok(Config {
            data_dir,
            database_url,
            bind: self.bind,
            proxy_protocol_bind,
            metrics_bind,
            log: self.log,
            page_title: self.page_title,
            sqlite_synchronous,
            epoch_max_answers: self.epoch_max_answers,
            kdf,
            passwords,
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            exit_url: self.exit_url,
            organisation: self.organisation,
            limits,
            scrub_interval: std::time::Duration::from_secs(self.scrub_interval_minutes * 60),
            survey_paths,
            support,
            pending_run_ttl: std::time::Duration::from_secs(self.pending_run_minutes * 60),
        })
    }
}

impl Config {
    /// A configuration for tests: a given data folder and database, cheap key derivation.
    pub fn for_tests(data_dir: PathBuf, database_url: DatabaseUrl) -> Self {
        Config {
            data_dir,
            database_url,
            bind: "127.0.0.1:0".into(),
            proxy_protocol_bind: None,
            metrics_bind: None,
            log: "info".into(),
            page_title: "Survey".into(),
            sqlite_synchronous: SqliteSync::Full,
            epoch_max_answers: 10_000,
            kdf: KdfCost::TESTING,
            passwords: PasswordCost::FLOOR,
            public_url: None,
            exit_url: DEFAULT_EXIT_URL.into(),
            organisation: "Chorus test organisation".into(),
            // Tests that are not about flood defences switch them off; those that are switch them on.
            limits: SubmitLimits {
                per_address_per_hour: 0,
                proxied_per_address_per_hour: 0,
                global_per_minute: 0,
                api_global_per_minute: 0,
                min_fill_seconds: 0,
                trusted_proxy_header: None,
                flood_alert_factor: 5,
            },
            scrub_interval: std::time::Duration::from_secs(3600),
            survey_paths: SurveyPaths::default(),
            support: Vec::new(),
            pending_run_ttl: std::time::Duration::from_secs(30 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::from_sources(None, &[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.database_url.expose(), "sqlite://chorus-data/chorus.db");
        assert_eq!(c.sqlite_synchronous, SqliteSync::Full);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::from_sources(Some("bindd = \"x\""), &[]).unwrap_err().to_string();
        assert!(e.contains("bindd"), "{e}");
        let e = Config::from_sources(None, &env(&[("CHORUS_BIDN", "x")])).unwrap_err().to_string();
        assert!(e.contains("CHORUS_BIDN"), "{e}");
    }

    #[test]
    fn pending_runs_wait_half_an_hour_by_default_and_at_most_a_day() {
        assert_eq!(Config::from_sources(None, &[]).unwrap().pending_run_ttl.as_secs(), 1800);
        let c = Config::from_sources(Some("pending_run_minutes = 10"), &[]).unwrap();
        assert_eq!(c.pending_run_ttl.as_secs(), 600);
        for bad in ["pending_run_minutes = 0", "pending_run_minutes = 1441"] {
            let e = Config::from_sources(Some(bad), &[]).unwrap_err();
            assert!(e.to_string().contains("pending_run_minutes"), "{e}");
        }
    }

    #[test]
    fn scrub_interval_is_hourly_by_default_and_bounded() {
        assert_eq!(Config::from_sources(None, &[]).unwrap().scrub_interval.as_secs(), 3600);
        let c = Config::from_sources(Some("scrub_interval_minutes = 15"), &[]).unwrap();
        assert_eq!(c.scrub_interval.as_secs(), 900);
        for bad in ["0", "1441", "often"] {
            let e = Config::from_sources(None, &env(&[("CHORUS_SCRUB_INTERVAL_MINUTES", bad)])).unwrap_err();
            assert!(e.to_string().to_lowercase().contains("scrub_interval_minutes"), "{e}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::from_sources(None, &env(&[("CHORUS_KDF_ITERATIONS", "many")])).unwrap_err();
        assert!(e.to_string().contains("CHORUS_KDF_ITERATIONS"), "{e}");
        let e = Config::from_sources(None, &env(&[("CHORUS_DATABASE_URL", "mysql://x/y")])).unwrap_err();
        assert!(e.to_string().contains("database_url") && e.to_string().contains("mysql"), "{e}");
        let e = Config::from_sources(Some("kdf_memory_mib = 8"), &[]).unwrap_err();
        assert!(e.to_string().contains("kdf_memory_mib"), "{e}");
    }

    #[test]
    fn numbers_from_the_environment_and_no_clamping() {
        let c =
            Config::from_sources(Some("submit_limit_per_hour = 7"), &env(&[("CHORUS_MIN_FILL_SECONDS", "9")])).unwrap();
        assert_eq!((c.limits.per_address_per_hour, c.limits.min_fill_seconds), (7, 9));
        let e = Config::from_sources(None, &env(&[("CHORUS_FLOOD_ALERT_FACTOR", "1")])).unwrap_err();
        assert!(e.to_string().contains("flood_alert_factor"), "{e}");
        let e = Config::from_sources(Some("epoch_max_answers = 0"), &[]).unwrap_err();
        assert!(e.to_string().contains("epoch_max_answers"), "{e}");
        let e = Config::from_sources(Some("bind = 5"), &[]).unwrap_err();
        assert!(e.to_string().contains("bind") || e.to_string().contains("string"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let c = Config::from_sources(Some("bind = \"127.0.0.1:1\""), &env(&[("CHORUS_BIND", "127.0.0.1:2")])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:2");
    }

    #[test]
    fn survey_paths_are_neutral_and_never_the_slug() {
        let c = Config::from_sources(None, &[]).unwrap();
        let derived = c.survey_paths.path_for("harms");
        assert_ne!(derived, "harms");
        assert_eq!(derived.len(), 8);
        assert_eq!(derived, SurveyPaths::derived("harms"), "stable across restarts");
        let c = Config::from_sources(Some("survey_paths = { harms = \"start\" }"), &[]).unwrap();
        assert_eq!(c.survey_paths.path_for("harms"), "start");
        assert_eq!(c.survey_paths.configured_slug("start"), Some("harms"));
        assert!(!c.survey_paths.matches("harms", &derived), "a configured survey answers only at its word");
        let c =
            Config::from_sources(None, &env(&[("CHORUS_SURVEY_PATHS", "harms=hello, night-shift=evening")])).unwrap();
        assert_eq!(c.survey_paths.path_for("night-shift"), "evening");
        for bad in ["harms=harms", "harms=Start", "harms=a/b", "harms=x1,other=x1", "harms"] {
            let e = Config::from_sources(None, &env(&[("CHORUS_SURVEY_PATHS", bad)])).unwrap_err();
            assert!(e.to_string().to_lowercase().contains("survey_paths"), "{bad}: {e}");
        }
    }

    #[test]
    fn support_file_is_checked_and_filtered_by_language() {
        let orgs = read_support(
            "[[organisation]]\nname = \"A\"\nreach = \"555\"\nlanguages = [\"en\", \"fr\"]\n\
             [[organisation]]\nname = \"B\"\nreach = \"b.example\"\nlanguages = [\"th\"]\n",
        )
        .unwrap();
        assert_eq!(support_in(&orgs, "fr").iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["A"]);
        assert_eq!(support_in(&orgs, "th").len(), 1);
        assert!(support_in(&orgs, "ko").is_empty());
        assert!(read_support("[[organisation]]\nname = \"A\"\nreach = \"x\"\nlanguages = [\"xx\"]").is_err());
        assert!(read_support("[[organisation]]\nname = \"\"\nreach = \"x\"\nlanguages = [\"en\"]").is_err());
        assert!(
            Config::from_sources(Some("support_file = \"/nonexistent/support.toml\""), &[])
                .unwrap_err()
                .to_string()
                .contains("support_file")
        );
        assert!(Config::from_sources(None, &[]).unwrap().support.is_empty(), "absent config shows nothing");
        let example = read_support(include_str!("../docs/support.example.toml")).unwrap();
        assert!(!example.is_empty(), "the documented example parses");
    }

    #[test]
    fn database_password_is_never_printed() {
        let url = DatabaseUrl::new("postgres://chorus:hunter2secret@db.example:5432/chorus?sslmode=require");
        let c = Config::for_tests("d".into(), url.clone());
        assert!(!format!("{c:?}").contains("hunter2secret"));
        assert!(!url.to_string().contains("hunter2secret"));
        assert_eq!(url.redacted(), "postgres://chorus:***@db.example:5432/chorus");
    }
}
