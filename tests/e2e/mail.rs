//! E-mail through a real SMTP server on loopback: Debian's `python3-aiosmtpd`, started by the
//! test with its Maildir handler, and with STARTTLS required on a certificate the test makes
//! (openssl) and hands to the service as `smtp_ca_file`. What arrived is read from the Maildir.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{temp_path, Server};

/// Fails loudly when the SMTP server is not installed (CI installs it).
fn require_aiosmtpd() {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3-aiosmtpd is missing: apt-get install python3-aiosmtpd");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An aiosmtpd on `127.0.0.1:port` writing what it accepts to a Maildir; killed and removed on
/// drop.
struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    fn start(port: u16, tls: Option<(&Path, &Path)>) -> Sink {
        let dir = temp_path("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Sink { child, dir }
    }

    /// Every message it holds, as text.
    fn messages(&self) -> Vec<String> {
        let mut out = vec![];
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private CA and a server certificate it signed for 127.0.0.1: (CA cert, server cert,
/// server key, the directory holding them).
fn certificate() -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = temp_path("smtp-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f);
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Aftercare test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"), dir)
}

/// A message's body as text, quoted-printable decoded (soft line breaks joined, `=XX` bytes).
fn body(msg: &str) -> String {
    let text = msg.split_once("\n\n").map_or("", |(_, b)| b);
    if header(msg, "Content-Transfer-Encoding") != Some("quoted-printable") {
        return text.to_string();
    }
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = vec![];
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'=', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A header's value in a raw message.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
}

async fn wait_sent(server: &Server, admin: &str, keys: &[String], secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, mail) = server.get(admin, "/api/v1/mail?status=sent&limit=500").await;
        let sent: Vec<&str> = mail
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["key"].as_str())
            .collect();
        if keys.iter().all(|k| sent.contains(&k.as_str())) {
            return mail;
        }
        if Instant::now() > deadline {
            let (_, all) = server.get(admin, "/api/v1/mail?limit=500").await;
            panic!("not all sent in {secs} s: {keys:?}\n{all}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With STARTTLS required: a test message queued twice under one key arrives once, with the
/// Message-ID of its key; a visit booked with a customer (an offered slot) is confirmed to them
/// by e-mail, in the station's time, naming the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_once_over_starttls_and_a_booked_visit_is_confirmed() {
    require_aiosmtpd();
    let (ca, cert, key, tls_dir) = certificate();
    let port = free_port();
    let sink = Sink::start(port, Some((&cert, &key)));
    let db = crm_sql::testing::TestDb::sqlite().await;
    let port_s = port.to_string();
    let server = Server::start(
        &db,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_SMTP_HOST", "127.0.0.1"),
            ("AFTERCARE_SMTP_PORT", &port_s),
            ("AFTERCARE_SMTP_TLS", "starttls"),
            ("AFTERCARE_SMTP_CA_FILE", ca.to_str().unwrap()),
            ("AFTERCARE_MAIL_FROM", "Aftercare Service <service@aftercare.test>"),
            ("AFTERCARE_MAIL_RETRY_SECONDS", "1"),
        ],
    )
    .await;
    let admin = server.login("admin", "demo").await;
    let (status, first) = server
        .post(
            &admin,
            "/api/v1/mail/test",
            json!({"to": "ops@example.com", "key": "smtp-check-1"}),
        )
        .await;
    assert_eq!((status, first["replayed"].as_bool()), (201, Some(false)), "{first}");
    let (status, again) = server
        .post(
            &admin,
            "/api/v1/mail/test",
            json!({"to": "ops@example.com", "key": "smtp-check-1"}),
        )
        .await;
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(again["mail"]["id"], first["mail"]["id"]);
    let (status, bad) = server
        .post(&admin, "/api/v1/mail/test", json!({"to": "not an address", "key": "x"}))
        .await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("to")), "{bad}");

    // A visit booked for a customer with an address.
    let (status, customer) = server
        .post(
            &admin,
            "/api/v1/customers",
            json!({"name": "Mara Mail", "email": "mara@example.com", "phones": [{"number": "+49 30 5557123"}],
                   "addresses": [{"label": "home", "line1": "Ringstraße 9", "postal_code": "10115", "city": "Berlin",
                                  "country": "DE", "location": {"lat": 52.53, "lon": 13.39}}]}),
        )
        .await;
    assert_eq!(status, 201, "{customer}");
    let (_, assets) = server.get(&admin, "/api/v1/product-models").await;
    let model = &assets[0];
    let (status, asset) = server
        .post(
            &admin,
            "/api/v1/assets",
            json!({"customer_id": customer["id"], "model_id": model["id"], "serial": "MAIL-0001", "purchase_date": "2026-06-01"}),
        )
        .await;
    assert_eq!(status, 201, "{asset}");
    let (_, ticket) = server
        .post(
            &admin,
            "/api/v1/tickets",
            json!({"customer_id": customer["id"], "asset_id": asset["id"], "subject": "Stops mid-cycle"}),
        )
        .await;
    let (status, ro) = server
        .post(
            &admin,
            "/api/v1/repair-orders",
            json!({"ticket_id": ticket["id"], "duration_minutes": 60}),
        )
        .await;
    assert_eq!(status, 201, "{ro}");
    let order = ro["id"].as_i64().unwrap();
    let mut day = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    while chrono::Datelike::weekday(&day).number_from_monday() > 5 {
        day += chrono::Duration::days(1);
    }
    let (status, slots) = server
        .get(&admin, &format!("/api/v1/repair-orders/{order}/slots?date={day}&n=1"))
        .await;
    assert_eq!(status, 200, "{slots}");
    let pick = &slots[0];
    let (status, booked) = server
        .post(
            &admin,
            &format!("/api/v1/repair-orders/{order}/assign"),
            json!({"technician_id": pick["technician_id"], "appointment": {"from": pick["from"], "to": pick["to"]}}),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    let from: chrono::DateTime<chrono::Utc> = pick["from"].as_str().unwrap().parse().unwrap();

    let keys = vec![
        "test:smtp-check-1".to_string(),
        format!("appointment:{order}:{}", from.timestamp()),
    ];
    wait_sent(&server, &admin, &keys, 60).await;
    let msgs = sink.messages();
    let tests: Vec<&String> = msgs.iter().filter(|m| body(m).contains("smtp-check-1")).collect();
    assert_eq!(tests.len(), 1, "sent once: {msgs:?}");
    let t = tests[0];
    assert_eq!(header(t, "Subject"), Some("Aftercare test message"));
    assert_eq!(header(t, "To"), Some("ops@example.com"));
    assert_eq!(
        header(t, "Message-ID"),
        Some(crm_core::mail::message_id("test:smtp-check-1", "aftercare.test").as_str())
    );
    let confirmation = msgs
        .iter()
        .find(|m| header(m, "To") == Some("mara@example.com"))
        .unwrap_or_else(|| panic!("the confirmation: {msgs:?}"));
    // The window in the station's time (the demo's stations keep Berlin time).
    let local = from
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M")
        .to_string();
    let text = body(confirmation);
    assert!(text.contains(&local), "{local}: {confirmation}");
    assert!(text.contains(&format!("repair order {order}")), "{confirmation}");
    drop(server);
    let _ = std::fs::remove_dir_all(tls_dir);
}

/// A crash loses nothing and repeats nothing: with the SMTP server down, twenty messages are
/// queued (each twice) and attempted; the service is killed (SIGKILL) with them queued and some
/// leased; the SMTP server comes up; the service starts again on the same database and sends
/// each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_with_messages_queued_loses_none_and_sends_none_twice() {
    require_aiosmtpd();
    let port = free_port();
    let port_s = port.to_string();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let env = [
        ("AFTERCARE_DEMO_CUSTOMERS", "150"),
        ("AFTERCARE_SMTP_HOST", "127.0.0.1"),
        ("AFTERCARE_SMTP_PORT", port_s.as_str()),
        ("AFTERCARE_SMTP_TLS", "none"),
        ("AFTERCARE_MAIL_RETRY_SECONDS", "1"),
        ("AFTERCARE_MAIL_LEASE_SECONDS", "5"),
    ];
    let mut server = Server::start(&db, &["--demo"], &env).await;
    let admin = server.login("admin", "demo").await;
    let keys: Vec<String> = (0..20).map(|i| format!("crash-{i:02}")).collect();
    for k in &keys {
        for _ in 0..2 {
            let (status, body) = server
                .post(&admin, "/api/v1/mail/test", json!({"to": "ops@example.com", "key": k}))
                .await;
            assert!(status == 201 || status == 200, "{body}");
        }
    }
    // Every message tried and failed (nobody listens), none sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, mail) = server.get(&admin, "/api/v1/mail?limit=500").await;
        let ours: Vec<&Value> = mail
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "test")
            .collect();
        assert_eq!(ours.len(), 20, "one message per key");
        assert!(ours.iter().all(|m| m["status"] == "queued"), "{mail}");
        if ours.iter().all(|m| m["attempts"].as_u64() >= Some(1)) {
            break;
        }
        assert!(Instant::now() < deadline, "not every message was attempted: {mail}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill();
    let sink = Sink::start(port, None);
    let server = Server::start(&db, &[], &env).await;
    let admin = server.login("admin", "demo").await;
    let wanted: Vec<String> = keys.iter().map(|k| format!("test:{k}")).collect();
    wait_sent(&server, &admin, &wanted, 90).await;
    let msgs = sink.messages();
    for k in &keys {
        let copies = msgs.iter().filter(|m| body(m).contains(&format!("(key {k})"))).count();
        assert_eq!(copies, 1, "{k} arrived {copies} times");
    }
    let mut ids: Vec<&str> = msgs
        .iter()
        .filter(|m| body(m).contains("(key crash-"))
        .filter_map(|m| header(m, "Message-ID"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "twenty distinct messages");
}
