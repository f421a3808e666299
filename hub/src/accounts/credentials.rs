//! Password hashing off the async runtime, and second-factor checks.

use zeroize::Zeroizing;

use crate::{
    auth::{password, totp},
    crypto::Sealed,
    error::{Error, Result},
    state::AppState,
    store::{Conn, mfa},
};

/// argon2id is deliberately slow (tens of milliseconds of CPU and 19 MiB): run it
/// on the blocking pool so it never stalls other connections' tasks.
pub(crate) async fn hash_password(plain: &str) -> Result<String> {
    let plain = Zeroizing::new(plain.to_owned());
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

pub(super) async fn verify_password(plain: &str, phc: &str) -> Result<bool> {
    let plain = Zeroizing::new(plain.to_owned());
    let phc = phc.to_owned();
    tokio::task::spawn_blocking(move || password::verify(&plain, &phc))
        .await
        .map_err(Error::internal)
}

/// The associated data binding a sealed TOTP secret to its user's row.
pub(super) fn totp_aad(user_id: &str) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

pub(super) fn open_totp_secret(
    state: &AppState,
    user_id: &str,
    row: &mfa::TotpRow,
) -> Result<totp::TotpSecret> {
    let sealed = Sealed {
        key_id: row.key_id.clone(),
        ciphertext: row.secret_sealed.clone(),
    };
    let bytes = Zeroizing::new(
        state
            .keyring
            .decrypt(&sealed, &totp_aad(user_id))
            .map_err(|e| Error::internal(anyhow::anyhow!("cannot open TOTP secret: {e}")))?,
    );
    Ok(totp::TotpSecret::from_bytes(&bytes))
}

/// A second factor as the client sent it.
#[derive(Debug, Clone, Copy)]
pub(super) enum SecondFactor<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

/// Checks a TOTP code (claiming its time step so it cannot be replayed) or spends
/// a recovery code. Returns false for a wrong, reused or malformed code.
pub(super) async fn check_second_factor(
    state: &AppState,
    conn: &mut Conn,
    user_id: &str,
    factor: SecondFactor<'_>,
) -> Result<bool> {
    let now_ms = state.clock.now_ms();
    match factor {
        SecondFactor::Totp(code) => {
            let Some(row) = mfa::get(conn, user_id).await? else {
                return Ok(false);
            };
            if row.confirmed_at.is_none() {
                return Ok(false);
            }
            let secret = open_totp_secret(state, user_id, &row)?;
            let now_secs = u64::try_from(state.clock.now_secs()).unwrap_or(0);
            let last = row.last_used_step.and_then(|s| u64::try_from(s).ok());
            let Some(step) = totp::verify(&secret, code, now_secs, last) else {
                return Ok(false);
            };
            let step = i64::try_from(step).map_err(Error::internal)?;
            Ok(mfa::claim_step(conn, user_id, step).await?)
        }
        SecondFactor::Recovery(code) => {
            let Some(normalized) = totp::normalize_recovery_code(code) else {
                return Ok(false);
            };
            let hash = totp::hash_recovery_code(&normalized);
            Ok(mfa::use_recovery_code(conn, user_id, &hash, now_ms).await?)
        }
    }
}
