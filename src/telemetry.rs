//! Logging. The request log holds method, matched route pattern, status and latency only — never an
//! address, a header, a query string or a body (docs/privacy.md). Lines carry no timestamp: a
//! to-the-second time of a submission could be matched against a network operator's records.

use std::io::Write;

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Install the global subscriber writing to `writer`. Returns false if one was already installed.
pub fn init<W>(filter: &str, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let mut env_filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // actix-http's HTTP/1 dispatcher logs a client's malformed request ("request parse error:
    // invalid Header provided") at ERROR, which `warn` would keep: a stranger could fill the log and
    // page the operator. Such a request gets its 400 without reaching Chorus, so nothing is lost by
    // silencing that target, unless the filter names actix_http itself.
    if !filter.contains("actix_http") {
        env_filter = env_filter.add_directive("actix_http::h1::dispatcher=off".parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .without_time()
        .with_target(true)
        .with_ansi(false)
        .with_writer(writer)
        .try_init()
        .is_ok()
}

pub fn init_stderr(filter: &str) {
    init(filter, std::io::stderr);
}

/// Print a line meant for the person at the terminal (not a log record).
pub fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    // A closed terminal is no reason to fail a command that has done its work.
    drop(writeln!(out, "{}", line.as_ref()));
}
