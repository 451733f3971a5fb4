//! Screen-pop latency under load, with real peers: sipp places calls at a fixed rate from the
//! demo customers' numbers into a queue; hundreds of agents on the desk WebSocket take them.
//! For every call, latency = the moment the agent's socket delivers the offer with the screen
//! pop − the moment the service read the INVITE from its socket (`invite_at_us`, same clock).
//!
//! `cargo bench -p aftercare --bench screen_pop_load [-- CPS SECONDS AGENTS]` (default 200 cps
//! for 20 s with 300 agents). Needs sipp. As a reference in the same run, the same screen pop is
//! fetched over HTTP (`GET /api/v1/screen-pop`) by a client at 20 requests/s.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const FLOW: &str = r#"
[flow]
name = "direct"
start = "queue"
timezone = "UTC"
numbers = ["*"]
hold_music = "hold"

[node.queue]
queue = "load"
"#;

const QUEUES: &str = r#"
[queue.load]
skills = { general = 1 }
service_level = { seconds = 20, target = 0.8 }
ring_timeout = 30
"#;

const CALLER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="queue load">
  <send retrans="500">
    <![CDATA[
      INVITE sip:700@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:700@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:700@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:700@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#;

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (p50, p99) = (quantile(v, 0.5), quantile(v, 0.99));
    println!(
        "{name}: n={} p50={p50:.2} ms p90={:.2} ms p99={p99:.2} ms max={:.2} ms",
        v.len(),
        quantile(v, 0.9),
        v.last().copied().unwrap_or(f64::NAN)
    );
    (p50, p99)
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
    async fn login(&self, user: &str, password: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "",
                "/api/v1/auth/login",
                Some(json!({"username": user, "password": password})),
            )
            .await;
        v["token"].as_str().unwrap().to_string()
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let cps: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let agents: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(300);

    let work = std::env::temp_dir().join(format!("aftercare-pop-load-{}", std::process::id()));
    let ivr = work.join("ivr");
    std::fs::create_dir_all(ivr.join("prompts")).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr-scripts/prompts");
    for e in std::fs::read_dir(shipped).unwrap().flatten() {
        std::fs::copy(e.path(), ivr.join("prompts").join(e.file_name())).unwrap();
    }
    std::fs::write(ivr.join("direct.toml"), FLOW).unwrap();
    std::fs::write(ivr.join("queues.toml"), QUEUES).unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_aftercare"))
        .args(["serve", "--demo", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
        .args(["--data-dir", work.to_str().unwrap(), "--ivr-dir", ivr.to_str().unwrap()])
        .args(["--log-level", "warn"])
        .env("AFTERCARE_DEMO_CUSTOMERS", "2000")
        // sipp calls from one address, far above the per-source limit meant for strangers.
        .env("AFTERCARE_SIP_TRUSTED", "[\"127.0.0.1\"]")
        .env("AFTERCARE_MAX_CALLS", "10000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("aftercare starts");
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let (mut base, mut sip) = (None, None);
    let mut line = String::new();
    while (base.is_none() || sip.is_none()) && out.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("is listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("SIP on ") {
            sip = rest.split_whitespace().next().map(str::to_string);
        }
        line.clear();
    }
    std::thread::spawn(move || for _ in out.lines() {});
    let (base, sip) = (base.expect("http address"), sip.expect("sip address"));
    let api = Arc::new(Api {
        base: base.clone(),
        http: reqwest::Client::new(),
    });
    let admin = api.login("admin", "demo").await;

    // Callers: the demo customers' numbers.
    let mut numbers: Vec<String> = vec![];
    for page in 0..5 {
        let path = format!("/api/v1/customers?limit=200&offset={}", page * 200);
        let customers = api.call(reqwest::Method::GET, &admin, &path, None).await;
        numbers.extend(
            customers
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["phones"][0]["number"].as_str().map(str::to_string)),
        );
    }
    let mut csv = String::from("SEQUENTIAL\n");
    for n in &numbers {
        csv.push_str(&format!("{n};\n"));
    }
    std::fs::write(work.join("callers.csv"), csv).unwrap();
    std::fs::write(work.join("caller.xml"), CALLER).unwrap();

    // Agents.
    println!("creating {agents} agents …");
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let late_pops = Arc::new(Mutex::new(0u64));
    let mut tasks = vec![];
    for i in 0..agents {
        let username = format!("load{i}");
        let user = api
            .call(
                reqwest::Method::POST,
                &admin,
                "/api/v1/users",
                Some(json!({"username": username, "display_name": format!("Load Agent {i}"), "role": "agent", "password": "load-agent-pw"})),
            )
            .await;
        let id = user["id"].as_i64().unwrap();
        api.call(
            reqwest::Method::PUT,
            &admin,
            &format!("/api/v1/users/{id}/skills"),
            Some(json!([{"skill": "general", "level": 3}])),
        )
        .await;
        let token = api.login(&username, "load-agent-pw").await;
        let url = format!("{}/api/v1/agent/ws?token={token}", base.replacen("http://", "ws://", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
        let (mut write, mut read) = ws.split();
        write
            .send(Message::Text(
                json!({"type": "state", "state": "available"}).to_string().into(),
            ))
            .await
            .unwrap();
        let latencies = latencies.clone();
        let late_pops = late_pops.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if write.send(Message::Text(m.into())).await.is_err() {
                        break;
                    }
                }
            });
            let mut answered = std::collections::HashSet::new();
            let mut popped = std::collections::HashSet::new();
            while let Some(Ok(msg)) = read.next().await {
                let Message::Text(t) = msg else { continue };
                let received = now_us();
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str() {
                    Some("offer") => {
                        let call = v["call"].as_u64().unwrap();
                        if !v["pop"].is_null() && popped.insert(call) {
                            let ms = (received - v["invite_at_us"].as_i64().unwrap()) as f64 / 1000.0;
                            latencies.lock().unwrap().push(ms);
                        } else if v["pop"].is_null() {
                            *late_pops.lock().unwrap() += 1;
                        }
                        if answered.insert(call) {
                            let _ = tx.send(json!({"type": "answer", "call": call}).to_string());
                        }
                    }
                    Some("connected") => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            let _ = tx.send(json!({"type": "hangup"}).to_string());
                        });
                    }
                    _ => {}
                }
            }
            writer.abort();
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Reference: the same screen pop over HTTP, while the load runs.
    let reference = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http_ref = {
        let (api, reference, stop, numbers) = (api.clone(), reference.clone(), stop.clone(), numbers.clone());
        let token = admin.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n = &numbers[i % numbers.len()];
                i += 1;
                let t = Instant::now();
                let path = format!("/api/v1/screen-pop?phone={}", n.replace('+', "%2B"));
                api.call(reqwest::Method::GET, &token, &path, None).await;
                reference.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let total = cps * seconds;
    println!("sipp: {total} calls at {cps} cps into {sip} …");
    let started = Instant::now();
    let sipp = tokio::task::spawn_blocking({
        let work = work.clone();
        move || {
            Command::new("sipp")
                .args([
                    "-sf",
                    "caller.xml",
                    "-inf",
                    "callers.csv",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    "0",
                    "-mp",
                    "0",
                ])
                .args(["-r", &cps.to_string(), "-m", &total.to_string(), "-l", "3000"])
                .args(["-nostdin", "-timeout", "180", "-trace_stat", "-fd", "1"])
                .arg(&sip)
                .current_dir(&work)
                .output()
                .expect("sipp runs")
        }
    })
    .await
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = http_ref.await;
    let stats = std::fs::read_dir(&work)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("_.csv"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .unwrap_or_default();
    let field = |name: &str| -> String {
        let mut l = stats.lines();
        let head: Vec<&str> = l.next().unwrap_or("").split(';').collect();
        let last: Vec<&str> = l.last().unwrap_or("").split(';').collect();
        head.iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .unwrap_or(&"?")
            .to_string()
    };
    println!(
        "sipp exit {:?} in {elapsed:.1} s: successful {}, failed {}",
        sipp.status.code(),
        field("SuccessfulCall(C)"),
        field("FailedCall(C)")
    );
    let mut pops = latencies.lock().unwrap().clone();
    let mut refs = reference.lock().unwrap().clone();
    let (_, p99) = summary("screen pop INVITE → agent socket", &mut pops);
    let (_, ref_p99) = summary("reference: GET /api/v1/screen-pop", &mut refs);
    println!("offers without a screen pop: {}", late_pops.lock().unwrap());
    println!("p99 ratio screen pop / HTTP screen-pop reference: {:.2}", p99 / ref_p99);
    println!(
        "goal p99 ≤ 20 ms at {cps} cps: {}",
        if p99 <= 20.0 { "met" } else { "NOT met" }
    );
    for t in tasks {
        t.abort();
    }
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&work);
}
