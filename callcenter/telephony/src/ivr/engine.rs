//! One call's walk through a flow, as a core without IO or clock: `(now, input)` in, commands
//! out (play these prompts, start a timer, look this up, queue the call, hang up).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::script::{Cond, Item, Kind, LookupKind, Script, SkillRef};
use crate::media::prompts::{say_date, say_digits, say_number};
use crate::time::Time;

/// Both clocks: `mono` for timers, `wall` for business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Time,
    pub wall: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// Read back digit by digit.
    Digits(String),
    Date(NaiveDate),
    Number(i64),
    /// A first name: read back from the `name_<lower case>` prompt when there is one.
    Name(String),
    /// A phrase made of prompts, built by a look-up (say, which cover ends when).
    Phrase(Vec<String>),
}

impl Value {
    fn as_text(&self) -> String {
        match self {
            Value::Text(s) | Value::Digits(s) | Value::Name(s) => s.clone(),
            Value::Date(d) => d.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Phrase(p) => p.join(" "),
        }
    }

    fn spoken(&self) -> Vec<String> {
        match self {
            Value::Digits(s) => say_digits(s),
            Value::Date(d) => say_date(*d),
            Value::Number(n) => say_number((*n).clamp(0, u32::MAX as i64) as u32),
            Value::Name(n) => vec![format!("name_{}", n.to_lowercase())],
            Value::Phrase(p) => p.clone(),
            Value::Text(_) => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    PlayDone(u64),
    Digit(char),
    Timer(u64),
    /// The answer to `Command::Lookup`: the variables found, or `None`.
    Found(Option<HashMap<String, Value>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Play these prompts in order (names that have no file are skipped by the player).
    Play {
        prompts: Vec<String>,
        token: u64,
    },
    /// Stop playing at once (the caller pressed a key).
    StopPlayback,
    /// Call back with `Input::Timer(id)` at `at`. A timer that is no longer wanted is ignored.
    Timer {
        id: u64,
        at: Time,
    },
    Lookup {
        what: LookupKind,
        key: String,
    },
    /// Hand the call to a queue (hold music until the ACD takes it).
    Queue {
        queue: String,
        skills: Vec<String>,
        min_level: u8,
        priority: i32,
    },
    StartRecording {
        max_seconds: u32,
    },
    StopRecording,
    /// Record the survey's answers for the call's repair order.
    Survey {
        repair: u8,
        technician: u8,
        fixed_first_time: bool,
    },
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The node's `say` is playing; then the node acts.
    Say(u64),
    MenuPrompt(u64),
    MenuInput(u64),
    CollectPrompt(u64),
    CollectInput(u64),
    Lookup,
    Recording(u64),
    Queued,
    Done,
}

/// Immediate steps (if/set/lookups answered at once) allowed per input before the flow is
/// declared looping and the call is ended.
const MAX_STEPS: usize = 100;
const MAX_PATH: usize = 200;

pub struct Ivr {
    script: Arc<Script>,
    vars: HashMap<String, Value>,
    node: usize,
    wait: Wait,
    retries_left: u32,
    buffer: String,
    next_id: u64,
    steps: usize,
    path: Vec<String>,
    digits: String,
    outcome: Option<String>,
    queue: Option<String>,
    /// Keys pressed during an announcement, for the next menu or collection.
    typeahead: String,
}

impl Ivr {
    pub fn new(script: Arc<Script>, caller: &str, called: &str) -> Ivr {
        let mut vars = HashMap::new();
        vars.insert("caller".to_string(), Value::Digits(caller.to_string()));
        vars.insert("called".to_string(), Value::Digits(called.to_string()));
        Ivr {
            node: script.start,
            script,
            vars,
            wait: Wait::Done,
            retries_left: 0,
            buffer: String::new(),
            next_id: 1,
            steps: 0,
            path: vec![],
            digits: String::new(),
            outcome: None,
            queue: None,
            typeahead: String::new(),
        }
    }

    /// The flow's hold music prompt, played while the call waits in a queue.
    pub fn hold_music(&self) -> Option<&str> {
        self.script.hold_music.as_deref()
    }

    pub fn script_name(&self) -> &str {
        &self.script.name
    }
    /// Node names visited, in order, joined by `>`.
    pub fn path(&self) -> String {
        self.path.join(">")
    }
    /// Every digit received.
    pub fn digits(&self) -> &str {
        &self.digits
    }
    /// Set the call's outcome from outside the flow (the ACD sent the caller to voicemail).
    pub fn set_outcome(&mut self, outcome: &str) {
        self.outcome = Some(outcome.to_string());
    }

    pub fn outcome(&self) -> Option<&str> {
        self.outcome.as_deref()
    }
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
    pub fn is_done(&self) -> bool {
        self.wait == Wait::Done
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn expand(&self, items: &[Item]) -> Vec<String> {
        let mut out = vec![];
        for i in items {
            match i {
                Item::Prompt(p) => out.push(p.clone()),
                Item::Var(v) => {
                    if let Some(v) = self.vars.get(v) {
                        out.extend(v.spoken());
                    }
                }
            }
        }
        out
    }

    fn play(&mut self, prompts: Vec<String>, out: &mut Vec<Command>) -> u64 {
        let token = self.id();
        out.push(Command::Play { prompts, token });
        token
    }

    fn timer(&mut self, now: Now, ms: u64, out: &mut Vec<Command>) -> u64 {
        let id = self.id();
        out.push(Command::Timer {
            id,
            at: now.mono.after(ms),
        });
        id
    }

    pub fn on(&mut self, now: Now, input: Input) -> Vec<Command> {
        let mut out = vec![];
        self.steps = 0;
        if let Input::Digit(d) = input {
            self.digits.push(d);
        }
        match (self.wait, input) {
            (_, Input::Start) => {
                let start = self.script.start;
                self.enter(now, start, &mut out);
            }
            (Wait::Say(t), Input::PlayDone(d)) if t == d => self.act(now, &mut out),
            // Type-ahead: a key pressed during a menu's or collection's introduction.
            (Wait::Say(_), Input::Digit(d)) => match self.script.node(self.node).kind {
                Kind::Menu { retries, .. } => {
                    out.push(Command::StopPlayback);
                    self.retries_left = retries;
                    self.menu_choice(now, d, &mut out);
                }
                Kind::Collect { retries, .. } => {
                    out.push(Command::StopPlayback);
                    self.retries_left = retries;
                    self.buffer.clear();
                    self.collect_digit(now, d, &mut out);
                }
                // A key during an announcement skips it; the key waits for the next menu.
                Kind::Play { .. } => {
                    out.push(Command::StopPlayback);
                    self.typeahead.push(d);
                    self.act(now, &mut out);
                }
                _ => {}
            },
            (Wait::MenuPrompt(t), Input::PlayDone(d)) if t == d => {
                let timeout = match &self.script.node(self.node).kind {
                    Kind::Menu { timeout_ms, .. } => *timeout_ms,
                    _ => 5000,
                };
                let id = self.timer(now, timeout, &mut out);
                self.wait = Wait::MenuInput(id);
            }
            (Wait::MenuPrompt(_) | Wait::MenuInput(_), Input::Digit(d)) => {
                if matches!(self.wait, Wait::MenuPrompt(_)) {
                    out.push(Command::StopPlayback);
                }
                self.menu_choice(now, d, &mut out);
            }
            (Wait::MenuInput(t), Input::Timer(id)) if t == id => self.menu_retry(now, false, &mut out),
            (Wait::CollectPrompt(t), Input::PlayDone(d)) if t == d => {
                let timeout = self.collect_timeout();
                let id = self.timer(now, timeout, &mut out);
                self.wait = Wait::CollectInput(id);
            }
            (Wait::CollectPrompt(_) | Wait::CollectInput(_), Input::Digit(d)) => {
                if matches!(self.wait, Wait::CollectPrompt(_)) {
                    out.push(Command::StopPlayback);
                }
                self.collect_digit(now, d, &mut out);
            }
            (Wait::CollectInput(t), Input::Timer(id)) if t == id => self.collect_end(now, &mut out),
            (Wait::Lookup, Input::Found(found)) => {
                let Kind::Lookup {
                    found: yes, missing, ..
                } = self.script.node(self.node).kind.clone()
                else {
                    return out;
                };
                match found {
                    Some(vars) => {
                        self.vars.extend(vars);
                        self.enter(now, yes, &mut out);
                    }
                    None => self.enter(now, missing, &mut out),
                }
            }
            // Keys pressed while the CRM is asked wait for the next menu or collection.
            (Wait::Lookup, Input::Digit(d)) => self.typeahead.push(d),
            (Wait::Recording(_), Input::Digit('#')) => self.recording_end(now, &mut out),
            (Wait::Recording(t), Input::Timer(id)) if t == id => self.recording_end(now, &mut out),
            _ => {}
        }
        out
    }

    fn enter(&mut self, now: Now, node: usize, out: &mut Vec<Command>) {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            // A loop of immediate steps: end the call rather than spin.
            out.push(Command::Hangup);
            self.wait = Wait::Done;
            return;
        }
        self.node = node;
        let n = self.script.node(node);
        if self.path.len() < MAX_PATH {
            self.path.push(n.name.clone());
        }
        if let Some(o) = &n.outcome {
            self.outcome = Some(o.clone());
        }
        if n.say.is_empty() {
            self.act(now, out);
        } else {
            let prompts = self.expand(&n.say.clone());
            let t = self.play(prompts, out);
            self.wait = Wait::Say(t);
        }
    }

    fn act(&mut self, now: Now, out: &mut Vec<Command>) {
        let kind = self.script.node(self.node).kind.clone();
        match kind {
            Kind::Play { next } => self.enter(now, next, out),
            Kind::Menu { prompt, retries, .. } => {
                self.retries_left = retries;
                if !self.typeahead.is_empty() {
                    let d = self.typeahead.remove(0);
                    self.typeahead.clear();
                    self.menu_choice(now, d, out);
                    return;
                }
                let prompts = self.expand(&prompt);
                let t = self.play(prompts, out);
                self.wait = Wait::MenuPrompt(t);
            }
            Kind::Collect { prompt, retries, .. } => {
                self.retries_left = retries;
                self.buffer.clear();
                if !self.typeahead.is_empty() {
                    let keys = std::mem::take(&mut self.typeahead);
                    let id = self.timer(now, self.collect_timeout(), out);
                    self.wait = Wait::CollectInput(id);
                    for d in keys.chars() {
                        if matches!(self.wait, Wait::CollectInput(_)) {
                            self.collect_digit(now, d, out);
                        }
                    }
                    return;
                }
                let prompts = self.expand(&prompt);
                let t = self.play(prompts, out);
                self.wait = Wait::CollectPrompt(t);
            }
            Kind::Lookup {
                what, input, missing, ..
            } => {
                let key = match (what, &input) {
                    (LookupKind::Caller, _) => self.vars.get("caller").map(Value::as_text),
                    (LookupKind::Serial, Some(v)) => self.vars.get(v).map(Value::as_text),
                    (LookupKind::Serial, None) => None,
                };
                match key.filter(|k| !k.is_empty()) {
                    Some(key) => {
                        out.push(Command::Lookup { what, key });
                        self.wait = Wait::Lookup;
                    }
                    None => self.enter(now, missing, out),
                }
            }
            Kind::Branch { cond, then, otherwise } => {
                let yes = self.eval(now, &cond);
                self.enter(now, if yes { then } else { otherwise }, out);
            }
            Kind::Set { vars, next } => {
                for (k, v) in vars {
                    self.vars.insert(k, Value::Text(v));
                }
                self.enter(now, next, out);
            }
            Kind::Queue {
                queue,
                skills,
                min_level,
                priority,
                ..
            } => {
                let skills = skills
                    .iter()
                    .filter_map(|s| match s {
                        SkillRef::Named(n) => Some(n.clone()),
                        SkillRef::Var(v) => self.vars.get(v).map(Value::as_text),
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                self.outcome = Some("queued".into());
                self.queue = Some(queue.clone());
                out.push(Command::Queue {
                    queue,
                    skills,
                    min_level,
                    priority,
                });
                self.wait = Wait::Queued;
            }
            Kind::Voicemail { max_seconds, .. } => {
                out.push(Command::StartRecording { max_seconds });
                let id = self.timer(now, max_seconds as u64 * 1000, out);
                self.wait = Wait::Recording(id);
            }
            Kind::Survey {
                repair,
                technician,
                fixed,
                next,
                fail,
            } => {
                let get = |v: &str| self.vars.get(v).map(Value::as_text).unwrap_or_default();
                let score = |v: &str| get(v).parse::<u8>().ok().filter(|s| (1..=5).contains(s));
                let fixed = match get(&fixed).as_str() {
                    "1" => Some(true),
                    "2" => Some(false),
                    _ => None,
                };
                match (score(&repair), score(&technician), fixed) {
                    (Some(repair), Some(technician), Some(fixed_first_time)) => {
                        out.push(Command::Survey {
                            repair,
                            technician,
                            fixed_first_time,
                        });
                        self.enter(now, next, out);
                    }
                    _ => self.enter(now, fail, out),
                }
            }
            Kind::Hangup => {
                out.push(Command::Hangup);
                self.wait = Wait::Done;
            }
        }
    }

    fn eval(&self, now: Now, cond: &Cond) -> bool {
        match cond {
            Cond::Open => self.script.is_open(now.wall),
            Cond::Holiday => self.script.is_holiday(now.wall),
            Cond::Exists(v) => self.vars.get(v).is_some_and(|x| !x.as_text().is_empty()),
            Cond::Eq(v, value) => self.vars.get(v).is_some_and(|x| x.as_text() == *value),
            Cond::Ne(v, value) => self.vars.get(v).is_none_or(|x| x.as_text() != *value),
        }
    }

    fn menu_choice(&mut self, now: Now, d: char, out: &mut Vec<Command>) {
        let Kind::Menu { options, .. } = &self.script.node(self.node).kind else {
            return;
        };
        match options.iter().find(|(k, _)| *k == d) {
            Some(&(_, target)) => self.enter(now, target, out),
            None => self.menu_retry(now, true, out),
        }
    }

    fn menu_retry(&mut self, now: Now, invalid_key: bool, out: &mut Vec<Command>) {
        let Kind::Menu {
            prompt,
            invalid,
            no_input,
            fail,
            ..
        } = self.script.node(self.node).kind.clone()
        else {
            return;
        };
        if self.retries_left == 0 {
            self.enter(now, fail, out);
            return;
        }
        self.retries_left -= 1;
        let mut prompts = self.expand(if invalid_key { &invalid } else { &no_input });
        prompts.extend(self.expand(&prompt));
        let t = self.play(prompts, out);
        self.wait = Wait::MenuPrompt(t);
    }

    fn collect_timeout(&self) -> u64 {
        match &self.script.node(self.node).kind {
            Kind::Collect { timeout_ms, .. } => *timeout_ms,
            _ => 5000,
        }
    }

    fn collect_digit(&mut self, now: Now, d: char, out: &mut Vec<Command>) {
        let Kind::Collect { max, terminator, .. } = self.script.node(self.node).kind.clone() else {
            return;
        };
        if Some(d) == terminator {
            self.collect_end(now, out);
            return;
        }
        self.buffer.push(d);
        if self.buffer.len() >= max {
            self.collect_end(now, out);
            return;
        }
        let timeout = self.collect_timeout();
        let id = self.timer(now, timeout, out);
        self.wait = Wait::CollectInput(id);
    }

    fn collect_end(&mut self, now: Now, out: &mut Vec<Command>) {
        let Kind::Collect {
            var,
            prompt,
            min,
            invalid,
            next,
            fail,
            ..
        } = self.script.node(self.node).kind.clone()
        else {
            return;
        };
        if self.buffer.len() >= min {
            let value = std::mem::take(&mut self.buffer);
            self.vars.insert(var, Value::Digits(value));
            self.enter(now, next, out);
            return;
        }
        if self.retries_left == 0 {
            self.enter(now, fail, out);
            return;
        }
        self.retries_left -= 1;
        self.buffer.clear();
        let mut prompts = self.expand(&invalid);
        prompts.extend(self.expand(&prompt));
        let t = self.play(prompts, out);
        self.wait = Wait::CollectPrompt(t);
    }

    fn recording_end(&mut self, now: Now, out: &mut Vec<Command>) {
        out.push(Command::StopRecording);
        self.outcome = Some("voicemail".into());
        if let Kind::Voicemail { next, .. } = self.script.node(self.node).kind {
            self.enter(now, next, out);
        }
    }
}
