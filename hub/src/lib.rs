//! HealthBridge hub: the HTTP and WebSocket gateway with accounts,
//! organizations, roles, rooms and live messaging, the audit log and storage. The `hub` binary is a thin
//! wrapper over [`cli::run`].

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod error_text;
pub mod fd_limit;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod notifications;
pub mod orgs;
pub mod policy;
pub mod revocation;
pub mod rooms;
pub mod scheduling;
pub mod secrets;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod visits;
