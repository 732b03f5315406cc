//! `chorus keys`: the report key that seals answers, and the stewards who hold it k-of-n.

use anyhow::bail;

use super::{Console, KeysCommand, new_password, passphrase, steward_passphrases};
use crate::{
    keyring::{Custody, Keyring, NewSteward, Reshare},
    telemetry::say,
};

pub(super) fn run(console: &Console, command: KeysCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let keyring = &console.keyring;
    match command {
        KeysCommand::Init { stewards, threshold, names, passphrase_file } => {
            let n = stewards.unwrap_or(passphrase_file.len().max(1));
            let k = threshold.unwrap_or(1);
            if !passphrase_file.is_empty() && passphrase_file.len() != n {
                bail!("--stewards {n} needs {n} --passphrase-file (one per steward); {} given", passphrase_file.len());
            }
            if !names.is_empty() && names.len() != n {
                bail!("--names gives {} names for {n} stewards", names.len());
            }
            let mut new = Vec::with_capacity(n);
            for i in 0..n {
                let name = names.get(i).cloned().unwrap_or_else(|| format!("steward-{}", i + 1));
                let pass = new_password(passphrase_file.get(i), &format!("Passphrase of {name}"))?;
                new.push(NewSteward { name, passphrase: pass });
            }
            let id = keyring.init_custody(&mut conn, &new, k)?;
            console.audit(&mut conn, "keys_init", &format!("{id}: {k} of {n} stewards"))?;
            crate::report::signing::ensure_key(&mut conn, &crate::month::today())?;
            say(format!(
                "Report key {id} created, held by {n} stewards; {k} of them open the answers. Answers can now be accepted; each steward keeps their passphrase safe — without {k} of them no report can be made."
            ));
            warn_single(k);
        }
        KeysCommand::ChangePassphrase { steward, passphrase_file, new_passphrase_file } => {
            let old = passphrase(passphrase_file.as_ref(), "Current passphrase: ")?;
            let new = new_password(new_passphrase_file.as_ref(), "New passphrase")?;
            if Keyring::custody(&mut conn)?.is_some_and(|c| !c.legacy) {
                let name = keyring.change_steward_passphrase(&mut conn, steward.as_deref(), &old, &new)?;
                console.audit(&mut conn, "keys_change_passphrase", &format!("steward {name}"))?;
                say(format!(
                    "The share of {name} is now sealed under the new passphrase; the other stewards' are untouched."
                ));
            } else {
                keyring.change_passphrase(&mut conn, &old, &new)?;
                console.audit(&mut conn, "keys_change_passphrase", "all report keys")?;
                say("The report keys are now sealed under the new passphrase.");
            }
        }
        KeysCommand::Rotate { passphrase_file } => {
            let passes = steward_passphrases(&mut conn, &passphrase_file)?;
            let id = keyring.rotate_with(&mut conn, &passes)?;
            console.audit(&mut conn, "keys_rotate", &id)?;
            say(format!(
                "New report key {id} is active; a running server starts using it at its next epoch or restart."
            ));
        }
        KeysCommand::Stewards => match Keyring::custody(&mut conn)? {
            None => say("No report key exists yet."),
            Some(c) if c.legacy => say(
                "The report keys are sealed under one passphrase (made before custody); `chorus keys reshare` converts them to stewards.",
            ),
            Some(c) => {
                say(format!("{} of {} stewards open the answers:", c.threshold, c.stewards.len()));
                for name in &c.stewards {
                    say(format!("  {name}"));
                }
                warn_single(c.threshold);
            }
        },
        KeysCommand::AddSteward { name, new_passphrase_file, threshold, passphrase_file } => {
            let new = new_password(new_passphrase_file.as_ref(), &format!("Passphrase of {name}"))?;
            let passes = steward_passphrases(&mut conn, &passphrase_file)?;
            let change =
                Reshare { threshold, add: vec![NewSteward { name: name.clone(), passphrase: new }], remove: vec![] };
            let c = keyring.reshare(&mut conn, &passes, &change)?;
            console.audit(&mut conn, "steward_add", &format!("{name}: now {}", summary(&c)))?;
            say(format!(
                "{name} is a steward; {}. Every steward's share is new; their passphrases are unchanged.",
                summary(&c)
            ));
            warn_single(c.threshold);
        }
        KeysCommand::RemoveSteward { name, threshold, passphrase_file } => {
            let passes = steward_passphrases(&mut conn, &passphrase_file)?;
            let change = Reshare { threshold, add: vec![], remove: vec![name.clone()] };
            let c = keyring.reshare(&mut conn, &passes, &change)?;
            console.audit(&mut conn, "steward_remove", &format!("{name}: now {}", summary(&c)))?;
            say(format!(
                "{name} is no longer a steward; {}. The unseal key is new: {name}'s passphrase and share open nothing in this database (backups made before keep the old sharing).",
                summary(&c)
            ));
            warn_single(c.threshold);
        }
        KeysCommand::Reshare { threshold, passphrase_file } => {
            let passes = steward_passphrases(&mut conn, &passphrase_file)?;
            let c = keyring.reshare(&mut conn, &passes, &Reshare { threshold, ..Reshare::default() })?;
            console.audit(&mut conn, "keys_reshare", &summary(&c))?;
            say(format!("A new unseal key is shared: {}.", summary(&c)));
            warn_single(c.threshold);
        }
        KeysCommand::RotateSigningKey { import } => {
            let imported = match import {
                Some(path) => {
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("could not read {}: {e}", path.display()))?;
                    Some(crate::seal::SigningKey::from_openssh(&pem)?)
                }
                None => None,
            };
            let id = crate::report::signing::rotate(&mut conn, imported, &crate::month::today())?;
            console.audit(&mut conn, "signing_key_rotate", &id)?;
            say(format!(
                "Release-signing key {id} is active; the previous public key stays listed at /reports/signing-key."
            ));
        }
        KeysCommand::GeneratePassphrase => unreachable!("answered before the configuration is read"),
    }
    Ok(())
}

fn summary(c: &Custody) -> String {
    format!("{} of {} stewards ({}) open the answers", c.threshold, c.stewards.len(), c.stewards.join(", "))
}

fn warn_single(k: usize) {
    if k == 1 {
        eprintln!(
            "warning: one steward alone opens every answer (k = 1). Anyone who obtains one passphrase, by order or by threat, can read them; consider `chorus keys add-steward` and `chorus keys reshare --threshold 2`."
        );
    }
}
