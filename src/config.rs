//! Settings: built-in defaults, then an optional `chorus.toml`, then `CHORUS_*` environment variables.
//! Every key is declared once in [`Raw`]; an unknown key or a bad value stops the start and names the key.

use std::{fmt, path::PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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

/// Argon2id cost for sealing the report key under the steward's passphrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfCost {
    /// About one second on a 2-core machine (see docs/crypto.md).
    pub const DEFAULT: Self = Self { memory_kib: 256 * 1024, iterations: 4, parallelism: 1 };
    /// RFC 9106's second recommended setting: the floor outside tests.
    pub const FLOOR: Self = Self { memory_kib: 64 * 1024, iterations: 3, parallelism: 4 };
    /// Only for tests; refused by configuration.
    pub const TESTING: Self = Self { memory_kib: 1024, iterations: 1, parallelism: 1 };

    pub fn meets_floor(&self) -> bool {
        // Memory is what makes guessing expensive; time and lanes may trade against each other.
        self.memory_kib >= Self::FLOOR.memory_kib
            && u64::from(self.memory_kib) * u64::from(self.iterations)
                >= u64::from(Self::FLOOR.memory_kib) * u64::from(Self::FLOOR.iterations)
    }
}

/// A neutral page that a quick exit can land on without drawing attention.
pub const DEFAULT_EXIT_URL: &str = "https://weather.gc.ca/";

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub bind: String,
    pub log: String,
    pub page_title: String,
    pub sqlite_synchronous: SqliteSync,
    pub epoch_max_answers: u64,
    pub kdf: KdfCost,
    pub password_memory_kib: u32,
    pub password_iterations: u32,
    pub public_url: Option<String>,
    /// Where the quick exit leads: a neutral, common site.
    pub exit_url: String,
    /// The organisation named in citation lines.
    pub organisation: String,
    /// Accepted submissions per client address per hour (0: no limit).
    pub submit_limit_per_hour: u32,
    /// Submissions per minute across all clients (0: no limit).
    pub submit_limit_global_per_minute: u32,
    /// The least time between showing the form and accepting it.
    pub min_fill_seconds: u64,
    /// Behind a reverse proxy: the one request header that carries the client address. None trusts no header.
    pub trusted_proxy_header: Option<String>,
    /// Alert when an hour's accepted submissions pass this many times the trailing median.
    pub flood_alert_factor: u32,
}

/// Every key a file or the environment may set. `deny_unknown_fields` makes a typo fatal.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: Option<String>,
    database_url: Option<String>,
    bind: Option<String>,
    log: Option<String>,
    page_title: Option<String>,
    sqlite_synchronous: Option<String>,
    epoch_max_answers: Option<toml::Value>,
    kdf_memory_mib: Option<toml::Value>,
    kdf_iterations: Option<toml::Value>,
    kdf_parallelism: Option<toml::Value>,
    password_memory_mib: Option<toml::Value>,
    password_iterations: Option<toml::Value>,
    public_url: Option<String>,
    exit_url: Option<String>,
    organisation: Option<String>,
    submit_limit_per_hour: Option<toml::Value>,
    submit_limit_global_per_minute: Option<toml::Value>,
    min_fill_seconds: Option<toml::Value>,
    trusted_proxy_header: Option<String>,
    flood_alert_factor: Option<toml::Value>,
}

const KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "bind",
    "log",
    "page_title",
    "sqlite_synchronous",
    "epoch_max_answers",
    "kdf_memory_mib",
    "kdf_iterations",
    "kdf_parallelism",
    "password_memory_mib",
    "password_iterations",
    "public_url",
    "exit_url",
    "organisation",
    "submit_limit_per_hour",
    "submit_limit_global_per_minute",
    "min_fill_seconds",
    "trusted_proxy_header",
    "flood_alert_factor",
];

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
        let mut raw: Raw = match file {
            Some(text) => toml::from_str(text).map_err(|e| {
                let message = e.message().to_owned();
                // serde names the unknown field in its message; surface it as the key.
                let key = message.split('`').nth(1).unwrap_or("chorus.toml").to_owned();
                ConfigError::Bad { key, message }
            })?,
            None => Raw::default(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix("CHORUS_") else { continue };
            // Variables read by other parts (tests, the benchmark, submit limits) are not settings here.
            if key == "CONFIG" || key.starts_with("TEST_") || key.starts_with("BENCH_") {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(bad(name, "unknown setting"));
            }
            raw.set(&key, value.clone());
        }
        raw.build()
    }
}

impl Raw {
    fn set(&mut self, key: &str, value: String) {
        let v = || Some(toml::Value::String(value.clone()));
        match key {
            "data_dir" => self.data_dir = Some(value),
            "database_url" => self.database_url = Some(value),
            "bind" => self.bind = Some(value),
            "log" => self.log = Some(value),
            "page_title" => self.page_title = Some(value),
            "sqlite_synchronous" => self.sqlite_synchronous = Some(value),
            "epoch_max_answers" => self.epoch_max_answers = v(),
            "kdf_memory_mib" => self.kdf_memory_mib = v(),
            "kdf_iterations" => self.kdf_iterations = v(),
            "kdf_parallelism" => self.kdf_parallelism = v(),
            "password_memory_mib" => self.password_memory_mib = v(),
            "password_iterations" => self.password_iterations = v(),
            "public_url" => self.public_url = Some(value),
            "exit_url" => self.exit_url = Some(value),
            "organisation" => self.organisation = Some(value),
            "submit_limit_per_hour" => self.submit_limit_per_hour = v(),
            "submit_limit_global_per_minute" => self.submit_limit_global_per_minute = v(),
            "min_fill_seconds" => self.min_fill_seconds = v(),
            "trusted_proxy_header" => self.trusted_proxy_header = Some(value),
            "flood_alert_factor" => self.flood_alert_factor = v(),
            _ => unreachable!("keys are checked against KEYS"),
        }
    }

    fn build(self) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(self.data_dir.unwrap_or_else(|| "chorus-data".into()));
        let database_url = match self.database_url {
            Some(url) => {
                crate::store::Backend::from_url(&url).map_err(|e| bad("database_url", e.to_string()))?;
                DatabaseUrl::new(url)
            }
            None => DatabaseUrl::new(format!("sqlite://{}", data_dir.join("chorus.db").display())),
        };
        let bind = self.bind.unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() && !bind.contains(':') {
            return Err(bad("bind", format!("`{bind}` is not an address like 127.0.0.1:8080")));
        }
        let sqlite_synchronous = match self.sqlite_synchronous.as_deref().unwrap_or("full") {
            "full" => SqliteSync::Full,
            "normal" => SqliteSync::Normal,
            other => return Err(bad("sqlite_synchronous", format!("`{other}` is not `full` or `normal`"))),
        };
        let kdf = KdfCost {
            memory_kib: number("kdf_memory_mib", self.kdf_memory_mib, KdfCost::DEFAULT.memory_kib / 1024)? * 1024,
            iterations: number("kdf_iterations", self.kdf_iterations, KdfCost::DEFAULT.iterations)?,
            parallelism: number("kdf_parallelism", self.kdf_parallelism, KdfCost::DEFAULT.parallelism)?,
        };
        if !kdf.meets_floor() || kdf.parallelism == 0 {
            return Err(bad(
                "kdf_memory_mib",
                "the passphrase KDF may not be cheaper than RFC 9106's second setting (64 MiB, t=3)",
            ));
        }
        let password_memory_kib = number("password_memory_mib", self.password_memory_mib, 19)? * 1024;
        let password_iterations = number("password_iterations", self.password_iterations, 2)?;
        if password_memory_kib < 19 * 1024 || password_iterations < 2 {
            return Err(bad("password_memory_mib", "below OWASP's minimum for Argon2id (19 MiB, t=2)"));
        }
        let epoch_max_answers = u64::from(number("epoch_max_answers", self.epoch_max_answers, 10_000)?);
        if !(1..=10_000).contains(&epoch_max_answers) {
            return Err(bad("epoch_max_answers", "must be between 1 and 10000"));
        }
        let trusted_proxy_header = match self.trusted_proxy_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) if h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => Some(h.to_ascii_lowercase()),
            Some(h) => return Err(bad("trusted_proxy_header", format!("`{h}` is not a header name"))),
        };
        let exit_url = self.exit_url.unwrap_or_else(|| DEFAULT_EXIT_URL.into());
        if !exit_url.starts_with("https://") && !exit_url.starts_with("http://") {
            return Err(bad("exit_url", "must be an http(s) address"));
        }
        let page_title = self.page_title.unwrap_or_else(|| "Survey".into());
        if page_title.trim().is_empty() {
            return Err(bad("page_title", "may not be empty"));
        }
        Ok(Config {
            data_dir,
            database_url,
            bind,
            log: self.log.unwrap_or_else(|| "info".into()),
            page_title,
            sqlite_synchronous,
            epoch_max_answers,
            kdf,
            password_memory_kib,
            password_iterations,
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            exit_url,
            organisation: self.organisation.unwrap_or_else(|| "Chorus".into()),
            submit_limit_per_hour: number("submit_limit_per_hour", self.submit_limit_per_hour, 20)?,
            submit_limit_global_per_minute: number(
                "submit_limit_global_per_minute",
                self.submit_limit_global_per_minute,
                600,
            )?,
            min_fill_seconds: u64::from(number("min_fill_seconds", self.min_fill_seconds, 3)?),
            trusted_proxy_header,
            flood_alert_factor: number("flood_alert_factor", self.flood_alert_factor, 5)?.max(2),
        })
    }
}

fn number(key: &str, value: Option<toml::Value>, default: u32) -> Result<u32, ConfigError> {
    match value {
        None => Ok(default),
        Some(toml::Value::Integer(n)) => u32::try_from(n).map_err(|_| bad(key, format!("{n} is out of range"))),
        Some(toml::Value::String(s)) => s.trim().parse().map_err(|_| bad(key, format!("`{s}` is not a whole number"))),
        Some(other) => Err(bad(key, format!("`{other}` is not a whole number"))),
    }
}

impl Config {
    /// A configuration for tests: a given data folder and database, cheap key derivation.
    pub fn for_tests(data_dir: PathBuf, database_url: DatabaseUrl) -> Self {
        Config {
            data_dir,
            database_url,
            bind: "127.0.0.1:0".into(),
            log: "info".into(),
            page_title: "Survey".into(),
            sqlite_synchronous: SqliteSync::Full,
            epoch_max_answers: 10_000,
            kdf: KdfCost::TESTING,
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            public_url: None,
            exit_url: DEFAULT_EXIT_URL.into(),
            organisation: "Chorus test organisation".into(),
            // Tests that are not about flood defences switch them off; those that are switch them on.
            submit_limit_per_hour: 0,
            submit_limit_global_per_minute: 0,
            min_fill_seconds: 0,
            trusted_proxy_header: None,
            flood_alert_factor: 5,
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
    fn bad_values_are_named() {
        let e = Config::from_sources(None, &env(&[("CHORUS_KDF_ITERATIONS", "many")])).unwrap_err();
        assert!(e.to_string().contains("kdf_iterations"), "{e}");
        let e = Config::from_sources(None, &env(&[("CHORUS_DATABASE_URL", "mysql://x/y")])).unwrap_err();
        assert!(e.to_string().contains("database_url") && e.to_string().contains("mysql"), "{e}");
        let e = Config::from_sources(Some("kdf_memory_mib = 8"), &[]).unwrap_err();
        assert!(e.to_string().contains("kdf_memory_mib"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let c = Config::from_sources(Some("bind = \"127.0.0.1:1\""), &env(&[("CHORUS_BIND", "127.0.0.1:2")])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:2");
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
