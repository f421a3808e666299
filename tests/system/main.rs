//! Whole-system tests: real servers on port 0, a fresh database per test, on
//! SQLite always and on PostgreSQL when `HUB_TEST_DATABASE_URL` is set.

mod accounts;
mod accounts_disable;
mod audit_attacks;
mod audit_log;
mod audit_upgrade;
mod authz_matrix;
mod bad_input;
mod browser;
mod cli;
mod cluster;
mod cluster_accounts;
mod faults;
mod invite_browser;
mod invite_mail;
mod live;
mod live_bounds;
mod live_limits;
mod membership;
mod membership_visits;
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
mod visits_booking;
mod visits_browser;
mod visits_faults;
mod visits_revoke;
