//! Publishing and retracting snapshots: the only status changes a snapshot ever sees. Both are
//! audited in the same transaction as the change.

pub use crate::store::snapshots::SnapshotStatus;
use crate::{
    staff::Accounts,
    store::{DbConn, StoreError, snapshots},
};

#[derive(Debug, thiserror::Error)]
pub enum PublicationError {
    #[error("No such snapshot.")]
    NotFound,
    #[error("A snapshot that includes synthetic responses can never be published.")]
    Synthetic,
    #[error("That change is not possible from the snapshot's current status ({0}).")]
    NotAllowed(SnapshotStatus),
    #[error("A retraction needs a reason (1 to 500 characters); readers of the retracted report will see it.")]
    NoReason,
    #[error("The replacement must be another published release of the same survey.")]
    BadReplacement,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for PublicationError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What a status change carries: a retraction's reason and replacement, a publication's headline
/// figures for the fact sheet (`[table, row]` pairs of released one-way tables).
#[derive(Debug, Default)]
pub struct Notes {
    pub reason: Option<String>,
    pub replaced_by: Option<String>,
    pub headlines: Vec<(String, String)>,
}

/// Publish a private snapshot (`to = Published`) or retract a published one (`to = Retracted`).
/// `today` is the `YYYY-MM-DD` stamped on it.
pub fn change_status(
    conn: &mut DbConn,
    accounts: &Accounts,
    actor: &str,
    id: &str,
    to: SnapshotStatus,
    today: &str,
    notes: &Notes,
) -> Result<(), PublicationError> {
    let reason = notes.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if to == SnapshotStatus::Retracted && reason.is_none_or(|r| r.chars().count() > 500) {
        return Err(PublicationError::NoReason);
    }
    conn.write_transaction(|conn| {
        snapshots::lock_for_write(conn)?;
        let row = snapshots::get(conn, id)?.ok_or(PublicationError::NotFound)?;
        let replaced_by = notes.replaced_by.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if let Some(next) = replaced_by {
            let next = snapshots::get(conn, next)?.ok_or(PublicationError::BadReplacement)?;
            if next.id == row.id || next.survey_slug != row.survey_slug || next.status != SnapshotStatus::Published {
                return Err(PublicationError::BadReplacement);
            }
        }
        let from = match to {
            SnapshotStatus::Published if row.synthetic => return Err(PublicationError::Synthetic),
            SnapshotStatus::Published => SnapshotStatus::Private,
            SnapshotStatus::Retracted => SnapshotStatus::Published,
            SnapshotStatus::Private => return Err(PublicationError::NotAllowed(row.status)),
        };
        if row.status != from || !snapshots::set_status(conn, id, from, to, today)? {
            return Err(PublicationError::NotAllowed(row.status));
        }
        let headlines = (to == SnapshotStatus::Published)
            .then(|| serde_json::to_string(&notes.headlines).unwrap_or_else(|_| "[]".into()));
        snapshots::set_notes(conn, id, reason, replaced_by, headlines.as_deref())?;
        let action = if to == SnapshotStatus::Published { "publish" } else { "retract" };
        accounts.audit(conn, actor, action, &format!("{} through {} ({id})", row.survey_slug, row.through_month))?;
        Ok(())
    })
}
