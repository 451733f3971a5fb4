//! The media adapter. Clock threads (one per core, each with its share of the calls) tick every
//! call's [`Leg`] every 20 ms on absolute deadlines and send its packet, so packet spacing does
//! not depend on how busy the async runtime is; a shard's calls go out in [`PHASES`] groups 5 ms
//! apart, keeping each burst of sends short. They ask for real-time scheduling where the
//! system allows it. One receive task per call feeds incoming RTP to its leg; one writer
//! thread keeps recordings off both. Ports come from a pool and go back when a call closes.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use telephony::media::leg::{Leg, LegEvent};
use telephony::media::prompts::Clip;
use telephony::media::sdp::Codec;
use telephony::sip::ua::CallRef;

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
    fn bind(&self, ip: IpAddr) -> std::io::Result<(std::net::UdpSocket, u16)> {
        let mut free = self.free.lock().expect("lock");
        for _ in 0..free.len() {
            let Some(port) = free.pop_front() else { break };
            match std::net::UdpSocket::bind((ip, port)) {
                Ok(s) => return Ok((s, port)),
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
/// buckets of |interval − 20 ms| up to 50 ms, per stream.
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

    /// Bucket counts, to compare two moments of a run.
    pub fn jitter_snapshot(&self) -> Vec<u64> {
        self.jitter.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }

    /// The q-quantile of the send-interval deviation in milliseconds (upper bucket edge),
    /// over the counts given (a snapshot or a difference of two).
    pub fn quantile_ms(counts: &[u64], q: f64) -> Option<f64> {
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

    pub fn jitter_quantile_ms(&self, q: f64) -> Option<f64> {
        Self::quantile_ms(&self.jitter_snapshot(), q)
    }
}

enum WriteJob {
    Open {
        key: (CallRef, u8),
        path: PathBuf,
        channels: u16,
    },
    Samples {
        key: (CallRef, u8),
        samples: Vec<i16>,
    },
    Close {
        key: (CallRef, u8),
    },
}

const RECORDING: u8 = 0;
const VOICEMAIL: u8 = 1;

struct Slot {
    call: CallRef,
    shard: usize,
    /// Which of the clock's sub-ticks sends this call's packets (see [`PHASES`]).
    phase: usize,
    leg: Mutex<Leg>,
    send: std::net::UdpSocket,
    port: u16,
    last_send: Mutex<Option<Instant>>,
    recording: bool,
    capturing: AtomicBool,
    /// Where the caller's audio goes while the call is bridged to an agent.
    tap: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    /// When the last valid RTP packet arrived (or the media opened).
    last_rx: Mutex<Instant>,
}

struct Inner {
    /// The calls of each clock thread.
    shards: Vec<Mutex<Vec<Arc<Slot>>>>,
    stats: Arc<MediaStats>,
    events: mpsc::UnboundedSender<(CallRef, LegEvent)>,
    writer: Mutex<std::sync::mpsc::Sender<WriteJob>>,
    pool: Arc<PortPool>,
}

#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

impl MediaEngine {
    /// Start the clock and writer threads. Leg events arrive on `events`.
    pub fn start(
        pool: Arc<PortPool>,
        stats: Arc<MediaStats>,
        events: mpsc::UnboundedSender<(CallRef, LegEvent)>,
    ) -> MediaEngine {
        let (wtx, wrx) = std::sync::mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("media-writer".into())
            .spawn(move || writer(wrx))
            .expect("writer thread");
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let inner = Arc::new(Inner {
            shards: (0..threads).map(|_| Mutex::new(vec![])).collect(),
            stats,
            events,
            writer: Mutex::new(wtx),
            pool,
        });
        for shard in 0..threads {
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name(format!("media-clock-{shard}"))
                .spawn(move || clock(weak, shard))
                .expect("clock thread");
        }
        MediaEngine { inner }
    }

    /// Open a call's media on a port from the pool; the leg starts sending at the next tick.
    pub fn open(
        &self,
        call: CallRef,
        ip: IpAddr,
        leg: Leg,
        record: Option<PathBuf>,
    ) -> std::io::Result<(MediaHandle, u16)> {
        let (socket, port) = self.inner.pool.bind(ip)?;
        let send = socket.try_clone()?;
        send.set_nonblocking(true)?;
        socket.set_nonblocking(true)?;
        let recv = match tokio::net::UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                self.inner.pool.release(port);
                return Err(e);
            }
        };
        if let Some(path) = &record {
            self.write(WriteJob::Open {
                key: (call, RECORDING),
                path: path.clone(),
                channels: 2,
            });
        }
        let shard = call as usize % self.inner.shards.len();
        let phase = call as usize / self.inner.shards.len() % PHASES;
        let slot = Arc::new(Slot {
            call,
            shard,
            phase,
            leg: Mutex::new(leg),
            send,
            port,
            last_send: Mutex::new(None),
            recording: record.is_some(),
            capturing: AtomicBool::new(false),
            tap: Mutex::new(None),
            last_rx: Mutex::new(Instant::now()),
        });
        let receiver = {
            let slot = slot.clone();
            let inner = self.inner.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let Ok((n, from)) = recv.recv_from(&mut buf).await else {
                        continue;
                    };
                    let (events, before, after, audio) = {
                        let mut leg = slot.leg.lock().expect("leg");
                        let before = leg.stats;
                        let ev = leg.receive(from, &buf[..n]);
                        (ev, before, leg.stats, leg.take_for_agent())
                    };
                    if after.received > before.received {
                        *slot.last_rx.lock().expect("last_rx") = Instant::now();
                    }
                    if !audio.is_empty() {
                        if let Some(tap) = slot.tap.lock().expect("tap").as_ref() {
                            for a in audio {
                                let _ = tap.send(a);
                            }
                        }
                    }
                    inner
                        .stats
                        .received
                        .fetch_add(after.received - before.received, Ordering::Relaxed);
                    inner
                        .stats
                        .foreign
                        .fetch_add(after.foreign - before.foreign, Ordering::Relaxed);
                    for e in events {
                        let _ = inner.events.send((slot.call, e));
                    }
                }
            })
        };
        self.inner.shards[shard].lock().expect("slots").push(slot.clone());
        self.inner.stats.active.fetch_add(1, Ordering::Relaxed);
        Ok((
            MediaHandle {
                slot,
                engine: self.clone(),
                receiver,
            },
            port,
        ))
    }

    fn write(&self, job: WriteJob) {
        let _ = self.inner.writer.lock().expect("writer").send(job);
    }

    pub fn streams(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().expect("slots").len()).sum()
    }
}

/// The application's handle on one call's media; dropping it closes the media.
pub struct MediaHandle {
    slot: Arc<Slot>,
    engine: MediaEngine,
    receiver: tokio::task::JoinHandle<()>,
}

impl MediaHandle {
    fn leg(&self) -> std::sync::MutexGuard<'_, Leg> {
        self.slot.leg.lock().expect("leg")
    }

    pub fn play(&self, token: u64, clips: Vec<Arc<Clip>>) {
        self.leg().play(token, clips);
    }

    pub fn stop(&self) {
        self.leg().stop();
    }

    pub fn hold(&self, clip: Option<Arc<Clip>>) {
        self.leg().hold(clip);
    }

    /// Keep the caller's audio in this mono WAV (a voicemail); `None` stops and closes it.
    pub fn capture(&self, path: Option<PathBuf>) {
        let key = (self.slot.call, VOICEMAIL);
        match path {
            Some(path) => {
                self.engine.write(WriteJob::Open { key, path, channels: 1 });
                self.leg().capture(true);
                self.slot.capturing.store(true, Ordering::Relaxed);
            }
            None => {
                self.slot.capturing.store(false, Ordering::Relaxed);
                let rest = {
                    let mut leg = self.leg();
                    leg.capture(false);
                    leg.take_captured()
                };
                self.engine.write(WriteJob::Samples { key, samples: rest });
                self.engine.write(WriteJob::Close { key });
            }
        }
    }

    pub fn renegotiate(&self, codec: Codec, dtmf_pt: Option<u8>, remote: SocketAddr) {
        self.leg().renegotiate(codec, dtmf_pt, remote);
    }

    pub fn codec(&self) -> Codec {
        self.leg().codec()
    }

    /// How long since the peer's last RTP packet (or since the media opened).
    pub fn silent_for(&self) -> Duration {
        self.slot.last_rx.lock().expect("last_rx").elapsed()
    }

    /// Bridge the call to an agent: the caller's audio payloads go to `tap`, and the returned
    /// feeder sends the agent's. `None` ends the bridge.
    pub fn bridge(&self, tap: Option<mpsc::UnboundedSender<Vec<u8>>>) -> Feeder {
        let on = tap.is_some();
        *self.slot.tap.lock().expect("tap") = tap;
        self.leg().bridge(on);
        Feeder {
            slot: Arc::downgrade(&self.slot),
        }
    }

    pub fn pause_bridge(&self, paused: bool) {
        self.leg().pause_bridge(paused);
    }
}

/// Hands an agent's audio to a call's leg; does nothing once the call is gone.
#[derive(Clone)]
pub struct Feeder {
    slot: std::sync::Weak<Slot>,
}

impl Feeder {
    pub fn feed(&self, payload: &[u8]) {
        if let Some(slot) = self.slot.upgrade() {
            slot.leg.lock().expect("leg").feed(payload);
        }
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        self.receiver.abort();
        let inner = &self.engine.inner;
        inner.shards[self.slot.shard]
            .lock()
            .expect("slots")
            .retain(|s| !Arc::ptr_eq(s, &self.slot));
        let call = self.slot.call;
        if self.slot.recording {
            let rest = self.leg().take_recording();
            self.engine.write(WriteJob::Samples {
                key: (call, RECORDING),
                samples: rest,
            });
            self.engine.write(WriteJob::Close { key: (call, RECORDING) });
        }
        if self.slot.capturing.load(Ordering::Relaxed) {
            self.capture(None);
        }
        inner.pool.release(self.slot.port);
        inner.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Ask for real-time scheduling for the calling thread (SCHED_FIFO at a low priority), or at
/// least a larger share of the CPU; either may be refused, and the clock runs regardless.
fn raise_priority() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: plain system calls on the calling thread with a valid, initialised argument.
    let fifo = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0;
    if !fifo {
        // SAFETY: as above; `0` names the calling thread on Linux.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
    }
    tracing::debug!(fifo, "media clock priority");
}

/// A shard's calls are sent in this many groups, one every 20 ms / PHASES: each call still gets a
/// packet every 20 ms, but a burst of sends is a quarter as long, so how late a call's packet
/// leaves within its burst (the kernel's loopback and socket work, most of the clock's time)
/// varies a quarter as much.
pub const PHASES: usize = 4;

/// Every 20 ms / [`PHASES`], on absolute deadlines: tick the legs of this shard whose phase it
/// is, and send their packets.
fn clock(inner: std::sync::Weak<Inner>, shard: usize) {
    raise_priority();
    let period = Duration::from_millis(20) / PHASES as u32;
    let mut next = Instant::now() + period;
    let mut phase = 0;
    let mut out = Vec::with_capacity(200);
    let mut slots: Vec<Arc<Slot>> = Vec::new();
    loop {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > period * 5 {
            // Far behind (the machine stalled): do not burst; start again from now.
            next = now;
        }
        next += period;
        phase = (phase + 1) % PHASES;
        let Some(inner) = inner.upgrade() else { return };
        slots.clear();
        slots.extend(
            inner.shards[shard]
                .lock()
                .expect("slots")
                .iter()
                .filter(|s| s.phase == phase)
                .cloned(),
        );
        let mut sent = 0u64;
        for slot in slots.drain(..) {
            out.clear();
            let (events, dest, recording, captured) = {
                let mut leg = slot.leg.lock().expect("leg");
                let events = leg.tick(&mut out);
                let recording = if slot.recording { leg.take_recording() } else { vec![] };
                let captured = if slot.capturing.load(Ordering::Relaxed) {
                    leg.take_captured()
                } else {
                    vec![]
                };
                (events, leg.destination(), recording, captured)
            };
            // No destination yet (a delayed offer before its ACK): nothing goes out.
            if dest.port() != 0 && !dest.ip().is_unspecified() {
                if slot.send.send_to(&out, dest).is_ok() {
                    sent += 1;
                }
                let t = Instant::now();
                if let Some(prev) = slot.last_send.lock().expect("time").replace(t) {
                    inner.stats.note_interval(t - prev);
                }
            }
            for e in events {
                let _ = inner.events.send((slot.call, e));
            }
            if !recording.is_empty() {
                let _ = inner.writer.lock().expect("writer").send(WriteJob::Samples {
                    key: (slot.call, RECORDING),
                    samples: recording,
                });
            }
            if !captured.is_empty() {
                let _ = inner.writer.lock().expect("writer").send(WriteJob::Samples {
                    key: (slot.call, VOICEMAIL),
                    samples: captured,
                });
            }
        }
        inner.stats.sent.fetch_add(sent, Ordering::Relaxed);
    }
}

type Wav = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

fn writer(rx: std::sync::mpsc::Receiver<WriteJob>) {
    let mut files: HashMap<(CallRef, u8), Wav> = HashMap::new();
    while let Ok(job) = rx.recv() {
        match job {
            WriteJob::Open { key, path, channels } => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: 8000,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                match hound::WavWriter::create(&path, spec) {
                    Ok(w) => {
                        files.insert(key, w);
                    }
                    Err(e) => tracing::error!(error = %e, "cannot create a recording file"),
                }
            }
            WriteJob::Samples { key, samples } => {
                if let Some(w) = files.get_mut(&key) {
                    if samples.iter().any(|s| w.write_sample(*s).is_err()) {
                        tracing::error!("recording write failed; recording stops");
                        files.remove(&key);
                    }
                }
            }
            WriteJob::Close { key } => {
                if let Some(w) = files.remove(&key) {
                    if let Err(e) = w.finalize() {
                        tracing::error!(error = %e, "cannot finish a recording file");
                    }
                }
            }
        }
    }
}
