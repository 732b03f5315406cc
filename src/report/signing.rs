//! Signing releases: the organisation's Ed25519 key is made when the report key is (or at the next
//! start), sealed to the report public key, and opened only inside a release run to sign that
//! release's English JSON and CSV. Public keys are listed with the days they were valid.

use crate::{
    keyring::{KeyringError, Unsealed},
    seal::{SealError, SigningKey, random_id},
    store::{
        DbConn, StoreError, keys,
        signing_keys::{self, SigningKeyRow},
    },
};

/// Make the signing key if none is active and a report key exists (no passphrase needed: only the
/// report public key is used). Returns whether one was made.
pub fn ensure_key(conn: &mut DbConn, today: &str) -> Result<bool, KeyringError> {
    if signing_keys::active(conn)?.is_some() {
        return Ok(false);
    }
    let Some(report) = keys::active_report_key(conn)? else { return Ok(false) };
    install(conn, &SigningKey::generate(), &report, today)?;
    Ok(true)
}

/// Replace the active signing key with a new one (or an imported OpenSSH Ed25519 key); the old
/// public key stays listed, valid until today.
pub fn rotate(conn: &mut DbConn, imported: Option<SigningKey>, today: &str) -> Result<String, KeyringError> {
    let report = keys::active_report_key(conn)?.ok_or(KeyringError::NoKey)?;
    install(conn, &imported.unwrap_or_else(SigningKey::generate), &report, today)
}

fn install(
    conn: &mut DbConn,
    key: &SigningKey,
    report: &keys::ReportKeyRow,
    today: &str,
) -> Result<String, KeyringError> {
    let id = random_id();
    let public: [u8; 32] =
        report.public_key.as_slice().try_into().map_err(|_| SealError::Format("public key length"))?;
    let row = SigningKeyRow {
        public_key: key.public_openssh(&format!("chorus-release-{}", &id[..8]))?,
        report_key_id: report.id.clone(),
        wrapped_key: key.wrap(&public, &id)?,
        valid_from: today.to_owned(),
        valid_until: None,
        active: true,
        id: id.clone(),
    };
    signing_keys::replace_active(conn, &row, today)?;
    Ok(id)
}

/// The active signing key, opened with the run's report keys: (key id, key).
pub fn open_active(conn: &mut DbConn, unsealed: &Unsealed) -> Result<Option<(String, SigningKey)>, KeyringError> {
    let Some(row) = signing_keys::active(conn)? else { return Ok(None) };
    let private =
        unsealed.report_key(&row.report_key_id).ok_or(SealError::Format("signing key names an unknown report key"))?;
    Ok(Some((row.id.clone(), SigningKey::unwrap(private, &row.wrapped_key, &row.id)?)))
}

/// Every signing key's public half, oldest first.
pub fn public_keys(conn: &mut DbConn) -> Result<Vec<SigningKeyRow>, StoreError> {
    signing_keys::all(conn)
}
