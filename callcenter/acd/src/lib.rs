//! Automatic call distribution for the call center.
//!
//! - [`core`]: queues with required skills and levels, agent states with leases and wrap-up,
//!   routing strategies, escalation, callbacks that keep the caller's place — `(now, input)` in,
//!   actions out, no IO and no clock.
//! - [`erlang`]: Erlang C, for the staffing advisor.
//! - [`simulate`]: Poisson arrivals through the real core in virtual time.

pub mod core;
pub mod erlang;
pub mod simulate;

pub use crate::core::*;
