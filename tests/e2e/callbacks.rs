//! Satisfaction callbacks with a real peer: a repair completed through the API owes the
//! customer a call; the scheduler places it through the trunk (sipp, challenging with digest
//! auth) into the survey flow; the customer's phone (the same sipp) answers with RFC 4733 keys;
//! the answers arrive in the CRM and the station's and technician's scores move.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sip::{
    answer_200, digest_trunk, free_media_port, require_sipp, sipp_errors, sipp_uas, Workdir, ACK_KEEPING_DIALOG,
};
use crate::support::Server;
use crm_sql::testing::TestDb;

/// The trunk and the customer's phone: challenge the INVITE, check the digest, answer, then
/// press 4 (the repair), 5 (the technician), 1 (fixed the first time) as the questions come,
/// and `#` to skip the comment; the survey thanks and hangs up.
fn phone_scenario() -> String {
    let key =
        |name: &str| format!("  <nop><action><exec play_pcap_audio=\"pcap/dtmf_2833_{name}.pcap\"/></action></nop>\n");
    let pause = |ms: u32| format!("  <pause milliseconds=\"{ms}\"/>\n");
    // The greeting takes about 7 s and keeps keys typed during it for the first question; each
    // further key interrupts its question's prompt; the comment's invitation takes about 8 s.
    let steps = [
        "  <recv request=\"ACK\"/>\n".to_string(),
        pause(2000),
        key("4"),
        pause(8000),
        key("5"),
        pause(2500),
        key("1"),
        pause(10500),
        key("pound"),
        r#"  <recv request="BYE" timeout="30000"/>
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
"#
        .to_string(),
    ]
    .concat();
    digest_trunk("phone", "0 PCMU", &steps)
}

async fn json_until(server: &Server, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = server.get(token, path).await;
        if status == 200 && done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} never got there: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_repair_is_surveyed_by_phone_and_scores_its_station() {
    require_sipp();
    let dir = Workdir::new();
    let trunk_port = free_media_port() + 1;
    let media = free_media_port();
    let db = TestDb::sqlite().await;
    let trunk = format!("127.0.0.1:{trunk_port}");
    let server = Server::start(
        &db,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_SIP_TRUNK", trunk.as_str()),
            ("AFTERCARE_SIP_TRUNK_USERNAME", "aftercare"),
            ("AFTERCARE_SIP_TRUNK_PASSWORD", "s3cret"),
            ("AFTERCARE_CALLBACK_FIRST_DELAY_MINUTES", "0"),
            ("AFTERCARE_CALLBACK_HOURS", "00:00-24:00"),
            ("AFTERCARE_CALLBACK_DAYS", "mon-sun"),
        ],
    )
    .await;
    let mut phone = sipp_uas(
        &dir.0,
        &phone_scenario(),
        trunk_port,
        media,
        90,
        &["-m", "1", "-trace_err"],
    );
    let boss = server.login("supervisor", "demo").await;
    // The technician logins the task flow needs are made by an administrator.
    let admin = server.login("admin", "demo").await;

    // A demo customer with a phone and an asset has a repair done.
    let (_, customers) = server.get(&boss, "/api/v1/customers?limit=50").await;
    let mut found = None;
    for c in customers.as_array().unwrap() {
        if c["phones"].as_array().is_none_or(|p| p.is_empty()) || c["do_not_call"] == true {
            continue;
        }
        let (_, assets) = server
            .get(&boss, &format!("/api/v1/customers/{}/assets", c["id"]))
            .await;
        if let Some(a) = assets.as_array().unwrap().first() {
            found = Some((c.clone(), a["id"].clone()));
            break;
        }
    }
    let (customer, asset) = found.expect("a demo customer with a phone and an asset");
    let (status, ticket) = server
        .post(
            &boss,
            "/api/v1/tickets",
            json!({"customer_id": customer["id"], "asset_id": asset, "subject": "Drum noise"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    let (status, ro) = server
        .post(&boss, "/api/v1/repair-orders", json!({"ticket_id": ticket["id"]}))
        .await;
    assert_eq!(status, 201, "{ro}");
    let id = ro["id"].as_i64().unwrap();
    let (status, none) = server.get(&boss, &format!("/api/v1/repair-orders/{id}/callback")).await;
    assert_eq!(status, 404, "no callback before completion: {none}");
    let (token, code) = server.work_on_site(&admin, id).await;
    let (status, body) = server.finish_task(&token, id, &code).await;
    assert_eq!(status, 200, "{body}");
    let (_, done) = server.get(&boss, &format!("/api/v1/repair-orders/{id}")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let tech = done["technician_id"].as_i64().expect("a technician");
    let station = done["station_id"].as_i64().expect("a station");
    let before = server.get(&boss, &format!("/api/v1/stations/{station}/score")).await.1;
    let tech_before = server.get(&boss, &format!("/api/v1/technicians/{tech}/score")).await.1;

    // The scheduler calls; the customer answers the three questions.
    let view = json_until(&server, &boss, &format!("/api/v1/repair-orders/{id}/callback"), |v| {
        v["job"]["status"] == "done"
    })
    .await;
    let status = tokio::task::spawn_blocking(move || phone.wait().unwrap())
        .await
        .unwrap();
    let errors = sipp_errors(&dir.0);
    assert!(status.success(), "the phone's scenario failed: {errors}");
    let attempts = view["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{view}");
    assert_eq!(attempts[0]["outcome"], "answered");
    assert_eq!(
        attempts[0]["idempotency_key"],
        format!("callback-{}-1", view["job"]["id"])
    );

    // The answers are on the order, and in the customer's history.
    let (_, view) = server.get(&boss, &format!("/api/v1/repair-orders/{id}/callback")).await;
    let survey = &view["survey"];
    assert_eq!(
        (
            survey["repair_score"].as_u64(),
            survey["technician_score"].as_u64(),
            survey["fixed_first_time"].as_bool()
        ),
        (Some(4), Some(5), Some(true)),
        "{view}"
    );
    let (_, history) = server
        .get(&boss, &format!("/api/v1/customers/{}/interactions", customer["id"]))
        .await;
    assert!(
        history.as_array().unwrap().iter().any(|i| i["summary"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("repair order {id}: repair 4/5, technician 5/5")))),
        "{history}"
    );

    // The answers moved the scores: 4 for the repair, 5 for the technician, fixed first time.
    let after = server.get(&boss, &format!("/api/v1/stations/{station}/score")).await.1;
    let n = before["surveys"].as_f64().unwrap();
    assert_eq!(after["surveys"].as_f64(), Some(n + 1.0), "{before} → {after}");
    let expected = (before["mean"].as_f64().unwrap_or(0.0) * n + 4.0) / (n + 1.0);
    assert!(
        (after["mean"].as_f64().unwrap() - expected).abs() < 0.006,
        "{before} → {after}"
    );
    let tech_after = server.get(&boss, &format!("/api/v1/technicians/{tech}/score")).await.1;
    let m = tech_before["surveys"].as_f64().unwrap();
    let expected = (tech_before["mean"].as_f64().unwrap_or(0.0) * m + 5.0) / (m + 1.0);
    assert!(
        (tech_after["mean"].as_f64().unwrap() - expected).abs() < 0.006,
        "{tech_after}"
    );

    // The call is on record: outbound to the customer, through the survey to its end.
    let (_, cdrs) = server.get(&boss, "/api/v1/cdrs?limit=5").await;
    let call = cdrs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ivr_script"] == "survey")
        .expect("the survey call's record");
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["called"], customer["phones"][0]["number"]);
    assert!(call["ivr_path"].as_str().unwrap().contains("save>thanks"), "{call}");
    // Surveys typed in by an agent are checked like the phone's.
    let (status, err) = server
        .post(
            &boss,
            "/api/v1/surveys",
            json!({"repair_order_id": id, "repair_score": 3, "technician_score": 3, "fixed_first_time": true}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (409, Some("repair_order_id")), "{err}");
    let (status, err) = server
        .post(
            &boss,
            "/api/v1/surveys",
            json!({"repair_order_id": id, "repair_score": 9, "technician_score": 3, "fixed_first_time": true}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("repair_score")), "{err}");
}

/// Phones that answer and hang up after a second (nobody takes the survey): every call the
/// service places is logged by sipp (`-trace_msg`), Call-ID and all.
fn answering_phones() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phones that answer and hang up">
  <recv request="INVITE">
    <action>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>
  </recv>
{answer}{ACK_KEEPING_DIALOG}  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      BYE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$us]
      To: [$them]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" timeout="5000" ontimeout="gone"/>
  <label id="gone"/>
</scenario>
"#,
        answer = answer_200("phone", "0 PCMU")
    )
}

/// The Call-IDs of every INVITE in sipp's message log (retransmissions counted once).
fn invited_call_ids(dir: &std::path::Path) -> Vec<String> {
    let mut ids = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if !e.file_name().to_string_lossy().ends_with("_messages.log") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for (start, _) in text.match_indices("INVITE sip:") {
            let id = text[start..]
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .find_map(|l| l.strip_prefix("Call-ID:"));
            if let Some(id) = id {
                ids.push(id.trim().to_string());
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// SIGKILL while repairs are being completed and callbacks dialled; after a restart every
/// acknowledged completion has exactly one callback job, every callback is attempted, and no
/// attempt is ever placed twice (each call's Call-ID carries its attempt's key).
async fn a_crash_loses_no_completion_and_dials_no_attempt_twice(db: TestDb) {
    require_sipp();
    let dir = Workdir::new();
    let trunk_port = free_media_port() + 1;
    let media = free_media_port();
    let trunk = format!("127.0.0.1:{trunk_port}");
    let env = [
        ("AFTERCARE_DEMO_CUSTOMERS", "150"),
        ("AFTERCARE_SIP_TRUNK", trunk.as_str()),
        ("AFTERCARE_CALLBACK_FIRST_DELAY_MINUTES", "0"),
        ("AFTERCARE_CALLBACK_HOURS", "00:00-24:00"),
        ("AFTERCARE_CALLBACK_DAYS", "mon-sun"),
        ("AFTERCARE_CALLBACK_DAILY_LIMIT", "10"),
        ("AFTERCARE_CALLBACK_LEASE_SECONDS", "30"),
    ];
    let mut server = Server::start(&db, &["--demo"], &env).await;
    let mut phones = sipp_uas(&dir.0, &answering_phones(), trunk_port, media, 300, &["-trace_msg"]);
    let boss = server.login("supervisor", "demo").await;
    let admin = server.login("admin", "demo").await;

    // Forty repairs in progress, one per customer with a phone.
    let (_, customers) = server.get(&boss, "/api/v1/customers?limit=150").await;
    let mut orders = vec![];
    for c in customers.as_array().unwrap() {
        if orders.len() == 40 {
            break;
        }
        if c["phones"].as_array().is_none_or(|p| p.is_empty()) || c["do_not_call"] == true {
            continue;
        }
        let (_, assets) = server
            .get(&boss, &format!("/api/v1/customers/{}/assets", c["id"]))
            .await;
        let Some(asset) = assets.as_array().unwrap().first() else {
            continue;
        };
        let (_, t) = server
            .post(
                &boss,
                "/api/v1/tickets",
                json!({"customer_id": c["id"], "asset_id": asset["id"], "subject": "No spin"}),
            )
            .await;
        let (_, ro) = server
            .post(&boss, "/api/v1/repair-orders", json!({"ticket_id": t["id"]}))
            .await;
        let id = ro["id"].as_i64().unwrap();
        let (token, code) = server.work_on_site(&admin, id).await;
        server.quote_if_paid(&token, id, json!([])).await;
        orders.push((id, token, code));
    }
    assert_eq!(orders.len(), 40);

    // Complete them, four at a time, while the scheduler dials; kill the service mid-way.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let queue = std::sync::Arc::new(std::sync::Mutex::new(orders.clone()));
    let mut workers = vec![];
    for _ in 0..4 {
        let (client, base) = (server.client.clone(), server.base.clone());
        let (acked, queue) = (acked.clone(), queue.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some((id, token, code)) = queue.lock().unwrap().pop() else {
                    break;
                };
                // The technician's report, then the completion; only a 200 to the completion
                // acknowledges it.
                let report = client
                    .put(format!("{base}/api/v1/tech/tasks/{id}/report"))
                    .bearer_auth(&token)
                    .json(&json!({"fault_code": code, "work_done": "Repaired", "labour_hours": 1.0}))
                    .send()
                    .await;
                match report {
                    Ok(resp) if resp.status().as_u16() == 200 => {}
                    Ok(resp) => panic!("report of {id} answered {}", resp.status()),
                    Err(_) => break, // the service is gone
                }
                let r = client
                    .post(format!("{base}/api/v1/tech/tasks/{id}/status"))
                    .bearer_auth(&token)
                    .json(&json!({"action": "complete"}))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().as_u16() == 200 => acked.lock().unwrap().push(id),
                    Ok(resp) => panic!("completion of {id} answered {}", resp.status()),
                    Err(_) => break, // the service is gone
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    // Kill once a few callbacks are being dialled.
    let mut begun = 0;
    for _ in 0..200 {
        let done: Vec<i64> = acked.lock().unwrap().clone();
        begun = 0;
        for id in done.iter().take(12) {
            let (_, view) = server.get(&boss, &format!("/api/v1/repair-orders/{id}/callback")).await;
            begun += view["attempts"].as_array().map_or(0, Vec::len);
        }
        if begun >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        begun >= 4 && acked.len() < orders.len(),
        "the crash came under load: {begun} attempts, {} completions",
        acked.len()
    );

    // Restart on the same database.
    let server = Server::start(&db, &[], &env).await;
    let boss = server.login("supervisor", "demo").await;
    let mut jobs = vec![];
    for &(id, _, _) in &orders {
        let (_, ro) = server.get(&boss, &format!("/api/v1/repair-orders/{id}")).await;
        let (status, view) = server.get(&boss, &format!("/api/v1/repair-orders/{id}/callback")).await;
        let completed = ro["status"] == "completed";
        if acked.contains(&id) {
            assert!(completed, "an acknowledged completion is kept: {ro}");
        }
        // A completed order has its one job; an order not completed has none.
        assert_eq!(status == 200, completed, "order {id}: {ro} / {view}");
        if completed {
            assert_eq!(view["job"]["repair_order_id"], id);
            jobs.push(id);
        }
    }
    // Every callback is attempted to its end (one left in doubt by the crash is followed by the
    // next attempt once its lease runs out).
    let mut keys = std::collections::HashSet::new();
    let mut in_doubt = 0;
    for &id in &jobs {
        let view = json_until(&server, &boss, &format!("/api/v1/repair-orders/{id}/callback"), |v| {
            v["attempts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|t| t["outcome"] == "answered"))
        })
        .await;
        for a in view["attempts"].as_array().unwrap() {
            assert!(keys.insert(a["idempotency_key"].as_str().unwrap().to_string()));
            in_doubt += usize::from(a["outcome"] == "in_doubt");
        }
    }
    // Let the last calls end, then stop the phones (sipp writes its log out as it exits).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = Command::new("kill").arg(phones.id().to_string()).status();
    let _ = phones.wait();
    // Each call the phones saw belongs to one recorded attempt, and no attempt rang twice.
    let calls = invited_call_ids(&dir.0);
    let mut rung = std::collections::HashMap::<String, usize>::new();
    for call in &calls {
        let key = call.split('.').next().unwrap().to_string();
        assert!(keys.contains(&key), "call {call} has no recorded attempt");
        *rung.entry(key).or_default() += 1;
    }
    assert!(rung.values().all(|&n| n == 1), "an attempt was placed twice: {rung:?}");
    eprintln!(
        "crash test: {} of {} completions acknowledged before the kill, {} completed in all, {} attempts ({} calls rang; {in_doubt} attempts left in doubt by the crash)",
        acked.len(),
        orders.len(),
        jobs.len(),
        keys.len(),
        calls.len()
    );
    assert!(
        calls.len() >= jobs.len(),
        "every job was called: {} calls, {} jobs",
        calls.len(),
        jobs.len()
    );
}

crate::on_both_backends!(a_crash_loses_no_completion_and_dials_no_attempt_twice);

/// A complaint left open past its due date is escalated by the service's housekeeping (at start
/// and every ten minutes), once; one due later is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_open_past_their_due_date_are_escalated() {
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let boss = server.login("supervisor", "demo").await;
    let (_, customers) = server.get(&boss, "/api/v1/customers?limit=1").await;
    let customer = customers[0]["id"].clone();
    let today = chrono::Utc::now().date_naive();
    let complaint = |due: chrono::NaiveDate| json!({"customer_id": customer, "category": "delay", "description": "Still waiting", "due_on": due});
    let (status, overdue) = server
        .post(
            &boss,
            "/api/v1/complaints",
            complaint(today - chrono::Duration::days(2)),
        )
        .await;
    assert_eq!(status, 201, "{overdue}");
    let (_, later) = server
        .post(
            &boss,
            "/api/v1/complaints",
            complaint(today + chrono::Duration::days(2)),
        )
        .await;
    assert!(overdue["escalated_at"].is_null());
    // The next round runs when the service starts again.
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    let server = Server::start(&db, &[], &[]).await;
    let boss = server.login("supervisor", "demo").await;
    let path = |k: &Value| format!("/api/v1/complaints/{}", k["id"]);
    let escalated = json_until(&server, &boss, &path(&overdue), |k| k["escalated_at"].is_string()).await;
    let (_, not_yet) = server.get(&boss, &path(&later)).await;
    assert!(not_yet["escalated_at"].is_null(), "{not_yet}");
    // Once: a later round leaves the time of the first.
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    let server = Server::start(&db, &[], &[]).await;
    let boss = server.login("supervisor", "demo").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, again) = server.get(&boss, &path(&overdue)).await;
    assert_eq!(again["escalated_at"], escalated["escalated_at"]);

    // An agent who takes complaints owns it; the escalation alerted the supervisors, once.
    let (_, skills) = server
        .get(&boss, &format!("/api/v1/users/{}/skills", overdue["owner_user_id"]))
        .await;
    assert!(
        skills.as_array().unwrap().iter().any(|s| s["skill"] == "complaints"),
        "{overdue} {skills}"
    );
    let (status, alerts) = server
        .get(&boss, "/api/v1/agent-tasks?queue=supervisors&kind=complaint_escalated")
        .await;
    assert_eq!(status, 200, "{alerts}");
    let mine: Vec<&Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["complaint_id"] == overdue["id"])
        .collect();
    assert_eq!(mine.len(), 1, "{alerts}");
    let task = mine[0]["id"].clone();
    // Agents do not see the supervisors' alerts.
    let agent = server.login("agent1", "demo").await;
    let (status, body) = server.get(&agent, "/api/v1/agent-tasks?queue=supervisors").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = server
        .post(&agent, &format!("/api/v1/agent-tasks/{task}/claim"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = server.get(&boss, "/api/v1/agent-tasks?status=later").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("status")), "{body}");
    // The supervisor takes it and finishes it; a bad outcome is named and changes nothing.
    let finish = format!("/api/v1/agent-tasks/{task}/finish");
    let (status, body) = server.post(&boss, &finish, json!({"outcome": "handled"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("status")),
        "claim first: {body}"
    );
    let (status, body) = server
        .post(&boss, &format!("/api/v1/agent-tasks/{task}/claim"), json!({}))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("claimed")), "{body}");
    let (status, body) = server.post(&boss, &finish, json!({"outcome": "shrugged"})).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("outcome")), "{body}");
    let (status, body) = server
        .post(&boss, &finish, json!({"outcome": "handled", "note": "Owner reminded"}))
        .await;
    assert_eq!(
        (status, body["status"].as_str(), body["outcome"].as_str()),
        (200, Some("done"), Some("handled")),
        "{body}"
    );

    // Resolving the complaint raises its follow-up call for the complaints queue.
    for status in ["in_progress", "resolved"] {
        let (code, body) = server
            .patch(
                &boss,
                &path(&overdue),
                json!({"status": status, "resolution": "Part replaced"}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let (_, follow) = server
        .get(
            &agent,
            &format!("/api/v1/agent-tasks?kind=complaint_follow_up&customer_id={customer}"),
        )
        .await;
    assert_eq!(follow.as_array().map(Vec::len), Some(1), "{follow}");
    assert_eq!(
        (follow[0]["queue"].as_str(), &follow[0]["complaint_id"]),
        (Some("complaints"), &overdue["id"])
    );
}

/// Customer care: the day's reminders are raised when the service starts; a supervisor starts a
/// maintenance campaign, agents work its tasks from the list, and its progress counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_campaign_is_worked_from_the_task_list() {
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let boss = server.login("supervisor", "demo").await;
    let agent = server.login("agent2", "demo").await;
    let daily = json_until(
        &server,
        &agent,
        "/api/v1/agent-tasks?kind=maintenance_due&limit=500",
        |t| t.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert!(daily
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["campaign_id"].is_null() && t["queue"] == "general"));

    let (status, body) = server
        .post(
            &agent,
            "/api/v1/campaigns",
            json!({"name": "x", "kind": "maintenance_due"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server
        .post(
            &boss,
            "/api/v1/campaigns",
            json!({"name": "Complaints", "kind": "poor_survey"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("kind")), "{body}");
    let (status, campaign) = server
        .post(
            &boss,
            "/api/v1/campaigns",
            json!({"name": "Autumn maintenance", "kind": "maintenance_due", "within_days": 30}),
        )
        .await;
    assert_eq!(status, 201, "{campaign}");
    let id = campaign["id"].as_i64().unwrap();
    let total = campaign["tasks"].as_i64().unwrap();
    assert!(total > 0 && campaign["open"] == total, "{campaign}");
    let (_, tasks) = server
        .get(&agent, &format!("/api/v1/agent-tasks?campaign_id={id}&limit=500"))
        .await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len() as i64, total);
    // Nobody on the do-not-call list is in it.
    for t in tasks.iter().take(20) {
        let (_, customer) = server
            .get(&agent, &format!("/api/v1/customers/{}", t["customer_id"]))
            .await;
        assert_eq!(customer["do_not_call"], false, "{customer}");
    }
    let first = &tasks[0]["id"];
    let (status, _) = server
        .post(&agent, &format!("/api/v1/agent-tasks/{first}/claim"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, done) = server
        .post(
            &agent,
            &format!("/api/v1/agent-tasks/{first}/finish"),
            json!({"outcome": "reached", "note": "Booked for Tuesday"}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let (_, progress) = server.get(&agent, &format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(
        (
            progress["tasks"].as_i64(),
            progress["done"].as_i64(),
            progress["reached"].as_i64()
        ),
        (Some(total), Some(1), Some(1)),
        "{progress}"
    );
    // Started again (a double click): refused, and no reminder stands twice for an asset.
    let (status, again) = server
        .post(
            &boss,
            "/api/v1/campaigns",
            json!({"name": "Autumn maintenance", "kind": "maintenance_due", "within_days": 30}),
        )
        .await;
    assert_eq!((status, again["field"].as_str()), (409, Some("kind")), "{again}");
    let (_, all) = server
        .get(&agent, "/api/v1/agent-tasks?kind=maintenance_due&limit=500")
        .await;
    let all = all.as_array().unwrap();
    let assets: std::collections::HashSet<_> = all.iter().map(|t| t["asset_id"].as_i64()).collect();
    assert_eq!(assets.len(), all.len(), "one maintenance reminder per asset");
    let (_, campaigns) = server.get(&boss, "/api/v1/campaigns").await;
    assert_eq!(campaigns.as_array().unwrap().len(), 1, "{campaigns}");
}
