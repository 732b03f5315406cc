//! Running the `chorus` binary as an operator would, in a folder of the test's own.

use std::{path::Path, process::Command};

/// `chorus` in `dir`, with none of this process's `CHORUS_*` settings (a test sets what it needs).
pub fn chorus(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHORUS_")) {
        cmd.env_remove(k);
    }
    cmd
}
