//! /staff/keys: who holds a share of the report keys (names, when added, key fingerprints, k and
//! n), the ceremonies that change the sharing (add or remove a steward, a new threshold: each needs
//! k current stewards' passphrases, typed together), and a steward changing their own passphrase.
//! The work is `keyring::custody`'s, on the blocking pool; wrong passphrases count as at report runs.

use actix_web::{http::StatusCode, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AppState,
    auth::{AdminForm, Member, MemberForm},
    respond::{Fields, WebResult, html},
};
use crate::{
    keyring::{Keyring, KeyringError, NewSteward, Reshare},
    seal::{MAX_STEWARDS, SealError},
    staff::Staff,
    store::{DbConn, StoreError, keys},
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff/keys", web::get().to(page))
        .route("/staff/keys/add", web::post().to(add))
        .route("/staff/keys/remove", web::post().to(remove))
        .route("/staff/keys/threshold", web::post().to(threshold))
        .route("/staff/keys/passphrase", web::post().to(change_passphrase));
}

/// One steward as the page shows them: never a secret.
struct StewardView {
    name: String,
    added: String,
    /// The first 16 hex digits of the steward's public key: enough to tell keys apart.
    key: String,
}

#[derive(Template)]
#[template(path = "staff/keys.html")]
struct KeysPage {
    me: Staff,
    stewards: Vec<StewardView>,
    threshold: usize,
    legacy: bool,
    exists: bool,
    /// One field per current steward needed for a ceremony (1..=k).
    needed: Vec<usize>,
    error: Option<String>,
    notice: Option<String>,
}

async fn view(state: &web::Data<AppState>, me: Staff, error: Option<String>, notice: Option<String>) -> WebResult {
    let (rows, custody) =
        state.store.run(|c| -> Result<_, KeyringError> { Ok((keys::stewards(c)?, Keyring::custody(c)?)) }).await?;
    let stewards = rows
        .into_iter()
        .map(|r| StewardView {
            added: crate::month::date(r.created_at),
            key: hex::encode(&r.public_key[..r.public_key.len().min(8)]),
            name: r.name,
        })
        .collect();
    let (exists, threshold, legacy) = custody.map_or((false, 1, false), |c| (true, c.threshold, c.legacy));
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let needed = (1..=threshold).collect();
    html(status, KeysPage { me, stewards, threshold, legacy, exists, needed, error, notice })
}

async fn page(state: web::Data<AppState>, Member(me): Member) -> WebResult {
    view(&state, me, None, None).await
}

/// The current stewards' passphrases typed at a ceremony (`current_1` … `current_k`).
fn current(fields: &Fields) -> Vec<SecretString> {
    (1..=MAX_STEWARDS)
        .map(|i| fields.get(&format!("current_{i}")))
        .filter(|p| !p.is_empty())
        .map(SecretString::from)
        .collect()
}

/// A new passphrase typed twice.
fn new_passphrase(fields: &Fields) -> Result<SecretString, String> {
    let (new, again) = (fields.get("new_passphrase"), fields.get("new_passphrase_again"));
    if new != again {
        return Err("The two new passphrases differ.".into());
    }
    Ok(SecretString::from(new))
}

/// Run a change of custody off the async threads, refusing a throttled account before any
/// derivation and counting a wrong passphrase; audited with `action` when it succeeds.
async fn guarded(
    state: &web::Data<AppState>,
    me: Staff,
    action: &'static str,
    change: impl FnOnce(&mut DbConn, &Keyring) -> Result<String, KeyringError> + Send + 'static,
) -> WebResult {
    let st = state.clone().into_inner();
    let actor = me.name.clone();
    let outcome = state
        .store
        .run(move |c| -> Result<_, StoreError> {
            if let Err(too_many) = st.passphrase_tries.check(&actor) {
                st.accounts.audit(c, &actor, "passphrase_throttled", action)?;
                return Ok(Err(too_many.to_string()));
            }
            match change(c, &st.intake.keyring) {
                Ok(target) => {
                    st.accounts.audit(c, &actor, action, &target)?;
                    Ok(Ok(target))
                }
                Err(KeyringError::Store(e)) => Err(e),
                Err(e) => {
                    if matches!(e, KeyringError::Seal(SealError::WrongPassphrase)) {
                        st.passphrase_tries.failed(&actor);
                        st.accounts.audit(c, &actor, "passphrase_failed", action)?;
                    }
                    Ok(Err(e.to_string()))
                }
            }
        })
        .await?;
    match outcome {
        Ok(done) => view(state, me, None, Some(format!("Done: {done}."))).await,
        Err(message) => view(state, me, Some(message), None).await,
    }
}

fn summary(c: &crate::keyring::Custody) -> String {
    format!("{} of {} stewards ({}) open the answers", c.threshold, c.stewards.len(), c.stewards.join(", "))
}

async fn add(state: web::Data<AppState>, form: AdminForm) -> WebResult {
    let name = form.fields.get("name").trim().to_owned();
    let new = match new_passphrase(&form.fields) {
        Ok(p) => p,
        Err(e) => return view(&state, form.me, Some(e), None).await,
    };
    let passes = current(&form.fields);
    guarded(&state, form.me, "steward_add", move |c, keyring| {
        let change = Reshare { add: vec![NewSteward { name: name.clone(), passphrase: new }], ..Reshare::default() };
        Ok(format!("{name}: now {}", summary(&keyring.reshare(c, &passes, &change)?)))
    })
    .await
}

async fn remove(state: web::Data<AppState>, form: AdminForm) -> WebResult {
    let name = form.fields.get("name");
    let passes = current(&form.fields);
    guarded(&state, form.me, "steward_remove", move |c, keyring| {
        let change = Reshare { remove: vec![name.clone()], ..Reshare::default() };
        Ok(format!("{name}: now {}", summary(&keyring.reshare(c, &passes, &change)?)))
    })
    .await
}

async fn threshold(state: web::Data<AppState>, form: AdminForm) -> WebResult {
    let Ok(k) = form.fields.get("threshold").trim().parse::<usize>() else {
        return view(&state, form.me, Some("The number of stewards needed must be a whole number.".into()), None).await;
    };
    let passes = current(&form.fields);
    guarded(&state, form.me, "keys_reshare", move |c, keyring| {
        let change = Reshare { threshold: Some(k), ..Reshare::default() };
        Ok(summary(&keyring.reshare(c, &passes, &change)?))
    })
    .await
}

/// A steward re-seals their own share under a new passphrase; the others' are untouched.
async fn change_passphrase(state: web::Data<AppState>, form: MemberForm) -> WebResult {
    let steward = Some(form.fields.get("steward")).filter(|s| !s.is_empty());
    let old = SecretString::from(form.fields.get("old_passphrase"));
    let new = match new_passphrase(&form.fields) {
        Ok(p) => p,
        Err(e) => return view(&state, form.me, Some(e), None).await,
    };
    if new.expose_secret() == old.expose_secret() {
        return view(&state, form.me, Some("The new passphrase is the old one.".into()), None).await;
    }
    guarded(&state, form.me, "keys_change_passphrase", move |c, keyring| {
        let name = keyring.change_steward_passphrase(c, steward.as_deref(), &old, &new)?;
        Ok(format!("steward {name}"))
    })
    .await
}
