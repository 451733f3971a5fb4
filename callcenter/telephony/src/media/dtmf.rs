//! DTMF detection: RFC 4733 telephone-events and in-band tones (Goertzel).

/// The digit of an RFC 4733 event code (0–9, *, #, A–D).
pub fn event_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// RFC 4733 receiver: one digit per event, however many packets carry it. Events are told
/// apart by their RTP timestamp (the event's start). A digit is reported at the first packet
/// with the end bit; when the end packets never come (lost, or a sender that sends none), it is
/// reported once no packet of the event has come for [`QUIET_TICKS`] ticks, or as soon as the
/// next event begins, whichever is first.
#[derive(Debug, Default)]
pub struct EventReceiver {
    current: Option<(u32, char)>,
    reported: Option<u32>,
    /// Ticks since the last packet of `current`.
    quiet: u32,
    /// The duration field of the last packet of `current`.
    duration: u16,
}

/// Ticks (20 ms, the packet clock) without a packet after which an event counts as ended: 240 ms,
/// several of the 50 ms update intervals senders use, so a long press is not cut in two.
pub const QUIET_TICKS: u32 = 12;

impl EventReceiver {
    /// The digits this packet completes (none, one, or two when the previous event lost its
    /// end packets and this one ends at once).
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Vec<char> {
        let mut out = vec![];
        if payload.len() < 4 {
            return out;
        }
        let Some(digit) = event_digit(payload[0]) else {
            return out;
        };
        let end = payload[1] & 0x80 != 0;
        let duration = u16::from_be_bytes([payload[2], payload[3]]);
        if self.reported == Some(timestamp) {
            if end {
                return out; // a retransmitted end packet, or a late one
            }
            if duration > self.duration {
                // A late update of an event already counted when it went quiet.
                self.duration = duration;
                return out;
            }
            // A new press that reuses the timestamp (some senders replay recorded events).
            self.reported = None;
            self.current = None;
        }
        if let Some((ts, d)) = self.current {
            if ts != timestamp && self.reported != Some(ts) {
                out.push(d);
            }
        }
        self.current = Some((timestamp, digit));
        self.quiet = 0;
        self.duration = duration;
        if end {
            self.reported = Some(timestamp);
            out.push(digit);
        }
        out
    }

    /// One tick of the packet clock: the digit of an event that went quiet without an end packet.
    pub fn tick(&mut self) -> Option<char> {
        let (ts, digit) = self.current?;
        if self.reported == Some(ts) {
            return None;
        }
        self.quiet += 1;
        if self.quiet < QUIET_TICKS {
            return None;
        }
        self.reported = Some(ts);
        Some(digit)
    }
}

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Samples per analysis block: 20 ms at 8 kHz, one RTP packet of G.711.
pub const BLOCK: usize = 160;

/// The power of `freq` (Hz) in 8 kHz `samples` (the Goertzel algorithm).
pub fn goertzel(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// In-band DTMF for trunks that send tones in the audio. A digit is reported once it has
/// been present in two consecutive 20 ms blocks (40 ms, the ITU Q.24 minimum), and again only
/// after a block without it.
#[derive(Debug, Default)]
pub struct ToneDetector {
    last: Option<char>,
    reported: bool,
}

impl ToneDetector {
    /// Classify one block of `BLOCK` samples.
    pub fn block_digit(samples: &[i16]) -> Option<char> {
        let x: Vec<f32> = samples.iter().map(|&s| s as f32).collect();
        let energy: f32 = x.iter().map(|v| v * v).sum();
        // Quieter than about -40 dBm0 is no tone.
        if energy < x.len() as f32 * 100.0 * 100.0 {
            return None;
        }
        let rows: Vec<f32> = ROWS.iter().map(|&f| goertzel(&x, f)).collect();
        let cols: Vec<f32> = COLS.iter().map(|&f| goertzel(&x, f)).collect();
        let best = |v: &[f32]| {
            let (i, &m) = v
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("four bins");
            (i, m)
        };
        let (r, rp) = best(&rows);
        let (c, cp) = best(&cols);
        // Each tone stands out of its group by at least 8 dB.
        for (i, &p) in rows.iter().enumerate() {
            if i != r && p * 6.3 > rp {
                return None;
            }
        }
        for (i, &p) in cols.iter().enumerate() {
            if i != c && p * 6.3 > cp {
                return None;
            }
        }
        // Twist: the high tone at most 8 dB above or below the low one.
        if cp > rp * 6.3 || rp > cp * 6.3 {
            return None;
        }
        // The two tones carry most of the block's energy (speech spreads it out). A pure tone
        // of amplitude A gives Goertzel power (A·N/2)² against energy A²·N/2.
        let n = x.len() as f32;
        if (rp + cp) / (energy * n / 2.0) < 0.6 {
            return None;
        }
        Some(KEYS[r][c])
    }

    pub fn on_block(&mut self, samples: &[i16]) -> Option<char> {
        let d = Self::block_digit(samples);
        let out = match (d, self.last) {
            (Some(now), Some(prev)) if now == prev && !self.reported => {
                self.reported = true;
                Some(now)
            }
            _ => None,
        };
        if d != self.last {
            self.reported = false;
        }
        self.last = d;
        out
    }
}

/// Whether `c` is a key of the DTMF keypad (`0`–`9`, `*`, `#`, `A`–`D`).
pub fn is_key(c: char) -> bool {
    KEYS.iter().any(|row| row.contains(&c))
}

/// In-band tones for `digits` as an agent's keypad sends them into a call: 100 ms per key and
/// 60 ms of silence after it; characters that are not keys are skipped.
pub fn tones(digits: &str) -> Vec<i16> {
    let mut samples = vec![];
    for d in digits.chars().map(|d| d.to_ascii_uppercase()).filter(|&d| is_key(d)) {
        samples.extend(tone(d, 100, 12_000.0));
        samples.extend(std::iter::repeat_n(0i16, 480));
    }
    samples
}

/// Two-tone samples for a digit (for tests and for sending in-band tones).
pub fn tone(digit: char, ms: usize, amplitude: f32) -> Vec<i16> {
    let (r, c) = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == digit).map(|c| (r, c)))
        .expect("a DTMF key");
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = (2.0 * std::f32::consts::PI * ROWS[r] * t).sin() + (2.0 * std::f32::consts::PI * COLS[c] * t).sin();
            (v * amplitude / 2.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_tones_are_heard_as_the_digits() {
        let mut det = ToneDetector::default();
        let got: String = tones("5#a")
            .chunks_exact(BLOCK)
            .filter_map(|b| det.on_block(b))
            .collect();
        assert_eq!(got, "5#A");
        assert!(!is_key('x') && is_key('*') && is_key('D'));
        assert!(tones("x").is_empty());
    }

    fn event(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    #[test]
    fn one_digit_per_event_at_the_end_bit() {
        let mut rx = EventReceiver::default();
        assert_eq!(rx.on_packet(1000, &event(5, false, 160)), Vec::<char>::new());
        assert_eq!(rx.on_packet(1000, &event(5, false, 320)), Vec::<char>::new());
        assert_eq!(rx.on_packet(1000, &event(5, true, 480)), vec!['5']);
        assert_eq!(
            rx.on_packet(1000, &event(5, true, 480)),
            Vec::<char>::new(),
            "end sent three times"
        );
        assert_eq!(rx.on_packet(1000, &event(5, true, 480)), Vec::<char>::new());
        // The same digit again is a new event (new timestamp).
        assert_eq!(rx.on_packet(3000, &event(5, true, 480)), vec!['5']);
        assert_eq!(rx.on_packet(5000, &event(11, false, 160)), Vec::<char>::new());
        assert_eq!(rx.on_packet(5000, &event(11, true, 320)), vec!['#']);
    }

    #[test]
    fn an_event_without_end_packets_counts_once_it_goes_quiet() {
        let mut rx = EventReceiver::default();
        // A press of 100 ms: updates every 50 ms (2.5 ticks), never an end packet.
        assert_eq!(rx.on_packet(1000, &event(7, false, 400)), Vec::<char>::new());
        let mut heard = vec![];
        for t in 0..40 {
            if t == 2 || t == 5 {
                heard.extend(rx.on_packet(1000, &event(7, false, 400 + 400 * t as u16)));
            }
            if let Some(d) = rx.tick() {
                heard.push(d);
                assert_eq!(t, 5 + QUIET_TICKS as usize - 1, "counted when quiet, not before");
            }
        }
        assert_eq!(heard, vec!['7'], "once");
        // A late update of the same event after it counted is not a second press.
        assert_eq!(rx.on_packet(1000, &event(7, false, 3000)), Vec::<char>::new());
        assert_eq!((0..40).find_map(|_| rx.tick()), None);
        // The next key, also without end packets, is its own digit.
        assert_eq!(rx.on_packet(2600, &event(7, false, 400)), Vec::<char>::new());
        assert_eq!((0..40).find_map(|_| rx.tick()), Some('7'));
        // An end packet that does come reports at once; the quiet tick adds nothing.
        assert_eq!(rx.on_packet(4000, &event(3, true, 400)), vec!['3']);
        assert_eq!((0..40).find_map(|_| rx.tick()), None);
    }

    #[test]
    fn an_event_whose_end_packets_were_lost_is_reported_when_the_next_begins() {
        let mut rx = EventReceiver::default();
        assert_eq!(rx.on_packet(1000, &event(1, false, 160)), Vec::<char>::new());
        assert_eq!(rx.on_packet(2000, &event(2, false, 160)), vec!['1']);
        assert_eq!(rx.on_packet(2000, &event(2, true, 320)), vec!['2']);
        assert_eq!(rx.on_packet(2000, &[1, 2]), Vec::<char>::new(), "short payload");
        let mut rx = EventReceiver::default();
        rx.on_packet(1000, &event(3, false, 160));
        assert_eq!(
            rx.on_packet(2000, &event(4, true, 160)),
            vec!['3', '4'],
            "both reported"
        );
    }

    fn feed(det: &mut ToneDetector, samples: &[i16]) -> String {
        samples.chunks_exact(BLOCK).filter_map(|b| det.on_block(b)).collect()
    }

    #[test]
    fn every_key_is_detected_once_per_press() {
        let mut det = ToneDetector::default();
        let mut audio = vec![];
        let keys = "0123456789*#ABCD";
        for k in keys.chars() {
            audio.extend(tone(k, 100, 8000.0));
            audio.extend(std::iter::repeat_n(0i16, 480));
        }
        assert_eq!(feed(&mut det, &audio), keys);
    }

    #[test]
    fn a_tone_in_noise_is_found_and_a_short_blip_is_not() {
        let mut det = ToneDetector::default();
        let mut seed = 1u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            ((seed >> 16) as i16 as i32 / 64) as i16
        };
        let press: Vec<i16> = tone('7', 80, 6000.0)
            .into_iter()
            .map(|s| s.saturating_add(noise()))
            .collect();
        assert_eq!(feed(&mut det, &press), "7");
        let mut det = ToneDetector::default();
        let blip = tone('7', 20, 6000.0);
        assert_eq!(feed(&mut det, &blip), "", "20 ms is too short");
    }
}
