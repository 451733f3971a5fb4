//! One call's media, as a core without IO or clock: the adapter calls `tick` every 20 ms and
//! `receive` for every datagram on the call's RTP port, and sends what `tick` writes.
//!
//! - Sending: 20 ms G.711 packets (160 samples), sequence numbers +1 and timestamps +160 per
//!   packet from random starting points, the marker bit at the start of each talkspurt. Between
//!   prompts it sends silence (or the hold loop) so the stream and NAT bindings stay alive.
//! - Symmetric RTP: the first valid packet's source is learned and locked; from then on our
//!   packets go there and packets from any other source are dropped and counted.
//! - DTMF from RFC 4733 events and, for trunks that send tones in the audio, in-band detection.
//!   Once a call has sent a telephone-event, in-band detection is off so no digit counts twice.
//! - Optional recording: stereo, caller on the left, what we played on the right.
//! - Bridging to an agent: the agent's G.711 payloads (same codec, no transcoding) are sent
//!   as they come, through a small buffer; the caller's payloads are handed out for the agent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use super::dtmf::{EventReceiver, ToneDetector, BLOCK};
use super::g711;
use super::prompts::Clip;
use super::rtp::{self, Packet};
use crate::media::sdp::Codec;

#[derive(Debug, Clone, Copy)]
pub struct LegConfig {
    pub codec: Codec,
    /// The peer's telephone-event payload type (we send with the same).
    pub dtmf_pt: Option<u8>,
    /// The address from SDP, used until symmetric RTP learns the real one.
    pub remote: SocketAddr,
    pub ssrc: u32,
    pub first_seq: u16,
    pub first_timestamp: u32,
    pub record: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegEvent {
    Digit(char),
    /// Everything queued by the `play` that returned this token has been sent.
    PlayDone(u64),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LegStats {
    pub sent: u64,
    pub received: u64,
    /// Packets from a source other than the locked one.
    pub foreign: u64,
    /// Datagrams that were not RTP, or carried a payload type we did not agree.
    pub invalid: u64,
}

struct Queued {
    clip: Arc<Clip>,
    pos: usize,
    /// Set on the last clip of a `play`.
    token: Option<u64>,
}

pub struct Leg {
    cfg: LegConfig,
    seq: u16,
    timestamp: u32,
    latched: Option<SocketAddr>,
    queue: VecDeque<Queued>,
    hold: Option<(Arc<Clip>, usize)>,
    capturing: bool,
    captured: Vec<i16>,
    talking: bool,
    events: EventReceiver,
    tones: ToneDetector,
    saw_events: bool,
    inbound: VecDeque<i16>,
    recording: Vec<i16>,
    /// Bridged to an agent: their audio to send, and the caller's audio for them.
    bridged: bool,
    bridge_paused: bool,
    from_agent: VecDeque<u8>,
    to_agent: Vec<Vec<u8>>,
    pub stats: LegStats,
}

/// Agent audio buffered at most (bytes of G.711, 8 per ms): older bytes are dropped.
const BRIDGE_MAX: usize = 8 * BLOCK;

const SILENCE: [i16; BLOCK] = [0; BLOCK];

impl Leg {
    pub fn new(cfg: LegConfig) -> Leg {
        Leg {
            seq: cfg.first_seq,
            timestamp: cfg.first_timestamp,
            cfg,
            latched: None,
            queue: VecDeque::new(),
            hold: None,
            capturing: false,
            captured: vec![],
            talking: false,
            events: EventReceiver::default(),
            tones: ToneDetector::default(),
            saw_events: false,
            inbound: VecDeque::new(),
            recording: vec![],
            bridged: false,
            bridge_paused: false,
            from_agent: VecDeque::new(),
            to_agent: vec![],
            stats: LegStats::default(),
        }
    }

    pub fn codec(&self) -> Codec {
        self.cfg.codec
    }

    /// Connect (or disconnect) the call to an agent's audio.
    pub fn bridge(&mut self, on: bool) {
        self.bridged = on;
        self.bridge_paused = false;
        self.from_agent.clear();
        self.to_agent.clear();
    }

    /// While the agent holds the call, their audio is not sent (the hold loop is).
    pub fn pause_bridge(&mut self, paused: bool) {
        self.bridge_paused = paused;
        self.from_agent.clear();
    }

    /// G.711 payload from the agent, in this call's codec.
    pub fn feed(&mut self, payload: &[u8]) {
        if !self.bridged || self.bridge_paused {
            return;
        }
        self.from_agent.extend(payload);
        if self.from_agent.len() > BRIDGE_MAX {
            let excess = self.from_agent.len() - BRIDGE_MAX;
            self.from_agent.drain(..excess);
        }
    }

    /// The caller's audio payloads received since the last call, for the agent.
    pub fn take_for_agent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.to_agent)
    }

    /// Where our packets go now.
    pub fn destination(&self) -> SocketAddr {
        self.latched.unwrap_or(self.cfg.remote)
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The peer moved its media (re-INVITE): forget the learned source.
    pub fn renegotiate(&mut self, codec: Codec, dtmf_pt: Option<u8>, remote: SocketAddr) {
        self.cfg.codec = codec;
        self.cfg.dtmf_pt = dtmf_pt;
        if remote != self.cfg.remote {
            self.cfg.remote = remote;
            self.latched = None;
        }
    }

    /// Queue clips to play after whatever is queued; `token` comes back as `PlayDone` when the
    /// last one has been sent.
    pub fn play(&mut self, token: u64, clips: Vec<Arc<Clip>>) {
        let n = clips.len();
        if n == 0 {
            // Nothing to play: done at the next tick.
            self.queue.push_back(Queued {
                clip: Arc::new(Clip::from_samples("", vec![])),
                pos: 0,
                token: Some(token),
            });
        }
        for (i, clip) in clips.into_iter().enumerate() {
            self.queue.push_back(Queued {
                clip,
                pos: 0,
                token: (i + 1 == n).then_some(token),
            });
        }
    }

    /// Start or stop keeping the caller's audio (a voicemail); `take_captured` drains it.
    pub fn capture(&mut self, on: bool) {
        self.capturing = on;
    }

    pub fn take_captured(&mut self) -> Vec<i16> {
        std::mem::take(&mut self.captured)
    }

    /// Barge-in: drop everything queued (its tokens never complete).
    pub fn stop(&mut self) {
        self.queue.clear();
    }

    /// Loop this clip whenever nothing else is queued (hold music); `None` for silence.
    pub fn hold(&mut self, clip: Option<Arc<Clip>>) {
        self.hold = clip.map(|c| (c, 0));
    }

    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next 20 ms: one RTP packet appended to `out` (to `destination()`), and events.
    pub fn tick(&mut self, out: &mut Vec<u8>) -> Vec<LegEvent> {
        let mut events = vec![];
        if let Some(d) = self.events.tick() {
            events.push(LegEvent::Digit(d));
        }
        let mut frame = [0i16; BLOCK];
        let mut filled = 0;
        let mut speech = false;
        while filled < BLOCK {
            let Some(q) = self.queue.front_mut() else { break };
            let take = (q.clip.samples.len() - q.pos).min(BLOCK - filled);
            frame[filled..filled + take].copy_from_slice(&q.clip.samples[q.pos..q.pos + take]);
            q.pos += take;
            filled += take;
            speech |= take > 0;
            if q.pos == q.clip.samples.len() {
                if let Some(t) = q.token {
                    events.push(LegEvent::PlayDone(t));
                }
                self.queue.pop_front();
            }
        }
        let mut agent_payload = None;
        if filled == 0 && self.bridged && !self.bridge_paused && self.from_agent.len() >= BLOCK {
            let bytes: Vec<u8> = self.from_agent.drain(..BLOCK).collect();
            let decode: fn(u8) -> i16 = match self.cfg.codec {
                Codec::Pcmu => g711::ulaw_decode,
                Codec::Pcma => g711::alaw_decode,
            };
            for (f, b) in frame.iter_mut().zip(&bytes) {
                *f = decode(*b);
            }
            filled = BLOCK;
            speech = true;
            agent_payload = Some(bytes);
        }
        let hold_allowed = !self.bridged || self.bridge_paused;
        if filled < BLOCK && hold_allowed {
            if let Some((clip, pos)) = &mut self.hold {
                if !clip.samples.is_empty() {
                    while filled < BLOCK {
                        let take = (clip.samples.len() - *pos).min(BLOCK - filled);
                        frame[filled..filled + take].copy_from_slice(&clip.samples[*pos..*pos + take]);
                        *pos = (*pos + take) % clip.samples.len();
                        filled += take;
                    }
                    speech = true;
                }
            }
        }
        let encode: fn(i16) -> u8 = match self.cfg.codec {
            Codec::Pcmu => g711::ulaw_encode,
            Codec::Pcma => g711::alaw_encode,
        };
        let mut payload = [0u8; BLOCK];
        match agent_payload {
            // The agent's bytes go out as they came: no transcoding.
            Some(bytes) => payload.copy_from_slice(&bytes),
            None => {
                for (p, s) in payload.iter_mut().zip(frame.iter()) {
                    *p = encode(*s);
                }
            }
        }
        rtp::write(
            out,
            &Packet {
                payload_type: self.cfg.codec.payload_type(),
                marker: speech && !self.talking,
                seq: self.seq,
                timestamp: self.timestamp,
                ssrc: self.cfg.ssrc,
                payload: &payload,
            },
        );
        self.talking = speech;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(BLOCK as u32);
        self.stats.sent += 1;
        if self.cfg.record {
            for (i, s) in frame.iter().enumerate() {
                let caller = self.inbound.pop_front().unwrap_or(SILENCE[i]);
                self.recording.push(caller);
                self.recording.push(*s);
            }
            // Do not let a peer that sends faster than real time grow the buffer.
            if self.inbound.len() > 8 * BLOCK {
                let excess = self.inbound.len() - 8 * BLOCK;
                self.inbound.drain(..excess);
            }
        }
        events
    }

    /// A datagram arrived on this call's RTP port.
    pub fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<LegEvent> {
        let Some(p) = rtp::parse(bytes) else {
            self.stats.invalid += 1;
            return vec![];
        };
        let audio = p.payload_type == self.cfg.codec.payload_type();
        let event = Some(p.payload_type) == self.cfg.dtmf_pt;
        if !audio && !event {
            self.stats.invalid += 1;
            return vec![];
        }
        match self.latched {
            Some(addr) if addr != from => {
                self.stats.foreign += 1;
                return vec![];
            }
            Some(_) => {}
            None => self.latched = Some(from),
        }
        self.stats.received += 1;
        if event {
            self.saw_events = true;
            return self
                .events
                .on_packet(p.timestamp, p.payload)
                .into_iter()
                .map(LegEvent::Digit)
                .collect();
        }
        let decode: fn(u8) -> i16 = match self.cfg.codec {
            Codec::Pcmu => g711::ulaw_decode,
            Codec::Pcma => g711::alaw_decode,
        };
        if self.bridged {
            self.to_agent.push(p.payload.to_vec());
            if self.to_agent.len() > 50 {
                self.to_agent.remove(0);
            }
        }
        let samples: Vec<i16> = p.payload.iter().map(|&b| decode(b)).collect();
        if self.cfg.record {
            self.inbound.extend(samples.iter().copied());
        }
        if self.capturing {
            self.captured.extend(samples.iter().copied());
        }
        if self.saw_events {
            return vec![];
        }
        samples
            .chunks_exact(BLOCK)
            .filter_map(|b| self.tones.on_block(b))
            .map(LegEvent::Digit)
            .collect()
    }

    /// Recorded stereo samples since the last call (caller left, us right).
    pub fn take_recording(&mut self) -> Vec<i16> {
        std::mem::take(&mut self.recording)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::tone;

    fn leg(record: bool) -> Leg {
        Leg::new(LegConfig {
            codec: Codec::Pcmu,
            dtmf_pt: Some(101),
            remote: "192.0.2.1:4000".parse().unwrap(),
            ssrc: 7,
            first_seq: 65534,
            first_timestamp: u32::MAX - 100,
            record,
        })
    }

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        rtp::write(
            &mut out,
            &Packet {
                payload_type: pt,
                marker: false,
                seq,
                timestamp: ts,
                ssrc: 99,
                payload,
            },
        );
        out
    }

    #[test]
    fn packets_are_20ms_with_consecutive_numbers_and_the_prompt_completes() {
        let mut l = leg(false);
        let clip = Arc::new(Clip::from_samples("x", vec![1000; 400]));
        let token = 7;
        l.play(token, vec![clip]);
        let mut seen = vec![];
        let mut done_at = None;
        for i in 0..5 {
            let mut buf = vec![];
            let ev = l.tick(&mut buf);
            if ev.contains(&LegEvent::PlayDone(token)) {
                done_at = Some(i);
            }
            let p = rtp::parse(&buf).unwrap();
            assert_eq!(p.payload.len(), 160);
            seen.push((p.seq, p.timestamp, p.marker));
        }
        assert_eq!(done_at, Some(2), "400 samples end in the third packet");
        assert_eq!(
            seen[0],
            (65534, u32::MAX - 100, true),
            "marker on the talkspurt's first packet"
        );
        assert_eq!(seen[1], (65535, 59, false));
        assert_eq!(seen[2], (0, 219, false), "both wrap");
        assert!(!seen[3].2, "silence after the prompt has no marker");
    }

    #[test]
    fn the_first_source_is_locked_and_others_are_dropped() {
        let mut l = leg(false);
        let a: SocketAddr = "198.51.100.7:5004".parse().unwrap();
        let b: SocketAddr = "203.0.113.9:6666".parse().unwrap();
        assert_eq!(
            l.destination(),
            "192.0.2.1:4000".parse().unwrap(),
            "SDP address until learned"
        );
        l.receive(a, &packet(0, 1, 0, &[0xFF; 160]));
        assert_eq!(l.destination(), a, "symmetric RTP");
        l.receive(b, &packet(0, 2, 160, &[0xFF; 160]));
        l.receive(a, &packet(0, 3, 320, &[0xFF; 160]));
        l.receive(a, &packet(18, 4, 480, &[0xFF; 20]));
        l.receive(a, b"not rtp");
        assert_eq!(
            l.stats,
            LegStats {
                sent: 0,
                received: 2,
                foreign: 1,
                invalid: 2
            }
        );
        l.renegotiate(Codec::Pcmu, Some(101), "192.0.2.2:4002".parse().unwrap());
        assert_eq!(l.latched(), None, "a re-INVITE to a new address learns again");
    }

    #[test]
    fn digits_from_events_and_from_tones() {
        let mut l = leg(false);
        let from: SocketAddr = "198.51.100.7:5004".parse().unwrap();
        let mut digits = vec![];
        for payload in [[4u8, 10, 0, 160], [4, 0x80 | 10, 1, 64], [4, 0x80 | 10, 1, 64]] {
            digits.extend(l.receive(from, &packet(101, 1, 5000, &payload)));
        }
        assert_eq!(digits, vec![LegEvent::Digit('4')]);

        let mut l = leg(false);
        let mut digits = vec![];
        let audio: Vec<u8> = tone('9', 100, 8000.0).iter().map(|&s| g711::ulaw_encode(s)).collect();
        for (i, chunk) in audio.chunks(160).enumerate() {
            digits.extend(l.receive(from, &packet(0, i as u16, i as u32 * 160, chunk)));
        }
        assert_eq!(digits, vec![LegEvent::Digit('9')]);
    }

    #[test]
    fn recording_keeps_both_directions() {
        let mut l = leg(true);
        let from: SocketAddr = "198.51.100.7:5004".parse().unwrap();
        l.receive(from, &packet(0, 1, 0, &[g711::ulaw_encode(-5000); 160]));
        l.play(1, vec![Arc::new(Clip::from_samples("x", vec![3000; 160]))]);
        l.tick(&mut vec![]);
        let rec = l.take_recording();
        assert_eq!(rec.len(), 320);
        assert!(
            (rec[0] + 5000).abs() < 200 && (rec[1] - 3000).abs() < 200,
            "{:?}",
            &rec[..2]
        );
    }
}
