//! Whole-system tests: real servers on port 0, a fresh database per test, on
//! SQLite always and on PostgreSQL when `HUB_TEST_DATABASE_URL` is set.

mod accounts;
mod audit_log;
mod authz_matrix;
mod bad_input;
mod browser;
mod cli;
mod cluster;
mod connections;
mod faults;
mod http_surface;
mod live;
mod live_limits;
mod mfa;
mod notification_links;
mod notification_receipts;
mod notification_texts;
mod notifications;
mod orgs;
mod phi_at_rest;
mod scheduling;
mod support;
mod tls;
mod visits;
mod visits_browser;
mod visits_faults;
mod wire_log;
