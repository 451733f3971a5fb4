//! End-to-end suites: they start the built `aftercare` binary on a fresh database (SQLite, and
//! PostgreSQL where reachable) and use it over its real interfaces. One test binary, several modules.

mod api;
mod browser;
mod callbacks;
mod cli;
mod clock;
mod contract;
mod desk;
mod field;
mod hardening;
mod mail;
mod network;
mod reports;
mod sales;
mod sip;
mod support;
mod torture;
