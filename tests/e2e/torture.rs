//! The RFC 4475 torture messages, sent one after another to the running service over UDP and
//! over TCP (a fresh socket or connection for each, its sending side closed after the message),
//! and each answer judged against the row of
//! `EXPECTED.tsv` that names what a user-agent server must do with it. The summary line gives
//! the count; every one of the 49 must come out right on both transports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crm_sql::testing::TestDb;

use crate::support::Server;

#[path = "../../callcenter/telephony/tests/common/rfc4475.rs"]
mod table;
use table::{message, rows, Row};

/// The status codes of the answers in `bytes` (one or more messages), in order.
fn codes(bytes: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(bytes)
        .split("SIP/2.0 ")
        .skip(1)
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect()
}

/// Everything that comes back on a UDP socket until it has been quiet for `quiet`.
fn udp_exchange(to: SocketAddr, message: &[u8], quiet: Duration) -> Vec<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(message, to).unwrap();
    sock.set_read_timeout(Some(quiet)).unwrap();
    let mut got = vec![];
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        if buf[..n].starts_with(b"SIP/2.0 ") {
            got.extend(codes(&buf[..n]));
        }
    }
    got
}

/// The same on a fresh TCP connection (answers come back on it).
fn tcp_exchange(to: SocketAddr, message: &[u8], quiet: Duration) -> Vec<u16> {
    let mut conn = TcpStream::connect(to).unwrap();
    conn.write_all(message).unwrap();
    // Nothing more will come: a message the file leaves unterminated is complete as it is.
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    conn.set_read_timeout(Some(quiet)).unwrap();
    let mut all = vec![];
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    codes(&all)
}

/// Whether `answers` is what the row asks for. A row naming status codes wants the first final
/// answer to be one of them; a row saying "dropped" wants silence; any other request is taken
/// in and handled like any other (a final answer that is not a refusal of its form), and any
/// other response is matched to no transaction and dropped.
fn judge(row: &Row, request: bool, stream: bool, answers: &[u16]) -> Result<(), String> {
    let named: Vec<u16> = row
        .expected
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 3)
        .filter_map(|w| w.parse().ok())
        .filter(|c| (400..=599).contains(c))
        .collect();
    let finals: Vec<u16> = answers.iter().copied().filter(|c| *c >= 200).collect();
    let first = finals.first().copied();
    let ok = if row.file == "inv2543" && stream {
        // RFC 3261 §20.14: on a stream, Content-Length is mandatory; this one has none.
        first == Some(400)
    } else if !request || (row.expected.contains("dropped") && named.is_empty()) {
        answers.is_empty()
    } else if !named.is_empty() {
        first.is_some_and(|c| named.contains(&c))
            || (row.expected.contains("dropped") && answers.is_empty())
            // "or the Date is ignored": handled as any other request.
            || (row.file == "baddate" && first.is_some_and(|c| c != 400))
    } else if row.file == "regaut01" || row.file == "dblreq" {
        first == Some(401)
    } else {
        first.is_some_and(|c| !(400..=400).contains(&c) && c != 500 && c != 505)
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} ({}): answered {answers:?}; expected: {}",
            row.file, row.kind, row.expected
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_49_torture_messages_get_the_right_answer_over_udp_and_tcp() {
    let db = TestDb::sqlite().await;
    // The limiter would rightly ban a source sending 20 malformed messages a second.
    let server = Server::start(&db, &[], &[("AFTERCARE_SIP_RATE_LIMIT", "10000")]).await;
    let rows = rows();
    assert_eq!(rows.len(), 49);
    let mut report = vec![];
    for stream in [false, true] {
        let mut wrong = vec![];
        for row in &rows {
            let message = message(&row.file);
            let request = !message.starts_with(b"SIP/");
            let quiet = Duration::from_millis(if request { 600 } else { 300 });
            let to = server.sip;
            let answers = tokio::task::spawn_blocking(move || {
                if stream {
                    tcp_exchange(to, &message, quiet)
                } else {
                    udp_exchange(to, &message, quiet)
                }
            })
            .await
            .unwrap();
            if let Err(e) = judge(row, request, stream, &answers) {
                wrong.push(e);
            }
        }
        let transport = if stream { "TCP" } else { "UDP" };
        eprintln!("RFC 4475 live over {transport}: {} of 49 right", 49 - wrong.len());
        if !wrong.is_empty() {
            report.push(format!("{transport}:\n  {}", wrong.join("\n  ")));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
