//! Authentication building blocks: password hashing, tokens, TOTP, throttling.
//! The flows that combine them live in `crate::accounts`.

pub mod lockout;
pub mod password;
pub mod tokens;
pub mod totp;
