//! The Aftercare service: the `aftercare` command line ([`cli`]), configuration ([`config`]), the
//! HTTP API and pages ([`http`]), and the jobs beside them ([`housekeeping`], [`callbacks`],
//! [`care`], [`import`], [`demo`]). The switch lives in the `voice` crate, the dispatch adapter in
//! `fieldops`, storage in `crm-sql`; `cli::serve` starts them all.

pub mod callbacks;
pub mod care;
pub mod cli;
pub mod config;
pub mod demo;
pub mod housekeeping;
pub mod http;
pub mod import;
pub mod mail;
pub mod quality;
pub mod subscriptions;
