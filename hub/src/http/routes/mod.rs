//! API route handlers, one file per resource group. Handlers are thin: parse,
//! call the module that does the work, shape the response.

pub mod admin;
pub mod auth;
pub mod health;
pub mod me;
pub mod notifications;
pub mod org_admin;
pub mod orgs;
pub mod referrals;
pub mod rooms;
pub mod scheduling;
pub mod sessions;
pub mod visits;
