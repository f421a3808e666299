//! Account flows: registration, login, token refresh and logout, MFA, password
//! change. Each flow writes its changes and its audit row in one transaction.

mod bootstrap;
pub(crate) mod credentials;
mod disable;
mod login;
mod mfa;
mod password_change;
pub mod platform_admins;
mod principal;
pub mod profile;
mod register;
mod session;
pub mod signed_in;
mod throttling;

pub use bootstrap::grant_role;
pub(crate) use credentials::hash_password;
pub use disable::{Authority, disable, disable_as, enable, enable_as};
pub use login::{LoginInput, login};
pub use mfa::{MfaEnrolment, confirm_totp, disable_totp, enrol_totp};
pub use password_change::change_password;
pub use principal::{Principal, authenticate};
pub use register::{RegisterInput, register};
pub use session::{TokenPair, logout, refresh, refresh_browser};

/// Where a request came from, for audit rows, throttling and session records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
