//! Reports and settlements over HTTP: JSON and CSV, refusals that name the parameter, and a
//! repair completed through the technician's flow showing up in the reports and its station's
//! settlement.

use serde_json::json;

use crate::support::Server;

/// The header line and the data lines of a CSV body.
fn csv_lines(body: &str) -> (String, Vec<String>) {
    let mut lines = body.lines().map(str::to_string);
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_answer_in_json_and_csv_and_refuse_bad_input() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let boss = server.login("supervisor", "demo").await;
    let agent = server.login("agent1", "demo").await;

    let (status, kind, page) = server.get_text("", "/reports").await;
    assert_eq!((status, kind.starts_with("text/html")), (200, true));
    assert!(page.contains(r#"<script src="/assets/reports.js">"#), "{page}");
    let (_, _, script) = server.get_text("", "/assets/reports.js").await;
    assert!(script.contains("/api/v1/reports/"), "the page reads the report API");

    // The demo's past repairs were completed and surveyed: every grouping has rows.
    for by in ["model", "serial_batch", "fault_code", "station"] {
        let (status, rows) = server.get(&boss, &format!("/api/v1/reports/service?by={by}")).await;
        assert_eq!(status, 200, "{by}: {rows}");
        let rows = rows.as_array().unwrap();
        assert!(!rows.is_empty(), "{by}");
        let total: i64 = rows.iter().map(|r| r["repairs"].as_i64().unwrap()).sum();
        assert!(
            total > 0 && rows.iter().all(|r| r["first_time_fix_rate"].is_number()),
            "{by}"
        );
        // The demo's repairs were worked through the technician's flow: labour is reported.
        assert!(
            rows.iter().all(|r| r["mean_labour_hours"].as_f64() >= Some(0.5)),
            "{by}: {rows:?}"
        );
    }
    let (status, kind, body) = server
        .get_text(&boss, "/api/v1/reports/service?by=model&format=csv")
        .await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let (header, lines) = csv_lines(&body);
    assert!(
        header.starts_with("key,repairs,first_time_fix_rate,repeat_repairs"),
        "{header}"
    );
    let (_, json_rows) = server.get(&boss, "/api/v1/reports/service?by=model").await;
    assert_eq!(lines.len(), json_rows.as_array().unwrap().len(), "one CSV line per row");

    let (_, ranking) = server.get(&boss, "/api/v1/reports/stations").await;
    let ranks: Vec<i64> = ranking
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rank"].as_i64().unwrap())
        .collect();
    assert!(!ranks.is_empty());
    assert_eq!(ranks, (1..=ranks.len() as i64).collect::<Vec<_>>());
    let scores: Vec<f64> = ranking
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["mean_score"].as_f64())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best score first: {scores:?}");
    let (_, _, body) = server.get_text(&boss, "/api/v1/reports/stations?format=csv").await;
    assert!(body.starts_with("rank,station_id,station,repairs,mean_score"), "{body}");

    let (status, cc) = server.get(&boss, "/api/v1/reports/call-center?by=quarter").await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(cc["interval"], "quarter");
    assert!(cc["queues"].is_array() && cc["agents"].is_array());
    let (status, _, body) = server
        .get_text(&boss, "/api/v1/reports/parts?table=stock&format=csv")
        .await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("station_id,station,sku,opening,closing,consumed,turnover,safety_stock,safety_breach"),
        "{body}"
    );

    // Refusals name the parameter; agents may not read reports.
    for (path, code, field) in [
        ("/api/v1/reports/service?by=colour", 400, "by"),
        ("/api/v1/reports/service?from=2026-03-02&to=2026-03-01", 422, "to"),
        ("/api/v1/reports/service?from=2025-01-01&to=2026-03-01", 422, "to"),
        ("/api/v1/reports/call-center?format=xml", 400, "format"),
        ("/api/v1/reports/parts?table=bins", 400, "table"),
        ("/api/v1/reports/parts?from=yesterday", 400, "from"),
    ] {
        let (status, body) = server.get(&boss, path).await;
        assert_eq!((status, body["field"].as_str()), (code, Some(field)), "{path}: {body}");
    }
    let (status, _) = server.get(&agent, "/api/v1/reports/service").await;
    assert_eq!(status, 403);
    let (status, body) = server
        .post(
            &boss,
            "/api/v1/settlements",
            json!({"station_id": 1, "from": "2026-01-01", "to": "2099-01-01"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("to")), "{body}");
}

/// Called by the field test once its repair (labour in warranty) is complete: the repair's
/// fault code, part and labour appear in the reports; the station claims it, a reviewer
/// approves its lines, and it is in its station's settlement, which a second person approves
/// before it can be exported.
pub async fn the_repair_is_reported_and_settled(
    server: &Server,
    order: i64,
    station_id: i64,
    fault_code: &str,
    labour_hours: f64,
) {
    let boss = server.login("supervisor", "demo").await;
    let admin = server.login("admin", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let (_, faults) = server.get(&boss, "/api/v1/reports/service?by=fault_code").await;
    let row = faults
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == fault_code)
        .unwrap_or_else(|| panic!("{fault_code} in {faults}"));
    assert!(row["repairs"].as_i64().unwrap() >= 1);
    let (_, parts) = server.get(&boss, "/api/v1/reports/parts?by=station").await;
    assert!(
        parts["consumption"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["quantity"].as_i64() >= Some(1)),
        "{parts}"
    );
    // The claim, filed twice (a double click): one claim.
    let (status, filed) = server
        .post(&boss, "/api/v1/claims", json!({"repair_order_id": order}))
        .await;
    assert_eq!(status, 201, "{filed}");
    let (status, again) = server
        .post(&boss, "/api/v1/claims", json!({"repair_order_id": order}))
        .await;
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)), "{again}");
    let claim = &filed["claim"];
    assert_eq!(claim["id"], again["claim"]["id"]);
    assert_eq!(
        (claim["station_id"].as_i64(), claim["status"].as_str()),
        (Some(station_id), Some("submitted"))
    );
    assert_eq!(claim["evidence"]["labour_hours_reported"].as_f64(), Some(labour_hours));
    let id = claim["id"].as_i64().unwrap();
    for line in claim["lines"].as_array().unwrap() {
        let path = format!("/api/v1/claims/{id}/lines/{}/review", line["id"]);
        let (status, body) = server.post(&boss, &path, json!({"decision": "approve"})).await;
        assert_eq!(status, 403, "supervisors do not review claims: {body}");
        let (status, body) = server.post(&reviewer, &path, json!({"decision": "approve"})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, decided) = server.get(&reviewer, &format!("/api/v1/claims/{id}")).await;
    assert_eq!(decided["status"], "decided", "{decided}");
    let claimed = decided["claimed_minor"].as_i64().unwrap();
    assert_eq!(decided["approved_minor"].as_i64(), Some(claimed));

    let today = chrono::Utc::now().date_naive();
    let (status, drafted) = server
        .post(
            &reviewer,
            "/api/v1/settlements",
            json!({"station_id": station_id, "from": today, "to": today}),
        )
        .await;
    assert_eq!(status, 201, "{drafted}");
    let sid = drafted["id"].as_i64().unwrap();
    let (_, view) = server.get(&boss, &format!("/api/v1/settlements/{sid}")).await;
    let lines = view["lines"].as_array().unwrap();
    let ours: i64 = lines
        .iter()
        .filter(|l| l["repair_order_id"] == order)
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(ours, claimed, "{view}");
    let sum: i64 = lines.iter().map(|l| l["amount_minor"].as_i64().unwrap()).sum();
    assert_eq!(drafted["amount_minor"].as_i64(), Some(sum), "adds up line by line");
    let by_tech: i64 = view["technicians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(by_tech, sum);
    // Settled once: a second draft finds nothing left.
    let (status, body) = server
        .post(
            &reviewer,
            "/api/v1/settlements",
            json!({"station_id": station_id, "from": today, "to": today}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (409, Some("to")), "{body}");
    let export = format!("/api/v1/settlements/{sid}/export");
    let (status, _, _) = server.get_text(&boss, &export).await;
    assert_eq!(status, 409, "a draft is not exported");
    let (status, body) = server
        .post(&reviewer, &format!("/api/v1/settlements/{sid}/approve"), json!({}))
        .await;
    assert_eq!(status, 403, "a reviewer drafts, a supervisor or admin approves: {body}");
    let (status, approved) = server
        .post(&admin, &format!("/api/v1/settlements/{sid}/approve"), json!({}))
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("approved")),
        "{approved}"
    );
    let (status, kind, csv) = server.get_text(&boss, &export).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let (header, rows) = csv_lines(&csv);
    assert!(
        header.starts_with("settlement_id,station_id,row,claim_id,repair_order_id"),
        "{header}"
    );
    let technicians = view["technicians"].as_array().unwrap().len();
    assert_eq!(
        rows.len(),
        lines.len() + technicians + 1,
        "a row per line, per technician, and the total"
    );
    assert!(
        rows.iter().any(|l| l.contains(&format!(",line,{id},{order},"))),
        "{csv}"
    );
    let total: Vec<&str> = rows.last().unwrap().split(',').collect();
    assert_eq!(total[2], "total");
    assert_eq!(total[total.len() - 2].parse::<i64>().ok(), Some(sum), "{csv}");
}

/// Early warning over HTTP: reviewers and supervisors read alerts, agents may not; a scan on
/// demand is a supervisor's and raises nothing twice; closing needs a note and a real alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_warning_alerts_are_read_scanned_and_closed_by_the_right_people() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let boss = server.login("supervisor", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let agent = server.login("agent1", "demo").await;
    assert_eq!(server.get(&agent, "/api/v1/quality/alerts").await.0, 403);
    assert_eq!(server.post(&agent, "/api/v1/quality/scan", json!({})).await.0, 403);
    assert_eq!(server.post(&reviewer, "/api/v1/quality/scan", json!({})).await.0, 403);
    let (status, first) = server.post(&boss, "/api/v1/quality/scan", json!({})).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = server.post(&boss, "/api/v1/quality/scan", json!({})).await;
    assert_eq!((status, again), (200, json!([])), "a cause is raised once while open");
    let (status, open) = server.get(&reviewer, "/api/v1/quality/alerts").await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open.as_array().unwrap().len(), first.as_array().unwrap().len());
    let (status, err) = server
        .post(
            &reviewer,
            "/api/v1/quality/alerts/999999/close",
            json!({"note": "seen"}),
        )
        .await;
    assert_eq!(status, 404, "{err}");
    if let Some(a) = first.as_array().unwrap().first() {
        let path = format!("/api/v1/quality/alerts/{}/close", a["id"]);
        let (status, err) = server.post(&reviewer, &path, json!({"note": ""})).await;
        assert_eq!((status, err["field"].as_str()), (422, Some("note")), "{err}");
        let (status, closed) = server.post(&reviewer, &path, json!({"note": "supplier changed"})).await;
        assert_eq!((status, closed["open"].as_bool()), (200, Some(false)), "{closed}");
    }
    let (status, err) = server.get(&boss, "/api/v1/quality/alerts?limit=0").await;
    assert_eq!((status, err["field"].as_str()), (400, Some("limit")), "{err}");
}

/// A scheduled report: subscribed (twice: one subscription), sent for the period just ended as a
/// message in the outbox with the report's CSV attached and a summary, once per period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_report_is_queued_once_per_period_with_its_csv() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let agent = server.login("agent1", "demo").await;
    let body = json!({"report": "service_by_model", "frequency": "monthly", "email": "qe@example.com"});
    assert_eq!(
        server
            .post(&agent, "/api/v1/report-subscriptions", body.clone())
            .await
            .0,
        403
    );
    let (status, sub) = server
        .post(&reviewer, "/api/v1/report-subscriptions", body.clone())
        .await;
    assert_eq!((status, sub["replayed"].as_bool()), (201, Some(false)), "{sub}");
    let (status, again) = server.post(&reviewer, "/api/v1/report-subscriptions", body).await;
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)), "{again}");
    let (status, err) = server
        .post(
            &reviewer,
            "/api/v1/report-subscriptions",
            json!({"report": "everything", "frequency": "monthly", "email": "qe@example.com"}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("report")), "{err}");
    let id = sub["subscription"]["id"].as_i64().unwrap();
    let (status, mail) = server
        .post(&reviewer, &format!("/api/v1/report-subscriptions/{id}/send"), json!({}))
        .await;
    assert_eq!(status, 200, "{mail}");
    use chrono::Datelike;
    let month = (chrono::Utc::now().date_naive().with_day(1).unwrap() - chrono::Months::new(1))
        .format("%Y-%m")
        .to_string();
    assert_eq!(mail["kind"], "scheduled_report");
    assert_eq!(mail["to"], "qe@example.com");
    assert_eq!(mail["subject"], format!("Report: Service by model, {month}"));
    let csv = mail["attachments"][0]["content"].as_str().unwrap();
    assert_eq!(
        mail["attachments"][0]["filename"],
        format!("service_by_model-{month}.csv")
    );
    assert!(csv.lines().next().unwrap().contains("repairs"), "{csv}");
    assert!(mail["text"].as_str().unwrap().contains("- "), "{mail}");
    let (_, again) = server
        .post(&reviewer, &format!("/api/v1/report-subscriptions/{id}/send"), json!({}))
        .await;
    assert_eq!(again["id"], mail["id"], "once per period");
    // The complaints report by cause, weekly: last ISO week's rows and a summary.
    let (status, weekly) = server
        .post(
            &reviewer,
            "/api/v1/report-subscriptions",
            json!({"report": "complaints_by_cause", "frequency": "weekly", "email": "qe@example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{weekly}");
    let weekly_id = weekly["subscription"]["id"].as_i64().unwrap();
    let (status, complaints) = server
        .post(
            &reviewer,
            &format!("/api/v1/report-subscriptions/{weekly_id}/send"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{complaints}");
    assert!(
        complaints["subject"]
            .as_str()
            .unwrap()
            .starts_with("Report: Complaints by cause, "),
        "{complaints}"
    );
    let csv = complaints["attachments"][0]["content"].as_str().unwrap();
    assert!(csv.starts_with("key,label,complaints,open,overdue"), "{csv}");
    let (_, outbox) = server.get(&admin, "/api/v1/mail?limit=500").await;
    let reports = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "scheduled_report")
        .count();
    assert_eq!(reports, 2);
    // Unsubscribed once; a second time there is nothing to remove.
    let path = format!("/api/v1/report-subscriptions/{id}");
    let mut answers = vec![];
    for _ in 0..2 {
        let (status, _) = server
            .send(reqwest::Method::DELETE, &reviewer, &path, json!(null))
            .await;
        answers.push(status);
    }
    assert_eq!(answers, vec![204, 404]);
}
