//! `chorus dev`: synthetic answers for development and the benchmark, and the decrypt-only loop.

use anyhow::{Context, bail};

use super::{Console, DevCommand, steward_passphrases};
use crate::{
    intake,
    keyring::Keyring,
    month::Month,
    store::{
        responses,
        surveys::{self, SurveyStatus},
    },
    survey::Surveys,
    telemetry::say,
};

pub(super) fn run(console: &Console, command: DevCommand) -> anyhow::Result<()> {
    match command {
        DevCommand::Seed { slug, count, force } => seed(console, &slug, count, force),
        DevCommand::OpenAll { slug, passphrase_file } => {
            let mut conn = console.conn()?;
            let passes = steward_passphrases(&mut conn, &passphrase_file)?;
            let started = std::time::Instant::now();
            let mut unsealed = Keyring::unseal_with(&mut conn, &passes)?;
            // The same reading and opening threads as a release, without decoding or tallying.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let (n, bytes) = unsealed.open_in_parallel(
                &mut conn,
                &slug,
                Month::now(),
                &[],
                threads,
                |_| {},
                || 0usize,
                |bytes, a| *bytes += a.plaintext.payload().len(),
                None,
            )?;
            let bytes: usize = bytes.iter().sum();
            eprintln!(
                "opened {} answers ({bytes} payload bytes) in {:.2} s; {} failed to open, {} under the old associated data",
                n.opened,
                started.elapsed().as_secs_f64(),
                n.failed,
                n.legacy
            );
            Ok(())
        }
    }
}

/// Write synthetic answer sets through the normal sealing path, marked synthetic.
fn seed(console: &Console, slug: &str, count: u64, force: bool) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let (survey, _) = Surveys::default().current(&mut conn, slug)?.with_context(|| format!("no survey `{slug}`"))?;
    let row = surveys::get(&mut conn, slug)?.with_context(|| format!("no survey `{slug}`"))?;
    if row.status != SurveyStatus::Draft && !row.testing {
        bail!(
            "{slug} is {} and not marked for testing: synthetic answers go only into drafts or surveys marked with `chorus survey testing {slug}`",
            row.status
        );
    }
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
        intake::store_synthetic(&console.keyring, &mut conn, &survey, &batch)?;
        bar.inc(n);
        left -= n;
    }
    bar.finish();
    console.audit(&mut conn, "dev_seed", &format!("{slug}: {count} synthetic responses"))?;
    say(format!("Seeded {count} synthetic responses into {slug}."));
    Ok(())
}
