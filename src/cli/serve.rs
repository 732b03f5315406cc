//! `chorus serve`: the web service, until Ctrl-C.

use std::io::IsTerminal;

use anyhow::Context;
use secrecy::ExposeSecret;

use super::Console;
use crate::{
    app::Application,
    config::Config,
    intake,
    keyring::{Keyring, KeyringError},
    store::scrub,
    telemetry::say,
};

pub(super) fn serve(config: Config) -> anyhow::Result<()> {
    let rt = actix_web::rt::System::new();
    rt.block_on(async move {
        let bind = config.bind.clone();
        let app = Application::build(config)?;
        let has_key = app.state.store.run(|c| -> Result<bool, KeyringError> { Keyring::has_key(c) }).await?;
        let host = bind.rsplit_once(':').map_or(bind.as_str(), |(h, _)| h);
        let host = if host == "0.0.0.0" || host == "[::]" { "127.0.0.1" } else { host };
        say(format!("Chorus is listening on http://{host}:{}/", app.port));
        // Citations and fact sheets name these; without them a citation has no address and names
        // the software as the publisher.
        if app.state.config.public_url.is_none() {
            tracing::warn!("public_url is not set: citation lines and fact sheets will carry no web address");
        }
        if app.state.config.organisation == crate::config::DEFAULT_ORGANISATION {
            tracing::warn!("organisation is not set: citation lines will name the software, not your organisation");
        }
        let setup = app
            .state
            .setup_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|t| t.expose_secret().to_owned());
        if let Some(token) = setup {
            let link = format!("http://{host}:{}/setup", app.port);
            if std::io::stdout().is_terminal() {
                say(format!(
                    "No admin exists yet. Finish setup in your browser at\n\n    {link}\n\nwith this one-time setup code (it works once, until this process ends):\n\n    {token}\n"
                ));
            } else {
                // A log collector would keep the code: write it where only this account can read it.
                let path = crate::app::write_setup_file(&app.state.config, &token)
                    .context("could not write the setup-code file")?;
                tracing::warn!(
                    file = %path.display(),
                    "no admin exists yet: open {link} and enter the one-time setup code from this file"
                );
            }
        } else if !has_key {
            say("No report key exists yet, so answers cannot be accepted. Create one with `chorus keys init`.");
        }
        let handle = app.server.handle();
        actix_web::rt::spawn(async move {
            if let Err(e) = actix_web::rt::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C; stopping");
            }
            handle.stop(true).await;
        });
        let served = app.server.await.context("server error");
        // At shutdown: spend waiting outreach codes, write this month's totals, scrub arrival order.
        crate::app::scrub_and_flush(&app.state, true).await;
        served
    })
}

/// `chorus scrub`: the same rewrite the service runs, from this process. A running service's writer
/// waits on the database lock meanwhile; outreach codes it holds pending are spent by its own next
/// scrub, not here (they live in its memory).
pub(super) fn scrub(console: &Console, full: bool, vacuum: bool) -> anyhow::Result<()> {
    let mut conn = console.store.dedicated()?;
    scrub::wait_for_locks(&mut conn)?;
    // Audited first, so the audit row's write is checkpointed out of the -wal with the rest.
    console.audit(
        &mut conn,
        "scrub",
        if vacuum {
            "vacuum"
        } else if full {
            "all"
        } else {
            "recent months"
        },
    )?;
    let started = std::time::Instant::now();
    let scope = if vacuum { scrub::Scope::Full } else { intake::scrub_scope(full) };
    let report = scrub::scrub(&mut conn, scope, intake::writer::SCRUB_CHUNK_ROWS, &mut |_| Ok(()), &mut |_| {})?;
    let took = started.elapsed();
    say(format!(
        "Scrubbed: {} answers rewritten in {:.2} s{}.",
        report.answers_rewritten,
        took.as_secs_f64(),
        if report.wal_emptied { "" } else { "; the -wal file was in use and is emptied at the next scrub" }
    ));
    Ok(())
}
