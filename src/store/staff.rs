//! Staff accounts, sessions and the audit trail.

use diesel::prelude::*;

use super::{
    DbConn, StoreError,
    schema::{audit_log, staff_sessions, staff_users},
};

text_enum! {
    /// What a staff member may do: admins manage accounts and publications; researchers run reports.
    Role { Admin = "admin", Researcher = "researcher" }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_users)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_sessions)]
pub struct SessionRow {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen: i64,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

pub fn user_by_name(conn: &mut DbConn, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(staff_users::table.filter(staff_users::name.eq(name)).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn user_by_id(conn: &mut DbConn, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(staff_users::table.find(id).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn users(conn: &mut DbConn) -> Result<Vec<UserRow>, StoreError> {
    Ok(staff_users::table.select(UserRow::as_select()).order(staff_users::name).load(conn)?)
}

pub fn any_admin(conn: &mut DbConn) -> Result<bool, StoreError> {
    let n: i64 = staff_users::table.filter(staff_users::role.eq(Role::Admin.as_str())).count().get_result(conn)?;
    Ok(n > 0)
}

pub fn insert_user(conn: &mut DbConn, row: &UserRow) -> Result<bool, StoreError> {
    match diesel::insert_into(staff_users::table).values(row.clone()).execute(conn) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn set_disabled(conn: &mut DbConn, id: &str, disabled: bool) -> Result<(), StoreError> {
    diesel::update(staff_users::table.find(id)).set(staff_users::disabled.eq(disabled)).execute(conn)?;
    if disabled {
        diesel::delete(staff_sessions::table.filter(staff_sessions::user_id.eq(id))).execute(conn)?;
    }
    Ok(())
}

pub fn set_password(conn: &mut DbConn, id: &str, hash: &str) -> Result<(), StoreError> {
    diesel::update(staff_users::table.find(id))
        .set((
            staff_users::password_hash.eq(hash),
            staff_users::failed_logins.eq(0),
            staff_users::locked_until.eq(None::<i64>),
        ))
        .execute(conn)?;
    diesel::delete(staff_sessions::table.filter(staff_sessions::user_id.eq(id))).execute(conn)?;
    Ok(())
}

/// Count one more sign-in attempt against an account *before* its password is checked, and read the
/// account back: the increment is a single `UPDATE … SET failed_logins = failed_logins + 1`, and the
/// read is in the same transaction, behind the row's write lock, so parallel attempts each see their
/// own count (no read-then-write race). An unknown name updates nothing and reads nothing.
pub fn count_attempt(conn: &mut DbConn, name: &str) -> Result<Option<UserRow>, StoreError> {
    conn.write_transaction(|conn| {
        diesel::update(staff_users::table.filter(staff_users::name.eq(name)))
            .set(staff_users::failed_logins.eq(staff_users::failed_logins + 1))
            .execute(conn)?;
        staff_users::table.filter(staff_users::name.eq(name)).select(UserRow::as_select()).first(conn).optional()
    })
    .map_err(StoreError::from)
}

/// After a refused attempt: lock the account until `until`, unless it is already locked for longer
/// (the lock only ever moves later, whatever order parallel attempts finish in).
pub fn lock_until(conn: &mut DbConn, id: &str, until: i64) -> Result<(), StoreError> {
    diesel::update(
        staff_users::table.find(id).filter(staff_users::locked_until.is_null().or(staff_users::locked_until.lt(until))),
    )
    .set(staff_users::locked_until.eq(until))
    .execute(conn)?;
    Ok(())
}

/// After a good password: the failure count and any lock cleared.
pub fn clear_failures(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    diesel::update(staff_users::table.find(id))
        .set((staff_users::failed_logins.eq(0), staff_users::locked_until.eq(None::<i64>)))
        .execute(conn)?;
    Ok(())
}

pub fn insert_session(conn: &mut DbConn, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(staff_sessions::table).values(row).execute(conn)?;
    Ok(())
}

pub fn session(conn: &mut DbConn, token_hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
    Ok(staff_sessions::table.find(token_hash).select(SessionRow::as_select()).first(conn).optional()?)
}

pub fn touch_session(conn: &mut DbConn, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
    diesel::update(staff_sessions::table.find(token_hash)).set(staff_sessions::last_seen.eq(now)).execute(conn)?;
    Ok(())
}

pub fn delete_session(conn: &mut DbConn, token_hash: &[u8]) -> Result<(), StoreError> {
    diesel::delete(staff_sessions::table.find(token_hash)).execute(conn)?;
    Ok(())
}

/// Remove sessions past their idle or absolute limit.
pub fn delete_expired_sessions(conn: &mut DbConn, idle_before: i64, created_before: i64) -> Result<(), StoreError> {
    diesel::delete(
        staff_sessions::table
            .filter(staff_sessions::last_seen.lt(idle_before).or(staff_sessions::created_at.lt(created_before))),
    )
    .execute(conn)?;
    Ok(())
}

pub fn audit(conn: &mut DbConn, row: &AuditRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table).values(row).execute(conn)?;
    Ok(())
}

/// Audit entries, newest first, optionally only one actor's or one action's, from `offset` on: every
/// entry stays reachable by paging or filtering, however many come after it.
pub fn audit_page(
    conn: &mut DbConn,
    actor: Option<&str>,
    action: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = audit_log::table.into_boxed();
    if let Some(actor) = actor {
        query = query.filter(audit_log::actor.eq(actor.to_owned()));
    }
    if let Some(action) = action {
        query = query.filter(audit_log::action.eq(action.to_owned()));
    }
    Ok(query
        .order((audit_log::at.desc(), audit_log::id))
        .offset(offset)
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}
