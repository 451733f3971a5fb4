//! The IVR: flows as declarative files ([`script`]), walked per call by a core without IO or
//! clock ([`engine`]). Loading a directory of flows and reloading it on change is the adapter's
//! (`voice::library`).

pub mod engine;
pub mod script;
