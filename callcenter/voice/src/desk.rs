//! The contact center around the ACD core: queue definitions, the agent desk protocol, the
//! softphone bridge and the wallboard. The ACD itself runs inside the voice switch (which owns
//! the calls); agents and supervisors reach it through [`Desk`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::wallboard::Wallboard;
use crm_core::model::{AgentSkill, KbArticle, ScreenPop, User};

/// What an agent's page sends over its WebSocket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeskIn {
    /// Ask for a state: `available`, `break` (with a reason) or `logged_out`; honoured after
    /// the current call and wrap-up when busy.
    State {
        state: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Take the offered call; `sdp` is the softphone's WebRTC offer (no audio without it).
    Answer {
        call: u64,
        #[serde(default)]
        sdp: Option<String>,
    },
    Decline {
        call: u64,
    },
    Hangup,
    Hold {
        on: bool,
    },
    /// Send keypad tones to the caller.
    Dtmf {
        digits: String,
    },
    /// Blind transfer: the caller goes to this queue and the agent is free.
    Transfer {
        queue: String,
    },
    /// End wrap-up early.
    WrapUpDone,
    /// Call the customer of an agent task this agent holds (preview dial): the agent must be
    /// available; the call is offered like a callback and connects when the customer answers.
    PreviewDial {
        task: i64,
    },
}

/// The agent's state as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView {
    /// `logged_out`, `available`, `ringing`, `on_call`, `wrap_up`, `break`.
    pub state: String,
    pub reason: Option<String>,
    /// The state asked for after the current call, if any.
    pub pending: Option<String>,
}

/// What the page receives.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeskOut {
    Hello {
        agent: i64,
        name: String,
        skills: Vec<AgentSkill>,
        queues: Vec<String>,
    },
    State(StateView),
    /// A call is offered: ringing, with the screen pop (the offer waits for the look-up, at
    /// most two seconds). Sent again, the same, when the page reconnects while it rings.
    Offer {
        call: u64,
        caller: String,
        queue: String,
        /// The caller's own required skills (the product line the IVR learned).
        skills: Vec<String>,
        /// IVR steps and keys, for context.
        ivr_path: String,
        waited_seconds: f64,
        /// When the service received the INVITE (µs since the Unix epoch).
        invite_at_us: i64,
        /// The customer 360, or null for an unknown caller (the page offers search and
        /// quick-create).
        pop: Option<Box<ScreenPop>>,
        /// Knowledge-base articles for the caller's product lines.
        articles: Vec<KbArticle>,
        callback: bool,
    },
    Withdrawn {
        call: u64,
    },
    Connected {
        call: u64,
    },
    /// The softphone's WebRTC answer.
    Media {
        call: u64,
        sdp: String,
    },
    Ended {
        call: u64,
        /// `caller`, `agent`, `transfer`.
        by: String,
        /// The CDR's Call-ID, to attach notes and orders to.
        call_id: String,
    },
    Queues {
        queues: Vec<QueueCount>,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueCount {
    pub name: String,
    pub waiting: u32,
    pub longest_wait_seconds: f64,
    pub agents_available: u32,
}

/// Messages from the HTTP side into the switch.
pub enum CenterIn {
    Connect {
        user: User,
        skills: Vec<AgentSkill>,
        tx: mpsc::Sender<DeskOut>,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    Command {
        user_id: i64,
        session: u64,
        cmd: DeskIn,
    },
    Disconnect {
        user_id: i64,
        session: u64,
    },
    /// A preview dial the desk socket checked: the task is the agent's, with the customer's
    /// number and screen pop looked up.
    PreviewDial {
        user_id: i64,
        session: u64,
        task: i64,
        queue: String,
        number: String,
        pop: Option<Box<ScreenPop>>,
    },
}

/// The HTTP side's handle on the contact center.
#[derive(Clone)]
pub struct Desk {
    pub tx: mpsc::Sender<CenterIn>,
    pub wallboard: watch::Receiver<Arc<Wallboard>>,
}
