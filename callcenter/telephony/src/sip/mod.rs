//! SIP: the wire format, its rules and the user agent, as cores without IO or clock.
//! Only this module knows the SIP wire format; SDP bodies belong to [`crate::media::sdp`].
//!
//! - [`message`]: strict parser for one message (sits in front of rsip; see ARCHITECTURE.md).
//! - [`screen`]: the checks a user-agent server applies before transactions and dialogs.
//! - [`transaction`]: RFC 3261 transactions and their timers, driven by `(now, event)`.
//! - [`ua`]: dialogs, calls in and out, digest towards trunks; also `(now, event)` in, actions out.
//! - [`digest`]: client-side digest authentication (MD5, SHA-256).

pub mod digest;
pub mod framing;
pub mod guard;
pub mod message;
pub mod screen;
pub mod transaction;
pub mod ua;
