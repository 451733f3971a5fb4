//! The telephony cores: everything about a call that can be decided without a socket or a clock.
//!
//! - [`sip`]: the SIP wire format and its rules — parser, UAS screen, transactions, the user agent.
//!   Only this crate knows SIP on the wire.
//! - [`media`]: SDP offer/answer and codecs, G.711, RTP, RFC 4733 and tone DTMF, the prompt
//!   library and one call's media leg.
//! - [`ivr`]: call flows as declarative files and the engine that walks one call through a flow.
//!
//! Each core takes `(now, event)` and returns actions and its next deadline, all on one [`Time`].
//! The only IO is reading files when asked to load them (`Prompts::load`, `ivr::script::load`);
//! sockets, threads and timers live in the `voice` adapter. The build checks that neither tokio nor
//! any other IO runtime is in this crate's dependency tree (`.ci/run`).

pub mod ivr;
pub mod media;
pub mod sip;
pub mod time;

pub use time::Time;
