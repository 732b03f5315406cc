//! `chorus init` and `chorus user`: staff accounts from the console.

use std::path::PathBuf;

use anyhow::bail;

use super::{Console, UserCommand, new_password};
use crate::{
    keyring::Keyring,
    staff::{Role, StaffError},
    store::staff as staff_store,
    telemetry::say,
};

/// First run without a browser: the first admin and the report key, in one step.
pub(super) fn init(
    console: &Console,
    admin: Option<String>,
    password_file: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut conn = console.conn()?;
    if staff_store::any_admin(&mut conn)? {
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
    crate::staff::create_first_admin(
        &console.accounts,
        &console.keyring,
        &mut conn,
        &admin,
        &password,
        Some(&passphrase),
    )?;
    say(format!("Admin {admin} and the report key are ready. Start the service with `chorus serve`."));
    Ok(())
}

pub(super) fn run(console: &Console, command: UserCommand) -> anyhow::Result<()> {
    let accounts = &console.accounts;
    let mut conn = console.conn()?;
    match command {
        UserCommand::Add { name, role, password_file } => {
            let role = Role::parse(&role).ok_or(StaffError::BadRole)?;
            let password = new_password(password_file.as_ref(), "Password (12+ characters)")?;
            accounts.add_user(&mut conn, &name, role, &password)?;
            console.audit(&mut conn, "user_add", &format!("{name} ({role})"))?;
            say(format!("Added {name} ({role})."));
        }
        UserCommand::List => {
            say("name\trole\tstate");
            for u in staff_store::users(&mut conn)? {
                say(format!("{}\t{}\t{}", u.name, u.role, if u.disabled { "disabled" } else { "active" }));
            }
        }
        UserCommand::Disable { name } => {
            accounts.set_disabled(&mut conn, &name, true)?;
            console.audit(&mut conn, "user_disable", &name)?;
            say(format!("Disabled {name}; their sessions have ended."));
        }
        UserCommand::ResetPassword { name, password_file } => {
            let password = new_password(password_file.as_ref(), "New password (12+ characters)")?;
            accounts.reset_password(&mut conn, &name, &password)?;
            console.audit(&mut conn, "user_reset_password", &name)?;
            say(format!("New password set for {name}; their sessions have ended."));
        }
    }
    Ok(())
}
