//! `queues.toml` beside the IVR flows: the ACD's queues, checked with file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use acd::{Escalation, EscalationAction, MaxWait, QueueConfig, Strategy};
use serde::Deserialize;
use toml::Spanned;

use telephony::ivr::script::ScriptError;

pub const FILE: &str = "queues.toml";

/// A queue as the ACD needs it, plus what the wallboard shows.
#[derive(Debug, Clone)]
pub struct QueueDef {
    pub acd: QueueConfig,
    /// Service-level goal: this share answered within `acd.sl_threshold_ms`.
    pub sl_target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    queue: BTreeMap<String, Spanned<Raw>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    ring_timeout: Option<u64>,
    #[serde(default)]
    wrap_up: Option<u64>,
    #[serde(default)]
    max_misses: Option<u32>,
    #[serde(default)]
    service_level: Option<RawSl>,
    #[serde(default)]
    announce_every: Option<u64>,
    #[serde(default)]
    max_wait: Option<RawMaxWait>,
    #[serde(default)]
    escalate: Vec<RawEscalation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSl {
    seconds: u64,
    target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaxWait {
    seconds: u64,
    then: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    after: u64,
    widen_level: Option<u8>,
    raise_priority: Option<i32>,
    overflow: Option<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parse the queue file's text (`file` names it in errors).
pub fn parse(file: &Path, text: &str) -> Result<Vec<QueueDef>, ScriptError> {
    let err = |line: usize, message: String| ScriptError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let parsed: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        err(line, e.message().to_string())
    })?;
    let names: Vec<String> = parsed.queue.keys().cloned().collect();
    let mut out = vec![];
    for (name, raw) in parsed.queue {
        let line = line_of(text, raw.span().start);
        let raw = raw.into_inner();
        let fail = |m: String| err(line, format!("queue {name:?}: {m}"));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(fail("names use letters, digits, '-' and '_'".into()));
        }
        let mut q = QueueConfig::new(&name, &[]);
        for (skill, level) in &raw.skills {
            if !(1..=5).contains(level) {
                return Err(fail(format!("skill {skill:?}: levels are 1 to 5")));
            }
            q.skills.push((skill.clone(), *level));
        }
        if let Some(s) = &raw.strategy {
            q.strategy = match s.as_str() {
                "longest_idle" => Strategy::LongestIdle,
                "round_robin" => Strategy::RoundRobin,
                "least_talk_time" => Strategy::LeastTalkTime,
                "fewest_calls" => Strategy::FewestCalls,
                "ring_all" => Strategy::RingAll,
                other => {
                    return Err(fail(format!(
                        "strategy {other:?}: longest_idle, round_robin, least_talk_time, fewest_calls or ring_all"
                    )))
                }
            };
        }
        if let Some(s) = raw.ring_timeout {
            if !(5..=120).contains(&s) {
                return Err(fail("ring_timeout: 5 to 120 seconds".into()));
            }
            q.ring_timeout_ms = s * 1000;
        }
        if let Some(s) = raw.wrap_up {
            if s > 3600 {
                return Err(fail("wrap_up: at most 3600 seconds".into()));
            }
            q.wrap_up_ms = s * 1000;
        }
        if let Some(m) = raw.max_misses {
            q.max_misses = m;
        }
        let mut sl_target = 0.8;
        if let Some(sl) = raw.service_level {
            if !(0.0..=1.0).contains(&sl.target) || sl.target <= 0.0 {
                return Err(fail("service_level.target: a share between 0 and 1".into()));
            }
            if sl.seconds == 0 || sl.seconds > 3600 {
                return Err(fail("service_level.seconds: 1 to 3600".into()));
            }
            q.sl_threshold_ms = sl.seconds * 1000;
            sl_target = sl.target;
        }
        if let Some(a) = raw.announce_every {
            if a < 10 {
                return Err(fail("announce_every: at least 10 seconds".into()));
            }
            q.announce_every_ms = Some(a * 1000);
        }
        if let Some(m) = raw.max_wait {
            let then = match m.then.as_str() {
                "voicemail" => MaxWait::Voicemail,
                "callback" => MaxWait::OfferCallback,
                other => return Err(fail(format!("max_wait.then {other:?}: voicemail or callback"))),
            };
            q.max_wait = Some((m.seconds * 1000, then));
        }
        let mut last = 0;
        for e in raw.escalate {
            let action = match (e.widen_level, e.raise_priority, e.overflow) {
                (Some(l), None, None) if (1..=5).contains(&l) => EscalationAction::WidenLevel(l),
                (None, Some(p), None) => EscalationAction::RaisePriority(p),
                (None, None, Some(to)) if names.contains(&to) && to != name => EscalationAction::Overflow(to),
                (None, None, Some(to)) => return Err(fail(format!("escalate: overflow to unknown queue {to:?}"))),
                _ => {
                    return Err(fail(
                        "escalate: each step has `after` and one of widen_level (1–5), raise_priority, overflow".into(),
                    ))
                }
            };
            if e.after < last {
                return Err(fail("escalate: steps in order of `after`".into()));
            }
            last = e.after;
            q.escalations.push(Escalation {
                after_ms: e.after * 1000,
                action,
            });
        }
        out.push(QueueDef { acd: q, sl_target });
    }
    Ok(out)
}

/// Load `dir/queues.toml`; no file means no queues (calls sent to a queue go to voicemail).
pub fn load(dir: &Path) -> Result<Vec<QueueDef>, ScriptError> {
    let file: PathBuf = dir.join(FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => parse(&file, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(ScriptError {
            file,
            line: 1,
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<QueueDef>, String> {
        parse(Path::new("queues.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shipped_queues_parse() {
        let text = include_str!("../../../ivr-scripts/queues.toml");
        let qs = parse_str(text).unwrap();
        let names: Vec<&str> = qs.iter().map(|q| q.acd.name.as_str()).collect();
        assert_eq!(names, ["complaints", "general", "repairs"]);
        let complaints = &qs[0];
        assert_eq!(complaints.acd.skills, vec![("complaints".to_string(), 4)]);
        assert_eq!(complaints.acd.strategy, Strategy::LeastTalkTime);
        assert_eq!(complaints.acd.sl_threshold_ms, 60_000);
        assert_eq!(complaints.sl_target, 0.9);
        let repairs = &qs[2];
        assert_eq!(
            repairs.acd.escalations[1].action,
            EscalationAction::Overflow("general".into())
        );
        assert_eq!(repairs.acd.max_wait, Some((900_000, MaxWait::OfferCallback)));
        acd::Acd::new(qs.iter().map(|q| q.acd.clone()).collect()).unwrap();
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        for (text, line, needle) in [
            ("[queue.a]\nskills = { x = 9 }\n", 1, "levels are 1 to 5"),
            ("[queue.a]\n\n[queue.b]\nstrategy = \"fastest\"\n", 3, "strategy"),
            (
                "[queue.a]\nescalate = [{ after = 5, overflow = \"zz\" }]\n",
                1,
                "unknown queue",
            ),
            ("[queue.a]\nescalate = [{ after = 5 }]\n", 1, "one of widen_level"),
            (
                "[queue.a]\nservice_level = { seconds = 20, target = 1.5 }\n",
                1,
                "share",
            ),
            (
                "[queue.a]\nmax_wait = { seconds = 20, then = \"hangup\" }\n",
                1,
                "voicemail or callback",
            ),
            ("[queue.a]\nring = 5\n", 2, "unknown field"),
            ("[queue.a]\nwrap_up = \"long\"\n", 2, "invalid type"),
        ] {
            let e = parse_str(text).unwrap_err();
            assert!(e.starts_with(&format!("queues.toml:{line}: ")), "{text:?} → {e}");
            assert!(e.contains(needle), "{text:?} → {e}");
        }
    }
}
