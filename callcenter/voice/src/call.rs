//! The switch's decisions about a call, as pure functions of what happened to it: how it ended
//! (outcome and end reason for the call record), whether it was answered within the service
//! level, how long the caller waited in the queue, what a waiting caller hears, and which
//! knowledge-base articles go with the screen pop. The switch gathers the facts and carries the
//! answers out; nothing here reads a clock or touches a socket.

use crm_core::model::{CallOutcome, Direction, KbArticle, ScreenPop};
use crm_core::types::SkillName;
use telephony::media::prompts::say_number;
use telephony::sip::ua::End;
use telephony::Time;

/// What the switch knows about a call when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub end: End,
    pub direction: Direction,
    /// The outcome the IVR flow set (`outcome = "…"` in the flow), if it did.
    pub flow_outcome: Option<&'a str>,
    pub answered: bool,
    /// An agent took the call.
    pub agent: bool,
    /// The switch hung up because no RTP arrived.
    pub rtp_timeout: bool,
    /// The caller was waiting in a queue the ACD runs.
    pub waiting_in_acd: bool,
}

/// How a call ended, for its call record and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub outcome: CallOutcome,
    pub end_reason: String,
}

/// The call record's outcome and end reason.
pub fn ended(f: &Facts<'_>) -> Ended {
    let outcome = match (f.flow_outcome, f.end) {
        (Some(o), _) => CallOutcome::parse(o).unwrap_or(CallOutcome::Abandoned),
        (None, End::Rejected(_)) => CallOutcome::Rejected,
        // The flow hung up (not a silent line, not an agent): the caller did not give up.
        (None, End::Local) if !f.rtp_timeout && !f.agent => CallOutcome::IvrEnded,
        (None, _) => CallOutcome::Abandoned,
    };
    let end_reason = match (f.end, f.direction) {
        (End::RemoteBye, Direction::Outbound) => "callee_hangup".to_string(),
        (End::RemoteBye, _) => "caller_hangup".to_string(),
        (End::Local, _) if f.rtp_timeout => "rtp_timeout".to_string(),
        (End::Local, _) if f.agent => "agent_hangup".to_string(),
        (End::Local, _) => "ivr_hangup".to_string(),
        (End::Cancelled, _) => "cancelled".to_string(),
        (End::NoAck, _) => "no_ack".to_string(),
        (End::Timeout, _) => "timeout".to_string(),
        (End::Rejected(code), _) => format!("sip_{code}"),
    };
    let outcome = match (f.direction, f.answered) {
        (Direction::Outbound, false) => CallOutcome::Failed,
        _ if f.agent => CallOutcome::Answered,
        // Hung up while waiting in a queue the ACD runs.
        _ if f.waiting_in_acd && outcome == CallOutcome::Queued => CallOutcome::Abandoned,
        _ => outcome,
    };
    Ended { outcome, end_reason }
}

/// Milliseconds the caller has waited in the queue they joined at `since`.
pub fn queue_wait_ms(since: Time, now: Time) -> i64 {
    now.since(since) as i64
}

/// Whether an answer after `wait_ms` met the queue's service level (`None` for a queue without one).
pub fn within_service_level(wait_ms: u64, threshold_ms: Option<u64>) -> Option<bool> {
    threshold_ms.map(|t| wait_ms <= t)
}

/// What a waiting caller hears: their place, and the expected wait when there is one to give.
/// Without anybody working who could take the call there is no estimate to give, so they hear
/// that (the ACD offers the queue's callback or voicemail with it).
pub fn announcement(position: usize, ewt_ms: Option<u64>) -> Vec<String> {
    let Some(ewt_ms) = ewt_ms else {
        return vec!["nobody_available".to_string()];
    };
    let mut prompts = vec!["position_is".to_string()];
    prompts.extend(say_number(position as u32));
    prompts.push("in_queue".into());
    prompts.push("expected_wait".into());
    let minutes = ewt_ms.div_ceil(60_000);
    if minutes <= 1 {
        prompts.push("less_than_minute".into());
    } else {
        prompts.extend(say_number(minutes as u32));
        prompts.push("minutes".into());
    }
    prompts
}

/// Articles offered with a screen pop: at most this many product lines, this many articles each.
pub const POP_LINES: usize = 3;
pub const ARTICLES_PER_LINE: u32 = 3;

/// The product lines whose articles go with the pop: the caller's assets' lines, each once, in
/// name order, at most [`POP_LINES`].
pub fn pop_lines(pop: &ScreenPop) -> Vec<SkillName> {
    let mut lines: Vec<SkillName> = pop.assets.iter().map(|a| a.product_line.clone()).collect();
    lines.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    lines.dedup();
    lines.truncate(POP_LINES);
    lines
}

/// Add `found` to the articles of the pop, each article once.
pub fn add_articles(articles: &mut Vec<KbArticle>, found: Vec<KbArticle>) {
    for a in found {
        if !articles.iter().any(|x| x.id == a.id) {
            articles.push(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(end: End) -> Facts<'static> {
        Facts {
            end,
            direction: Direction::Inbound,
            flow_outcome: None,
            answered: true,
            agent: false,
            rtp_timeout: false,
            waiting_in_acd: false,
        }
    }

    fn check(f: Facts<'_>, outcome: CallOutcome, reason: &str) {
        assert_eq!(
            ended(&f),
            Ended {
                outcome,
                end_reason: reason.into()
            },
            "{f:?}"
        );
    }

    #[test]
    fn how_calls_end() {
        use CallOutcome::*;
        // The caller hangs up in the IVR, or the flow ends the call.
        check(facts(End::RemoteBye), Abandoned, "caller_hangup");
        check(facts(End::Local), IvrEnded, "ivr_hangup");
        // A flow's own outcome stands; an unknown one counts as abandoned.
        check(
            Facts {
                flow_outcome: Some("self_service"),
                ..facts(End::RemoteBye)
            },
            SelfService,
            "caller_hangup",
        );
        check(
            Facts {
                flow_outcome: Some("bogus"),
                ..facts(End::Local)
            },
            Abandoned,
            "ivr_hangup",
        );
        // A silent line is hung up, and the caller did not get served.
        check(
            Facts {
                rtp_timeout: true,
                ..facts(End::Local)
            },
            Abandoned,
            "rtp_timeout",
        );
        // An agent took it: answered, whoever hung up.
        check(
            Facts {
                agent: true,
                ..facts(End::Local)
            },
            Answered,
            "agent_hangup",
        );
        check(
            Facts {
                agent: true,
                ..facts(End::RemoteBye)
            },
            Answered,
            "caller_hangup",
        );
        // Hung up while waiting in an ACD queue: abandoned, not queued.
        let waiting = Facts {
            flow_outcome: Some("queued"),
            waiting_in_acd: true,
            ..facts(End::RemoteBye)
        };
        check(waiting, Abandoned, "caller_hangup");
        check(
            Facts {
                waiting_in_acd: false,
                ..waiting
            },
            Queued,
            "caller_hangup",
        );
        // Refused before it became a call, or given up by SIP.
        check(
            Facts {
                answered: false,
                ..facts(End::Rejected(486))
            },
            Rejected,
            "sip_486",
        );
        check(facts(End::Cancelled), Abandoned, "cancelled");
        check(facts(End::NoAck), Abandoned, "no_ack");
        check(facts(End::Timeout), Abandoned, "timeout");
        // Our own call that nobody answered failed; answered, the callee hangs up.
        let out = Facts {
            direction: Direction::Outbound,
            ..facts(End::RemoteBye)
        };
        check(Facts { answered: false, ..out }, Failed, "callee_hangup");
        check(
            Facts {
                flow_outcome: Some("self_service"),
                ..out
            },
            SelfService,
            "callee_hangup",
        );
    }

    #[test]
    fn service_level_and_queue_wait() {
        assert_eq!(within_service_level(20_000, Some(20_000)), Some(true));
        assert_eq!(within_service_level(20_001, Some(20_000)), Some(false));
        assert_eq!(within_service_level(5, None), None);
        assert_eq!(queue_wait_ms(Time(1_000), Time(4_500)), 3_500);
        assert_eq!(queue_wait_ms(Time(4_500), Time(1_000)), 0, "never negative");
    }

    #[test]
    fn an_estimate_is_given_only_when_someone_can_take_the_call() {
        assert_eq!(announcement(2, None), ["nobody_available"]);
        assert_eq!(
            announcement(2, Some(150_000)),
            ["position_is", "n2", "in_queue", "expected_wait", "n3", "minutes"]
        );
        assert_eq!(announcement(1, Some(20_000)).last().unwrap(), "less_than_minute");
        assert_eq!(announcement(1, Some(60_000)).last().unwrap(), "less_than_minute");
        assert_eq!(announcement(1, Some(60_001)).last().unwrap(), "minutes");
    }
}
