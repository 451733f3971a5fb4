//! Media: SDP offer/answer and codecs, G.711, RTP, DTMF, prompts and each call's media leg. No sockets in here; the voice
//! adapter moves the bytes.

pub mod dtmf;
pub mod g711;
pub mod leg;
pub mod prompts;
pub mod rtp;
pub mod sdp;
