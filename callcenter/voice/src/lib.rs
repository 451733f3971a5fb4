//! The voice adapter: the switch, with the sockets, tasks and media IO around the telephony cores
//! and the ACD; the agent desk's protocol, the softphone and the wallboard.
//!
//! - UDP and TCP listeners feed every SIP message to one switch task ([`start`]).
//! - The switch owns the [`UserAgent`](telephony::sip::ua::UserAgent), the per-source
//!   [`Guard`](telephony::sip::guard::Guard), each call's [`Ivr`] and the ACD ([`agents`]); it
//!   turns their commands into socket writes, media commands, CRM look-ups and call records.
//! - Each call's media runs on the clock threads and a receive task ([`media`]).
//! - Agents and supervisors reach the switch through [`desk::Desk`] (the desk protocol); an
//!   agent's audio goes through the WebRTC [`softphone`]; [`wallboard`] counts queue events.
//! - [`library`] loads the IVR flows and `queues.toml` ([`queues`]) and reloads them on change;
//!   [`lookup`] turns CRM look-ups into flow variables.
//!
//! Nothing here decides anything a core could decide; this is wiring.

mod agents;
pub use agents::DESK_BUFFER;
pub mod call;
pub mod desk;
pub mod library;
pub mod lookup;
pub mod media;
pub mod queues;
pub mod softphone;
pub mod wallboard;

/// The shipped flows and prompts (`ivr-scripts/`, packed by `build.rs`).
static SHIPPED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shipped.bin"));

/// The shipped flows and prompts: (path under the flow directory, contents).
pub fn shipped() -> Vec<(&'static str, &'static [u8])> {
    let mut files = vec![];
    let mut rest = SHIPPED;
    while let Some(nul) = rest.iter().position(|&b| b == 0) {
        let name = std::str::from_utf8(&rest[..nul]).expect("build.rs writes UTF-8 names");
        let len = u64::from_le_bytes(rest[nul + 1..nul + 9].try_into().expect("8 length bytes")) as usize;
        let start = nul + 9;
        files.push((name, &rest[start..start + len]));
        rest = &rest[start + len..];
    }
    files
}

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_core::model::{CallOutcome, Direction, NewCdr};
use crm_core::screen_pop::ScreenPopSettings;
use crm_core::Store;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::desk::{CenterIn, Desk};
use crate::library::{Change, Library};
use crate::softphone::Softphone;
use crate::wallboard::{QueueInfo, Tally, Wallboard};
use media::{MediaEngine, MediaHandle, MediaStats, PortPool};
use telephony::ivr::engine::{Command, Input, Ivr, Now, Value};
use telephony::ivr::script::LookupKind;
use telephony::media::leg::{Leg, LegConfig, LegEvent};
use telephony::sip::framing::{next_frame, Frame};
use telephony::sip::guard::{Cidr, Guard, GuardConfig, Verdict, MALFORMED_COST};
use telephony::sip::message::MAX_MESSAGE;
use telephony::sip::screen::Policy;
use telephony::sip::ua::{CallRef, End, Event, Output, Peer, Transport, UaConfig, UserAgent};
use telephony::Time;

#[derive(Debug, Clone)]
pub struct VoiceConfig {
    pub sip: SocketAddr,
    pub public_ip: Option<IpAddr>,
    pub rtp_ports: (u16, u16),
    pub ivr_dir: PathBuf,
    /// Record calls here (stereo WAV per call), or not at all.
    pub recordings: Option<PathBuf>,
    pub voicemail_dir: PathBuf,
    pub max_calls: usize,
    /// Hang up answered calls silent (no RTP received) this long.
    pub rtp_timeout: Option<Duration>,
    pub rate_limit: u32,
    pub ban_seconds: u32,
    pub trusted: Vec<String>,
    pub screen_pop: ScreenPopSettings,
    pub trunk: Option<SocketAddr>,
    pub trunk_credentials: Option<telephony::sip::ua::Credentials>,
    pub caller_id: String,
}

/// Counters shown at `/metrics`.
#[derive(Default)]
pub struct VoiceStats {
    pub calls_offered: AtomicU64,
    pub calls_active: AtomicU64,
    pub calls_refused: AtomicU64,
    pub sip_received: AtomicU64,
    pub sip_banned: AtomicU64,
    /// Bans started by the per-source limiter.
    pub sip_bans: AtomicU64,
    pub cdr_failures: AtomicU64,
    pub agents_connected: AtomicU64,
    pub announcements: AtomicU64,
    pub callbacks_requested: AtomicU64,
    pub callbacks_placed: AtomicU64,
    pub callbacks_connected: AtomicU64,
    pub media: Arc<MediaStats>,
}

pub struct Voice {
    /// The bound SIP address (UDP and TCP).
    pub sip: SocketAddr,
    tx: mpsc::Sender<SwitchIn>,
    /// Agents' and supervisors' way into the ACD.
    pub desk: Desk,
    pub stats: Arc<VoiceStats>,
    pub library: Arc<Library>,
    done: tokio::task::JoinHandle<()>,
}

/// Places outbound calls through the switch.
#[derive(Clone)]
pub struct Dialer {
    tx: mpsc::Sender<SwitchIn>,
}

/// How a satisfaction survey call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyEnd {
    pub answered: bool,
    /// As in the call record: `callee_hangup`, `ivr_hangup`, `sip_486`, `timeout`, …
    pub end_reason: String,
    /// The answers (repair, technician, fixed the first time) when the survey got that far.
    pub answers: Option<(u8, u8, bool)>,
    /// The customer's recorded comment, if they left one.
    pub comment: Option<PathBuf>,
    pub call_id: String,
}

/// A survey call in progress: what it has heard, and who waits for its end.
struct SurveyCall {
    answers: Option<(u8, u8, bool)>,
    comment: Option<PathBuf>,
    done: Option<tokio::sync::oneshot::Sender<SurveyEnd>>,
}

/// Why an outbound call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The request is wrong (field, reason).
    Invalid(&'static str, String),
    /// The service cannot place it now.
    Unavailable(String),
}

impl Dialer {
    /// Call `to` (an E.164 number, sent to the trunk, or a `sip:user@IP:port` URI) and run the
    /// named IVR flow once answered. Returns the SIP Call-ID.
    pub async fn dial(&self, to: &str, flow: &str) -> Result<String, DialError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(SwitchIn::Dial {
                to: to.to_string(),
                flow: flow.to_string(),
                survey: None,
                call_id_stem: None,
                reply,
            })
            .await
            .map_err(|_| DialError::Unavailable("the voice front end is stopping".into()))?;
        rx.await
            .map_err(|_| DialError::Unavailable("the voice front end is stopping".into()))?
    }

    /// Call `to` into a survey flow; the receiver gets how the call ended and what was said.
    /// The Call-ID starts with `key` (the attempt's idempotency key).
    pub async fn dial_survey(
        &self,
        to: &str,
        flow: &str,
        key: &str,
    ) -> Result<(String, tokio::sync::oneshot::Receiver<SurveyEnd>), DialError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let (done, ended) = tokio::sync::oneshot::channel();
        self.tx
            .send(SwitchIn::Dial {
                to: to.to_string(),
                flow: flow.to_string(),
                survey: Some(done),
                call_id_stem: Some(key.to_string()),
                reply,
            })
            .await
            .map_err(|_| DialError::Unavailable("the voice front end is stopping".into()))?;
        let id = rx
            .await
            .map_err(|_| DialError::Unavailable("the voice front end is stopping".into()))??;
        Ok((id, ended))
    }
}

impl Voice {
    pub fn dialer(&self) -> Dialer {
        Dialer { tx: self.tx.clone() }
    }

    /// Wait until the switch has hung up every call and written their records.
    pub async fn finished(self) {
        let _ = self.done.await;
    }
}

pub enum SwitchIn {
    /// `queues.toml` changed and was accepted (checked against the flows): apply it.
    Queues(Vec<crate::queues::QueueDef>),
    Sip {
        from: Peer,
        bytes: Vec<u8>,
        /// When the socket read it.
        at: Instant,
    },
    TcpOpen {
        addr: SocketAddr,
        tx: mpsc::Sender<Vec<u8>>,
    },
    TcpClosed {
        addr: SocketAddr,
    },
    Found {
        call: CallRef,
        /// What was looked up, the flow's variables, and the customer found.
        found: Option<(LookupKind, HashMap<String, Value>, i64)>,
    },
    /// The screen pop for a call is ready (`None`: the caller is unknown).
    Pop {
        call: CallRef,
        pop: agents::Pop,
    },
    /// The softphone answer for an agent's call is ready (or failed).
    Softphone {
        call: CallRef,
        agent: acd::AgentId,
        result: Result<(Softphone, String), String>,
    },
    Dial {
        to: String,
        flow: String,
        /// A survey call: told how it ended.
        survey: Option<tokio::sync::oneshot::Sender<SurveyEnd>>,
        /// The Call-ID's stem.
        call_id_stem: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<String, DialError>>,
    },
}

struct Call {
    direction: Direction,
    call_id: String,
    caller: String,
    called: String,
    started_at: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    ivr: Option<Ivr>,
    media: Option<MediaHandle>,
    /// Who the caller is (caller ID), or else the owner of the serial they typed.
    customer_id: Option<i64>,
    /// The owner of a serial typed in the IVR.
    serial_owner_id: Option<i64>,
    /// The caller's message, when they left one.
    voicemail: Option<PathBuf>,
    recording: Option<PathBuf>,
    /// When the INVITE arrived.
    invite_at: Instant,
    pop: Option<agents::Pop>,
    /// In the ACD: the queue and what the caller needs.
    queued: Option<agents::Queued>,
    /// The agent who answered, and when (switch clock).
    agent: Option<(acd::AgentId, Time)>,
    queue_wait_ms: Option<i64>,
    /// Answered within the queue's service-level time.
    answered_within_sl: Option<bool>,
    softphone: Option<Softphone>,
    /// An outbound call made to call back this ACD caller.
    callback_for: Option<acd::CallerId>,
    /// The agent's part of the call is over (hung up or transferred).
    agent_ended: bool,
    /// Hung up because the peer stopped sending RTP.
    rtp_timeout: bool,
    /// A satisfaction survey call.
    survey: Option<SurveyCall>,
}

/// The address to put in SDP and Contact.
fn advertised_ip(bound: IpAddr, public: Option<IpAddr>) -> IpAddr {
    if let Some(ip) = public {
        return ip;
    }
    if !bound.is_unspecified() {
        return bound;
    }
    // The interface that holds the default route (no packet is sent).
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Bind the SIP sockets and start the switch. It runs until `shutdown` turns true, then hangs
/// up every call and writes their records.
pub async fn start(cfg: VoiceConfig, store: Arc<dyn Store>, shutdown: watch::Receiver<bool>) -> anyhow::Result<Voice> {
    let prompts = Arc::new(telephony::media::prompts::Prompts::load(&cfg.ivr_dir.join("prompts"))?);
    let library = Arc::new(Library::load(&cfg.ivr_dir, prompts)?);
    let queue_defs = library.queue_defs();
    let acd = acd::Acd::new(queue_defs.iter().map(|q| q.acd.clone()).collect()).map_err(anyhow::Error::msg)?;
    let tally = Tally::new(
        queue_defs
            .iter()
            .map(|q| QueueInfo {
                name: q.acd.name.clone(),
                sl_threshold_ms: q.acd.sl_threshold_ms,
                sl_target: q.sl_target,
            })
            .collect(),
    );
    let (center_tx, center_rx) = mpsc::channel::<CenterIn>(4096);
    let (wall_tx, wall_rx) = watch::channel(Arc::new(tally.board(Utc::now(), &HashMap::new(), vec![])));
    let (udp, tcp) = bind_sip(cfg.sip).await?;
    grow_receive_buffer(&udp, 8 << 20);
    udp.set_nonblocking(true)?;
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let bound = udp.local_addr()?;
    let ip = advertised_ip(bound.ip(), cfg.public_ip);
    let advertised = SocketAddr::new(ip, bound.port());
    let mut trusted = vec![];
    for t in &cfg.trusted {
        trusted.push(Cidr::parse(t).map_err(anyhow::Error::msg)?);
    }
    let stats = Arc::new(VoiceStats::default());
    let (tx, rx) = mpsc::channel::<SwitchIn>(16_384);
    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let pool = PortPool::new(cfg.rtp_ports.0, cfg.rtp_ports.1);
    let media = MediaEngine::start(pool, stats.media.clone(), media_tx);

    // UDP reader.
    {
        let udp = udp.clone();
        let tx = tx.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                stats.sip_received.fetch_add(1, Ordering::Relaxed);
                let msg = SwitchIn::Sip {
                    from: Peer {
                        transport: Transport::Udp,
                        addr: from,
                    },
                    bytes: buf[..n].to_vec(),
                    at: Instant::now(),
                };
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
    // TCP acceptor: one reader and one writer task per connection.
    {
        let tx = tx.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, addr)) = tcp.accept().await else { continue };
                let tx = tx.clone();
                let stats = stats.clone();
                tokio::spawn(tcp_connection(conn, addr, tx, stats));
            }
        });
    }
    // Flow reloads.
    {
        let library = library.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                for change in library.reload() {
                    match change {
                        Change::Loaded(f) => tracing::info!(file = %f.display(), "IVR flow loaded"),
                        Change::Removed(f) => tracing::info!(file = %f.display(), "IVR flow removed"),
                        Change::QueuesLoaded(f) => {
                            tracing::info!(file = %f.display(), "queues loaded");
                            let _ = tx.send(SwitchIn::Queues(library.queue_defs())).await;
                        }
                        Change::Rejected(e) => {
                            tracing::error!(error = %e, "IVR flow or queues refused; the last good version stays in service")
                        }
                    }
                }
            }
        });
    }
    let switch = Switch {
        ua: UserAgent::new(UaConfig {
            advertised,
            policy: Policy::default(),
            max_calls: cfg.max_calls,
            seed: rand::thread_rng().gen(),
        }),
        guard: Guard::new(GuardConfig {
            rate: cfg.rate_limit,
            ban_ms: u64::from(cfg.ban_seconds) * 1000,
            trusted,
            max_sources: 100_000,
        }),
        epoch: Instant::now(),
        udp,
        tcp: HashMap::new(),
        calls: HashMap::new(),
        timers: BTreeSet::new(),
        library: library.clone(),
        store,
        media,
        media_ip: ip,
        bind_ip: bound.ip(),
        stats: stats.clone(),
        tx: tx.clone(),
        cfg,
        acd,
        queue_defs,
        agents: HashMap::new(),
        next_session: 0,
        tally,
        wall_tx,
        callback_legs: HashMap::new(),
        callback_numbers: HashMap::new(),
        preview_callers: std::collections::HashSet::new(),
        preview_seq: 0,
        received_at: Instant::now(),
    };
    let done = tokio::spawn(switch.run(rx, media_rx, center_rx, shutdown));
    tracing::info!(%bound, %advertised, "SIP listening (UDP and TCP)");
    Ok(Voice {
        sip: bound,
        tx,
        desk: Desk {
            tx: center_tx,
            wallboard: wall_rx,
        },
        stats,
        library,
        done,
    })
}

async fn tcp_connection(
    conn: tokio::net::TcpStream,
    addr: SocketAddr,
    tx: mpsc::Sender<SwitchIn>,
    stats: Arc<VoiceStats>,
) {
    let (mut read, mut write) = conn.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    if tx.send(SwitchIn::TcpOpen { addr, tx: out_tx }).await.is_err() {
        return;
    }
    tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16_384];
    'conn: loop {
        let n = match tokio::time::timeout(Duration::from_secs(600), read.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            Ok(Ok(_)) => {
                // The peer closed its side: what it sent last can no longer grow, so it is
                // taken as one message (answered, or refused as incomplete) on the way out.
                if buf.iter().any(|b| !matches!(b, b'\r' | b'\n')) {
                    let from = Peer {
                        transport: Transport::Tcp,
                        addr,
                    };
                    let mut bytes = std::mem::take(&mut buf);
                    // A header section the close cut short of its empty line ends here.
                    if !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
                        if !bytes.ends_with(b"\r\n") {
                            bytes.extend_from_slice(b"\r\n");
                        }
                        bytes.extend_from_slice(b"\r\n");
                    }
                    let at = Instant::now();
                    let _ = tx.send(SwitchIn::Sip { from, bytes, at }).await;
                }
                break;
            }
            _ => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match next_frame(&buf) {
                Ok(Frame::Partial) => break,
                Ok(Frame::KeepAlive(k)) => {
                    buf.drain(..k);
                }
                Ok(Frame::Message { skip, len }) => {
                    let bytes = buf[skip..skip + len].to_vec();
                    buf.drain(..skip + len);
                    stats.sip_received.fetch_add(1, Ordering::Relaxed);
                    let from = Peer {
                        transport: Transport::Tcp,
                        addr,
                    };
                    let at = Instant::now();
                    if tx.send(SwitchIn::Sip { from, bytes, at }).await.is_err() {
                        break 'conn;
                    }
                }
                Err(e) => {
                    // Answer what can be answered (the parser's 400 naming the fault, sent
                    // before the close is seen), then close: the stream cannot be framed on.
                    tracing::debug!(reason = e.0, "closing a SIP/TCP connection that cannot be framed");
                    let from = Peer {
                        transport: Transport::Tcp,
                        addr,
                    };
                    let bytes = std::mem::take(&mut buf);
                    let at = Instant::now();
                    let _ = tx.send(SwitchIn::Sip { from, bytes, at }).await;
                    break 'conn;
                }
            }
        }
        if buf.len() > MAX_MESSAGE {
            break;
        }
    }
    let _ = tx.send(SwitchIn::TcpClosed { addr }).await;
}

struct Switch {
    ua: UserAgent,
    guard: Guard,
    epoch: Instant,
    udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    calls: HashMap<CallRef, Call>,
    /// IVR timers: `(when, call, timer id)`.
    timers: BTreeSet<(Time, CallRef, u64)>,
    library: Arc<Library>,
    store: Arc<dyn Store>,
    media: MediaEngine,
    media_ip: IpAddr,
    bind_ip: IpAddr,
    stats: Arc<VoiceStats>,
    tx: mpsc::Sender<SwitchIn>,
    cfg: VoiceConfig,
    acd: acd::Acd,
    queue_defs: Vec<crate::queues::QueueDef>,
    agents: HashMap<acd::AgentId, agents::AgentSession>,
    next_session: u64,
    tally: Tally,
    wall_tx: watch::Sender<Arc<Wallboard>>,
    /// ACD callers being called back: the outbound call that carries them.
    callback_legs: HashMap<acd::CallerId, CallRef>,
    /// Numbers to call back, for callers who chose a callback and hung up.
    callback_numbers: HashMap<acd::CallerId, (String, Option<agents::Pop>)>,
    /// ACD callers that are agents' own calls (preview dials), numbered from
    /// `agents::PREVIEW_CALLERS` so they never meet an inbound call's reference.
    preview_callers: std::collections::HashSet<acd::CallerId>,
    preview_seq: u64,
    /// When the SIP message being handled was read from its socket.
    received_at: Instant,
}

/// The switch reads its clocks here and nowhere else: [`Switch::now`] for the cores (one
/// [`Time`] for SIP, media, IVR and ACD), [`Switch::wall`] for what people and records see
/// (call records, the wallboard's intervals, file names).
impl Switch {
    fn now(&self) -> Time {
        Time(self.epoch.elapsed().as_millis() as u64)
    }

    fn wall() -> DateTime<Utc> {
        Utc::now()
    }

    fn clocks(&self) -> Now {
        Now {
            mono: self.now(),
            wall: Switch::wall(),
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<SwitchIn>,
        mut media_rx: mpsc::UnboundedReceiver<(CallRef, LegEvent)>,
        mut center_rx: mpsc::Receiver<CenterIn>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut wall_every = tokio::time::interval(Duration::from_secs(1));
        wall_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let deadline = [
                self.ua.next_deadline(),
                self.timers.iter().next().map(|(t, ..)| *t),
                self.acd.next_deadline().map(Time),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep_until = match deadline {
                Some(t) => self.epoch + Duration::from_millis(t.0),
                None => Instant::now() + Duration::from_secs(3600),
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.handle(m).await,
                    None => break,
                },
                Some((call, event)) = media_rx.recv() => {
                    let outs = match event {
                        LegEvent::PlayDone(t) if t >= agents::HANG_UP_AFTER => {
                            let now = self.now();
                            self.ua.hangup(now, call)
                        }
                        LegEvent::PlayDone(t) => self.ivr_commands_for(call, Input::PlayDone(t)).await,
                        LegEvent::Digit(d) => self.digit(call, d).await,
                    };
                    self.carry_out(outs).await;
                }
                Some(m) = center_rx.recv() => {
                    let outs = self.center(m).await;
                    self.carry_out(outs).await;
                }
                _ = wall_every.tick() => {
                    self.publish_wallboard();
                    let outs = self.hang_up_silent_calls();
                    self.carry_out(outs).await;
                }
                _ = tokio::time::sleep_until(sleep_until) => self.tick().await,
                _ = shutdown.changed() => break,
            }
        }
        self.hang_up_all().await;
    }

    async fn hang_up_all(&mut self) {
        let calls: Vec<CallRef> = self.calls.keys().copied().collect();
        let now = self.now();
        for call in calls {
            let outs = self.ua.hangup(now, call);
            self.carry_out(outs).await;
        }
        tracing::info!("all calls ended");
    }

    async fn tick(&mut self) {
        let now = self.now();
        let outs = self.ua.tick(now);
        self.carry_out(outs).await;
        let outs = self.acd_tick().await;
        self.carry_out(outs).await;
        while let Some(&(at, call, id)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, call, id));
            if id >= agents::HANG_UP_AFTER {
                let outs = self.ua.hangup(now, call);
                self.carry_out(outs).await;
                continue;
            }
            self.ivr_input(call, Input::Timer(id)).await;
        }
    }

    /// A ban the limiter started since it counted `before`: logged with the address masked (an
    /// address can be a person's) and counted.
    fn noticed_ban(&self, before: u64, ip: std::net::IpAddr) {
        if self.guard.bans > before {
            self.stats.sip_bans.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %telephony::sip::guard::masked(ip), "SIP source banned by the rate limiter");
        }
    }

    async fn handle(&mut self, m: SwitchIn) {
        match m {
            SwitchIn::Queues(defs) => {
                let configs = defs.iter().map(|q| q.acd.clone()).collect();
                match self.acd.configure(configs) {
                    Ok(()) => self.tally.set_queues(
                        defs.iter()
                            .map(|q| QueueInfo {
                                name: q.acd.name.clone(),
                                sl_threshold_ms: q.acd.sl_threshold_ms,
                                sl_target: q.sl_target,
                            })
                            .collect(),
                    ),
                    Err(e) => tracing::error!(error = %e, "queues not applied; the ones in service stay"),
                }
            }
            SwitchIn::Sip { from, bytes, at } => {
                self.received_at = at;
                let now = self.now();
                let bans = self.guard.bans;
                let verdict = self.guard.check(now, from.addr.ip(), 1.0);
                self.noticed_ban(bans, from.addr.ip());
                if verdict == Verdict::Banned {
                    self.stats.sip_banned.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let outs = self.ua.receive(now, from, &bytes);
                self.carry_out(outs).await;
            }
            SwitchIn::TcpOpen { addr, tx } => {
                self.tcp.insert(addr, tx);
            }
            SwitchIn::TcpClosed { addr } => {
                self.tcp.remove(&addr);
            }
            SwitchIn::Dial {
                to,
                flow,
                survey,
                call_id_stem,
                reply,
            } => {
                let result = self.dial(&to, &flow, survey, call_id_stem).await;
                let _ = reply.send(result);
            }
            SwitchIn::Pop { call, pop } => {
                let outs = self.pop_ready(call, pop);
                self.carry_out(outs).await;
            }
            SwitchIn::Softphone { call, agent, result } => self.softphone_ready(call, agent, result).await,
            SwitchIn::Found { call, found } => {
                let input = match found {
                    Some((what, vars, customer)) => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            if what == LookupKind::Serial {
                                c.serial_owner_id = Some(customer);
                            }
                            // A typed serial does not say who is calling: it names the caller
                            // only when their number did not.
                            if what == LookupKind::Caller || c.customer_id.is_none() {
                                c.customer_id = Some(customer);
                            }
                        }
                        Input::Found(Some(vars))
                    }
                    None => Input::Found(None),
                };
                self.ivr_input(call, input).await;
            }
        }
    }

    async fn send(&self, to: Peer, bytes: &[u8]) {
        match to.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(bytes, to.addr).await {
                    tracing::debug!(error = %e, "SIP send failed");
                }
            }
            Transport::Tcp => {
                if let Some(tx) = self.tcp.get(&to.addr) {
                    let _ = tx.send(bytes.to_vec()).await;
                }
            }
        }
    }

    async fn carry_out(&mut self, outs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Output::Send { to, bytes } => self.send(to, &bytes).await,
                Output::Event(e) => {
                    let more = self.on_event(e).await;
                    queue.extend(more);
                }
            }
        }
    }

    async fn on_event(&mut self, e: Event) -> Vec<Output> {
        let now = self.now();
        match e {
            Event::Incoming {
                call,
                call_id,
                caller,
                called,
                agreed,
            } => {
                self.stats.calls_offered.fetch_add(1, Ordering::Relaxed);
                let Some(script) = self.library.script_for(&called) else {
                    tracing::warn!("no IVR flow answers the called number; call refused");
                    self.stats.calls_refused.fetch_add(1, Ordering::Relaxed);
                    return self.ua.reject(now, call, 404, "Not Found");
                };
                // Delayed offer (no SDP in the INVITE): our offer goes in the 200 and the answer
                // comes with the ACK (`MediaChanged`, before `Confirmed`). Until then the leg
                // has nowhere to send and stays silent.
                let a = agreed.unwrap_or(telephony::media::sdp::Agreed {
                    codec: telephony::media::sdp::Codec::Pcmu,
                    dtmf_pt: Some(101),
                    remote: SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0),
                    direction: telephony::media::sdp::Direction::SendRecv,
                    index: 0,
                });
                let recording = self.cfg.recordings.as_ref().map(|dir| {
                    dir.join(Switch::wall().format("%Y-%m-%d").to_string())
                        .join(format!("{}.wav", file_safe(&call_id)))
                });
                let leg = {
                    let mut rng = rand::thread_rng();
                    Leg::new(LegConfig {
                        codec: a.codec,
                        dtmf_pt: a.dtmf_pt,
                        remote: a.remote,
                        ssrc: rng.gen(),
                        first_seq: rng.gen(),
                        first_timestamp: rng.gen(),
                        record: recording.is_some(),
                    })
                };
                let (media, port) = match self.media.open(call, self.bind_ip, leg, recording.clone()) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!(error = %e, "no RTP port; call refused");
                        self.stats.calls_refused.fetch_add(1, Ordering::Relaxed);
                        return self.ua.reject(now, call, 503, "Service Unavailable");
                    }
                };
                let media = Some(media);
                self.stats.calls_active.fetch_add(1, Ordering::Relaxed);
                self.calls.insert(
                    call,
                    Call {
                        direction: Direction::Inbound,
                        call_id,
                        caller: caller.clone(),
                        called: called.clone(),
                        started_at: Switch::wall(),
                        answered_at: None,
                        ivr: Some(Ivr::new(script, &caller, &called)),
                        media,
                        customer_id: None,
                        serial_owner_id: None,
                        voicemail: None,
                        recording,
                        invite_at: self.received_at,
                        pop: None,
                        queued: None,
                        agent: None,
                        queue_wait_ms: None,
                        answered_within_sl: None,
                        softphone: None,
                        callback_for: None,
                        agent_ended: false,
                        rtp_timeout: false,
                        survey: None,
                    },
                );
                self.start_pop(call, &caller);
                self.ua.answer(now, call, SocketAddr::new(self.media_ip, port))
            }
            Event::Confirmed { call } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.answered_at = Some(Switch::wall());
                }
                self.ivr_commands_for(call, Input::Start).await
            }
            Event::MediaChanged { call, agreed } => {
                if let Some(m) = self.calls.get(&call).and_then(|c| c.media.as_ref()) {
                    m.renegotiate(agreed.codec, agreed.dtmf_pt, agreed.remote);
                }
                vec![]
            }
            Event::Dtmf { call, digit } => self.digit(call, digit).await,
            Event::Malformed { from } => {
                // A malformed message costs its source more than a well-formed one.
                let bans = self.guard.bans;
                self.guard.check(self.now(), from.addr.ip(), MALFORMED_COST - 1.0);
                self.noticed_ban(bans, from.addr.ip());
                vec![]
            }
            Event::Ended { call, end } => {
                let mut outs = self.left_call(call).await;
                self.finish(call, end);
                outs.extend(self.after_callback_ended(call).await);
                outs
            }
            Event::Refused {
                call_id,
                caller,
                called,
                code,
            } => {
                self.stats.calls_refused.fetch_add(1, Ordering::Relaxed);
                let t = Switch::wall();
                self.write_cdr(NewCdr {
                    call_id,
                    direction: Direction::Inbound,
                    caller,
                    called,
                    customer_id: None,
                    serial_owner_id: None,
                    voicemail: None,
                    started_at: t,
                    answered_at: None,
                    ended_at: t,
                    ivr_script: None,
                    ivr_path: String::new(),
                    dtmf: String::new(),
                    queue: None,
                    outcome: CallOutcome::Rejected,
                    end_reason: format!("sip_{code}"),
                    recording: None,
                    agent_id: None,
                    queue_wait_ms: None,
                    answered_within_sl: None,
                });
                vec![]
            }
            Event::Answered { call, agreed } => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return vec![];
                };
                c.answered_at = Some(Switch::wall());
                if let Some(m) = &c.media {
                    m.renegotiate(agreed.codec, agreed.dtmf_pt, agreed.remote);
                }
                tracing::info!(call, "outbound call answered");
                if let Some(caller) = c.callback_for {
                    return self.callback_answered(call, caller).await;
                }
                self.ivr_commands_for(call, Input::Start).await
            }
            Event::Ringing { .. } => vec![],
        }
    }

    /// Place an outbound call and remember it like an inbound one.
    async fn dial(
        &mut self,
        to: &str,
        flow: &str,
        survey: Option<tokio::sync::oneshot::Sender<SurveyEnd>>,
        call_id_stem: Option<String>,
    ) -> Result<String, DialError> {
        let Some(script) = self.library.script_named(flow) else {
            return Err(DialError::Invalid("flow", format!("no IVR flow named {flow:?}")));
        };
        let (call, id, outs) = self.dial_with(to, Some(script), None, call_id_stem)?;
        if let (Some(c), Some(done)) = (self.calls.get_mut(&call), survey) {
            c.survey = Some(SurveyCall {
                answers: None,
                comment: None,
                done: Some(done),
            });
        }
        self.carry_out(outs).await;
        Ok(id)
    }

    /// Place an outbound call running `script` once answered, or calling back an ACD caller.
    /// The INVITE is among the returned outputs.
    fn dial_with(
        &mut self,
        to: &str,
        script: Option<Arc<telephony::ivr::script::Script>>,
        callback_for: Option<acd::CallerId>,
        call_id_stem: Option<String>,
    ) -> Result<(CallRef, String, Vec<Output>), DialError> {
        let (target, peer, callee) = if let Some(rest) = to.strip_prefix("sip:") {
            let host = rest.split(';').next().unwrap_or(rest);
            let (user, hostport) = host.split_once('@').unwrap_or(("", host));
            let addr: SocketAddr = hostport
                .parse()
                .map_err(|_| DialError::Invalid("to", "a SIP URI must name IP:port (no DNS)".into()))?;
            (to.to_string(), addr, user.to_string())
        } else {
            let number =
                crm_core::types::PhoneNumber::parse(to).map_err(|e| DialError::Invalid("to", e.to_string()))?;
            let Some(trunk) = self.cfg.trunk else {
                return Err(DialError::Unavailable(
                    "no sip_trunk is configured for calls to numbers".into(),
                ));
            };
            (
                format!("sip:{}@{trunk}", number.as_str()),
                trunk,
                number.as_str().to_string(),
            )
        };
        let now = self.now();
        // The leg learns the codec and the callee's address from the answer.
        let leg = {
            let mut rng = rand::thread_rng();
            Leg::new(LegConfig {
                codec: telephony::media::sdp::Codec::Pcmu,
                dtmf_pt: Some(101),
                remote: SocketAddr::from(([0, 0, 0, 0], 0)),
                ssrc: rng.gen(),
                first_seq: rng.gen(),
                first_timestamp: rng.gen(),
                record: false,
            })
        };
        let next_ref = self.ua.next_call_ref();
        let (media, port) = self
            .media
            .open(next_ref, self.bind_ip, leg, None)
            .map_err(|e| DialError::Unavailable(format!("no RTP port: {e}")))?;
        let (call, outs) = self.ua.dial(
            now,
            telephony::sip::ua::Dial {
                target,
                from_user: self.cfg.caller_id.clone(),
                peer: Peer {
                    transport: Transport::Udp,
                    addr: peer,
                },
                credentials: self.cfg.trunk_credentials.clone(),
                local_media: SocketAddr::new(self.media_ip, port),
                call_id_stem,
            },
        );
        debug_assert_eq!(call, next_ref);
        let call_id = self.ua.call_id(call).unwrap_or_default();
        self.stats.calls_active.fetch_add(1, Ordering::Relaxed);
        self.calls.insert(
            call,
            Call {
                direction: Direction::Outbound,
                call_id: call_id.clone(),
                caller: self.cfg.caller_id.clone(),
                called: callee.clone(),
                started_at: Switch::wall(),
                answered_at: None,
                ivr: script.map(|s| Ivr::new(s, &callee, &self.cfg.caller_id)),
                media: Some(media),
                customer_id: None,
                serial_owner_id: None,
                voicemail: None,
                recording: None,
                invite_at: Instant::now(),
                pop: None,
                queued: None,
                agent: None,
                queue_wait_ms: None,
                answered_within_sl: None,
                softphone: None,
                callback_for,
                agent_ended: false,
                rtp_timeout: false,
                survey: None,
            },
        );
        Ok((call, call_id, outs))
    }

    /// Answered calls whose peer has sent no RTP for `rtp_timeout`: the peer is gone (its BYE
    /// lost). Hanging up frees the agent and ends the record.
    fn hang_up_silent_calls(&mut self) -> Vec<Output> {
        let Some(limit) = self.cfg.rtp_timeout else {
            return vec![];
        };
        let silent: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|(_, c)| c.answered_at.is_some() && c.media.as_ref().is_some_and(|m| m.silent_for() > limit))
            .map(|(k, _)| *k)
            .collect();
        let now = self.now();
        let mut outs = vec![];
        for call in silent {
            tracing::info!(call, "no RTP from the peer; hanging up");
            if let Some(c) = self.calls.get_mut(&call) {
                c.rtp_timeout = true;
            }
            outs.extend(self.ua.hangup(now, call));
        }
        outs
    }

    fn finish(&mut self, call: CallRef, end: End) {
        let now = self.now();
        let Some(mut c) = self.calls.remove(&call) else { return };
        self.stats.calls_active.fetch_sub(1, Ordering::Relaxed);
        // A caller who hung up in the queue waited until now.
        if c.queue_wait_ms.is_none() {
            c.queue_wait_ms = c.queued.as_ref().map(|q| call::queue_wait_ms(q.since, now));
        }
        self.timers.retain(|(_, k, _)| *k != call);
        // Dropping the handle stops the media, closes its files and frees the port.
        drop(c.media);
        let ivr = c.ivr.as_ref();
        let call::Ended { outcome, end_reason } = call::ended(&call::Facts {
            end,
            direction: c.direction,
            flow_outcome: ivr.and_then(|i| i.outcome()),
            answered: c.answered_at.is_some(),
            agent: c.agent.is_some(),
            rtp_timeout: c.rtp_timeout,
            waiting_in_acd: c.queued.as_ref().is_some_and(|q| q.in_acd),
        });
        tracing::info!(call, outcome = outcome.as_str(), reason = %end_reason, "call ended");
        if let Some(phone) = c.softphone {
            tokio::spawn(phone.close());
        }
        if let Some(mut survey) = c.survey {
            if let Some(done) = survey.done.take() {
                let _ = done.send(SurveyEnd {
                    answered: c.answered_at.is_some(),
                    end_reason: end_reason.clone(),
                    answers: survey.answers,
                    comment: survey.comment,
                    call_id: c.call_id.clone(),
                });
            }
        }
        let queue = c
            .queued
            .as_ref()
            .map(|q| q.queue.clone())
            .or_else(|| ivr.and_then(|i| i.queue()).map(str::to_string));
        self.write_cdr(NewCdr {
            call_id: c.call_id,
            direction: c.direction,
            caller: c.caller,
            called: c.called,
            customer_id: c.customer_id,
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: Switch::wall(),
            ivr_script: ivr.map(|i| i.script_name().to_string()),
            ivr_path: ivr.map(|i| i.path()).unwrap_or_default(),
            dtmf: ivr.map(|i| i.digits().to_string()).unwrap_or_default(),
            queue,
            outcome,
            end_reason,
            recording: c.recording.map(|p| p.display().to_string()),
            agent_id: c.agent.map(|(a, _)| i64::from(a)),
            queue_wait_ms: c.queue_wait_ms,
            answered_within_sl: c.answered_within_sl,
            serial_owner_id: c.serial_owner_id,
            voicemail: c.voicemail.map(|p| p.display().to_string()),
        });
    }

    fn write_cdr(&self, cdr: NewCdr) {
        let store = self.store.clone();
        let stats = self.stats.clone();
        tokio::spawn(async move {
            // Storage may be briefly unavailable: retry a few times before giving up loudly.
            for attempt in 0..5 {
                match store.insert_cdr(&cdr).await {
                    Ok(_) => return,
                    Err(e) if attempt == 4 => {
                        stats.cdr_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, "call record could not be written");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
                }
            }
        });
    }

    async fn ivr_input(&mut self, call: CallRef, input: Input) {
        let outs = self.ivr_commands_for(call, input).await;
        self.carry_out(outs).await;
    }

    /// Feed the call's IVR and carry out its commands; SIP output (a hang-up) is returned.
    async fn ivr_commands_for(&mut self, call: CallRef, input: Input) -> Vec<Output> {
        let clocks = self.clocks();
        let Some(c) = self.calls.get_mut(&call) else {
            return vec![];
        };
        let Some(ivr) = c.ivr.as_mut() else { return vec![] };
        let commands = ivr.on(clocks, input);
        let mut sip = vec![];
        for cmd in commands {
            let media = self.calls.get(&call).and_then(|c| c.media.as_ref());
            match cmd {
                Command::Play { prompts, token } => {
                    let lib = self.library.prompts();
                    let clips = prompts.iter().filter_map(|p| lib.get(p)).collect();
                    if let Some(m) = media {
                        m.play(token, clips);
                    }
                }
                Command::StopPlayback => {
                    if let Some(m) = media {
                        m.stop();
                    }
                }
                Command::Timer { id, at } => {
                    self.timers.insert((at, call, id));
                }
                Command::Lookup { what, key } => {
                    let store = self.store.clone();
                    let tx = self.tx.clone();
                    let settings = self.cfg.screen_pop;
                    let today = Switch::wall().date_naive();
                    tokio::spawn(async move {
                        let found = match tokio::time::timeout(
                            Duration::from_secs(3),
                            lookup::lookup(store.as_ref(), what, &key, today, settings),
                        )
                        .await
                        {
                            Ok(Ok(f)) => f.map(|f| (what, f.vars, f.customer_id)),
                            Ok(Err(e)) => {
                                tracing::error!(error = %e, "IVR look-up failed");
                                None
                            }
                            Err(_) => {
                                tracing::error!("IVR look-up timed out");
                                None
                            }
                        };
                        let _ = tx.send(SwitchIn::Found { call, found }).await;
                    });
                }
                Command::Queue {
                    queue,
                    skills,
                    min_level,
                    priority,
                } => {
                    tracing::info!(call, %queue, "call queued; hold music until an agent takes it");
                    sip.extend(self.enqueue(call, &queue, skills, min_level, priority).await);
                    let hold = self
                        .calls
                        .get(&call)
                        .and_then(|c| c.ivr.as_ref())
                        .and_then(|i| i.hold_music())
                        .and_then(|name| self.library.prompts().get(name));
                    if let Some(m) = self.calls.get(&call).and_then(|c| c.media.as_ref()) {
                        m.hold(hold);
                    }
                }
                Command::StartRecording { .. } => {
                    let path = self.cfg.voicemail_dir.join(format!(
                        "{}-{}.wav",
                        Switch::wall().format("%Y%m%dT%H%M%S"),
                        file_safe(&self.calls[&call].call_id)
                    ));
                    if let Some(m) = media {
                        m.capture(Some(path.clone()));
                    }
                    if let Some(c) = self.calls.get_mut(&call) {
                        match c.survey.as_mut() {
                            Some(s) => s.comment = Some(path),
                            None => c.voicemail = Some(path),
                        }
                    }
                }
                Command::Survey {
                    repair,
                    technician,
                    fixed_first_time,
                } => {
                    if let Some(s) = self.calls.get_mut(&call).and_then(|c| c.survey.as_mut()) {
                        s.answers = Some((repair, technician, fixed_first_time));
                    } else {
                        tracing::warn!(call, "a survey answered on a call that is no survey call; not recorded");
                    }
                }
                Command::StopRecording => {
                    if let Some(m) = media {
                        m.capture(None);
                    }
                }
                Command::Hangup => {
                    let now = self.now();
                    sip.extend(self.ua.hangup(now, call));
                }
            }
        }
        sip
    }
}

/// UDP and TCP on the same address. With port 0 the UDP socket picks a free port that TCP may
/// not have free (another connection holds it): then try another.
async fn bind_sip(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind(addr)?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrInUse, "no port free for both UDP and TCP")))
}

/// Ask for a large receive buffer so bursts (many calls starting at once) are queued, not
/// dropped by the kernel: beyond `net.core.rmem_max` when privileged, else up to it.
fn grow_receive_buffer(socket: &std::net::UdpSocket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let value = &bytes as *const libc::c_int as *const libc::c_void;
    // SAFETY: `fd` is an open socket owned by `socket`; `value` points to a c_int of `len` bytes.
    let forced = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value, len) } == 0;
    if !forced {
        // SAFETY: as above.
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value, len) };
    }
}

/// A Call-ID as a file name: keep letters, digits, `-`, `.`, `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}
