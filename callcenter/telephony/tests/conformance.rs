//! RFC 3261 conformance of the user agent core, data-driven: messages in (from a source address,
//! over a transport), answers out, each checked against what the RFC says. Every answer of every
//! case is also held to the rules that apply to all of them: a To tag on everything but 100, and
//! the same `Allow` wherever one is given.

use std::net::SocketAddr;

use telephony::sip::digest;
use telephony::sip::message::{parse, Message};
use telephony::sip::screen::Policy;
use telephony::sip::ua::{End, Event, Output, Peer, Transport, UaConfig, UserAgent};
use telephony::Time;

fn ua() -> UserAgent {
    UserAgent::new(UaConfig {
        advertised: "10.0.0.1:5060".parse().unwrap(),
        policy: Policy::default(),
        max_calls: 10,
        seed: 7,
    })
}

fn peer(addr: &str, transport: Transport) -> Peer {
    Peer {
        transport,
        addr: addr.parse().unwrap(),
    }
}

/// A request with the usual header fields; `via` is the top Via's sent-by and parameters.
fn request(method: &str, via: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} sip:800@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:caller@client.example>;tag=f{call_id}\r\nTo: <sip:800@10.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// One message in and the answers it must (and must not) get.
struct Step {
    from: &'static str,
    transport: Transport,
    message: String,
    /// Status codes of the answers, in order (empty: no answer).
    codes: &'static [u16],
    /// Text each answer must hold (per answer, by index; missing: nothing more).
    holds: Vec<Vec<String>>,
    lacks: Vec<&'static str>,
}

fn step(from: &'static str, message: String, codes: &'static [u16]) -> Step {
    Step {
        from,
        transport: Transport::Udp,
        message,
        codes,
        holds: vec![],
        lacks: vec![],
    }
}

impl Step {
    fn holding(mut self, per_answer: &[&[&str]]) -> Step {
        self.holds = per_answer
            .iter()
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .collect();
        self
    }
    fn lacking(mut self, texts: &[&'static str]) -> Step {
        self.lacks = texts.to_vec();
        self
    }
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
}

/// The answers sent, as parsed messages, with every general rule checked.
fn answers(outs: &[Output], to: Peer, allow: &str, case: &str) -> Vec<Message> {
    let mut got = vec![];
    for o in outs {
        if let Output::Send { to: dest, bytes } = o {
            let m = parse(bytes, true).unwrap_or_else(|e| panic!("{case}: we sent garbage: {e:?}"));
            if m.is_request() {
                continue;
            }
            assert_eq!(*dest, to, "{case}: answered to the source");
            let code = m.status().unwrap();
            if code > 100 {
                let to_value = m.header("To").unwrap();
                assert!(
                    to_value.contains(";tag="),
                    "{case}: {code} without a To tag: {to_value}"
                );
            }
            let allowed: Vec<&str> = m.values("Allow").collect();
            if !allowed.is_empty() {
                assert_eq!(allowed.join(", "), allow, "{case}: Allow in a {code}");
            }
            got.push(m);
        }
    }
    got
}

fn run(case: Case) {
    let mut ua = ua();
    let allow = Policy::default().allow();
    for (i, s) in case.steps.iter().enumerate() {
        let from = peer(s.from, s.transport);
        let outs = ua.receive(Time(i as u64 * 10), from, s.message.as_bytes());
        let got = answers(&outs, from, &allow, case.name);
        let codes: Vec<u16> = got.iter().map(|m| m.status().unwrap()).collect();
        assert_eq!(codes, s.codes, "{} step {i}: answers", case.name);
        for (k, holds) in s.holds.iter().enumerate() {
            let text = String::from_utf8_lossy(&got[k].to_bytes()).to_string();
            for h in holds {
                assert!(
                    text.contains(h.as_str()),
                    "{} step {i}: answer {k} lacks {h:?}:\n{text}",
                    case.name
                );
            }
        }
        for m in &got {
            let text = String::from_utf8_lossy(&m.to_bytes()).to_string();
            for l in &s.lacks {
                assert!(!text.contains(l), "{} step {i}: {l:?} in\n{text}", case.name);
            }
        }
    }
}

#[test]
fn server_transactions_match_on_branch_sent_by_and_method() {
    let b = "z9hG4bKsame";
    run(Case {
        name: "same branch, two hosts",
        steps: vec![
            step(
                "10.0.0.5:5060",
                request("OPTIONS", &format!("a.example;branch={b}"), "first", 1, ""),
                &[200],
            )
            .holding(&[&["Call-ID: first"]]),
            // Another host reusing the branch starts its own transaction: its own answer.
            step(
                "10.0.0.6:5060",
                request("OPTIONS", &format!("b.example;branch={b}"), "second", 1, ""),
                &[200],
            )
            .holding(&[&["Call-ID: second", "b.example"]])
            .lacking(&["Call-ID: first"]),
            // The first host's retransmission is absorbed: the same answer again.
            step(
                "10.0.0.5:5060",
                request("OPTIONS", &format!("a.example;branch={b}"), "first", 1, ""),
                &[200],
            )
            .holding(&[&["Call-ID: first"]]),
        ],
    });
}

#[test]
fn requests_without_the_magic_cookie_match_the_rfc_2543_way() {
    // No branch at all, and a branch without z9hG4bK: a retransmission is the same transaction
    // (the same answer, the same To tag); a new CSeq is a new one.
    let mut ua = ua();
    let from = peer("10.0.0.8:5060", Transport::Udp);
    let allow = Policy::default().allow();
    let mut tags = vec![];
    for (i, (via, cseq)) in [
        ("old.example", 1),
        ("old.example", 1),
        ("old.example", 2),
        ("old.example;branch=1234", 3),
        ("old.example;branch=1234", 3),
    ]
    .into_iter()
    .enumerate()
    {
        let outs = ua.receive(
            Time(i as u64),
            from,
            request("OPTIONS", via, "legacy", cseq, "").as_bytes(),
        );
        let got = answers(&outs, from, &allow, "rfc 2543");
        assert_eq!(got.len(), 1, "{i}: {outs:?}");
        tags.push(got[0].header("To").unwrap().to_string());
    }
    assert_eq!(tags[0], tags[1], "a retransmission gets the transaction's answer");
    assert_ne!(tags[1], tags[2], "another CSeq is another transaction");
    assert_eq!(tags[3], tags[4]);
    assert_ne!(tags[2], tags[3]);

    // An RFC 2543 INVITE is cancelled by its CANCEL (same fields, no branch).
    let invite = "INVITE sip:800@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP old.example\r\nMax-Forwards: 70\r\n\
                  From: <sip:caller@old.example>;tag=x1\r\nTo: <sip:800@10.0.0.1>\r\nCall-ID: inv2543\r\n\
                  CSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";
    let outs = ua.receive(Time(100), from, invite.as_bytes());
    assert!(
        outs.iter().any(|o| matches!(o, Output::Event(Event::Incoming { .. }))),
        "{outs:?}"
    );
    let cancel = invite
        .replace("INVITE sip", "CANCEL sip")
        .replace("5 INVITE", "5 CANCEL");
    let outs = ua.receive(Time(110), from, cancel.as_bytes());
    let codes: Vec<u16> = answers(&outs, from, &allow, "2543 cancel")
        .iter()
        .map(|m| m.status().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 487], "{outs:?}");
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Ended {
            end: End::Cancelled,
            ..
        })
    )));
}

#[test]
fn answers_say_where_the_request_came_from() {
    run(Case {
        name: "received and rport",
        steps: vec![
            // A name as sent-by: received= is added (RFC 3261 §18.2.1).
            step(
                "10.0.0.7:5070",
                request("OPTIONS", "client.example:5060;branch=z9hG4bKr1", "r1", 1, ""),
                &[200],
            )
            .holding(&[&["Via: SIP/2.0/UDP client.example:5060;branch=z9hG4bKr1;received=10.0.0.7"]]),
            // Another address than the packet's.
            step(
                "10.0.0.7:5070",
                request("OPTIONS", "192.0.2.9:5060;branch=z9hG4bKr2", "r2", 1, ""),
                &[200],
            )
            .holding(&[&["branch=z9hG4bKr2;received=10.0.0.7"]]),
            // The packet's own address: nothing to add.
            step(
                "10.0.0.7:5070",
                request("OPTIONS", "10.0.0.7:5070;branch=z9hG4bKr3", "r3", 1, ""),
                &[200],
            )
            .lacking(&["received="]),
            // rport asks for the source port as well (RFC 3581).
            step(
                "10.0.0.7:5070",
                request("OPTIONS", "10.0.0.7:5060;rport;branch=z9hG4bKr4", "r4", 1, ""),
                &[200],
            )
            .holding(&[&["10.0.0.7:5060;rport=5070;branch=z9hG4bKr4;received=10.0.0.7"]]),
            // Refusals made before any transaction carry it too.
            step(
                "10.0.0.7:5070",
                request("FROB", "client.example;branch=z9hG4bKr5", "r5", 1, ""),
                &[501],
            )
            .holding(&[&["received=10.0.0.7", "Allow: "]]),
        ],
    });
}

#[test]
fn every_final_answer_has_a_to_tag_and_the_same_allow() {
    let auth = "Authorization: Digest username=\"a\", realm=\"aftercare\", nonce=\"n\", uri=\"sip:800@10.0.0.1\", response=\"00\"\r\n";
    run(Case {
        name: "to tags",
        steps: vec![
            step(
                "10.0.0.9:5060",
                request("BYE", "h.example;branch=z9hG4bKt1", "t1", 1, ""),
                &[481],
            ),
            step(
                "10.0.0.9:5060",
                request("OPTIONS", "h.example;branch=z9hG4bKt2", "t2", 1, ""),
                &[200],
            )
            .holding(&[&["Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO"]]),
            step(
                "10.0.0.9:5060",
                request("FROB", "h.example;branch=z9hG4bKt3", "t3", 1, ""),
                &[501],
            ),
            step(
                "10.0.0.9:5060",
                request("OPTIONS", "h.example;branch=z9hG4bKt4", "t4", 1, "Require: 100rel\r\n"),
                &[420],
            ),
            step(
                "10.0.0.9:5060",
                request("REGISTER", "h.example;branch=z9hG4bKt5", "t5", 1, ""),
                &[401],
            ),
            step(
                "10.0.0.9:5060",
                request("REGISTER", "h.example;branch=z9hG4bKt6", "t6", 2, auth),
                &[403],
            ),
            // Malformed (a Max-Forwards that is no number): the 400 made from the raw header
            // lines gets a tag too.
            step(
                "10.0.0.9:5060",
                request("OPTIONS", "h.example;branch=z9hG4bKt7", "t7", 1, "")
                    .replace("Max-Forwards: 70", "Max-Forwards: lots"),
                &[400],
            ),
        ],
    });
}

#[test]
fn register_is_challenged_with_a_nonce_then_refused() {
    let mut ua = ua();
    let from = peer("10.0.0.10:5060", Transport::Udp);
    let outs = ua.receive(
        Time(0),
        from,
        request("REGISTER", "r.example;branch=z9hG4bKg1", "g1", 1, "").as_bytes(),
    );
    let got = answers(&outs, from, &Policy::default().allow(), "register");
    assert_eq!(got[0].status(), Some(401));
    let challenges: Vec<&str> = got[0]
        .headers
        .iter()
        .filter(|h| h.name == "WWW-Authenticate")
        .map(|h| h.value.as_str())
        .collect();
    let parsed: Vec<digest::Challenge> = challenges.iter().filter_map(|c| digest::parse_challenge(c)).collect();
    assert_eq!(parsed.len(), 2, "SHA-256 and MD5: {challenges:?}");
    assert!(parsed.iter().all(|c| c.nonce.len() >= 16), "{challenges:?}");
    // A client answers the challenge: still no registration, and the same refusal for everyone.
    let challenge = digest::best(challenges.into_iter()).unwrap();
    let authorization = digest::authorization(&challenge, "bob", "secret", "REGISTER", "sip:800@10.0.0.1", "c0ffee", 1);
    let retry = request(
        "REGISTER",
        "r.example;branch=z9hG4bKg2",
        "g1",
        2,
        &format!("Authorization: {authorization}\r\n"),
    );
    let outs = ua.receive(Time(10), from, retry.as_bytes());
    let got = answers(&outs, from, &Policy::default().allow(), "register");
    assert_eq!(got[0].status(), Some(403));
}

const ANSWER_SDP: &str = "v=0\r\no=peer 1 1 IN IP4 10.0.0.11\r\ns=-\r\nc=IN IP4 10.0.0.11\r\nt=0 0\r\n\
                          m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                          a=rtpmap:101 telephone-event/8000\r\n";

#[test]
fn a_delayed_offer_is_answered_with_our_offer_and_the_ack_brings_the_answer() {
    for ack_body in [Some(ANSWER_SDP), None] {
        let mut ua = ua();
        let from = peer("10.0.0.11:5060", Transport::Udp);
        let invite = request(
            "INVITE",
            "10.0.0.11:5060;branch=z9hG4bKd1",
            "delayed",
            1,
            "Contact: <sip:c@10.0.0.11>\r\n",
        );
        let outs = ua.receive(Time(0), from, invite.as_bytes());
        let call = outs
            .iter()
            .find_map(|o| match o {
                Output::Event(Event::Incoming { call, agreed, .. }) => {
                    assert!(agreed.is_none(), "no offer yet");
                    Some(*call)
                }
                _ => None,
            })
            .expect("offered to the application, not refused");
        let outs = ua.answer(Time(5), call, "10.0.0.1:30000".parse::<SocketAddr>().unwrap());
        let ok = answers(&outs, from, &Policy::default().allow(), "delayed offer");
        assert_eq!(ok.last().and_then(|m| m.status()), Some(200));
        let offer = String::from_utf8_lossy(&ok.last().unwrap().body).to_string();
        assert!(offer.contains("m=audio 30000 RTP/AVP 0 8 101"), "our offer: {offer}");
        let tag = ok.last().unwrap().header("To").unwrap().to_string();
        let mut ack = request("ACK", "10.0.0.11:5060;branch=z9hG4bKd2", "delayed", 1, "")
            .replace("To: <sip:800@10.0.0.1>", &format!("To: {tag}"));
        if let Some(sdp) = ack_body {
            ack = ack.replace(
                "Content-Length: 0\r\n\r\n",
                &format!(
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    sdp.len()
                ),
            );
        }
        let outs = ua.receive(Time(20), from, ack.as_bytes());
        let events: Vec<&Event> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        match ack_body {
            Some(_) => {
                // The media is known before the call counts as answered.
                assert!(
                    matches!(events[..], [Event::MediaChanged { agreed, .. }, Event::Confirmed { .. }]
                        if agreed.remote == "10.0.0.11:40000".parse::<SocketAddr>().unwrap()),
                    "{events:?}"
                );
            }
            None => {
                // No answer in the ACK: no session. The call is not confirmed, and unless the
                // peer hangs up at once, it ends with our BYE after T1.
                assert!(events.is_empty(), "{events:?}");
                assert!(!outs.iter().any(|o| matches!(o, Output::Send { .. })), "{outs:?}");
                let outs = ua.tick(Time(20 + 500));
                let bye = outs
                    .iter()
                    .any(|o| matches!(o, Output::Send { bytes, .. } if bytes.starts_with(b"BYE ")));
                assert!(bye, "{outs:?}");
                assert!(
                    outs.iter().any(|o| matches!(
                        o,
                        Output::Event(Event::Ended {
                            end: End::Rejected(488),
                            ..
                        })
                    )),
                    "{outs:?}"
                );
            }
        }
    }
}

#[test]
fn the_long_torture_request_is_answered_over_tcp_as_over_udp() {
    let longreq = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc4475/longreq.dat"
    ))
    .unwrap();
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut ua = ua();
        let from = peer("10.0.0.12:5060", transport);
        let outs = ua.receive(Time(0), from, &longreq);
        assert!(
            outs.iter()
                .any(|o| matches!(o, Output::Event(Event::Incoming { .. }) | Output::Send { .. })),
            "{transport:?}: {outs:?}"
        );
    }
}

#[test]
fn the_same_request_over_udp_and_over_tcp_is_two_transactions() {
    // A peer that tried UDP first, then TCP (an INVITE over UDP stays in its transaction for
    // 32 s waiting for the ACK): the TCP request is answered on the TCP connection.
    let mut ua = ua();
    let allow = Policy::default().allow();
    let invite = request("INVITE", "both.example;branch=z9hG4bKboth", "both", 1, "");
    let udp = peer("10.0.0.13:5060", Transport::Udp);
    let tcp = peer("10.0.0.13:41000", Transport::Tcp);
    for (i, from) in [udp, tcp].into_iter().enumerate() {
        let outs = ua.receive(Time(i as u64), from, invite.as_bytes());
        let call = outs.iter().find_map(|o| match o {
            Output::Event(Event::Incoming { call, .. }) => Some(*call),
            _ => None,
        });
        let call = call.unwrap_or_else(|| panic!("{from:?}: a new call: {outs:?}"));
        let outs = ua.reject(Time(i as u64 + 1), call, 486, "Busy Here");
        let got = answers(&outs, from, &allow, "udp then tcp");
        assert_eq!(got.iter().map(|m| m.status().unwrap()).collect::<Vec<_>>(), vec![486]);
    }
}

/// The user agent says which messages it refused as malformed, so the adapter can charge their
/// source without reading the answers: a 400 (a header field missing, CSeq not matching) or a
/// message it could not read at all; never a well-formed request, nor one refused for another
/// reason (an extension it does not support, 420).
#[test]
fn the_user_agent_names_malformed_messages() {
    let from = peer("192.0.2.7:5060", Transport::Udp);
    let malformed = |bytes: &[u8]| {
        let outs = ua().receive(Time(0), from, bytes);
        let flagged = outs
            .iter()
            .filter(|o| matches!(o, Output::Event(Event::Malformed { from: f }) if *f == from))
            .count();
        assert!(flagged <= 1, "{outs:?}");
        flagged == 1
    };
    let options = request("OPTIONS", "192.0.2.7:5060;branch=z9hG4bKm1", "m1", 1, "");
    assert!(!malformed(options.as_bytes()), "a well-formed OPTIONS");
    let no_call_id = options.replace("Call-ID: m1\r\n", "");
    assert!(malformed(no_call_id.as_bytes()), "Call-ID missing: 400");
    let wrong_cseq = options.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    assert!(malformed(wrong_cseq.as_bytes()), "CSeq method differs: 400");
    assert!(malformed(b"\x00\x01 not SIP at all\r\n\r\n"), "unreadable: dropped");
    let require = request(
        "OPTIONS",
        "192.0.2.7:5060;branch=z9hG4bKm2",
        "m2",
        1,
        "Require: x-unheard-of\r\n",
    );
    let outs = ua().receive(Time(0), from, require.as_bytes());
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Send { bytes, .. } if bytes.starts_with(b"SIP/2.0 420"))),
        "{outs:?}"
    );
    assert!(
        !malformed(require.as_bytes()),
        "an extension we lack (420) is not malformed"
    );
}
