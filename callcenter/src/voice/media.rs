//! The media adapter: one task per call owns the call's RTP socket and its [`Leg`], ticks it
//! every 20 ms, and writes recordings. Ports come from a pool and go back when the task ends.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::media::leg::{Leg, LegEvent};
use crate::media::prompts::Clip;
use crate::sip::sdp::Codec;
use crate::sip::ua::CallRef;

pub enum MediaCmd {
    Play(u64, Vec<Arc<Clip>>),
    Stop,
    Hold(Option<Arc<Clip>>),
    /// Start keeping the caller's audio in this WAV file (`None` stops and closes it).
    Capture(Option<PathBuf>),
    Renegotiate(Codec, Option<u8>, SocketAddr),
}

/// Even RTP ports of the configured range.
pub struct PortPool {
    free: Mutex<VecDeque<u16>>,
}

impl PortPool {
    pub fn new(first: u16, last: u16) -> Arc<PortPool> {
        let free = (first..=last).step_by(2).collect();
        Arc::new(PortPool { free: Mutex::new(free) })
    }

    /// Bind a socket on the next free port that binds.
    pub fn bind(self: &Arc<Self>, ip: IpAddr) -> std::io::Result<(UdpSocket, u16)> {
        let mut free = self.free.lock().expect("lock");
        for _ in 0..free.len() {
            let Some(port) = free.pop_front() else { break };
            match std::net::UdpSocket::bind((ip, port)) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    return Ok((UdpSocket::from_std(s)?, port));
                }
                // Taken by someone else: try it again later.
                Err(_) => free.push_back(port),
            }
        }
        Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free RTP port"))
    }

    fn release(&self, port: u16) {
        self.free.lock().expect("lock").push_back(port);
    }

    pub fn free(&self) -> usize {
        self.free.lock().expect("lock").len()
    }
}

/// Counters for `/metrics` and the load benchmark. The send-interval histogram has 0.1 ms
/// buckets of |interval − 20 ms| up to 50 ms.
pub struct MediaStats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub foreign: AtomicU64,
    pub active: AtomicU64,
    jitter: Vec<AtomicU64>,
}

const JITTER_BUCKETS: usize = 500;

impl Default for MediaStats {
    fn default() -> Self {
        MediaStats {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            active: AtomicU64::new(0),
            jitter: (0..JITTER_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl MediaStats {
    fn note_interval(&self, interval: Duration) {
        let dev = (interval.as_micros() as i64 - 20_000).unsigned_abs();
        let bucket = ((dev / 100) as usize).min(JITTER_BUCKETS - 1);
        self.jitter[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The q-quantile of the send-interval deviation, in milliseconds.
    pub fn jitter_quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self.jitter.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some((i + 1) as f64 / 10.0);
            }
        }
        None
    }

    pub fn intervals(&self) -> u64 {
        self.jitter.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

pub struct MediaTask {
    pub call: CallRef,
    pub socket: UdpSocket,
    pub port: u16,
    pub leg: Leg,
    pub record: Option<PathBuf>,
    pub events: mpsc::Sender<super::SwitchIn>,
    pub stats: Arc<MediaStats>,
    pub pool: Arc<PortPool>,
}

type Wav = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

fn wav(path: &PathBuf, channels: u16) -> Option<Wav> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    match hound::WavWriter::create(path, spec) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "cannot create a recording file");
            None
        }
    }
}

fn write_all(w: &mut Option<Wav>, samples: &[i16]) {
    if let Some(writer) = w {
        for s in samples {
            if writer.write_sample(*s).is_err() {
                tracing::error!("recording write failed; recording stops");
                *w = None;
                return;
            }
        }
    }
}

fn close(w: Option<Wav>) {
    if let Some(w) = w {
        if let Err(e) = w.finalize() {
            tracing::error!(error = %e, "cannot finish a recording file");
        }
    }
}

impl MediaTask {
    pub fn spawn(mut self) -> mpsc::Sender<MediaCmd> {
        let (tx, mut rx) = mpsc::channel::<MediaCmd>(32);
        tokio::spawn(async move {
            self.stats.active.fetch_add(1, Ordering::Relaxed);
            let mut recording = self.record.as_ref().and_then(|p| wav(p, 2));
            let mut voicemail: Option<Wav> = None;
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut last_send: Option<Instant> = None;
            let mut out = Vec::with_capacity(200);
            let mut buf = vec![0u8; 2048];
            let (mut sent, mut received, mut foreign) = (0u64, 0u64, 0u64);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        out.clear();
                        let events = self.leg.tick(&mut out);
                        let _ = self.socket.try_send_to(&out, self.leg.destination());
                        let now = Instant::now();
                        if let Some(prev) = last_send {
                            self.stats.note_interval(now - prev);
                        }
                        last_send = Some(now);
                        for e in events {
                            let _ = self.events.send(super::SwitchIn::Media { call: self.call, event: e }).await;
                        }
                        if recording.is_some() {
                            let r = self.leg.take_recording();
                            write_all(&mut recording, &r);
                        }
                        if voicemail.is_some() {
                            let v = self.leg.take_captured();
                            write_all(&mut voicemail, &v);
                        }
                    }
                    r = self.socket.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { continue };
                        for e in self.leg.receive(from, &buf[..n]) {
                            if let LegEvent::Digit(_) = e {
                                let _ = self.events.send(super::SwitchIn::Media { call: self.call, event: e }).await;
                            }
                        }
                    }
                    cmd = rx.recv() => match cmd {
                        None => break,
                        Some(MediaCmd::Play(token, clips)) => self.leg.play(token, clips),
                        Some(MediaCmd::Stop) => self.leg.stop(),
                        Some(MediaCmd::Hold(clip)) => self.leg.hold(clip),
                        Some(MediaCmd::Capture(Some(path))) => {
                            self.leg.capture(true);
                            voicemail = wav(&path, 1);
                        }
                        Some(MediaCmd::Capture(None)) => {
                            self.leg.capture(false);
                            let v = self.leg.take_captured();
                            write_all(&mut voicemail, &v);
                            close(voicemail.take());
                        }
                        Some(MediaCmd::Renegotiate(codec, dtmf, remote)) => self.leg.renegotiate(codec, dtmf, remote),
                    }
                }
                let s = self.leg.stats;
                self.stats.sent.fetch_add(s.sent - sent, Ordering::Relaxed);
                self.stats.received.fetch_add(s.received - received, Ordering::Relaxed);
                self.stats.foreign.fetch_add(s.foreign - foreign, Ordering::Relaxed);
                (sent, received, foreign) = (s.sent, s.received, s.foreign);
            }
            let r = self.leg.take_recording();
            write_all(&mut recording, &r);
            close(recording);
            close(voicemail);
            drop(self.socket);
            self.pool.release(self.port);
            self.stats.active.fetch_sub(1, Ordering::Relaxed);
        });
        tx
    }
}
