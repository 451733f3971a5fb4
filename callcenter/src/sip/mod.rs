//! The SIP front end. Only this module knows the SIP wire format.
//!
//! - [`message`]: strict parser for one message (sits in front of rsip; see ARCHITECTURE.md).
//! - [`screen`]: the checks a user-agent server applies before transactions and dialogs.
//! - [`transaction`]: RFC 3261 transactions and their timers, driven by `(now, event)`.

pub mod message;
pub mod screen;
pub mod transaction;
