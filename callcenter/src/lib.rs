//! The Aftercare service: configuration, the HTTP adapter, demo data and imports, and the
//! `aftercare` command line. Later: the SIP front end, IVR and ACD adapters.

pub mod callbacks;
pub mod care;
pub mod center;
pub mod cli;
pub mod config;
pub mod demo;

pub mod housekeeping;
pub mod http;
pub mod import;

pub mod voice;
