//! `chorus keys`: the report key that seals answers.

use super::{Console, KeysCommand, new_password, passphrase};
use crate::telemetry::say;

pub(super) fn run(console: &Console, command: KeysCommand) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    let keyring = &console.keyring;
    match command {
        KeysCommand::Init { passphrase_file } => {
            let pass = new_password(passphrase_file.as_ref(), "Steward passphrase")?;
            let id = keyring.init(&mut conn, &pass)?;
            console.audit(&mut conn, "keys_init", &id)?;
            crate::report::signing::ensure_key(&mut conn, &crate::month::today())?;
            say(format!(
                "Report key {id} created. Answers can now be accepted; keep the passphrase safe — without it no report can be made."
            ));
        }
        KeysCommand::ChangePassphrase { passphrase_file, new_passphrase_file } => {
            let old = passphrase(passphrase_file.as_ref(), "Current passphrase: ")?;
            let new = new_password(new_passphrase_file.as_ref(), "New passphrase")?;
            keyring.change_passphrase(&mut conn, &old, &new)?;
            console.audit(&mut conn, "keys_change_passphrase", "all report keys")?;
            say("The report keys are now sealed under the new passphrase.");
        }
        KeysCommand::Rotate { passphrase_file } => {
            let pass = passphrase(passphrase_file.as_ref(), "Steward passphrase: ")?;
            let id = keyring.rotate(&mut conn, &pass)?;
            console.audit(&mut conn, "keys_rotate", &id)?;
            say(format!(
                "New report key {id} is active; a running server starts using it at its next epoch or restart."
            ));
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
