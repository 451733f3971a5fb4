//! The SIP transaction layer in virtual time: exact retransmission schedules, timeouts, absorbed
//! retransmissions, and a seeded lossy link between a client and a server.

use telephony::sip::message::{parse, Message};
use telephony::sip::transaction::{Action, Time, Transactions};

fn request(method: &str, branch: &str) -> Message {
    let raw = format!(
        "{method} sip:service@aftercare.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:caller@example.net>;tag=1\r\nTo: <sip:service@aftercare.example>\r\nCall-ID: {branch}@192.0.2.1\r\n\
         CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    parse(raw.as_bytes(), true).expect("test request parses")
}

fn sends(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::Send(_))).count()
}

/// Run timers only (nothing ever answers); return the times of each send and of the timeout.
fn unanswered(method: &str, reliable: bool) -> (Vec<u64>, Option<u64>) {
    let mut tx = Transactions::new(reliable);
    let mut times = vec![];
    if sends(&tx.send_request(Time(0), request(method, "x"))) == 1 {
        times.push(0);
    }
    let mut timeout = None;
    while let Some(t) = tx.next_deadline() {
        for a in tx.tick(t) {
            match a {
                Action::Send(_) => times.push(t.0),
                Action::Timeout(_) => timeout = Some(t.0),
                _ => {}
            }
        }
    }
    (times, timeout)
}

#[test]
fn invite_timer_a_doubles_and_timer_b_gives_up_at_64_t1() {
    let (times, timeout) = unanswered("INVITE", false);
    assert_eq!(times, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(timeout, Some(32_000));
}

#[test]
fn non_invite_timer_e_caps_at_t2_and_timer_f_gives_up() {
    let (times, timeout) = unanswered("OPTIONS", false);
    assert_eq!(
        times,
        vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeout, Some(32_000));
}

#[test]
fn reliable_transport_never_retransmits() {
    assert_eq!(unanswered("INVITE", true), (vec![0], Some(32_000)));
    assert_eq!(unanswered("OPTIONS", true), (vec![0], Some(32_000)));
}

#[test]
fn server_invite_retransmits_final_until_ack_then_absorbs() {
    let mut tx = Transactions::new(false);
    let inv = request("INVITE", "s1");
    let first = tx.receive(Time(0), inv.clone());
    assert_eq!(sends(&first), 1, "100 Trying at once");
    assert_eq!(first.iter().filter(|a| matches!(a, Action::Deliver(_))).count(), 1);
    // A retransmitted INVITE gets the last response again and never reaches the TU twice.
    let again = tx.receive(Time(200), inv.clone());
    assert_eq!(again.len(), 1);
    assert!(matches!(&again[0], Action::Send(m) if m.status() == Some(100)));
    // Busy: Timer G retransmits 486 at 500, 1000, 2000, 4000 ms intervals until the ACK.
    let busy = inv.response(486, "Busy Here", Some("t1"));
    assert_eq!(sends(&tx.send_response(Time(1000), busy)), 1);
    let mut resent = vec![];
    for t in [1500, 2500, 4500, 8500] {
        assert_eq!(tx.next_deadline(), Some(Time(t)));
        resent.push(sends(&tx.tick(Time(t))));
    }
    assert_eq!(resent, vec![1, 1, 1, 1]);
    let mut ack = request("ACK", "s1");
    ack.headers.retain(|h| h.name != "CSeq");
    ack.headers.push(telephony::sip::message::Header {
        name: "CSeq".into(),
        value: "1 ACK".into(),
    });
    assert!(tx.receive(Time(9000), ack).is_empty(), "ACK absorbed");
    assert!(sends(&tx.tick(Time(12_500))) == 0, "no retransmission once confirmed");
    let end = tx.tick(Time(14_000));
    assert!(
        end.iter().any(|a| matches!(a, Action::Terminated(_))),
        "Timer I ends it: {end:?}"
    );
    assert!(tx.is_empty());
}

#[test]
fn server_without_ack_times_out_with_timer_h() {
    let mut tx = Transactions::new(false);
    let inv = request("INVITE", "s2");
    tx.receive(Time(0), inv.clone());
    tx.send_response(Time(0), inv.response(603, "Decline", Some("t")));
    let mut timeout = None;
    while let Some(t) = tx.next_deadline() {
        if tx.tick(t).iter().any(|a| matches!(a, Action::Timeout(_))) {
            timeout = Some(t.0);
        }
    }
    assert_eq!(timeout, Some(32_000));
}

#[test]
fn unmatched_response_is_dropped() {
    let mut tx = Transactions::new(false);
    let stray = request("INVITE", "nobody").response(200, "OK", Some("t"));
    assert!(tx.receive(Time(0), stray).is_empty());
}

/// A client and a server over a link that loses packets (seeded), 40 ms one way. Whatever is lost,
/// the server's TU sees each request once, the client's TU sees at most one final response per
/// transaction, and a final response or a timeout always ends the client transaction.
#[test]
fn lossy_link_property() {
    for method in ["INVITE", "OPTIONS"] {
        for loss_pct in [0u64, 10, 30, 50, 70] {
            for seed in 1..=60u64 {
                run_lossy(method, loss_pct, seed);
            }
        }
    }
}

fn run_lossy(method: &str, loss_pct: u64, seed: u64) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut lost = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % 100 < loss_pct
    };
    let mut client = Transactions::new(false);
    let mut server = Transactions::new(false);
    // (arrival time, to_server, bytes)
    let mut wire: Vec<(u64, bool, Vec<u8>)> = vec![];
    let (mut delivered_to_server, mut finals, mut timeouts, mut server_timeouts) = (0, 0, 0, 0);
    let mut pending_answer: Vec<Message> = vec![];
    let mut now = 0u64;
    let mut handle =
        |actions: Vec<Action>, from_client: bool, now: u64, wire: &mut Vec<(u64, bool, Vec<u8>)>| -> Vec<Message> {
            let mut delivered = vec![];
            for a in actions {
                match a {
                    Action::Send(m) if !lost() => wire.push((now + 40, from_client, m.to_bytes())),
                    Action::Send(_) => {}
                    Action::Deliver(m) => delivered.push(m),
                    Action::Timeout(_) if from_client => timeouts += 1,
                    Action::Timeout(_) => server_timeouts += 1,
                    _ => {}
                }
            }
            delivered
        };
    let first = client.send_request(Time(0), request(method, &format!("p{seed}")));
    handle(first, true, 0, &mut wire);
    while now < 70_000 {
        let next_wire = wire.iter().map(|w| w.0).min();
        let next = [
            next_wire,
            client.next_deadline().map(|t| t.0),
            server.next_deadline().map(|t| t.0),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = next;
        let (arrived, rest): (Vec<_>, Vec<_>) = wire.drain(..).partition(|w| w.0 <= now);
        wire = rest;
        for (_, to_server, bytes) in arrived {
            let m = parse(&bytes, true).expect("what we send parses");
            if to_server {
                let acts = server.receive(Time(now), m);
                for d in handle(acts, false, now, &mut wire) {
                    if d.method() != Some("ACK") {
                        delivered_to_server += 1;
                        pending_answer.push(d);
                    }
                }
            } else {
                let acts = client.receive(Time(now), m);
                for d in handle(acts, true, now, &mut wire) {
                    if d.status().is_some_and(|c| c >= 200) {
                        finals += 1;
                    }
                }
            }
        }
        for req in pending_answer.drain(..) {
            let code = if method == "INVITE" { 486 } else { 200 };
            let acts = server.send_response(Time(now), req.response(code, "Answer", Some("srv")));
            handle(acts, false, now, &mut wire);
        }
        let acts = client.tick(Time(now));
        for d in handle(acts, true, now, &mut wire) {
            if d.status().is_some_and(|c| c >= 200) {
                finals += 1;
            }
        }
        let acts = server.tick(Time(now));
        handle(acts, false, now, &mut wire);
    }
    let ctx = format!("{method} loss {loss_pct}% seed {seed}");
    assert!(
        delivered_to_server <= 1,
        "{ctx}: server TU saw the request {delivered_to_server} times"
    );
    assert!(finals <= 1, "{ctx}: client TU saw {finals} finals");
    // RFC 3261 gives an INVITE client transaction in Proceeding no timer of its own: when every
    // copy of the final response is lost, the server gives up (Timer H) and the client waits for its
    // transaction user to CANCEL. That is the one allowed way to end with neither.
    let waiting_for_tu =
        method == "INVITE" && finals == 0 && timeouts == 0 && server_timeouts == 1 && client.len() == 1;
    if !waiting_for_tu {
        assert_eq!(
            finals + timeouts,
            1,
            "{ctx}: exactly one of final ({finals}) or timeout ({timeouts})"
        );
        assert!(client.is_empty(), "{ctx}: the client transaction ends");
    }
    if loss_pct == 0 {
        assert_eq!((finals, timeouts), (1, 0), "{ctx}");
    }
    assert!(server.is_empty(), "{ctx}: the server transaction ends");
}
