//! Publishing and retracting snapshots: the only status changes a snapshot ever sees. Both are
//! audited in the same transaction as the change.

use diesel::Connection;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for PublicationError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Publish a private snapshot (`to = Published`) or retract a published one (`to = Retracted`).
/// `today` is the `YYYY-MM-DD` stamped on it. Returns the survey and month for the caller's message.
pub fn change_status(
    conn: &mut DbConn,
    accounts: &Accounts,
    actor: &str,
    id: &str,
    to: SnapshotStatus,
    today: &str,
) -> Result<(), PublicationError> {
    conn.transaction(|conn| {
        let row = snapshots::get(conn, id)?.ok_or(PublicationError::NotFound)?;
        let from = match to {
            SnapshotStatus::Published if row.synthetic => return Err(PublicationError::Synthetic),
            SnapshotStatus::Published => SnapshotStatus::Private,
            SnapshotStatus::Retracted => SnapshotStatus::Published,
            SnapshotStatus::Private => return Err(PublicationError::NotAllowed(row.status)),
        };
        if row.status != from || !snapshots::set_status(conn, id, from, to, today)? {
            return Err(PublicationError::NotAllowed(row.status));
        }
        let action = if to == SnapshotStatus::Published { "publish" } else { "retract" };
        accounts.audit(conn, actor, action, &format!("{} through {} ({id})", row.survey_slug, row.through_month))?;
        Ok(())
    })
}
