//! RFC 4475 torture messages (copied unchanged from shared/conformance into tests/fixtures) against
//! the SIP message layer and UAS screening. Every row of EXPECTED.tsv is asserted.

use telephony::sip::message::parse;
use telephony::sip::screen::{screen, Policy, Verdict};

#[path = "common/rfc4475.rs"]
mod torture;
use torture::{message, rows};

/// The outcomes a row allows, read from its own words: the status codes it names, "dropped",
/// or — naming neither — that the message is taken in.
#[derive(Debug)]
struct Allowed {
    codes: Vec<u16>,
    drop: bool,
}

fn allowed(expected: &str) -> Allowed {
    let mut codes = vec![];
    for w in expected.split(|c: char| !c.is_ascii_digit()) {
        if let Ok(n) = w.parse::<u16>() {
            if (400..=599).contains(&n) && w.len() == 3 {
                codes.push(n);
            }
        }
    }
    Allowed {
        codes,
        drop: expected.contains("dropped"),
    }
}

fn method_of(bytes: &[u8]) -> String {
    parse(bytes, true)
        .ok()
        .and_then(|m| m.method().map(str::to_string))
        .unwrap_or_default()
}

fn outcome(v: &Verdict) -> String {
    match v {
        Verdict::Request(m) => format!("request {}", m.method().unwrap_or("")),
        Verdict::Response(_) => "response".into(),
        Verdict::Respond { code, reason, .. } => format!("{code} {reason}"),
        Verdict::Drop(why) => format!("drop ({why})"),
    }
}

#[test]
fn every_torture_message_gets_its_expected_outcome() {
    let rows = rows();
    assert_eq!(rows.len(), 49, "all 49 RFC 4475 messages are listed");
    let policy = Policy::default();
    let mut failures = vec![];
    for row in &rows {
        let bytes = message(&row.file);
        let verdict = screen(&bytes, true, &policy);
        let a = allowed(&row.expected);
        let ok = match &verdict {
            Verdict::Respond { code, .. } if a.codes.contains(code) => true,
            Verdict::Drop(_) if a.drop => true,
            // A row that names no refusal: the message is taken in and handled as any other.
            // Responses go on to the transaction layer (which drops one that matches no
            // transaction). Requests are accepted — or get this UAS's normal answer for their
            // method: a digest challenge (401) for REGISTER, 501 for a method it does not implement.
            Verdict::Request(_) if a.codes.is_empty() && !a.drop => true,
            Verdict::Response(_) if a.codes.is_empty() && (!a.drop || row.kind == "semantic") => true,
            Verdict::Respond { code: 401, .. } if a.codes.is_empty() && !a.drop && method_of(&bytes) == "REGISTER" => {
                true
            }
            Verdict::Respond { code: 501, .. }
                if a.codes.is_empty() && !a.drop && !policy.methods.contains(&method_of(&bytes).as_str()) =>
            {
                true
            }
            _ => false,
        };
        // Valid messages always parse.
        let parses = parse(&bytes, true).is_ok();
        if row.kind == "valid" && !parses {
            failures.push(format!("{}: valid but did not parse: {}", row.file, outcome(&verdict)));
        } else if !ok {
            failures.push(format!(
                "{}: got {}, expected {:?} ({})",
                row.file,
                outcome(&verdict),
                a,
                row.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 49 wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn refusals_carry_the_header_fields_their_status_needs() {
    let policy = Policy::default();
    let headers = |file: &str| match screen(&message(file), true, &policy) {
        Verdict::Respond { code, headers, .. } => (code, headers),
        other => panic!("{file}: {}", outcome(&other)),
    };
    let (code, h) = headers("bext01");
    assert_eq!(code, 420);
    assert!(
        h.iter()
            .any(|(n, v)| *n == "Unsupported" && v == "nothingSupportsThis, nothingSupportsThisEither"),
        "{h:?}"
    );
    let (code, h) = headers("invut");
    assert_eq!(code, 415);
    assert!(h.iter().any(|(n, v)| *n == "Accept" && v == "application/sdp"));
    let (code, h) = headers("intmeth");
    assert_eq!(code, 501);
    assert!(h.iter().any(|(n, v)| *n == "Allow" && v.contains("INVITE")));
    let (code, h) = headers("regaut01");
    assert_eq!(code, 401);
    assert!(h
        .iter()
        .any(|(n, v)| *n == "WWW-Authenticate" && v.starts_with("Digest ")));
}

#[test]
fn valid_messages_parse_into_the_right_fields() {
    let m = parse(&message("wsinv"), true).unwrap();
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.cseq(), Some((9, "INVITE")));
    assert!(m.header("To").unwrap().starts_with("sip:vivekg@chair-dnrc.example.com"));
    assert_eq!(m.values("Via").count(), 3, "folded, compact and multi-value Via");
    assert_eq!(
        m.body.len(),
        m.header("Content-Length").unwrap().parse::<usize>().unwrap()
    );

    let m = parse(&message("intmeth"), true).unwrap();
    assert!(m.method().unwrap().starts_with("!interesting-Method"));
    let m = parse(&message("esc02"), true).unwrap();
    assert_eq!(m.method(), Some("RE%47IST%45R"), "escaped method is not unescaped");
    let m = parse(&message("dblreq"), true).unwrap();
    assert!(m.body.is_empty(), "the second request in the datagram is ignored");
    let m = parse(&message("mpart01"), true).unwrap();
    assert!(m.header("Content-Type").unwrap().starts_with("multipart/mixed"));
    let m = parse(&message("unreason"), true).unwrap();
    assert!(matches!(
        m.start,
        telephony::sip::message::StartLine::Response { code: 200, .. }
    ));
}

/// Never a panic: every truncation and thousands of byte mutations of every message.
#[test]
fn no_input_makes_it_panic() {
    let policy = Policy::default();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut n = 0;
    for row in rows() {
        let bytes = message(&row.file);
        for cut in (0..bytes.len()).step_by(7) {
            let _ = screen(&bytes[..cut], true, &policy);
            let _ = screen(&bytes[..cut], false, &policy);
            n += 2;
        }
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % b.len().max(1);
                if !b.is_empty() {
                    b[i] = [b' ', b'\r', b'\n', b':', b';', b'<', b'"', b'%', b',', 0xff, b'/'][(next() % 11) as usize];
                }
            }
            let _ = screen(&b, true, &policy);
            n += 1;
        }
    }
    assert!(n > 20_000, "{n} inputs");
}
