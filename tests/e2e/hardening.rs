//! What a security tester tries first, on each backend: NUL bytes and oversized bodies, markup
//! in exported cells, the browser's protections, junk requests against the metrics, slow and idle
//! connections, and guessing passwords.

use std::time::{Duration, Instant};

use crm_sql::testing::TestDb;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Server;

crate::on_both_backends!(hostile_input_changes_nothing, guessing_passwords_is_slowed_down);

async fn hostile_input_changes_nothing(db: TestDb) {
    let s = Server::demo(&db).await;
    let token = s.login("agent2", "demo").await;

    // NUL bytes: refused at the edge (422 naming the field), on login too, and nothing written.
    let (status, e) = s
        .post_raw(
            "",
            "/api/v1/auth/login",
            "application/json",
            r#"{"username": "agent\u00002", "password": "demo"}"#,
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (422, Some("username")), "{e}");
    let (status, e) = s.get(&token, "/api/v1/customers?q=M%00ller").await;
    assert_eq!((status, e["field"].as_str()), (422, Some("q")), "{e}");
    let (status, e) = s
        .post_raw(
            &token,
            "/api/v1/customers",
            "application/json",
            r#"{"name": "Nul\u0000Person", "phones": [{"number": "+49 30 5550199"}]}"#,
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (422, Some("name")), "{e}");
    let (_, found) = s.get(&token, "/api/v1/customers?q=nul&limit=5").await;
    assert_eq!(found.as_array().map(Vec::len), Some(0), "{found}");

    // A body over the limit: 413 with a JSON error, not 400 or a reset.
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, e) = s.post_raw(&token, "/api/v1/customers", "application/json", &huge).await;
    assert_eq!((status, e["error"].as_str()), (413, Some("too_large")), "{e}");

    // Every answer carries the browser's protections; scripts run only from our own files.
    for path in [
        "/desk",
        "/wallboard",
        "/dispatch",
        "/reports",
        "/docs",
        "/api/v1/me",
        "/no/such/page",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or("");
        assert!(
            !script_src.contains("unsafe-inline") && script_src.contains("'self'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
    for page in ["/desk", "/wallboard", "/dispatch", "/reports", "/docs"] {
        let html = s.client.get(s.url(page)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("<script>"), "{page} has an inline script");
        assert!(!html.contains(" onclick="), "{page} has an inline handler");
    }

    // Markup and formulas in a name: exported as text, with a header row even when empty.
    let boss = s.login("supervisor", "demo").await;
    let (_, ranking) = s.get(&boss, "/api/v1/reports/stations").await;
    let station = ranking[0]["station_id"].as_i64().unwrap();
    let (status, e) = s
        .patch(
            &boss,
            &format!("/api/v1/stations/{station}"),
            json!({"name": "=HYPERLINK(\"http://127.0.0.1/x\")"}),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    let (_, _, csv) = s.get_text(&boss, "/api/v1/reports/stations?format=csv").await;
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    assert!(!csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"), "{csv}");
    let (_, _, empty) = s
        .get_text(
            &boss,
            "/api/v1/reports/service?by=model&from=2001-01-01&to=2001-01-02&format=csv",
        )
        .await;
    assert!(empty.starts_with("key,"), "a header row: {empty:?}");
    assert_eq!(empty.lines().count(), 1, "{empty}");

    // Junk methods and paths fold into one label each: /metrics stays small.
    let before = s.metrics().await.len();
    let raw = raw_addr(&s);
    for i in 0..300 {
        let mut c = tokio::net::TcpStream::connect(raw).await.unwrap();
        let req = format!("JUNK{i} /made/up/{i}?x={i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink).await;
        let _ = s.client.get(s.url(&format!("/random/{i}"))).send().await.unwrap();
    }
    let metrics = s.metrics().await;
    assert!(
        metrics.len() < before + 4000,
        "grew from {before} to {} bytes",
        metrics.len()
    );
    assert!(metrics.contains(r#"method="other",route="unmatched""#), "{metrics}");
    assert!(!metrics.contains("JUNK") && !metrics.contains("/random/"));
}

fn raw_addr(s: &Server) -> std::net::SocketAddr {
    s.base
        .trim_start_matches("http://")
        .parse()
        .expect("the base is host:port")
}

/// A request whose headers never finish, and a keep-alive connection left idle, are both closed
/// after the header timeout (10 s) instead of holding a connection for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_dropped() {
    let db = TestDb::sqlite().await;
    let s = Server::start(&db, &[], &[]).await;
    let addr = raw_addr(&s);
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "served first"
    );
    for (name, conn) in [("slow headers", &mut slow), ("idle keep-alive", &mut idle)] {
        let closed = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // a 408 may come first
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{name}: still open after 20 s");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "closed only after the timeout: {waited:?}"
    );
    assert_eq!(s.client.get(s.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn guessing_passwords_is_slowed_down(db: TestDb) {
    let s = Server::demo(&db).await;
    let admin = s.login("admin", "demo").await;
    let login = |user: &'static str, password: &'static str| {
        let s = &s;
        async move {
            let r = s
                .client
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": user, "password": password}))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..5 {
        assert_eq!(login("agent3", "guess").await.0, 401);
    }
    // Held up now, even with the right password, and told for how long.
    let (status, retry, body) = login("agent3", "demo").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_requests")),
        "{body}"
    );
    let wait = retry.expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(login("agent4", "demo").await.0, 200, "other users are not held up");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(login("agent3", "demo").await.0, 200, "not locked out for long");

    // Failed sign-ins are audited, never with the password.
    let (_, audit) = s.get(&admin, "/api/v1/audit?limit=100").await;
    let failed: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "login_failed")
        .collect();
    assert!(failed.len() >= 5, "{audit}");
    assert!(!audit.to_string().contains("guess"), "no password in the audit log");

    // A flood of guesses from one address: refused early, and other users' calls stay quick.
    let me = |token: String| {
        let s = &s;
        async move {
            let t = Instant::now();
            let r = s
                .client
                .get(s.url("/api/v1/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            t.elapsed()
        }
    };
    let mut quiet = Vec::new();
    for _ in 0..40 {
        quiet.push(me(admin.clone()).await);
    }
    let flood = futures_util::future::join_all((0..400).map(|i| {
        let s = &s;
        async move {
            s.client
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": format!("nobody{i}"), "password": "x"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    }));
    let during = async {
        let mut d = Vec::new();
        for _ in 0..40 {
            d.push(me(admin.clone()).await);
        }
        d
    };
    let (statuses, mut loud) = tokio::join!(flood, during);
    let refused = statuses.iter().filter(|c| **c == 429).count();
    assert!(refused >= 200, "most of the flood is refused: {refused} of 400");
    quiet.sort();
    loud.sort();
    let (q, l) = (quiet[quiet.len() / 2], loud[loud.len() / 2]);
    println!("median GET /api/v1/me: {q:?} quiet, {l:?} during the flood");
    assert!(
        l < q * 8 + Duration::from_millis(20),
        "median {q:?} quiet, {l:?} during the flood"
    );
}
