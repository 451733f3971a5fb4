//! The IVR: flows as declarative files ([`script`]), walked per call by a core without IO or
//! clock ([`engine`]); [`library`] loads a directory of flows and reloads them when they change.

pub mod engine;
pub mod library;
pub mod script;
