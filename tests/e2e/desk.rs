//! The ACD end to end without a browser: sipp callers reach a queue through the IVR, agents
//! work over the desk WebSocket (as the page does), supervisors read the wallboard, and the
//! call records show who answered. The browser and WebRTC audio are in `tests/browser`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::sip::{cdr_after, newest_cdr, require_sipp, sipp_at, Workdir};
use crate::support::{IvrDir, Server};

/// A flow for number 700 that queues at once, so tests do not wait for menus.
pub const DIRECT_FLOW: &str = r#"
[flow]
name = "direct"
start = "queue"
timezone = "UTC"
numbers = ["700"]
hold_music = "hold"

[node.queue]
queue = "general"
"#;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An agent's desk connection, as the page holds it.
pub struct AgentDesk {
    ws: Socket,
    /// Messages read while looking for another type, in order.
    backlog: std::collections::VecDeque<Value>,
}

impl AgentDesk {
    pub async fn connect(server: &Server, token: &str) -> AgentDesk {
        let url = format!(
            "{}/api/v1/agent/ws?token={token}",
            server.base.replacen("http://", "ws://", 1)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("desk socket");
        AgentDesk {
            ws,
            backlog: Default::default(),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    /// The next message of this type (others are skipped), or a panic after `secs`.
    pub async fn expect(&mut self, kind: &str, secs: u64) -> Value {
        if let Some(i) = self.backlog.iter().position(|v| v["type"] == kind) {
            return self.backlog.remove(i).expect("present");
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind:?} message within {secs} s"))
                .expect("socket open")
                .expect("message");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == kind {
                    return v;
                }
                assert_ne!(v["type"], "error", "desk error while waiting for {kind}: {v}");
                if v["type"] != "queues" {
                    self.backlog.push_back(v);
                }
            }
        }
    }

    /// Wait for a state message with this state.
    pub async fn expect_state(&mut self, state: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs().max(1);
            let v = self.expect("state", left).await;
            if v["state"] == state {
                return v;
            }
            assert!(Instant::now() < deadline, "agent never reached {state}");
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A sipp caller for number 700: sends PCMA audio (sipp's 8 s pcap) and then either waits for
/// our BYE (`hang_up_after_ms = None`) or hangs up itself after that long.
pub fn caller_scenario(caller: &str, hang_up_after_ms: Option<u64>) -> String {
    let head = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller to a queue">
  <send retrans="500">
    <![CDATA[
      INVITE sip:700@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:700@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:700@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
"#
    );
    let tail = match hang_up_after_ms {
        None => r#"  <recv request="BYE" timeout="90000"/>
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
"#
        .to_string(),
        Some(ms) => format!(
            r#"  <pause milliseconds="{ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:700@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:700@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#
        ),
    };
    format!("{head}{tail}")
}

/// Start sipp with a scenario in the background; the handle returns (exit code, log).
pub fn call_in_background(server: &Server, scenario: String) -> (Workdir, tokio::task::JoinHandle<(i32, String)>) {
    let dir = Workdir::new();
    std::fs::write(dir.0.join("caller.xml"), scenario).unwrap();
    let path = dir.0.clone();
    let target = server.sip;
    let handle = tokio::task::spawn_blocking(move || sipp_to(&path, target, &["-sf", "caller.xml"]));
    (dir, handle)
}

fn sipp_to(dir: &Path, target: std::net::SocketAddr, args: &[&str]) -> (i32, String) {
    sipp_at(dir, target, args)
}

pub async fn a_customer(server: &Server, token: &str) -> (i64, String, String) {
    let (status, list) = server.get(token, "/api/v1/customers?limit=50").await;
    assert_eq!(status, 200, "{list}");
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| !c["phones"].as_array().unwrap().is_empty())
        .expect("a demo customer with a phone")
        .clone();
    (
        c["id"].as_i64().unwrap(),
        c["name"].as_str().unwrap().to_string(),
        c["phones"][0]["number"].as_str().unwrap().to_string(),
    )
}

async fn wallboard_queue(server: &Server, token: &str, name: &str) -> Value {
    let (status, board) = server.get(token, "/api/v1/wallboard").await;
    assert_eq!(status, 200, "{board}");
    board["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("queue {name} on the wallboard: {board}"))
        .clone()
}

/// Poll the wallboard (refreshed every second) until `ok` holds for the queue.
async fn wallboard_until(server: &Server, token: &str, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..60 {
        last = wallboard_queue(server, token, name).await;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("wallboard never showed {what}: {last}");
}

async fn demo_server(ivr: &IvrDir, db: &crm_sql::testing::TestDb) -> Server {
    Server::start_in(db, &ivr.0, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_call_pops_on_the_desk_is_answered_and_filed_as_a_repair_order() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = demo_server(&ivr, &db).await;
    let admin = server.login("supervisor", "demo").await;
    let token = server.login("agent8", "demo").await;
    let (_, me) = server.get(&token, "/api/v1/me").await;
    let agent_id = me["id"].as_i64().unwrap();
    let (customer_id, name, phone) = a_customer(&server, &admin).await;

    let mut desk = AgentDesk::connect(&server, &token).await;
    let hello = desk.expect("hello", 10).await;
    assert!(hello["skills"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["skill"] == "general"));
    assert_eq!(hello["queues"], json!(["complaints", "general", "repairs"]));
    // Signed in, not on a break: not ready until the agent says so.
    let first = desk.expect("state", 5).await;
    assert_eq!(
        (first["state"].as_str(), &first["reason"]),
        (Some("not_ready"), &Value::Null),
        "{first}"
    );
    desk.send(json!({"type": "state", "state": "available"})).await;
    desk.expect_state("available", 5).await;

    let (_dir, caller) = call_in_background(&server, caller_scenario(&phone, None));
    let offer = desk.expect("offer", 30).await;
    assert_eq!(offer["caller"], phone.as_str());
    assert_eq!(offer["queue"], "general");
    assert!(offer["invite_at_us"].as_i64().unwrap() > 0);
    // The screen pop: the customer behind the number, with assets and warranty status. It may
    // come in a second offer message when the look-up finishes after the ring.
    let offer = if offer["pop"].is_null() {
        desk.expect("offer", 5).await
    } else {
        offer
    };
    assert_eq!(offer["pop"]["customer"]["name"], name.as_str(), "{offer}");
    assert_eq!(offer["pop"]["customer"]["id"], customer_id);
    let assets = offer["pop"]["assets"].as_array().unwrap().clone();
    if let Some(a) = assets.first() {
        assert!(a["warranty"]["state"].is_string(), "{a}");
    }
    let call = offer["call"].as_u64().unwrap();

    let q = wallboard_until(&server, &admin, "general", "the call waiting", |q| {
        q["waiting"] == 1 && q["agents"]["ringing"] == 1
    })
    .await;
    assert_eq!(q["offered"], 1);

    desk.send(json!({"type": "answer", "call": call})).await;
    assert_eq!(desk.expect("connected", 5).await["call"], call);
    desk.expect_state("on_call", 5).await;
    let q = wallboard_until(&server, &admin, "general", "the call answered", |q| {
        q["answered"] == 1 && q["waiting"] == 0
    })
    .await;
    assert_eq!(q["agents"]["on_call"], 1);
    assert_eq!(q["service_level"], 1.0);
    let (_, board) = server.get(&admin, "/api/v1/wallboard").await;
    let row = board["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent_id)
        .cloned()
        .unwrap();
    assert_eq!(
        (row["state"].as_str(), row["queue"].as_str()),
        (Some("on_call"), Some("general"))
    );

    // Agents and technicians other than supervisors may not read the wallboard.
    let (status, _) = server.get(&token, "/api/v1/wallboard").await;
    assert_eq!(status, 403);

    tokio::time::sleep(Duration::from_millis(800)).await;
    desk.send(json!({"type": "hangup"})).await;
    let ended = desk.expect("ended", 5).await;
    assert_eq!(ended["by"], "agent");
    let call_id = ended["call_id"].as_str().unwrap().to_string();
    desk.expect_state("wrap_up", 5).await;
    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "the caller got our BYE:\n{log}");

    // One step from the call to a repair order.
    let mut wrap = json!({
        "call_id": call_id, "customer_id": customer_id, "disposition": "repair_order",
        "notes": "Drum does not turn; error E21 on the display.", "subject": "Drum does not turn",
    });
    // Without an asset, a repair order is refused, naming the field, and nothing is written.
    let (status, body) = server.post(&token, "/api/v1/desk/wrap-up", wrap.clone()).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("asset_id")), "{body}");
    let asset_id = match assets.first() {
        Some(a) => a["id"].as_i64().unwrap(),
        None => {
            let (_, list) = server
                .get(&admin, &format!("/api/v1/customers/{customer_id}/assets"))
                .await;
            list[0]["id"].as_i64().expect("the demo customer has an asset")
        }
    };
    wrap["asset_id"] = json!(asset_id);
    // Save pressed three times at once: one set of records, and every press gets it.
    let (a, b, c) = tokio::join!(
        server.post(&token, "/api/v1/desk/wrap-up", wrap.clone()),
        server.post(&token, "/api/v1/desk/wrap-up", wrap.clone()),
        server.post(&token, "/api/v1/desk/wrap-up", wrap.clone()),
    );
    let mut statuses = vec![a.0, b.0, c.0];
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 201], "{} {} {}", a.1, b.1, c.1);
    for other in [&b.1, &c.1] {
        assert_eq!(
            (&other["ticket"]["id"], &other["repair_order"]["id"]),
            (&a.1["ticket"]["id"], &a.1["repair_order"]["id"])
        );
    }
    let filed = a.1;
    // The same call with another form: refused, naming the call.
    let mut changed = wrap.clone();
    changed["notes"] = json!("something else");
    let (status, body) = server.post(&token, "/api/v1/desk/wrap-up", changed).await;
    assert_eq!((status, body["field"].as_str()), (409, Some("call_id")), "{body}");
    assert_eq!(filed["repair_order"]["asset_id"], asset_id);
    assert_eq!(filed["ticket"]["subject"], "Drum does not turn");
    assert!(filed["interaction"]["summary"].as_str().unwrap().contains(&call_id));
    let (_, history) = server
        .get(&token, &format!("/api/v1/customers/{customer_id}/interactions"))
        .await;
    assert!(
        history.to_string().contains("E21"),
        "the note is on the customer's history"
    );

    desk.send(json!({"type": "wrap_up_done"})).await;
    desk.expect_state("available", 5).await;

    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(cdr["outcome"], "answered", "{cdr}");
    assert_eq!(cdr["agent_id"], agent_id);
    assert_eq!(cdr["queue"], "general");
    assert_eq!(cdr["customer_id"], customer_id);
    assert!(cdr["queue_wait_ms"].as_i64().unwrap() >= 0);
    let q = wallboard_until(&server, &admin, "general", "the handled call", |q| q["handled"] == 1).await;
    assert!(q["aht_seconds"].as_f64().unwrap() >= 0.8, "{q}");
    // The call-center report counts the call, within the queue's 20 s, for this agent.
    assert_eq!(cdr["answered_within_sl"], true, "{cdr}");
    let (_, report) = server.get(&admin, "/api/v1/reports/call-center?by=day").await;
    let general = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "general")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        (
            general["offered"].as_i64(),
            general["answered"].as_i64(),
            general["service_level"].as_f64()
        ),
        (Some(1), Some(1), Some(1.0)),
        "{report}"
    );
    assert_eq!(report["agents"][0]["agent_id"], agent_id, "{report}");
    assert_eq!(report["agents"][0]["answered"], 1);
    desk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_and_vanished_agents_pass_the_call_on_and_a_caller_who_gives_up_is_counted() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = demo_server(&ivr, &db).await;
    let admin = server.login("supervisor", "demo").await;
    let (_, _, phone) = a_customer(&server, &admin).await;
    let mut desks = vec![];
    for name in ["agent1", "agent2"] {
        let token = server.login(name, "demo").await;
        let mut d = AgentDesk::connect(&server, &token).await;
        d.expect("hello", 10).await;
        d.send(json!({"type": "state", "state": "available"})).await;
        d.expect_state("available", 5).await;
        desks.push(d);
    }
    let (_dir, caller) = call_in_background(&server, caller_scenario(&phone, Some(6000)));
    // The longest idle agent (agent1, available first) rings first and declines.
    let offer = desks[0].expect("offer", 30).await;
    let call = offer["call"].as_u64().unwrap();
    desks[0].send(json!({"type": "decline", "call": call})).await;
    let again = desks[1].expect("offer", 5).await;
    assert_eq!(again["call"], call, "the next agent gets the same caller");
    // Agent 2's browser closes while ringing: the caller goes back and agent 1 rings again.
    let gone = desks.pop().unwrap();
    gone.close().await;
    let third = desks[0].expect("offer", 10).await;
    assert_eq!(third["call"], call);
    // Nobody answers now; the caller hangs up while it rings.
    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "{log}");
    let withdrawn = desks[0].expect("withdrawn", 10).await;
    assert_eq!(withdrawn["call"], call);
    desks[0].expect_state("available", 5).await;
    let q = wallboard_until(&server, &admin, "general", "the abandoned call", |q| {
        q["abandoned"] == 1
    })
    .await;
    assert_eq!(
        (q["answered"].as_u64(), q["waiting"].as_u64()),
        (Some(0), Some(0)),
        "{q}"
    );
    assert_eq!(q["abandon_rate"], 1.0);
    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(cdr["outcome"], "abandoned", "{cdr}");
    assert!(cdr["agent_id"].is_null());
    let waited = cdr["queue_wait_ms"].as_i64().unwrap_or(0);
    assert!(
        (3_000..20_000).contains(&waited),
        "how long the caller waited before giving up: {cdr}"
    );
    let (_, report) = server.get(&admin, "/api/v1/reports/call-center?by=quarter").await;
    let general = &report["queues"][0];
    assert_eq!(
        (
            general["queue"].as_str(),
            general["abandoned"].as_i64(),
            general["abandon_rate"].as_f64()
        ),
        (Some("general"), Some(1), Some(1.0)),
        "{report}"
    );
    // A bad command is answered with an error and changes nothing.
    desks[0].send(json!({"type": "state", "state": "asleep"})).await;
    let e = desks[0].expect("error", 5).await;
    assert!(e["message"].as_str().unwrap().contains("state"), "{e}");
    desks[0].send(json!({"type": "fly"})).await;
    desks[0].expect("error", 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_and_wallboard_sockets_refuse_missing_tokens_and_wrong_roles() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let ws = server.base.replacen("http://", "ws://", 1);
    let tech = server.login("tech1", "demo").await;
    let agent = server.login("agent1", "demo").await;
    for (path, why) in [
        ("/api/v1/agent/ws?token=nope".to_string(), 401),
        (format!("/api/v1/agent/ws?token={tech}"), 403),
        (format!("/api/v1/wallboard/ws?token={agent}"), 403),
        ("/api/v1/agent/ws".to_string(), 400),
    ] {
        let err = tokio_tungstenite::connect_async(format!("{ws}{path}"))
            .await
            .unwrap_err();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status().as_u16(), why, "{path}"),
            other => panic!("{path}: {other}"),
        }
    }
    // The pages are served.
    for page in ["/desk", "/wallboard"] {
        let resp = server.client.get(server.url(page)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.unwrap().contains("<title>Aftercare"));
    }
}

/// Queues for the callback test: announcements every 10 s, a callback offer after 12 s.
const CALLBACK_QUEUES: &str = r#"
[queue.general]
skills = { general = 1 }
announce_every = 10
max_wait = { seconds = 12, then = "callback" }

[queue.complaints]
skills = { complaints = 4 }

[queue.repairs]
"#;

/// The caller waits, hears that nobody is available and the callback offer (at once, long before
/// the queue's maximum wait of 12 s), presses 1 after 5 s and waits for our BYE.
fn callback_caller(caller: &str) -> String {
    caller_scenario(caller, None).replace(
        r#"  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
"#,
        r#"  <pause milliseconds="5000"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/></action></nop>
"#,
    )
}

/// The customer's phone behind the trunk: answers the callback and waits for the agent's BYE.
const CUSTOMER_PHONE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="customer answers the callback">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:customer@[local_ip]:[local_port]>
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
  <recv request="ACK"/>
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_chooses_a_callback_keeps_their_place_and_is_called_back_for_the_agent() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW), ("queues.toml", CALLBACK_QUEUES)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let (server, trunk_port) = demo_with_trunk(&db, &ivr).await;
    let admin = server.login("supervisor", "demo").await;
    let (_, _, phone) = a_customer(&server, &admin).await;

    // The customer's phone waits behind the trunk.
    let (_phone_dir, customer) = phone_behind_trunk(trunk_port);

    // Nobody is logged in: the caller is told so and offered the callback at once, and takes it.
    let (_dir, caller) = call_in_background(&server, callback_caller(&phone));
    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "the caller pressed 1 and got our BYE:\n{log}");
    let metrics = server.metrics().await;
    assert!(
        metrics_value(&metrics, "aftercare_queue_announcements_total") >= 1,
        "{metrics}"
    );
    assert_eq!(metrics_value(&metrics, "aftercare_callbacks_requested_total"), 1);
    let first = newest_cdr(&server, &admin).await;
    assert_eq!(first["outcome"], "voicemail", "asked for a callback: {first}");
    let waited = first["queue_wait_ms"].as_i64().unwrap_or(0);
    assert!((4_000..12_000).contains(&waited), "waited until pressing 1: {first}");
    // Their place is kept: the wallboard does not count them as abandoned.
    let q = wallboard_queue(&server, &admin, "general").await;
    assert_eq!(q["abandoned"], 0, "{q}");

    // An agent becomes available: the customer is called back for them.
    let token = server.login("agent3", "demo").await;
    let mut desk = AgentDesk::connect(&server, &token).await;
    desk.expect("hello", 10).await;
    desk.send(json!({"type": "state", "state": "available"})).await;
    let offer = desk.expect("offer", 15).await;
    assert_eq!(offer["callback"], true, "{offer}");
    assert_eq!(offer["caller"], phone.as_str());
    assert!(
        offer["pop"]["customer"]["name"].is_string(),
        "the first call's screen pop: {offer}"
    );
    talk_and_hang_up(&mut desk, &offer, customer).await;
    let metrics = server.metrics().await;
    assert_eq!(metrics_value(&metrics, "aftercare_callbacks_placed_total"), 1);
    assert_eq!(metrics_value(&metrics, "aftercare_callbacks_connected_total"), 1);
    let back = cdr_after(&server, &admin, &first).await;
    assert_eq!(back["direction"], "outbound", "{back}");
    assert_eq!(back["called"], phone.as_str());
    assert_eq!(back["outcome"], "answered");
    assert_eq!(back["customer_id"], first["customer_id"]);
    assert!(back["agent_id"].is_i64());
}

/// Queues whose callers go to voicemail when nobody can take the call.
const VOICEMAIL_QUEUES: &str = r#"
[queue.general]
skills = { general = 1 }
max_wait = { seconds = 600, then = "voicemail" }

[queue.complaints]
skills = { complaints = 4 }

[queue.repairs]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_becomes_a_task_to_call_back_with_its_message_playable() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW), ("queues.toml", VOICEMAIL_QUEUES)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = demo_server(&ivr, &db).await;
    let admin = server.login("supervisor", "demo").await;
    let agent = server.login("agent2", "demo").await;
    let (customer_id, name, phone) = a_customer(&server, &admin).await;

    // Nobody is logged in: a known customer and then an unknown number each leave a message.
    let mut records = vec![];
    for number in [phone.as_str(), "+4930999000111"] {
        let (_dir, caller) = call_in_background(&server, caller_scenario(number, Some(12_000)));
        let (code, log) = caller.await.unwrap();
        assert_eq!(code, 0, "{log}");
        let cdr = match records.last() {
            None => newest_cdr(&server, &admin).await,
            Some(earlier) => cdr_after(&server, &admin, earlier).await,
        };
        assert_eq!(cdr["outcome"], "voicemail", "{cdr}");
        assert!(cdr["voicemail"].is_string(), "{cdr}");
        records.push(cdr);
    }

    // Each message is a task for the queue's agents, with the number to call back.
    let (status, tasks) = server.get(&agent, "/api/v1/agent-tasks?kind=voicemail&limit=50").await;
    assert_eq!(status, 200, "{tasks}");
    let task_of = |cdr: &Value| {
        tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["cdr_id"] == cdr["id"])
            .unwrap_or_else(|| panic!("a task for call record {}: {tasks}", cdr["id"]))
            .clone()
    };
    let known = task_of(&records[0]);
    assert_eq!(
        (
            &known["customer_id"],
            known["customer_name"].as_str(),
            known["callback_number"].as_str()
        ),
        (&json!(customer_id), Some(name.as_str()), Some(phone.as_str())),
        "{known}"
    );
    assert_eq!(known["queue"], "general");
    let unknown = task_of(&records[1]);
    assert!(unknown["customer_id"].is_null(), "{unknown}");
    assert_eq!(unknown["callback_number"], "+4930999000111");

    // The message plays: a WAV with the caller's audio in it, for staff only.
    let id = records[1]["id"].as_i64().unwrap();
    let (status, kind, wav) = server.get_bytes(&agent, &format!("/api/v1/cdrs/{id}/voicemail")).await;
    assert_eq!((status, kind.as_str()), (200, "audio/wav"));
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV file");
    let spec = reader.spec();
    let samples: Vec<i16> = reader.into_samples::<i16>().map(|s| s.unwrap()).collect();
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(
        samples.len() > 8000 * 3 && loud > 8000,
        "seconds of the caller's audio: {} samples, {loud} loud",
        samples.len()
    );
    let root = server.login("admin", "demo").await;
    let tech = server.technician_login(&root, 1).await;
    let (status, _, _) = server.get_bytes(&tech, &format!("/api/v1/cdrs/{id}/voicemail")).await;
    assert_eq!(status, 403, "technicians do not hear callers' messages");
    let (status, _, _) = server
        .get_bytes(&agent, &format!("/api/v1/cdrs/{}/voicemail", id + 100))
        .await;
    assert_eq!(status, 404, "no such call record");

    // The agent claims the unknown caller's task and calls the number back (preview dial).
    let (status, claimed) = server
        .post(
            &agent,
            &format!("/api/v1/agent-tasks/{}/claim", unknown["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    let mut desk = AgentDesk::connect(&server, &agent).await;
    desk.expect("hello", 10).await;
    desk.send(json!({"type": "preview_dial", "task": unknown["id"]})).await;
    // The task passes the desk's checks (a number to call although no customer); what stops
    // the dial is only that the agent is not available yet.
    let e = desk.expect("error", 5).await;
    assert!(e["message"].as_str().unwrap().contains("available"), "{e}");
}

/// Preview dial: an agent claims a task (a resolved complaint's follow-up), calls the customer
/// from the desk through the trunk, talks, hangs up and finishes the task; the queue's inbound
/// figures do not count the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_the_customer_of_a_task_from_the_desk() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW), ("queues.toml", CALLBACK_QUEUES)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let (server, trunk_port) = demo_with_trunk(&db, &ivr).await;
    let admin = server.login("supervisor", "demo").await;
    let (customer_id, _, phone) = a_customer(&server, &admin).await;
    let (status, complaint) = server
        .post(
            &admin,
            "/api/v1/complaints",
            json!({"customer_id": customer_id, "category": "delay", "description": "Waited two weeks"}),
        )
        .await;
    assert_eq!(status, 201, "{complaint}");
    let path = format!("/api/v1/complaints/{}", complaint["id"]);
    for status in ["in_progress", "resolved"] {
        let (code, body) = server
            .patch(
                &admin,
                &path,
                json!({"status": status, "resolution": "Visit moved forward"}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let (_, tasks) = server
        .get(
            &admin,
            &format!("/api/v1/agent-tasks?kind=complaint_follow_up&customer_id={customer_id}"),
        )
        .await;
    let task = tasks[0]["id"].as_i64().expect("the follow-up task");

    let (_phone_dir, customer) = phone_behind_trunk(trunk_port);

    let token = server.login("agent8", "demo").await;
    let mut desk = AgentDesk::connect(&server, &token).await;
    desk.expect("hello", 10).await;
    // Only a task the agent holds, and only when available.
    desk.send(json!({"type": "preview_dial", "task": task})).await;
    let e = desk.expect("error", 5).await;
    assert!(e["message"].as_str().unwrap().contains("claim"), "{e}");
    let (status, body) = server
        .post(&token, &format!("/api/v1/agent-tasks/{task}/claim"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    desk.send(json!({"type": "preview_dial", "task": task})).await;
    let e = desk.expect("error", 5).await;
    assert!(e["message"].as_str().unwrap().contains("available"), "{e}");
    desk.send(json!({"type": "state", "state": "available"})).await;
    desk.expect_state("available", 5).await;
    desk.send(json!({"type": "preview_dial", "task": task})).await;
    let offer = desk.expect("offer", 15).await;
    assert_eq!(
        (offer["callback"].as_bool(), offer["caller"].as_str()),
        (Some(true), Some(phone.as_str())),
        "{offer}"
    );
    assert_eq!(
        offer["pop"]["customer"]["id"], customer_id,
        "the customer's screen pop: {offer}"
    );
    talk_and_hang_up(&mut desk, &offer, customer).await;
    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(
        (
            cdr["direction"].as_str(),
            cdr["called"].as_str(),
            cdr["outcome"].as_str()
        ),
        (Some("outbound"), Some(phone.as_str()), Some("answered")),
        "{cdr}"
    );
    assert!(cdr["agent_id"].is_i64() && cdr["queue"].is_null(), "{cdr}");
    let q = wallboard_queue(&server, &admin, "general").await;
    assert_eq!(
        (q["offered"].as_u64(), q["answered"].as_u64()),
        (Some(0), Some(0)),
        "{q}"
    );
    let (status, done) = server
        .post(
            &token,
            &format!("/api/v1/agent-tasks/{task}/finish"),
            json!({"outcome": "reached", "note": "Settled"}),
        )
        .await;
    assert_eq!((status, done["status"].as_str()), (200, Some("done")), "{done}");
}

/// The agent takes the outbound call offered, talks half a second and hangs up; the customer's
/// phone must have seen the call through.
async fn talk_and_hang_up(desk: &mut AgentDesk, offer: &Value, mut phone: std::process::Child) {
    desk.send(json!({"type": "answer", "call": offer["call"]})).await;
    desk.expect("connected", 15).await;
    desk.expect_state("on_call", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    desk.send(json!({"type": "hangup"})).await;
    desk.expect("ended", 5).await;
    let status = tokio::task::spawn_blocking(move || phone.wait().unwrap())
        .await
        .unwrap();
    assert!(
        status.success(),
        "the customer's phone was called, connected and hung up"
    );
}

/// A small demo whose outbound calls go to a trunk on a free port (returned).
async fn demo_with_trunk(db: &crm_sql::testing::TestDb, ivr: &IvrDir) -> (Server, u16) {
    let trunk_port = crate::sip::free_media_port() + 1;
    let trunk = format!("127.0.0.1:{trunk_port}");
    let server = Server::start_in(
        db,
        &ivr.0,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_SIP_TRUNK", trunk.as_str()),
        ],
    )
    .await;
    (server, trunk_port)
}

/// The customer's phone behind the trunk: sipp answers one call, talks, and hangs up when we do.
fn phone_behind_trunk(trunk_port: u16) -> (Workdir, std::process::Child) {
    let phone_dir = Workdir::new();
    std::fs::write(phone_dir.0.join("phone.xml"), CUSTOMER_PHONE).unwrap();
    let media = crate::sip::free_media_port();
    let child = std::process::Command::new("timeout")
        .args([
            "120",
            "sipp",
            "-sf",
            "phone.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &trunk_port.to_string(),
        ])
        .args(["-mp", &media.to_string(), "-m", "1", "-nostdin", "-trace_err"])
        .current_dir(&phone_dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp starts");
    (phone_dir, child)
}

fn metrics_value(text: &str, name: &str) -> u64 {
    crate::sip::metric(text, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_holds_sends_tones_and_transfers_the_caller_to_the_experts() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let data = crate::support::temp_path("data");
    let server = Server::start_in(
        &db,
        &ivr.0,
        &["--demo", "--data-dir", data.to_str().unwrap()],
        &[("AFTERCARE_DEMO_CUSTOMERS", "150"), ("AFTERCARE_RECORD_CALLS", "true")],
    )
    .await;
    let admin = server.login("supervisor", "demo").await;
    let (_, _, phone) = a_customer(&server, &admin).await;
    let mut first = AgentDesk::connect(&server, &server.login("agent1", "demo").await).await;
    first.expect("hello", 10).await;
    first.send(json!({"type": "state", "state": "available"})).await;
    first.expect_state("available", 5).await;
    let expert_token = server.login("agent9", "demo").await;
    let (_, expert_me) = server.get(&expert_token, "/api/v1/me").await;
    let mut expert = AgentDesk::connect(&server, &expert_token).await;
    expert.expect("hello", 10).await;
    expert.send(json!({"type": "state", "state": "available"})).await;
    expert.expect_state("available", 5).await;

    let (_dir, caller) = call_in_background(&server, caller_scenario(&phone, None));
    // agent1 has idled longest and takes the general call.
    let offer = first.expect("offer", 30).await;
    let call = offer["call"].as_u64().unwrap();
    first.send(json!({"type": "answer", "call": call})).await;
    first.expect("connected", 5).await;
    first.send(json!({"type": "hold", "on": true})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.send(json!({"type": "hold", "on": false})).await;
    first.send(json!({"type": "dtmf", "digits": "12"})).await;
    first.send(json!({"type": "dtmf", "digits": "9x"})).await;
    let bad = first.expect("error", 5).await;
    assert!(bad["message"].as_str().unwrap().starts_with("digits"), "{bad}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.send(json!({"type": "transfer", "queue": "nowhere"})).await;
    let bad = first.expect("error", 5).await;
    assert!(bad["message"].as_str().unwrap().starts_with("queue"), "{bad}");
    first.send(json!({"type": "transfer", "queue": "complaints"})).await;
    let ended = first.expect("ended", 5).await;
    assert_eq!(ended["by"], "transfer");
    first.expect_state("wrap_up", 5).await;

    // Only the expert seat (complaints level 4+) may take it.
    let offer = expert.expect("offer", 10).await;
    assert_eq!(offer["call"], call);
    assert_eq!(offer["queue"], "complaints");
    expert.send(json!({"type": "answer", "call": call})).await;
    expert.expect("connected", 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    expert.send(json!({"type": "hangup"})).await;
    expert.expect("ended", 5).await;
    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "{log}");

    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(cdr["outcome"], "answered", "{cdr}");
    assert_eq!(cdr["queue"], "complaints");
    assert_eq!(cdr["agent_id"], expert_me["id"], "the record names the last agent");
    // The first part is handled once its agent's wrap-up ends: handle time is talk (with the
    // hold) plus after-call work.
    first.send(json!({"type": "wrap_up_done"})).await;
    first.expect_state("available", 5).await;
    let general = wallboard_until(&server, &admin, "general", "the first part handled", |q| {
        q["handled"] == 1
    })
    .await;
    assert!(
        general["aht_seconds"].as_f64().unwrap() >= 1.1,
        "hold and talk at least: {general}"
    );
    assert_eq!(general["answered"], 1);
    wallboard_until(&server, &admin, "complaints", "the transfer answered", |q| {
        q["answered"] == 1
    })
    .await;

    // The caller heard the agent's tones: the recording's right channel decodes to "12".
    let path = std::path::PathBuf::from(cdr["recording"].as_str().expect("recorded"));
    let (_, samples) = crate::support::finished_wav(&path).await;
    let ours: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let mut detector = telephony::media::dtmf::ToneDetector::default();
    let heard: String = ours
        .chunks_exact(telephony::media::dtmf::BLOCK)
        .filter_map(|b| detector.on_block(b))
        .collect();
    assert_eq!(heard, "12", "tones in what the caller heard");
    let _ = std::fs::remove_dir_all(&data);
}

/// A caller that sends no RTP after answering and never hangs up (as if their BYE were lost).
fn silent_caller(caller: &str) -> String {
    caller_scenario(caller, None).replace(
        r#"  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
"#,
        "",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_gone_without_a_bye_does_not_hold_the_agent() {
    require_sipp();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::start_in(
        &db,
        &ivr.0,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_RTP_TIMEOUT_SECONDS", "3"),
        ],
    )
    .await;
    let admin = server.login("supervisor", "demo").await;
    let (_, _, phone) = a_customer(&server, &admin).await;
    let mut desk = AgentDesk::connect(&server, &server.login("agent2", "demo").await).await;
    desk.expect("hello", 10).await;
    desk.send(json!({"type": "state", "state": "available"})).await;
    desk.expect_state("available", 5).await;
    let (_dir, caller) = call_in_background(&server, silent_caller(&phone));
    let offer = desk.expect("offer", 30).await;
    desk.send(json!({"type": "answer", "call": offer["call"]})).await;
    desk.expect_state("on_call", 5).await;
    // No RTP arrives: within the timeout (plus the once-a-second check) the call is ended.
    let ended = desk.expect("ended", 10).await;
    assert_eq!(ended["by"], "caller");
    desk.expect_state("wrap_up", 5).await;
    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "the silent caller got our BYE:\n{log}");
    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(
        (cdr["outcome"].as_str(), cdr["end_reason"].as_str()),
        (Some("answered"), Some("rtp_timeout")),
        "{cdr}"
    );
}

/// `queues.toml` edited while the service runs: a new queue is applied (the wallboard shows
/// it), an edit dropping a queue a flow uses is refused with the flow's file and line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_edited_while_running_are_applied_or_refused_with_file_and_line() {
    let ivr = IvrDir::with(&[]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = demo_server(&ivr, &db).await;
    let boss = server.login("supervisor", "demo").await;
    let queues = ivr.0.join("queues.toml");
    let shipped = std::fs::read_to_string(&queues).unwrap();
    std::fs::write(&queues, format!("{shipped}\n[queue.vip]\nskills = {{ general = 3 }}\n")).unwrap();
    let mut shown = false;
    for _ in 0..50 {
        let (_, board) = server.get(&boss, "/api/v1/wallboard").await;
        if board["queues"].as_array().unwrap().iter().any(|q| q["name"] == "vip") {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shown, "the new queue never reached the wallboard");
    // Dropping `general`, which the demo flow's operator option uses: refused.
    let without_general = shipped
        .replacen("[queue.general]", "[queue.front_desk]", 1)
        .replace("overflow = \"general\"", "overflow = \"front_desk\"");
    std::fs::write(&queues, without_general).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    wallboard_queue(&server, &boss, "general").await;
    let (_, log) = server.stop();
    let refusal = log
        .lines()
        .find(|l| l.contains("queues.toml not applied"))
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    assert!(
        refusal.contains("demo.toml:") && refusal.contains("\"general\""),
        "{refusal}"
    );
}
