//! The agent desk in a real browser: headless Chromium (Debian `chromium`) driven by
//! playwright-core (`tests/browser/desk.mjs`), a WAV file as its microphone. A sipp caller
//! passes the IVR into a queue; the page shows the screen pop for that number, answers with the
//! WebRTC softphone, and audio flows both ways: the page measures what it receives from the
//! caller, and the call recording holds the page's microphone tone on our side. The wallboard
//! page shows the call waiting, then answered, and the supervisors' alerts; the desk lists the
//! agent's tasks; the reports page charts the call and the demo's repairs.
//!
//! `.ci/run` installs chromium and the npm package; without them this test fails.
//! With `AFTERCARE_SCREENSHOTS=DIR` the pages are photographed into DIR (the README's pictures
//! in `callcenter/docs/` come from there).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::desk::{a_customer, call_in_background, caller_scenario, DIRECT_FLOW};
use crate::sip::{band_share, newest_cdr, require_sipp};
use crate::support::{finished_wav, temp_path, IvrDir, Server};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser")
}

fn require_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (.ci/run installs it)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is needed: npm ci --prefix tests/browser (.ci/run does it)"
    );
}

/// Where pages are photographed: `AFTERCARE_SCREENSHOTS`, else a scratch directory.
fn screenshot_dir() -> String {
    std::env::var("AFTERCARE_SCREENSHOTS").unwrap_or_else(|_| {
        let d = temp_path("shots");
        std::fs::create_dir_all(&d).unwrap();
        d.display().to_string()
    })
}

/// A page script (`tests/browser/SCRIPT`) run by node, once it has printed `READY`.
struct PageScript {
    node: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl PageScript {
    async fn ready(script: &str, args: &[&str], secs: u64) -> PageScript {
        let mut node = tokio::process::Command::new("node")
            .arg(browser_dir().join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(secs), lines.next_line()).await;
        assert!(
            matches!(&ready, Ok(Ok(Some(l))) if l == "READY"),
            "{script}: the page did not get ready: {ready:?}"
        );
        PageScript { node, lines }
    }

    /// Wait for the script to print `line` (a step it reached).
    async fn reached(&mut self, line: &str, secs: u64) {
        let got = tokio::time::timeout(Duration::from_secs(secs), self.lines.next_line()).await;
        assert!(
            matches!(&got, Ok(Ok(Some(l))) if l == line),
            "the page did not reach {line}: {got:?}"
        );
    }

    /// The JSON line the script prints at the end; it must exit successfully.
    async fn result(mut self, secs: u64) -> Value {
        let result = tokio::time::timeout(Duration::from_secs(secs), self.lines.next_line()).await;
        let out = self.node.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let line = match result {
            Ok(Ok(Some(l))) => l,
            other => panic!("the page reported nothing: {other:?}\n{stderr}"),
        };
        assert!(out.status.success(), "{line}\n{stderr}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}\n{stderr}"))
    }
}

/// A microphone: a steady 1 kHz tone, 48 kHz mono (Chromium loops the file).
fn tone_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..48_000 * 4 {
        let t = n as f32 / 48_000.0;
        w.write_sample(((2.0 * std::f32::consts::PI * 1000.0 * t).sin() * 12_000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_in_chromium_and_audio_flows_both_ways() {
    require_sipp();
    require_browser();
    let ivr = IvrDir::with(&[("direct.toml", DIRECT_FLOW)]);
    let db = crm_sql::testing::TestDb::sqlite().await;
    let data = temp_path("data");
    let server = Server::start_in(
        &db,
        &ivr.0,
        &["--demo", "--data-dir", data.to_str().unwrap()],
        &[("AFTERCARE_DEMO_CUSTOMERS", "150"), ("AFTERCARE_RECORD_CALLS", "true")],
    )
    .await;
    let admin = server.login("supervisor", "demo").await;
    let (customer_id, name, phone) = a_customer(&server, &admin).await;
    // Two more products of theirs whose warranty needs more than one date to explain: one past
    // its mileage limit, one whose parts and labour cover end on different days.
    let (_, models) = server.get(&admin, "/api/v1/product-models").await;
    for (code, policy, asset) in [
        (
            "KM-20",
            json!({"parts_months": 24, "labor_months": 24, "max_mileage_km": 20000}),
            json!({"serial": "KM-0001", "mileage_km": 31500}),
        ),
        (
            "SPLIT-36",
            json!({"parts_months": 36, "labor_months": 12}),
            json!({"serial": "SPLIT-0001"}),
        ),
    ] {
        let mut model = models[0].clone();
        let m = model.as_object_mut().unwrap();
        m.remove("id");
        m.insert("code".into(), json!(code));
        m.insert("name".into(), json!(format!("Model {code}")));
        m.insert("warranty".into(), policy);
        let (status, m) = server.post(&admin, "/api/v1/product-models", model).await;
        assert_eq!(status, 201, "{m}");
        let mut body = json!({"customer_id": customer_id, "model_id": m["id"], "purchase_date": "2025-06-02"});
        body.as_object_mut().unwrap().extend(asset.as_object().unwrap().clone());
        let (status, a) = server.post(&admin, "/api/v1/assets", body).await;
        assert_eq!(status, 201, "{a}");
    }

    let mic = temp_path("mic.wav");
    tone_wav(&mic);
    let shots = screenshot_dir();
    let page = PageScript::ready(
        "desk.mjs",
        &[
            &server.base,
            "agent9",
            "supervisor",
            "demo",
            mic.to_str().unwrap(),
            &shots,
        ],
        90,
    )
    .await;

    // A caller who hangs up while it rings, then the call the agent answers.
    let mut page = page;
    let (_first_dir, first) = call_in_background(&server, caller_scenario(&phone, Some(4000)));
    page.reached("MISSED", 60).await;
    let (code, log) = first.await.unwrap();
    assert_eq!(code, 0, "{log}");
    let (_dir, caller) = call_in_background(&server, caller_scenario(&phone, None));
    let r = page.result(150).await;

    // Signed in, the agent is not ready (not on a break) and no transfer target is preset.
    assert_eq!(r["start"]["state"], "not_ready", "{r}");
    assert_eq!(r["start"]["badge"], "not ready", "{r}");
    assert_eq!(r["start"]["transfer"], "", "{r}");
    // The missed call is said, with the caller's number; the next call clears it.
    let missed = r["missed"]["text"].as_str().unwrap();
    assert!(
        missed.starts_with("Missed call from") && missed.contains(&phone),
        "{missed}"
    );
    assert_eq!(r["missed"]["ringing"], false, "{r}");
    assert_eq!(r["ringing"]["missedShown"], false, "{r}");
    // 1366×768: answering, hanging up and the softphone need no scrolling.
    let height = r["ringing"]["height"].as_f64().unwrap();
    for (what, bottom) in [
        ("answer button", &r["ringing"]["answerBottom"]),
        ("softphone while ringing", &r["ringing"]["phoneBottom"]),
        ("hang-up button", &r["onCall"]["hangupBottom"]),
        ("softphone on the call", &r["onCall"]["phoneBottom"]),
    ] {
        assert!(bottom.as_f64().unwrap() <= height, "{what} below the fold: {r}");
    }
    // After Save the panel names the repair order's technician and visit.
    let ro = &r["visit"]["ro"];
    let line = r["visit"]["line"].as_str().unwrap();
    if ro["technician_id"].is_i64() {
        assert!(line.starts_with("Technician: ") && line.contains(" · visit "), "{line}");
        assert!(!line.contains('#'), "the technician by name: {line}");
    } else {
        assert!(line.starts_with("No technician yet"), "{line} {ro}");
    }
    // The wrap-up form follows the wrap-up time.
    assert_eq!(
        (r["wrapShown"].as_bool(), r["wrapAfter"].as_bool()),
        (Some(true), Some(false)),
        "{r}"
    );

    // Screen pop for the caller's number, before answering.
    assert_eq!(r["ringing"]["caller"], phone.as_str(), "{r}");
    assert_eq!(r["ringing"]["name"], name.as_str(), "{r}");
    // The badges say what decided the warranty, and both dates when parts and labour differ.
    let badges: Vec<&str> = r["ringing"]["badges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str())
        .collect();
    assert!(badges.contains(&"Expired · 31,500 km, limit 20,000 km"), "{badges:?}");
    assert!(
        badges.contains(&"In warranty · parts until 2028-06-01 · labour until 2026-06-01"),
        "{badges:?}"
    );
    assert_eq!(r["waitingBoard"]["waiting"], 1, "{r}");
    assert_eq!(r["answeredBoard"]["answered"], 1, "{r}");
    // Caller → page: the page's received track carries sipp's audio.
    let peak = r["rx"]["peak"].as_f64().unwrap();
    assert!(peak > 0.01, "the page heard the caller: RMS peak {peak}");
    assert_eq!(r["ended"]["by"], "agent");
    // The desk's tasks (the demo's reminders) and the wallboard's alerts (its poor surveys).
    assert!(
        r["tasks"]["n"].as_u64() > Some(0) && r["tasks"]["rows"] == r["tasks"]["n"],
        "{r}"
    );
    assert!(
        r["alerts"]["n"].as_u64() > Some(0) && r["alerts"]["rows"] == r["alerts"]["n"],
        "{r}"
    );
    // The reports page: the answered call counts in its queue; a bar per model.
    let general = r["callCenter"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "general")
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(general["answered"], 1, "{r}");
    assert!(r["callCenter"]["columns"].as_u64() >= Some(1), "{r}");
    let models = r["service"]["rows"].as_u64().unwrap();
    assert!(
        models > 0 && r["service"]["bars"].as_u64() == Some(models.min(20)),
        "{r}"
    );
    assert_eq!(r["service"]["tableRows"].as_u64(), Some(models), "{r}");

    let (code, log) = caller.await.unwrap();
    assert_eq!(code, 0, "the caller got our BYE:\n{log}");

    // Page → caller: the recording's right channel (what the caller heard) holds the 1 kHz
    // tone from the page's microphone once the agent answered.
    let cdr = newest_cdr(&server, &admin).await;
    assert_eq!(cdr["outcome"], "answered", "{cdr}");
    let wait_ms = cdr["queue_wait_ms"].as_i64().unwrap() as usize;
    let path = PathBuf::from(cdr["recording"].as_str().expect("recorded"));
    let (_, all) = finished_wav(&path).await;
    let ours: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    // From two seconds after the answer (ICE and DTLS take a moment) to the end.
    let from = ((wait_ms + 2000) * 8).min(ours.len());
    let bridged = &ours[from..];
    assert!(
        bridged.len() >= 8000,
        "at least a second bridged: {} samples",
        bridged.len()
    );
    let rms = (bridged.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / bridged.len() as f64).sqrt();
    let tone = band_share(bridged, 950.0, 1050.0);
    eprintln!(
        "browser: page heard RMS peak {peak:.3}; caller heard RMS {rms:.0}, {:.0} % at 1 kHz",
        tone * 100.0
    );
    // Chromium's noise suppression damps a steady tone; silence would be near 0.
    assert!(rms > 300.0, "the caller heard the agent: RMS {rms:.0}");
    assert!(tone > 0.6, "what the caller heard is the page's 1 kHz tone: {tone:.2}");
    let _ = std::fs::remove_file(&mic);
    let _ = std::fs::remove_dir_all(&data);
}

/// The dispatcher's page draws stations, orders and routes without map tiles (the tile server is
/// unreachable, as offline), moves a technician when their position arrives, and assigns an
/// order dragged onto a technician.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatch_map_works_offline_follows_positions_and_assigns_by_drag_and_drop() {
    require_browser();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::start(
        &db,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_MAP_TILES_URL", "http://127.0.0.1:9/{z}/{x}/{y}.png"),
            // No background re-plan moving orders while the page drags one.
            ("AFTERCARE_AUTO_ASSIGN", "false"),
        ],
    )
    .await;
    let tech = server.login("tech2", "demo").await;
    let admin = server.login("supervisor", "demo").await;
    // The next two working days planned, and two new calls not yet dispatched (auto-assignment
    // is off): orders to drag.
    let (status, plan) = server
        .post(
            &admin,
            "/api/v1/dispatch/plan",
            serde_json::json!({"working_days": 2, "iterations": 500}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let (_, customers) = server.get(&admin, "/api/v1/customers?limit=40").await;
    let mut filed = 0;
    for c in customers.as_array().unwrap() {
        let (_, assets) = server
            .get(&admin, &format!("/api/v1/customers/{}/assets", c["id"]))
            .await;
        let Some(a) = assets.as_array().unwrap().first() else {
            continue;
        };
        let (_, t) = server
            .post(
                &admin,
                "/api/v1/tickets",
                serde_json::json!({"customer_id": c["id"], "asset_id": a["id"], "subject": "Not working"}),
            )
            .await;
        let (status, ro) = server
            .post(
                &admin,
                "/api/v1/repair-orders",
                serde_json::json!({"ticket_id": t["id"]}),
            )
            .await;
        assert_eq!(status, 201, "{ro}");
        filed += 1;
        if filed == 6 {
            break;
        }
    }
    let shots = screenshot_dir();
    let page = PageScript::ready(
        "dispatch.mjs",
        &[&server.base, "supervisor", "demo", "47.5", &shots],
        90,
    )
    .await;
    let resp = server
        .client
        .post(server.url("/api/v1/tech/position"))
        .bearer_auth(&tech)
        .json(&serde_json::json!({"lat": 47.5, "lon": 9.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let r = page.result(90).await;
    for what in [
        "stations",
        "orders",
        "routes",
        "cards",
        "rows",
        "visits",
        "travel",
        "technicians",
    ] {
        assert!(r["drawn"][what].as_u64().unwrap() > 0, "{what}: {r}");
    }
    assert_eq!(r["tiles"], 0, "tiles that cannot load are hidden: {r}");
    let (_, me) = server.get(&tech, "/api/v1/me").await;
    assert_eq!(r["moved"], me["technician_id"], "{r}");
    let z = r["zoomed"].as_array().unwrap();
    assert!(z[1].as_f64() > z[0].as_f64(), "zoomed in: {r}");
    let f = &r["filtered"];
    assert!(
        f["ok"] == true && f["cards"].as_u64() <= f["all"].as_u64(),
        "the station filter: {r}"
    );
    assert!(r["searched"].as_u64().unwrap() >= 1, "{r}");
    let (_, ro) = server
        .get(&admin, &format!("/api/v1/repair-orders/{}", r["order"]))
        .await;
    assert_eq!(
        ro["technician_id"], r["tech"],
        "the dropped order is assigned: {ro} {r}"
    );
    assert_eq!(ro["status"], "assigned");
    let at = |v: &serde_json::Value| v.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let off = (at(&ro["scheduled_for"]) - at(&r["at"])).num_minutes().abs();
    assert!(off <= 15, "the visit is where it was dropped ({off} min off): {ro} {r}");
    if !r["refused"].is_null() {
        assert!(r["refused"].as_str().unwrap().contains("lacks the skill"), "{r}");
    }
}

/// Markup in every field the pages show is shown as text: no page runs it (the browser reports
/// any dialog), the desk, wallboard, dispatch, reports, station portal and claims desk show the
/// string itself. Signing
/// out closes the page's socket; a session ended elsewhere closes the wallboard's within seconds;
/// a technician's token on the wallboard is told it is the wrong page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_data_never_runs_on_any_page_and_signing_out_closes_the_pages() {
    require_browser();
    const XSS: &str = r#"Zyx<img src=x onerror=alert(1)>"'><svg onload=alert(2)>"#;
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::start(&db, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await;
    let admin = server.login("admin", "demo").await;
    let boss = server.login("supervisor", "demo").await;

    // A customer, an asset of a model, a service request and a repair order, all named so.
    let (status, c) = server
        .post(
            &admin,
            "/api/v1/customers",
            json!({"name": XSS, "phones": [{"number": "+49 30 5559911"}]}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let (_, models) = server.get(&admin, "/api/v1/product-models").await;
    let mut model = models[0].clone();
    let model_obj = model.as_object_mut().unwrap();
    model_obj.remove("id");
    model_obj.insert("code".into(), json!("XSS-1"));
    model_obj.insert("name".into(), json!(XSS));
    let (status, m) = server.post(&admin, "/api/v1/product-models", model).await;
    assert_eq!(status, 201, "{m}");
    let (status, a) = server
        .post(
            &admin,
            "/api/v1/assets",
            json!({"customer_id": c["id"], "model_id": m["id"], "serial": "XSS-0001", "purchase_date": "2026-01-10"}),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (status, t) = server
        .post(
            &admin,
            "/api/v1/tickets",
            json!({"customer_id": c["id"], "asset_id": a["id"], "subject": XSS, "description": XSS}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let (status, ro) = server
        .post(
            &admin,
            "/api/v1/repair-orders",
            json!({"ticket_id": t["id"], "description": XSS}),
        )
        .await;
    assert_eq!(status, 201, "{ro}");
    // A complaint about the order, in those words (the reports page's complaint list).
    let (status, k) = server
        .post(
            &admin,
            "/api/v1/complaints",
            json!({"customer_id": c["id"], "repair_order_id": ro["id"], "category": "delay", "description": XSS}),
        )
        .await;
    assert_eq!(status, 201, "{k}");
    // An agent, a technician and a station in the ranking, named so.
    let (status, u) = server
        .post(
            &admin,
            "/api/v1/users",
            json!({"username": "xss.agent", "display_name": XSS, "role": "agent", "password": "demo-demo"}),
        )
        .await;
    assert_eq!(status, 201, "{u}");
    let agent = server.login("xss.agent", "demo-demo").await;
    let (_, ranking) = server.get(&boss, "/api/v1/reports/stations").await;
    let station = ranking[0]["station_id"].as_i64().expect("a ranked station");
    let (status, s) = server
        .patch(&boss, &format!("/api/v1/stations/{station}"), json!({"name": XSS}))
        .await;
    assert_eq!(status, 200, "{s}");
    let (_, techs) = server
        .get(&boss, &format!("/api/v1/technicians?station_id={station}"))
        .await;
    let mut tech = techs[0].clone();
    let tech_obj = tech.as_object_mut().unwrap();
    for k in ["id", "rating", "position_at"] {
        tech_obj.remove(k);
    }
    tech_obj.insert("name".into(), json!(XSS));
    let keep = ["station_id", "name", "skills", "shifts", "location"];
    tech_obj.retain(|k, _| keep.contains(&k.as_str()));
    let (status, t) = server.post(&boss, "/api/v1/technicians", tech).await;
    assert_eq!(status, 201, "{t}");
    let technician = server.login("tech1", "demo").await;

    // The service network's pages: the station manager's station so named, a claim whose lines
    // are rejected with markup as the reason and appealed with markup, and a parts order shipped
    // with markup as carrier and tracking.
    let manager = server.login("station", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let own = server.get(&manager, "/api/v1/me").await.1["station_id"]
        .as_i64()
        .expect("the demo's station manager has a station");
    let (status, s) = server
        .patch(&admin, &format!("/api/v1/stations/{own}"), json!({"name": XSS}))
        .await;
    assert_eq!(status, 200, "{s}");
    let repaired = crate::network::a_completed_warranty_repair(&server, &admin, own).await;
    let (status, filed) = server
        .post(&manager, "/api/v1/claims", json!({"repair_order_id": repaired}))
        .await;
    assert_eq!(status, 201, "{filed}");
    let claim = filed["claim"]["id"].as_i64().unwrap();
    for l in filed["claim"]["lines"].as_array().unwrap() {
        let (status, body) = server
            .post(
                &reviewer,
                &format!("/api/v1/claims/{claim}/lines/{}/review", l["id"]),
                json!({"decision": "reject", "code": "other", "reason": XSS}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server
        .post(
            &manager,
            &format!("/api/v1/claims/{claim}/appeal"),
            json!({"reason": XSS}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    crate::network::a_shipped_parts_order(&server, &admin, own, 1, (XSS, XSS)).await;

    let shots = screenshot_dir();
    let page = PageScript::ready(
        "xss.mjs",
        &[
            &server.base,
            XSS,
            &agent,
            &boss,
            &technician,
            &shots,
            &manager,
            &reviewer,
            &claim.to_string(),
        ],
        30,
    )
    .await;
    let r = page.result(180).await;
    assert_eq!(r["dialogs"], json!([]), "markup ran: {r}");
    assert_eq!(r["deskSeen"]["name"], true, "{r}");
    assert_eq!(r["deskSeen"]["asset"], true, "{r}");
    assert!(
        r["deskSeen"]["elsewhere"].as_u64().unwrap() >= 3,
        "name, model, ticket and order: {r}"
    );
    for k in [
        "boardInjected",
        "dispatchInjected",
        "reportsInjected",
        "portalInjected",
        "claimsInjected",
        "complaintsInjected",
    ] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }
    assert_eq!(r["complaintListed"], true, "the complaint in the list: {r}");
    // The portal's title and claim (reason on each line, the appeal), its parts order's carrier
    // and tracking; the claims desk's claim (station, reasons, appeal): all shown as text.
    assert_eq!(r["portalTitle"], true, "{r}");
    assert!(r["portalClaim"].as_u64().unwrap() >= 2, "reason and appeal: {r}");
    assert!(r["portalTracking"].as_u64().unwrap() >= 2, "carrier and tracking: {r}");
    assert!(
        r["claimsDesk"].as_u64().unwrap() >= 3,
        "station, reason and appeal: {r}"
    );
    assert_eq!(r["deskSeen"]["injected"], 0, "{r}");
    assert_eq!(
        r["csp"],
        json!([0, 0, 0, 0, 0, 0]),
        "no page tried an inline script: {r}"
    );
    assert_eq!(r["deskSignedOut"], "Signed out.", "{r}");
    assert!(r["wallboardClosedMs"].as_u64().unwrap() < 8000, "{r}");
    assert_eq!(
        r["wallboardStays"], true,
        "no reconnecting after the session ended: {r}"
    );
    assert!(r["wrongRole"].as_str().unwrap().contains("technician"), "{r}");
    // The signed-out desk freed the agent: the ACD no longer counts them.
    let (_, board) = server.get(&admin, "/api/v1/wallboard").await;
    assert!(
        !board["agents"].as_array().unwrap().iter().any(|a| a["name"] == XSS),
        "{board}"
    );
}

/// A station manager's and a claims reviewer's day at 1366×768 (`tests/browser/network.mjs`):
/// orders accepted, declined and assigned in the portal, a repair claimed; the claim reviewed
/// line by line and the station's settlement drawn up on the claims desk. The API then shows
/// every step took effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_manager_and_a_claims_reviewer_do_their_day_in_chromium() {
    require_browser();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let station = server.login("station", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let (_, me) = server.get(&station, "/api/v1/me").await;
    let mine = me["station_id"]
        .as_i64()
        .expect("the demo's station manager has a station");
    for _ in 0..3 {
        crate::network::an_assigned_order(&server, &admin, mine).await;
    }
    let claimed = crate::network::a_completed_warranty_repair_with_a_part(&server, &admin, mine).await;
    // A parts order on its way to the station, for the page to book in.
    let (shipped_order, part) =
        crate::network::a_shipped_parts_order(&server, &admin, mine, 3, ("DHL", "JJD777")).await;
    let stock_before = server.get(&station, "/api/v1/station/overview").await.1["stock"].clone();
    let shots = screenshot_dir();
    let page = PageScript::ready(
        "network.mjs",
        &[&server.base, &station, &reviewer, &claimed.to_string(), &shots],
        30,
    )
    .await;
    let out = page.result(120).await;
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["dialogs"], json!([]), "{out}");
    assert_eq!(
        (out["stationCsp"].as_i64(), out["reviewerCsp"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (out["stationFits"].as_bool(), out["reviewerFits"].as_bool()),
        (Some(true), Some(true)),
        "{out}"
    );

    let order = |id: &Value| {
        let id = id.as_i64().unwrap();
        let server = &server;
        let admin = &admin;
        async move { server.get(admin, &format!("/api/v1/repair-orders/{id}")).await.1 }
    };
    let accepted = order(&out["orders"]["accept"]).await;
    assert!(accepted["station_accepted_at"].is_string(), "{accepted}");
    let declined = order(&out["orders"]["decline"]).await;
    assert_ne!(declined["station_id"].as_i64(), Some(mine), "{declined}");
    assert!(
        declined["history"].as_array().unwrap().iter().any(|h| h["note"]
            .as_str()
            .is_some_and(|n| n.contains("No refrigeration technician"))),
        "{declined}"
    );
    let assigned = order(&out["orders"]["assign"]).await;
    assert_eq!(assigned["technician_id"], out["orders"]["tech"], "{assigned}");
    // The parts: the suggestion ordered once, the shipped order booked into the station's stock.
    let (_, ordered) = server
        .get(&admin, &format!("/api/v1/parts-orders/{}", out["partsOrder"]))
        .await;
    assert_eq!(
        (ordered["station_id"].as_i64(), ordered["status"].as_str()),
        (Some(mine), Some("requested")),
        "{ordered}"
    );
    let received = out["received"].as_i64().unwrap();
    let (_, booked) = server.get(&admin, &format!("/api/v1/parts-orders/{received}")).await;
    assert_eq!(booked["status"], "received", "{booked}");
    if received == shipped_order {
        let qty = |stock: &Value| {
            stock
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["part_id"] == part)
                .map_or(0, |s| s["quantity"].as_i64().unwrap())
        };
        let after = server.get(&station, "/api/v1/station/overview").await.1["stock"].clone();
        assert_eq!(qty(&after), qty(&stock_before) + 3, "booked into the station's stock");
    }
    let claim_id = out["claim"].as_i64().unwrap();
    let (_, claim) = server.get(&reviewer, &format!("/api/v1/claims/{claim_id}")).await;
    assert_eq!(
        (claim["repair_order_id"].as_i64(), claim["status"].as_str()),
        (Some(claimed), Some("settled")),
        "{claim}"
    );
    // The old part came back and was inspected before its line was decided; the station
    // appealed once and the reopened lines were approved in full.
    assert_eq!(out["partWaits"], true, "{out}");
    assert!(out["reopened"].as_i64().unwrap() >= 1, "{out}");
    assert!(
        claim["appeal"].as_str().is_some_and(|a| a.contains("burnt board")),
        "{claim}"
    );
    let part = claim["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == out["partLine"])
        .unwrap_or_else(|| panic!("the part line: {claim}"));
    assert_eq!(
        (
            part["kind"].as_str(),
            part["return_status"].as_str(),
            part["decision"].as_str()
        ),
        (Some("part"), Some("inspected"), Some("approved")),
        "{claim}"
    );
    assert!(
        claim["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["claimed_minor"] == l["approved_minor"]),
        "every line paid in full after the appeal: {claim}"
    );
    let (_, settlements) = server
        .get(&admin, &format!("/api/v1/settlements?station_id={mine}"))
        .await;
    let today = chrono::Utc::now().date_naive().to_string();
    let s = settlements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["period"]["to"] == today.as_str())
        .unwrap_or_else(|| panic!("today's settlement: {settlements}"));
    assert_eq!(s["amount_minor"], claim["approved_minor"], "{s} {claim}");
}

/// A dealer's day at 1366×768 (`tests/browser/dealer.mjs`): a sale registered by VIN for a
/// walk-in buyer after a refused failed inspection, the retry answered, the sale in the list of
/// what it sold with its history, the figures; the API then shows the sale and the warranty
/// starting on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dealer_registers_a_sale_in_chromium() {
    require_browser();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let dealer = server.login("dealer", "demo").await;
    let (_, models) = server.get(&admin, "/api/v1/product-models").await;
    let model = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["category"] == "motorcycle")
        .expect("a motorcycle model")
        .clone();
    let (_, stock) = server
        .post(
            &admin,
            "/api/v1/customers",
            json!({"name": "Lager", "phones": [{"number": "+49 40 5550198"}]}),
        )
        .await;
    let vin = format!("WMC{:014}", rand::random::<u32>());
    let made = chrono::Utc::now().date_naive() - chrono::Duration::days(60);
    let (status, asset) = server
        .post(
            &admin,
            "/api/v1/assets",
            json!({"customer_id": stock["id"], "model_id": model["id"], "serial": format!("MC-B-{}", rand::random::<u16>()),
                   "vin": vin, "purchase_date": made, "produced_on": made}),
        )
        .await;
    assert_eq!(status, 201, "{asset}");
    let shots = screenshot_dir();
    let page = PageScript::ready("dealer.mjs", &[&server.base, &dealer, &vin, &shots], 30).await;
    let out = page.result(90).await;
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["dialogs"], json!([]), "{out}");
    assert_eq!(
        (out["csp"].as_i64(), out["injected"].as_i64()),
        (Some(0), Some(0)),
        "{out}"
    );
    assert_eq!(out["fits"], true, "{out}");
    assert_eq!(out["title"], "MotoWelt — dealer portal", "{out}");
    assert!(out["refused"].as_str().unwrap().starts_with("delivery.passed"), "{out}");
    assert!(out["retried"].as_str().unwrap().contains("already"), "{out}");
    assert!(
        out["history"]
            .as_str()
            .unwrap()
            .contains("<img src=x onerror=alert(1)>"),
        "{out}"
    );
    let (_, seen) = server.get(&admin, &format!("/api/v1/assets/{}", asset["id"])).await;
    assert_eq!(seen["warranty"]["start"]["basis"], "registered_sale", "{seen}");
    let (_, owner) = server
        .get(&admin, &format!("/api/v1/customers/{}", seen["customer_id"]))
        .await;
    assert_eq!(owner["name"], "Lena <img src=x onerror=alert(1)> Voss", "{owner}");
}

/// An agent records a quote's acceptance on the phone from the desk (`tests/browser/quote.mjs`):
/// the technician quoted an out-of-warranty repair on site; the agent finds the customer, reads
/// the lines out and records the yes with a note; the technician may then complete, and the
/// completion issues the invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_records_a_quote_accepted_on_the_phone_in_chromium() {
    require_browser();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let agent = server.login("agent1", "demo").await;
    let name = format!("Quentin Quote {}", rand::random::<u16>());
    let (id, _, tech, code) = crate::sales::a_repair_out_of_warranty_on_site(&server, &admin, &name).await;
    let (status, quoted) = server
        .post(
            &tech,
            &format!("/api/v1/tech/tasks/{id}/quote"),
            json!({"labour_minutes": 45}),
        )
        .await;
    assert_eq!(status, 201, "{quoted}");

    let shots = screenshot_dir();
    let page = PageScript::ready("quote.mjs", &[&server.base, &agent, &name, &shots], 30).await;
    let out = page.result(60).await;
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(
        (out["dialogs"].clone(), out["csp"].as_i64()),
        (json!([]), Some(0)),
        "{out}"
    );
    assert_eq!(out["fits"], true, "{out}");
    assert_eq!(out["prefilled"], json!(name), "{out}");
    let total = quoted["quote"]["total_minor"].as_i64().unwrap();
    assert!(
        out["quote"]
            .as_str()
            .unwrap()
            .contains(&format!("{}.{:02} EUR", total / 100, total % 100)),
        "the total is read out: {out}"
    );
    assert_eq!(out["accepted"], quoted["quote"]["id"], "{out}");
    let (_, quotes) = server.get(&agent, &format!("/api/v1/repair-orders/{id}/quotes")).await;
    let q = &quotes[0];
    assert_eq!(
        (q["status"].as_str(), q["acceptance"]["method"].as_str()),
        (Some("accepted"), Some("phone")),
        "{q}"
    );
    assert!(q["acceptance"]["note"].as_str().unwrap().contains("45 min"), "{q}");
    // The technician may finish now; the completion issues the invoice.
    let (status, body) = server
        .send(
            reqwest::Method::PUT,
            &tech,
            &format!("/api/v1/tech/tasks/{id}/report"),
            json!({"fault_code": code, "work_done": "new seal", "labour_hours": 0.75}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post(
            &tech,
            &format!("/api/v1/tech/tasks/{id}/status"),
            json!({"action": "complete"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, invoice) = server.get(&agent, &format!("/api/v1/repair-orders/{id}/invoice")).await;
    assert_eq!(
        (status, invoice["total_minor"].as_i64()),
        (200, Some(total)),
        "{invoice}"
    );
}
