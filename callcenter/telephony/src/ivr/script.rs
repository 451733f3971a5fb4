//! IVR call flows: a declarative TOML file per flow in `ivr-scripts/`, checked completely when
//! loaded. Every error names the file and line. See `ivr-scripts/README.md` for the format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// Something to say: a prompt file, or a variable read back in its natural form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Prompt(String),
    Var(String),
}

/// A required skill: named in the script, or taken from a variable at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkillRef {
    Named(String),
    Var(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// The caller's number → customer (and their first asset).
    Caller,
    /// Digits of a serial number (from a variable) → asset and its owner.
    Serial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Within business hours and not a holiday.
    Open,
    Holiday,
    Exists(String),
    Eq(String, String),
    Ne(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Play {
        next: usize,
    },
    Menu {
        prompt: Vec<Item>,
        options: Vec<(char, usize)>,
        timeout_ms: u64,
        retries: u32,
        invalid: Vec<Item>,
        no_input: Vec<Item>,
        fail: usize,
    },
    Collect {
        var: String,
        prompt: Vec<Item>,
        min: usize,
        max: usize,
        terminator: Option<char>,
        timeout_ms: u64,
        retries: u32,
        invalid: Vec<Item>,
        next: usize,
        fail: usize,
    },
    Lookup {
        what: LookupKind,
        input: Option<String>,
        found: usize,
        missing: usize,
    },
    Branch {
        cond: Cond,
        then: usize,
        otherwise: usize,
    },
    Set {
        vars: Vec<(String, String)>,
        next: usize,
    },
    Queue {
        queue: String,
        skills: Vec<SkillRef>,
        min_level: u8,
        priority: i32,
        /// The line of `queue =` (for errors naming a queue `queues.toml` lacks).
        line: usize,
    },
    Voicemail {
        max_seconds: u32,
        next: usize,
    },
    /// A satisfaction survey's answers from these variables: the repair and the technician 1–5,
    /// fixed the first time 1 (yes) or 2 (no). Valid answers are recorded and go to `next`;
    /// anything else goes to `fail`.
    Survey {
        repair: String,
        technician: String,
        fixed: String,
        next: usize,
        fail: usize,
    },
    Hangup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Played before the node acts (for a play node, the whole content).
    pub say: Vec<Item>,
    /// Reaching this node sets the call's outcome (e.g. `self_service`).
    pub outcome: Option<String>,
    pub kind: Kind,
}

/// Opening hours per weekday (Monday first) in the flow's time zone, and holidays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hours {
    pub week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7],
    pub holidays: HashSet<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: String,
    pub file: PathBuf,
    /// Called numbers this flow answers (`*` = any).
    pub numbers: Vec<String>,
    pub timezone: Tz,
    pub hours: Option<Hours>,
    pub hold_music: Option<String>,
    pub nodes: Vec<Node>,
    pub start: usize,
}

impl Script {
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The queues this flow sends callers to, each with the line naming it.
    pub fn queues(&self) -> Vec<(&str, usize)> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Queue { queue, line, .. } => Some((queue.as_str(), *line)),
                _ => None,
            })
            .collect()
    }

    /// The first queue this flow names that is not among `known`, as an error at its line.
    pub fn unknown_queue(&self, known: &[String]) -> Option<ScriptError> {
        self.queues()
            .into_iter()
            .find(|(q, _)| !known.iter().any(|k| k == q))
            .map(|(q, line)| ScriptError {
                file: self.file.clone(),
                line,
                message: format!(
                    "queue {q:?} is not in queues.toml (it has: {}); callers would wait on hold for ever",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            })
    }

    pub fn answers(&self, called: &str) -> bool {
        self.numbers.iter().any(|n| n == "*" || n == called)
    }

    /// Open at this instant (no hours configured means always open).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Some(h) = &self.hours else { return true };
        let local = at.with_timezone(&self.timezone);
        if h.holidays.contains(&local.date_naive()) {
            return false;
        }
        let day = local.weekday().num_days_from_monday() as usize;
        let t = local.time();
        h.week[day]
            .iter()
            .any(|(from, to)| t >= *from && to.is_none_or(|to| t < to))
    }

    pub fn is_holiday(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone).date_naive();
        self.hours.as_ref().is_some_and(|h| h.holidays.contains(&local))
    }
}

// ---- the file format ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    flow: RawFlow,
    hours: Option<RawHours>,
    node: BTreeMap<String, RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: String,
    start: Spanned<String>,
    timezone: Spanned<String>,
    #[serde(default = "any_number")]
    numbers: Vec<String>,
    hold_music: Option<Spanned<String>>,
}

fn any_number() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    mon: Option<Spanned<String>>,
    tue: Option<Spanned<String>>,
    wed: Option<Spanned<String>>,
    thu: Option<Spanned<String>>,
    fri: Option<Spanned<String>>,
    sat: Option<Spanned<String>>,
    sun: Option<Spanned<String>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
}

type Prompts = Option<Vec<Spanned<String>>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNode {
    say: Prompts,
    next: Option<Spanned<String>>,
    outcome: Option<Spanned<String>>,
    menu: Prompts,
    options: Option<BTreeMap<String, Spanned<String>>>,
    timeout: Option<u64>,
    retries: Option<u32>,
    invalid: Prompts,
    no_input: Prompts,
    fail: Option<Spanned<String>>,
    collect: Option<Spanned<String>>,
    prompt: Prompts,
    min_digits: Option<usize>,
    max_digits: Option<usize>,
    terminator: Option<Spanned<String>>,
    lookup: Option<Spanned<String>>,
    input: Option<Spanned<String>>,
    found: Option<Spanned<String>>,
    missing: Option<Spanned<String>>,
    #[serde(rename = "if")]
    if_: Option<Spanned<String>>,
    then: Option<Spanned<String>>,
    #[serde(rename = "else")]
    else_: Option<Spanned<String>>,
    set: Option<BTreeMap<String, String>>,
    queue: Option<Spanned<String>>,
    skills: Option<Vec<Spanned<String>>>,
    min_level: Option<u8>,
    priority: Option<i32>,
    voicemail: Option<bool>,
    max_seconds: Option<u32>,
    survey: Option<BTreeMap<String, Spanned<String>>>,
    hangup: Option<bool>,
}

/// Variables the CRM look-ups and the call itself provide.
pub const BUILTIN_VARS: &[&str] = &[
    "caller",
    "called",
    "customer.id",
    "customer.name",
    "customer.first_name",
    "asset.serial",
    "asset.model",
    "asset.category",
    "asset.product_line",
    "asset.warranty",
    "asset.warranty_until",
    "asset.warranty_rule",
    "asset.warranty_limit",
    "asset.warranty_actual",
    "asset.cover_detail",
];

pub const OUTCOMES: &[&str] = &["self_service", "queued", "voicemail", "abandoned"];

struct Loader<'a> {
    file: &'a Path,
    text: &'a str,
    names: HashMap<String, usize>,
    has_prompt: &'a dyn Fn(&str) -> bool,
    vars: HashSet<String>,
}

impl Loader<'_> {
    fn line_at(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, ScriptError> {
        Err(ScriptError {
            file: self.file.to_path_buf(),
            line: self.line_at(offset),
            message: message.into(),
        })
    }

    /// Where `[node.NAME]` starts (for errors about a node as a whole).
    fn node_offset(&self, name: &str) -> usize {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if t == format!("[node.{name}]") || t == format!("[node.\"{name}\"]") {
                return offset;
            }
            offset += line.len();
        }
        0
    }

    fn target(&self, s: &Spanned<String>) -> Result<usize, ScriptError> {
        match self.names.get(s.get_ref()) {
            Some(&i) => Ok(i),
            None => self.err(s.span().start, format!("no node named {:?}", s.get_ref())),
        }
    }

    fn need<'b>(
        &self,
        node: &str,
        v: &'b Option<Spanned<String>>,
        key: &str,
    ) -> Result<&'b Spanned<String>, ScriptError> {
        match v {
            Some(v) => Ok(v),
            None => self.err(self.node_offset(node), format!("node {node:?} needs `{key}`")),
        }
    }

    fn items(&self, v: &Prompts) -> Result<Vec<Item>, ScriptError> {
        let mut out = vec![];
        for s in v.iter().flatten() {
            out.push(self.item(s)?);
        }
        Ok(out)
    }

    fn item(&self, s: &Spanned<String>) -> Result<Item, ScriptError> {
        let v = s.get_ref();
        if let Some(var) = v.strip_prefix('$') {
            if !self.vars.contains(var) {
                return self.err(s.span().start, format!("unknown variable ${var}"));
            }
            Ok(Item::Var(var.to_string()))
        } else if (self.has_prompt)(v) {
            Ok(Item::Prompt(v.clone()))
        } else {
            self.err(
                s.span().start,
                format!("no prompt named {v:?} in the prompts directory"),
            )
        }
    }

    fn var(&self, s: &Spanned<String>) -> Result<String, ScriptError> {
        let v = s.get_ref().trim_start_matches('$');
        if !self.vars.contains(v) {
            return self.err(s.span().start, format!("unknown variable {v:?}"));
        }
        Ok(v.to_string())
    }

    fn cond(&self, s: &Spanned<String>) -> Result<Cond, ScriptError> {
        let text = s.get_ref().trim();
        let parts: Vec<&str> = text.split_whitespace().collect();
        let check = |v: &str| -> Result<String, ScriptError> {
            let v = v.trim_start_matches('$');
            if self.vars.contains(v) {
                Ok(v.to_string())
            } else {
                self.err(s.span().start, format!("unknown variable {v:?} in condition"))
            }
        };
        match parts.as_slice() {
            ["open"] => Ok(Cond::Open),
            ["holiday"] => Ok(Cond::Holiday),
            [v] => Ok(Cond::Exists(check(v)?)),
            [v, "==", value] => Ok(Cond::Eq(check(v)?, value.trim_matches('"').to_string())),
            [v, "!=", value] => Ok(Cond::Ne(check(v)?, value.trim_matches('"').to_string())),
            _ => self.err(
                s.span().start,
                format!(
                    "cannot read condition {text:?}: use `open`, `holiday`, `VAR`, `VAR == VALUE` or `VAR != VALUE`"
                ),
            ),
        }
    }
}

fn parse_range(s: &str) -> Option<Vec<(NaiveTime, Option<NaiveTime>)>> {
    if s.trim() == "closed" {
        return Some(vec![]);
    }
    let mut out = vec![];
    for part in s.split(',') {
        let (a, b) = part.trim().split_once('-')?;
        let from = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
        let to = match b.trim() {
            "24:00" => None,
            b => Some(NaiveTime::parse_from_str(b, "%H:%M").ok()?),
        };
        if to.is_some_and(|to| to <= from) {
            return None;
        }
        out.push((from, to));
    }
    Some(out)
}

/// Parse and check a flow. `has_prompt` says whether a prompt file exists.
pub fn parse(file: &Path, text: &str, has_prompt: &dyn Fn(&str) -> bool) -> Result<Script, ScriptError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        ScriptError {
            file: file.to_path_buf(),
            line,
            message: e.message().to_string(),
        }
    })?;
    let names: HashMap<String, usize> = raw.node.keys().enumerate().map(|(i, k)| (k.clone(), i)).collect();
    let mut vars: HashSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
    for n in raw.node.values() {
        if let Some(c) = &n.collect {
            vars.insert(c.get_ref().clone());
        }
        for k in n.set.iter().flat_map(|m| m.keys()) {
            vars.insert(k.clone());
        }
    }
    let l = Loader {
        file,
        text,
        names,
        has_prompt,
        vars,
    };
    let timezone: Tz = match raw.flow.timezone.get_ref().parse() {
        Ok(tz) => tz,
        Err(_) => {
            return l.err(
                raw.flow.timezone.span().start,
                "unknown time zone (use an IANA name such as Europe/Berlin)",
            )
        }
    };
    let hours = match &raw.hours {
        None => None,
        Some(h) => {
            let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
            let days = [&h.mon, &h.tue, &h.wed, &h.thu, &h.fri, &h.sat, &h.sun];
            for (i, d) in days.iter().enumerate() {
                if let Some(d) = d {
                    week[i] = match parse_range(d.get_ref()) {
                        Some(r) => r,
                        None => {
                            return l.err(
                                d.span().start,
                                format!("cannot read hours {:?}: use \"08:00-18:00\", \"08:00-12:00, 13:00-17:00\" or \"closed\"", d.get_ref()),
                            )
                        }
                    };
                }
            }
            let mut holidays = HashSet::new();
            for d in &h.holidays {
                match NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d") {
                    Ok(day) => holidays.insert(day),
                    Err(_) => {
                        return l.err(
                            d.span().start,
                            format!("holiday {:?} is not a YYYY-MM-DD date", d.get_ref()),
                        )
                    }
                };
            }
            Some(Hours { week, holidays })
        }
    };
    let hold_music = match &raw.flow.hold_music {
        Some(h) if !has_prompt(h.get_ref()) => {
            return l.err(
                h.span().start,
                format!("no prompt named {:?} for hold music", h.get_ref()),
            )
        }
        h => h.as_ref().map(|h| h.get_ref().clone()),
    };
    let mut nodes = vec![];
    for (name, n) in &raw.node {
        nodes.push(node(&l, name, n)?);
    }
    let start = l.target(&raw.flow.start)?;
    Ok(Script {
        name: raw.flow.name,
        file: file.to_path_buf(),
        numbers: raw.flow.numbers,
        timezone,
        hours,
        hold_music,
        nodes,
        start,
    })
}

fn node(l: &Loader, name: &str, n: &RawNode) -> Result<Node, ScriptError> {
    let at = l.node_offset(name);
    let kinds: Vec<&str> = [
        ("menu", n.menu.is_some()),
        ("collect", n.collect.is_some()),
        ("lookup", n.lookup.is_some()),
        ("if", n.if_.is_some()),
        ("set", n.set.is_some()),
        ("queue", n.queue.is_some()),
        ("voicemail", n.voicemail == Some(true)),
        ("survey", n.survey.is_some()),
        ("hangup", n.hangup == Some(true)),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if kinds.len() > 1 {
        return l.err(
            at,
            format!("node {name:?} mixes {}; a node does one thing", kinds.join(" and ")),
        );
    }
    let timeout_ms = n.timeout.unwrap_or(5).clamp(1, 120) * 1000;
    let kind = match kinds.first().copied() {
        None => {
            let next = l.need(
                name,
                &n.next,
                "next (or one of menu, collect, lookup, if, set, queue, voicemail, survey, hangup)",
            )?;
            if n.say.as_ref().is_none_or(|s| s.is_empty()) {
                return l.err(at, format!("node {name:?} says nothing and does nothing"));
            }
            Kind::Play { next: l.target(next)? }
        }
        Some("menu") => {
            let mut options = vec![];
            for (key, target) in n.options.iter().flatten() {
                let mut chars = key.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return l.err(
                        target.span().start,
                        format!("option {key:?} must be one key (0-9, *, #)"),
                    );
                };
                if !(c.is_ascii_digit() || c == '*' || c == '#') {
                    return l.err(
                        target.span().start,
                        format!("option {key:?} must be one key (0-9, *, #)"),
                    );
                }
                options.push((c, l.target(target)?));
            }
            if options.is_empty() {
                return l.err(at, format!("menu {name:?} needs `options`"));
            }
            Kind::Menu {
                prompt: l.items(&n.menu)?,
                options,
                timeout_ms,
                retries: n.retries.unwrap_or(2),
                invalid: l.items(&n.invalid)?,
                no_input: l.items(&n.no_input)?,
                fail: l.target(l.need(name, &n.fail, "fail")?)?,
            }
        }
        Some("collect") => {
            let var = n.collect.as_ref().expect("kind").get_ref().clone();
            let min = n.min_digits.unwrap_or(1);
            let max = n.max_digits.unwrap_or(20);
            if min == 0 || min > max || max > 64 {
                return l.err(at, format!("node {name:?}: need 1 <= min_digits <= max_digits <= 64"));
            }
            let terminator = match &n.terminator {
                None => None,
                Some(t) if t.get_ref() == "#" || t.get_ref() == "*" => t.get_ref().chars().next(),
                Some(t) => return l.err(t.span().start, "terminator must be \"#\" or \"*\""),
            };
            Kind::Collect {
                var,
                prompt: l.items(&n.prompt)?,
                min,
                max,
                terminator,
                timeout_ms,
                retries: n.retries.unwrap_or(2),
                invalid: l.items(&n.invalid)?,
                next: l.target(l.need(name, &n.next, "next")?)?,
                fail: l.target(l.need(name, &n.fail, "fail")?)?,
            }
        }
        Some("lookup") => {
            let what = n.lookup.as_ref().expect("kind");
            let kind = match what.get_ref().as_str() {
                "caller" => LookupKind::Caller,
                "serial" => LookupKind::Serial,
                other => {
                    return l.err(
                        what.span().start,
                        format!("cannot look up {other:?}: use \"caller\" or \"serial\""),
                    )
                }
            };
            let input = match (&n.input, kind) {
                (Some(v), _) => Some(l.var(v)?),
                (None, LookupKind::Serial) => {
                    return l.err(at, format!("node {name:?}: a serial look-up needs `input`"))
                }
                (None, LookupKind::Caller) => None,
            };
            Kind::Lookup {
                what: kind,
                input,
                found: l.target(l.need(name, &n.found, "found")?)?,
                missing: l.target(l.need(name, &n.missing, "missing")?)?,
            }
        }
        Some("if") => Kind::Branch {
            cond: l.cond(n.if_.as_ref().expect("kind"))?,
            then: l.target(l.need(name, &n.then, "then")?)?,
            otherwise: l.target(l.need(name, &n.else_, "else")?)?,
        },
        Some("set") => Kind::Set {
            vars: n.set.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect(),
            next: l.target(l.need(name, &n.next, "next")?)?,
        },
        Some("queue") => {
            let mut skills = vec![];
            for s in n.skills.iter().flatten() {
                skills.push(match s.get_ref().strip_prefix('$') {
                    Some(_) => SkillRef::Var(l.var(s)?),
                    None => SkillRef::Named(s.get_ref().clone()),
                });
            }
            let min_level = n.min_level.unwrap_or(1);
            if !(1..=5).contains(&min_level) {
                return l.err(at, format!("node {name:?}: min_level must be 1 to 5"));
            }
            let queue = n.queue.as_ref().expect("kind");
            Kind::Queue {
                queue: queue.get_ref().clone(),
                skills,
                min_level,
                priority: n.priority.unwrap_or(0),
                line: l.line_at(queue.span().start),
            }
        }
        Some("voicemail") => Kind::Voicemail {
            max_seconds: n.max_seconds.unwrap_or(60).clamp(5, 600),
            next: l.target(l.need(name, &n.next, "next")?)?,
        },
        Some("survey") => {
            let answers = n.survey.as_ref().expect("kind");
            if let Some((key, v)) = answers
                .iter()
                .find(|(k, _)| !["repair", "technician", "fixed"].contains(&k.as_str()))
            {
                return l.err(
                    v.span().start,
                    format!("survey answers are repair, technician and fixed, not {key:?}"),
                );
            }
            let answer = |key: &str| match answers.get(key) {
                Some(v) => l.var(v),
                None => l.err(at, format!("node {name:?}: the survey needs `{key}` (a variable)")),
            };
            Kind::Survey {
                repair: answer("repair")?,
                technician: answer("technician")?,
                fixed: answer("fixed")?,
                next: l.target(l.need(name, &n.next, "next")?)?,
                fail: l.target(l.need(name, &n.fail, "fail")?)?,
            }
        }
        Some(_) => Kind::Hangup,
    };
    let outcome = match &n.outcome {
        None => None,
        Some(o) if OUTCOMES.contains(&o.get_ref().as_str()) => Some(o.get_ref().clone()),
        Some(o) => {
            return l.err(
                o.span().start,
                format!("outcome must be one of {}", OUTCOMES.join(", ")),
            )
        }
    };
    Ok(Node {
        name: name.to_string(),
        say: l.items(&n.say)?,
        outcome,
        kind,
    })
}

/// Load a flow file.
pub fn load(file: &Path, has_prompt: &dyn Fn(&str) -> bool) -> Result<Script, ScriptError> {
    let text = std::fs::read_to_string(file).map_err(|e| ScriptError {
        file: file.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    parse(file, &text, has_prompt)
}
