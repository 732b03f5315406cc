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
        KeysCommand::GeneratePassphrase => unreachable!("answered before the configuration is read"),
    }
    Ok(())
}
