//! The user agent core in virtual time: two of our user agents call each other over a simulated
//! network (with loss), and hand-written peers check single exchanges on the wire.

use std::collections::VecDeque;
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use telephony::media::sdp::{Codec, Direction};
use telephony::sip::digest;
use telephony::sip::message::parse;
use telephony::sip::screen::Policy;
use telephony::sip::ua::{CallRef, Credentials, Dial, End, Event, Output, Peer, Transport, UaConfig, UserAgent};
use telephony::Time;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ua(at: &str, seed: u64) -> UserAgent {
    UserAgent::new(UaConfig {
        advertised: addr(at),
        policy: Policy::default(),
        max_calls: 10,
        seed,
    })
}

const A: &str = "10.0.0.1:5060";
const B: &str = "10.0.0.2:5060";

/// Two user agents joined by a lossy UDP link with 10 ms latency.
struct Net {
    a: UserAgent,
    b: UserAgent,
    now: Time,
    wire: VecDeque<(Time, bool, Vec<u8>)>,
    events_a: Vec<Event>,
    events_b: Vec<Event>,
    loss: f64,
    rng: StdRng,
}

impl Net {
    fn new(loss: f64, seed: u64) -> Net {
        Net {
            a: ua(A, seed),
            b: ua(B, seed + 1),
            now: Time(0),
            wire: VecDeque::new(),
            events_a: vec![],
            events_b: vec![],
            loss,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn take(&mut self, from_a: bool, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Send { to, bytes } => {
                    assert_eq!(to.addr, addr(if from_a { B } else { A }), "sent to the wrong peer");
                    if self.rng.gen::<f64>() >= self.loss {
                        self.wire.push_back((Time(self.now.0 + 10), !from_a, bytes));
                    }
                }
                Output::Event(e) => {
                    if from_a {
                        self.events_a.push(e)
                    } else {
                        self.events_b.push(e)
                    }
                }
            }
        }
    }

    /// Run until `until`, delivering packets and firing timers in time order.
    fn run(&mut self, until: u64) {
        loop {
            let next_packet = self.wire.iter().map(|(t, ..)| *t).min();
            let next_timer = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            let next = [next_packet, next_timer].into_iter().flatten().min();
            let Some(next) = next.filter(|t| t.0 <= until) else {
                self.now = Time(until);
                return;
            };
            self.now = next;
            let (due, rest): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|(t, ..)| *t <= next);
            self.wire = rest.into();
            for (_, to_a, bytes) in due {
                let outs = if to_a {
                    self.a.receive(next, peer(B), &bytes)
                } else {
                    self.b.receive(next, peer(A), &bytes)
                };
                self.take(to_a, outs);
            }
            let outs = self.a.tick(next);
            self.take(true, outs);
            let outs = self.b.tick(next);
            self.take(false, outs);
        }
    }

    fn dial(&mut self) -> CallRef {
        let (call, outs) = self.a.dial(
            self.now,
            Dial {
                target: format!("sip:800@{B}"),
                from_user: "+4930123456".into(),
                peer: peer(B),
                credentials: None,
                local_media: addr("10.0.0.1:30000"),
                call_id_stem: None,
            },
        );
        self.take(true, outs);
        call
    }

    fn incoming_b(&self) -> Option<CallRef> {
        self.events_b.iter().find_map(|e| match e {
            Event::Incoming { call, .. } => Some(*call),
            _ => None,
        })
    }
}

fn peer(a: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr(a),
    }
}

fn ended(events: &[Event]) -> Vec<End> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ended { end, .. } => Some(*end),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_is_placed_answered_and_hung_up_and_nothing_is_left_behind() {
    let mut net = Net::new(0.0, 1);
    net.dial();
    net.run(100);
    let call_b = net.incoming_b().expect("B was offered the call");
    match &net.events_b[0] {
        Event::Incoming {
            caller, called, agreed, ..
        } => {
            assert_eq!((caller.as_str(), called.as_str()), ("+4930123456", "800"));
            let agreed = agreed.unwrap();
            assert_eq!(agreed.codec, Codec::Pcmu);
            assert_eq!(agreed.dtmf_pt, Some(101));
            assert_eq!(agreed.remote, addr("10.0.0.1:30000"));
        }
        e => panic!("unexpected {e:?}"),
    }
    let outs = net.b.answer(net.now, call_b, addr("10.0.0.2:40000"));
    net.take(false, outs);
    net.run(1_000);
    assert!(net.events_b.contains(&Event::Confirmed { call: call_b }));
    let answered = net.events_a.iter().find_map(|e| match e {
        Event::Answered { agreed, .. } => Some(*agreed),
        _ => None,
    });
    assert_eq!(answered.expect("A saw the answer").remote, addr("10.0.0.2:40000"));
    let outs = net.a.hangup(net.now, 1);
    net.take(true, outs);
    net.run(60_000);
    assert_eq!(ended(&net.events_a), vec![End::Local]);
    assert_eq!(ended(&net.events_b), vec![End::RemoteBye]);
    for u in [&net.a, &net.b] {
        assert_eq!((u.calls(), u.transactions()), (0, 0));
        assert_eq!(u.next_deadline(), None, "no timer left running");
    }
}

#[test]
fn over_a_lossy_link_every_call_ends_on_both_sides_and_leaves_nothing() {
    let mut answered = 0;
    for seed in 0..300 {
        let loss = (seed % 4) as f64 * 0.1; // 0 %, 10 %, 20 %, 30 %
        let mut net = Net::new(loss, seed);
        net.dial();
        // B's application answers as soon as the call is offered, as the IVR does.
        let mut answered_b = false;
        for step in 1..=100 {
            net.run(step * 100);
            if let (false, Some(call_b)) = (answered_b, net.incoming_b()) {
                let outs = net.b.answer(net.now, call_b, addr("10.0.0.2:40000"));
                net.take(false, outs);
                answered_b = true;
            }
        }
        let outs = net.a.hangup(net.now, 1);
        net.take(true, outs);
        net.run(200_000);
        let (ea, eb) = (ended(&net.events_a), ended(&net.events_b));
        assert_eq!(ea.len(), 1, "seed {seed}: A ends exactly once: {ea:?}");
        if net.incoming_b().is_some() {
            assert_eq!(eb.len(), 1, "seed {seed}: B ends exactly once: {eb:?}");
        }
        if net.events_a.iter().any(|e| matches!(e, Event::Answered { .. })) {
            answered += 1;
            assert_eq!(ea, vec![End::Local]);
            assert!(matches!(eb[0], End::RemoteBye | End::NoAck), "seed {seed}: {eb:?}");
        }
        for u in [&net.a, &net.b] {
            assert_eq!((u.calls(), u.transactions()), (0, 0), "seed {seed} leaked");
        }
    }
    assert!(answered > 280, "only {answered} of 300 calls were answered");
}

#[test]
fn hanging_up_a_ringing_call_cancels_it() {
    let mut net = Net::new(0.0, 7);
    net.dial();
    net.run(100);
    let call_b = net.incoming_b().unwrap();
    let outs = net.b.ring(net.now, call_b);
    net.take(false, outs);
    net.run(200);
    assert!(net.events_a.contains(&Event::Ringing { call: 1 }));
    let outs = net.a.hangup(net.now, 1);
    net.take(true, outs);
    net.run(60_000);
    assert_eq!(
        ended(&net.events_a),
        vec![End::Local],
        "told once, not again at the 487"
    );
    assert_eq!(ended(&net.events_b), vec![End::Cancelled]);
    for u in [&net.a, &net.b] {
        assert_eq!((u.calls(), u.transactions()), (0, 0));
    }
}

#[test]
fn hanging_up_before_any_provisional_cancels_once_one_arrives() {
    let mut net = Net::new(0.0, 8);
    net.dial();
    let outs = net.a.hangup(net.now, 1);
    net.take(true, outs);
    net.run(100);
    let call_b = net.incoming_b().unwrap();
    let outs = net.b.ring(net.now, call_b);
    net.take(false, outs);
    net.run(60_000);
    assert_eq!(ended(&net.events_a), vec![End::Local]);
    assert_eq!(ended(&net.events_b), vec![End::Cancelled]);
    assert_eq!((net.a.calls(), net.b.calls()), (0, 0));
}

const INVITE: &str = "INVITE sip:800@10.0.0.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKraw1\r\n\
Max-Forwards: 70\r\n\
From: \"Caller\" <sip:+4930999@192.0.2.9>;tag=abc\r\n\
To: <sip:800@10.0.0.2>\r\n\
Call-ID: raw-1@192.0.2.9\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:caller@192.0.2.9:5070>\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn raw_peer() -> Peer {
    peer("192.0.2.9:5070")
}

fn sent(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(String::from_utf8(bytes.clone()).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn without_an_ack_the_2xx_is_retransmitted_then_the_call_is_hung_up() {
    let mut b = ua(B, 3);
    let outs = b.receive(Time(0), raw_peer(), INVITE.as_bytes());
    let texts = sent(&outs);
    assert!(
        texts[0].starts_with("SIP/2.0 100 Trying"),
        "at once, so the caller stops retransmitting"
    );
    let call = match outs.last() {
        Some(Output::Event(Event::Incoming { call, agreed, .. })) => {
            assert_eq!(agreed.unwrap().codec, Codec::Pcma);
            *call
        }
        o => panic!("{o:?}"),
    };
    let outs = b.answer(Time(0), call, addr("10.0.0.2:40000"));
    let ok = &sent(&outs)[0];
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(ok.contains("m=audio 40000 RTP/AVP 8 101"), "{ok}");
    let mut resent_at = vec![];
    let mut bye = None;
    while let Some(t) = b.next_deadline() {
        for o in b.tick(t) {
            match o {
                Output::Send { bytes, .. } if bytes.starts_with(b"SIP/2.0 200") => resent_at.push(t.0),
                Output::Send { bytes, .. } if bytes.starts_with(b"BYE ") => bye = bye.or(Some(t.0)),
                Output::Event(Event::Ended { end, .. }) => assert_eq!(end, End::NoAck),
                _ => {}
            }
        }
        assert!(t.0 <= 100_000, "timers run forever");
    }
    assert_eq!(
        resent_at[..7],
        [500, 1500, 3500, 7500, 11500, 15500, 19500],
        "T1 doubling, capped at T2"
    );
    assert_eq!(bye, Some(32_000), "BYE at 64·T1");
    assert_eq!(b.calls(), 0);
}

#[test]
fn a_trunk_challenge_is_answered_with_digest_credentials() {
    let mut a = ua(A, 11);
    let trunk = peer("192.0.2.50:5060");
    let (call, outs) = a.dial(
        Time(0),
        Dial {
            target: "sip:+4940111222@trunk.example".into(),
            from_user: "4930555".into(),
            peer: trunk,
            credentials: Some(Credentials {
                username: "aftercare".into(),
                password: "s3cret".into(),
            }),
            local_media: addr("10.0.0.1:30002"),
            call_id_stem: Some("callback-7-2".into()),
        },
    );
    let invite = parse(sent(&outs)[0].as_bytes(), true).unwrap();
    // The Call-ID starts with the attempt's key, so the far end can tie the call to it.
    assert!(
        invite.header("Call-ID").unwrap().starts_with("callback-7-2."),
        "{invite:?}"
    );
    let mut challenge = invite.response(401, "Unauthorized", Some("t1"));
    challenge.headers.push(telephony::sip::message::Header {
        name: "WWW-Authenticate".into(),
        value: r#"Digest realm="trunk.example", nonce="n0nce", algorithm=MD5, qop="auth""#.into(),
    });
    challenge.headers.push(telephony::sip::message::Header {
        name: "WWW-Authenticate".into(),
        value: r#"Digest realm="trunk.example", nonce="n0nce", algorithm=SHA-256, qop="auth""#.into(),
    });
    let outs = a.receive(Time(20), trunk, &challenge.to_bytes());
    let texts = sent(&outs);
    assert!(texts.iter().any(|t| t.starts_with("ACK ")), "the 401 is acknowledged");
    let again = texts
        .iter()
        .find(|t| t.starts_with("INVITE "))
        .expect("INVITE sent again");
    let again = parse(again.as_bytes(), true).unwrap();
    assert_eq!(again.cseq(), Some((invite.cseq().unwrap().0 + 1, "INVITE")));
    assert_ne!(again.branch(), invite.branch());
    assert_eq!(again.header("Call-ID"), invite.header("Call-ID"));
    let auth = again.header("Authorization").expect("credentials");
    assert!(auth.contains("algorithm=SHA-256"), "the stronger algorithm: {auth}");
    let cnonce = auth.split("cnonce=\"").nth(1).unwrap().split('"').next().unwrap();
    let c = digest::parse_challenge(r#"Digest realm="trunk.example", nonce="n0nce", algorithm=SHA-256, qop="auth""#)
        .unwrap();
    let want = digest::authorization(
        &c,
        "aftercare",
        "s3cret",
        "INVITE",
        "sip:+4940111222@trunk.example",
        cnonce,
        1,
    );
    assert_eq!(auth, want);
    // A second challenge is not answered again: the call fails.
    let outs = a.receive(Time(40), trunk, &{
        let mut c2 = again.response(401, "Unauthorized", Some("t2"));
        c2.headers.push(telephony::sip::message::Header {
            name: "WWW-Authenticate".into(),
            value: r#"Digest realm="trunk.example", nonce="other""#.into(),
        });
        c2.to_bytes()
    });
    assert!(outs.contains(&Output::Event(Event::Ended {
        call,
        end: End::Rejected(401)
    })));
}

#[test]
fn scanners_learn_nothing() {
    let mut b = ua(B, 5);
    let options = "OPTIONS sip:800@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKo1\r\nMax-Forwards: 70\r\nFrom: <sip:scan@192.0.2.9>;tag=1\r\nTo: <sip:800@10.0.0.2>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let r = &sent(&b.receive(Time(0), raw_peer(), options.as_bytes()))[0];
    assert!(r.starts_with("SIP/2.0 200 OK") && r.contains("Allow: INVITE"), "{r}");
    let strip = |s: &str| {
        s.lines()
            .filter(|l| {
                !["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            // A nonce is made per request (from its Call-ID), not per user.
            .map(|l| match l.split_once("nonce=\"") {
                Some((a, b)) => format!("{a}nonce=\"…{}", b.split_once('"').map_or("", |(_, rest)| rest)),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let register = |user: &str, n: u32, auth: bool| {
        format!(
            "REGISTER sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKr{n}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@10.0.0.2>;tag={n}\r\nTo: <sip:{user}@10.0.0.2>\r\nCall-ID: r{n}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.9:5070>\r\n{}\r\n",
            if auth { format!("Authorization: Digest username=\"{user}\", realm=\"aftercare\", nonce=\"x\", uri=\"sip:10.0.0.2\", response=\"00\"\r\n") } else { String::new() }
        )
    };
    for auth in [false, true] {
        let known = &sent(&b.receive(
            Time(0),
            raw_peer(),
            register("agent1", 1 + auth as u32 * 10, auth).as_bytes(),
        ))[0];
        let unknown = &sent(&b.receive(
            Time(0),
            raw_peer(),
            register("nosuchuser", 2 + auth as u32 * 10, auth).as_bytes(),
        ))[0];
        assert_eq!(
            strip(known),
            strip(unknown),
            "existing and non-existing users look the same"
        );
    }
    let mut all = sent(&b.receive(Time(0), raw_peer(), INVITE.as_bytes()));
    all.push(r.clone());
    for text in &all {
        assert!(!text.contains("Server:") && !text.contains("User-Agent:"), "{text}");
    }
}

#[test]
fn refusals_carry_the_right_status() {
    let mut b = UserAgent::new(UaConfig {
        advertised: addr(B),
        policy: Policy::default(),
        max_calls: 1,
        seed: 9,
    });
    b.receive(Time(0), raw_peer(), INVITE.as_bytes());
    let second = INVITE.replace("raw-1@", "raw-2@").replace("z9hG4bKraw1", "z9hG4bKraw2");
    let r = sent(&b.receive(Time(0), raw_peer(), second.as_bytes())).pop().unwrap();
    assert!(r.starts_with("SIP/2.0 503") && r.contains("Retry-After: 5"), "{r}");
    let mut c = ua(B, 10);
    let g729 = INVITE.replace("RTP/AVP 8 101", "RTP/AVP 18");
    let r = sent(&c.receive(Time(0), raw_peer(), g729.as_bytes())).pop().unwrap();
    assert!(r.starts_with("SIP/2.0 488 Not Acceptable Here"), "{r}");
    let broken = INVITE.replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    let r = sent(&c.receive(Time(0), raw_peer(), broken.as_bytes())).pop().unwrap();
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    let bye = "BYE sip:800@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKb9\r\nMax-Forwards: 70\r\nFrom: <sip:x@192.0.2.9>;tag=1\r\nTo: <sip:800@10.0.0.2>;tag=nope\r\nCall-ID: none\r\nCSeq: 2 BYE\r\n\r\n";
    let r = sent(&c.receive(Time(0), raw_peer(), bye.as_bytes())).pop().unwrap();
    assert!(r.starts_with("SIP/2.0 481"), "{r}");
    assert_eq!(c.calls(), 0, "refusals create no call");
}

#[test]
fn a_reinvite_to_hold_changes_the_media_direction() {
    let mut b = ua(B, 12);
    let outs = b.receive(Time(0), raw_peer(), INVITE.as_bytes());
    let Some(Output::Event(Event::Incoming { call, .. })) = outs.last().cloned() else {
        panic!()
    };
    let ok = parse(
        sent(&b.answer(Time(0), call, addr("10.0.0.2:40000")))[0].as_bytes(),
        true,
    )
    .unwrap();
    let tag = ok.header("To").unwrap().split("tag=").nth(1).unwrap().to_string();
    let ack = format!("ACK sip:aftercare@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nFrom: \"Caller\" <sip:+4930999@192.0.2.9>;tag=abc\r\nTo: <sip:800@10.0.0.2>;tag={tag}\r\nCall-ID: raw-1@192.0.2.9\r\nCSeq: 1 ACK\r\n\r\n");
    assert_eq!(
        b.receive(Time(10), raw_peer(), ack.as_bytes()),
        vec![Output::Event(Event::Confirmed { call })]
    );
    let hold = INVITE
        .replace("To: <sip:800@10.0.0.2>", &format!("To: <sip:800@10.0.0.2>;tag={tag}"))
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
        .replace("z9hG4bKraw1", "z9hG4bKraw3")
        .replace("telephone-event/8000\r\n", "telephone-event/8000\r\na=sendonly\r\n");
    let outs = b.receive(Time(1000), raw_peer(), hold.as_bytes());
    let ok = sent(&outs).pop().unwrap();
    assert!(ok.starts_with("SIP/2.0 200") && ok.contains("a=recvonly"), "{ok}");
    let changed = outs.iter().find_map(|o| match o {
        Output::Event(Event::MediaChanged { agreed, .. }) => Some(agreed.direction),
        _ => None,
    });
    assert_eq!(changed, Some(Direction::RecvOnly));
    assert_eq!(b.calls(), 1);
}
