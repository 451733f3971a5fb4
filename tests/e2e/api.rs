//! The HTTP API as a user meets it, on each backend.

use crm_sql::testing::TestDb;
use serde_json::{json, Value};

use crate::support::Server;

crate::on_both_backends!(
    new_user_walkthrough,
    bad_input_is_refused_and_writes_nothing,
    roles_and_object_checks,
    service_request_to_repair_order,
    openapi_document_matches_the_routes,
    personal_data_stays_out_of_logs,
);

fn first_phone(customers: &Value) -> String {
    customers[0]["phones"][0]["number"].as_str().expect("phone").to_string()
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B")
}

/// Start with --demo, log in as agent1, list customers, fetch a screen pop by a listed number and
/// see warranty status per asset.
async fn new_user_walkthrough(db: TestDb) {
    let s = Server::demo(&db).await;
    assert!(s.stdout.contains("DEMO ONLY"), "{}", s.stdout);
    assert!(
        s.stdout.contains("agent1") && s.stdout.contains("tech20"),
        "{}",
        s.stdout
    );
    let (status, health) = s.get("", "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["storage"], db.backend());

    let token = s.login("agent1", "demo").await;
    let (status, customers) = s.get(&token, "/api/v1/customers?limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(customers.as_array().unwrap().len(), 5);
    assert!(customers
        .as_array()
        .unwrap()
        .iter()
        .all(|c| !c["phones"].as_array().unwrap().is_empty()));

    // Search by name part.
    let name = customers[0]["name"].as_str().unwrap();
    let part = name.split_whitespace().last().unwrap();
    let (_, found) = s.get(&token, &format!("/api/v1/customers?q={}", part)).await;
    assert!(
        found.as_array().unwrap().iter().any(|c| c["id"] == customers[0]["id"]),
        "search by {part}"
    );

    let phone = first_phone(&customers);
    let (status, pop) = s
        .get(&token, &format!("/api/v1/screen-pop?phone={}", enc(&phone)))
        .await;
    assert_eq!(status, 200, "{pop}");
    assert_eq!(pop["customer"]["id"], customers[0]["id"]);
    assert_eq!(pop["matched_by"], "phone");
    let assets = pop["assets"].as_array().unwrap();
    assert!(!assets.is_empty());
    for a in assets {
        let state = a["warranty"]["state"].as_str().unwrap();
        assert!(["in_warranty", "expiring_soon", "expired"].contains(&state), "{a}");
        assert!(a["warranty"]["rule"].is_string());
    }
    // The same customer by the serial of one of their assets.
    let serial = assets[0]["serial"].as_str().unwrap();
    let (status, by_serial) = s.get(&token, &format!("/api/v1/screen-pop?serial={serial}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_serial["customer"]["id"], customers[0]["id"]);
    // Unknown number: 404, malformed number: 400 naming the parameter.
    let (status, _) = s.get(&token, "/api/v1/screen-pop?phone=%2B49999999999").await;
    assert_eq!(status, 404);
    let (status, err) = s.get(&token, "/api/v1/screen-pop?phone=12ab").await;
    assert_eq!((status, err["field"].as_str()), (400, Some("phone")));

    // Wrong password and unknown user look the same.
    let (a, ba) = s
        .post(
            "",
            "/api/v1/auth/login",
            json!({"username": "agent1", "password": "nope"}),
        )
        .await;
    let (b, bb) = s
        .post(
            "",
            "/api/v1/auth/login",
            json!({"username": "ghost", "password": "nope"}),
        )
        .await;
    assert_eq!((a, b), (401, 401));
    assert_eq!(ba, bb);

    // A restart with --demo leaves existing data alone.
    drop(s);
    let again = Server::demo(&db).await;
    assert!(again.stdout.contains("already holds data"), "{}", again.stdout);
    let (code, _) = again.stop();
    assert_eq!(code, Some(0), "graceful shutdown on SIGTERM");
}

async fn customer_count(s: &Server, token: &str, q: &str) -> usize {
    let (status, v) = s.get(token, &format!("/api/v1/customers?q={q}&limit=200")).await;
    assert_eq!(status, 200);
    v.as_array().unwrap().len()
}

async fn bad_input_is_refused_and_writes_nothing(db: TestDb) {
    let s = Server::demo(&db).await;
    let token = s.login("agent2", "demo").await;
    let good = json!({"name": "Quirin Zwetschgenbaum", "phones": [{"number": "+49 30 5550101"}]});

    let (status, e) = s
        .post_raw(&token, "/api/v1/customers", "application/json", "{\"name\": ")
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("bad_request")), "{e}");
    let (status, _) = s
        .post_raw(&token, "/api/v1/customers", "text/plain", &good.to_string())
        .await;
    assert_eq!(status, 415);

    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "Quirin Zwetschgenbaum", "shoe_size": 44}), "shoe_size"),
        (json!({"name": 17}), "name"),
        (json!({"phones": []}), "name"),
        (
            json!({"name": "Quirin Zwetschgenbaum", "phones": [{"number": "030 5550101"}]}),
            "phones[0].number",
        ),
        (
            json!({"name": "Quirin Zwetschgenbaum", "time_zone": "Mars/Base"}),
            "time_zone",
        ),
        (
            json!({"name": "Quirin Zwetschgenbaum", "birthday": "2999-01-01"}),
            "birthday",
        ),
        (
            json!({"name": "Quirin Zwetschgenbaum", "phones": [{"number": "+49305550101"}, {"number": "+49 30 5550101"}]}),
            "phones[1].number",
        ),
        (
            json!({"name": "Quirin Zwetschgenbaum", "addresses": [{"line1": "A 1", "postal_code": "1", "city": "B", "country": "DE",
                   "location": {"lat": 95.0, "lon": 1.0}}]}),
            "addresses[0].location",
        ),
    ];
    for (body, field) in cases {
        let (status, e) = s.post(&token, "/api/v1/customers", body.clone()).await;
        assert_eq!(status, 422, "{body} → {e}");
        assert_eq!(e["field"].as_str(), Some(field), "{body} → {e}");
        assert!(!e["message"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(customer_count(&s, &token, "zwetschgenbaum").await, 0, "nothing written");

    let (status, e) = s.get(&token, "/api/v1/customers?limit=0").await;
    assert_eq!((status, e["field"].as_str()), (400, Some("limit")));
    let (status, e) = s.get(&token, "/api/v1/customers?limit=ten").await;
    assert_eq!((status, e["field"].as_str()), (400, Some("limit")));
    let (status, e) = s.get(&token, "/api/v1/customers/abc").await;
    assert_eq!((status, e["field"].as_str()), (400, Some("id")));

    // Out-of-range skill level on a station (as a supervisor who may create stations).
    let sup = s.login("supervisor", "demo").await;
    let station = json!({"name": "Test", "city": "Berlin", "location": {"lat": 52.5, "lon": 13.4}, "capacity_per_day": 5,
                         "skills": [{"name": "hvac", "level": 9}]});
    let (status, e) = s.post(&sup, "/api/v1/stations", station).await;
    assert_eq!((status, e["field"].as_str()), (422, Some("skills[0].level")), "{e}");

    // The good one goes through, once; a duplicate serial is a conflict naming the field.
    let (status, c) = s.post(&token, "/api/v1/customers", good).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(customer_count(&s, &token, "zwetschgenbaum").await, 1);
    let (_, models) = s.get(&token, "/api/v1/product-models").await;
    let asset = json!({"customer_id": c["id"], "model_id": models[0]["id"], "serial": "TEST-0001", "purchase_date": "2026-01-10"});
    let (status, a) = s.post(&token, "/api/v1/assets", asset.clone()).await;
    assert_eq!(status, 201, "{a}");
    assert!(a["warranty"]["state"].is_string());
    let (status, e) = s.post(&token, "/api/v1/assets", asset).await;
    assert_eq!((status, e["field"].as_str()), (409, Some("serial")), "{e}");
    let (status, e) = s
        .post(&token, "/api/v1/assets", json!({"customer_id": 999999, "model_id": models[0]["id"], "serial": "TEST-0002", "purchase_date": "2026-01-10"}))
        .await;
    assert_eq!((status, e["field"].as_str()), (422, Some("customer_id")), "{e}");
}

async fn roles_and_object_checks(db: TestDb) {
    let s = Server::demo(&db).await;
    let (status, e) = s.get("", "/api/v1/customers").await;
    assert_eq!((status, e["error"].as_str()), (401, Some("unauthorized")));
    let (status, _) = s.get("not-a-token", "/api/v1/customers").await;
    assert_eq!(status, 401);

    let agent = s.login("agent3", "demo").await;
    let tech = s.login("tech1", "demo").await;
    let admin = s.login("admin", "demo").await;

    for path in [
        "/api/v1/customers",
        "/api/v1/tickets",
        "/api/v1/screen-pop?phone=%2B49301234567",
        "/api/v1/audit",
    ] {
        let (status, _) = s.get(&tech, path).await;
        assert_eq!(status, 403, "technician on {path}");
    }
    let (status, _) = s.get(&agent, "/api/v1/users").await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post(
            &agent,
            "/api/v1/users",
            json!({"username": "eve", "display_name": "Eve", "role": "admin", "password": "longenough"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, users) = s.get(&admin, "/api/v1/users").await;
    assert_eq!(status, 200);
    assert!(users.as_array().unwrap().len() >= 32);

    // A technician sees only their own repair orders; another's is 404.
    let (_, me) = s.get(&tech, "/api/v1/me").await;
    let my_tech = me["technician_id"].as_i64().expect("tech1 is linked to a technician");
    let (status, mine) = s.get(&tech, "/api/v1/repair-orders?limit=200").await;
    assert_eq!(status, 200);
    assert!(mine
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["technician_id"].as_i64() == Some(my_tech)));
    let (_, all) = s.get(&admin, "/api/v1/repair-orders?limit=200").await;
    let foreign = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["technician_id"].as_i64() != Some(my_tech))
        .expect("demo data has orders of other technicians");
    let (status, _) = s.get(&tech, &format!("/api/v1/repair-orders/{}", foreign["id"])).await;
    assert_eq!(status, 404);
    let (status, _) = s.get(&tech, &format!("/api/v1/technicians/{}", my_tech + 1)).await;
    assert_eq!(status, 404);
    let (status, _) = s.get(&tech, &format!("/api/v1/technicians/{my_tech}")).await;
    assert_eq!(status, 200);
    // Everyone may read the knowledge base.
    let (status, kb) = s.get(&tech, "/api/v1/kb?q=drain").await;
    assert_eq!(status, 200);
    assert!(!kb.as_array().unwrap().is_empty());

    // Logging out ends the token.
    let (status, _) = s.post(&agent, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let (status, _) = s.get(&agent, "/api/v1/customers").await;
    assert_eq!(status, 401);

    // Every write is in the audit log with its author.
    let (_, audit) = s.get(&admin, "/api/v1/audit?limit=20").await;
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "login"));
}

async fn service_request_to_repair_order(db: TestDb) {
    let s = Server::demo(&db).await;
    let agent = s.login("agent4", "demo").await;
    let (_, customers) = s.get(&agent, "/api/v1/customers?limit=1").await;
    let cid = customers[0]["id"].as_i64().unwrap();
    let (_, assets) = s.get(&agent, &format!("/api/v1/customers/{cid}/assets")).await;
    let asset = &assets[0];
    let (status, t) = s
        .post(
            &agent,
            "/api/v1/tickets",
            json!({"customer_id": cid, "asset_id": asset["id"], "subject": "Drain pump noisy", "priority": "high"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let (_, model) = s
        .get(&agent, &format!("/api/v1/product-models/{}", asset["model_id"]))
        .await;
    let code = model["fault_codes"][0]["code"].clone();
    let (status, ro) = s
        .post(
            &agent,
            "/api/v1/repair-orders",
            json!({"ticket_id": t["id"], "fault_code": code}),
        )
        .await;
    assert_eq!(status, 201, "{ro}");
    assert_eq!(ro["asset_id"], asset["id"]);
    let (status, e) = s
        .patch(
            &agent,
            &format!("/api/v1/repair-orders/{}", ro["id"]),
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (409, Some("status")), "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("assigned"),
        "names the allowed statuses: {e}"
    );
    let (status, t2) = s
        .patch(
            &agent,
            &format!("/api/v1/tickets/{}", t["id"]),
            json!({"status": "in_progress", "note": "booked"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(t2["history"].as_array().unwrap().len(), 2);
    let (_, pop) = s
        .get(
            &agent,
            &format!("/api/v1/screen-pop?phone={}", enc(&first_phone(&customers))),
        )
        .await;
    assert!(pop["open_tickets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == t["id"]));
    assert!(pop["repair_orders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == ro["id"]));

    let (status, note) = s
        .post(
            &agent,
            &format!("/api/v1/customers/{cid}/interactions"),
            json!({"kind": "note", "summary": "Prefers mornings"}),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    let (_, hist) = s
        .get(&agent, &format!("/api/v1/customers/{cid}/interactions?limit=1"))
        .await;
    assert_eq!(hist[0]["id"], note["id"]);
}

/// Every operation in /openapi.json is routed (it answers something other than "no such route"),
/// and the routes the issue names are documented.
async fn openapi_document_matches_the_routes(db: TestDb) {
    let s = Server::start(&db, &[], &[]).await;
    let (status, doc) = s.get("", "/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/customers",
        "/api/v1/screen-pop",
        "/api/v1/customers/{id}",
        "/api/v1/kb",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    let mut checked = 0;
    let mut query_params = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            // A client generated from the document must call each operation correctly: a path
            // parameter is in the path template, everything else is a query (or header) one.
            let documented = |code: &str| op["responses"][code]["content"]["application/json"].is_object();
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(documented("401") && documented("403"), "{method} {path}: 401/403");
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                for code in ["400", "413", "415", "422"] {
                    assert!(documented(code), "{method} {path}: {code}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                match p["in"].as_str() {
                    Some("path") => assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is not in the path"
                    ),
                    Some("query") => query_params += 1,
                    Some("header") => {}
                    other => panic!("{method} {path}: {name} in {other:?}"),
                }
            }
            let concrete = path.replace("{id}", "1");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = s.client.request(m, s.url(&concrete)).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                !(status == 404 && body["message"] == "route not found"),
                "{method} {path} is not routed"
            );
            assert_ne!(status, 405, "{method} {path} method not routed");
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked} operations");
    assert!(query_params >= 50, "{query_params} query parameters");
    let html = s.client.get(s.url("/docs")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("/openapi.json"));
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("aftercare_http_requests_total{method=\"GET\",route=\"/openapi.json\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("aftercare_http_request_duration_seconds_bucket"));
}

/// Phone numbers, names and addresses never reach the log at info level.
async fn personal_data_stays_out_of_logs(db: TestDb) {
    let s = Server::demo(&db).await;
    let token = s.login("agent5", "demo").await;
    let secret_name = "Zebulon Quackenbush";
    let secret_phone = "+4930777123456";
    let (status, c) = s
        .post(
            &token,
            "/api/v1/customers",
            json!({"name": secret_name, "email": "zq@example.org",
            "phones": [{"number": secret_phone}],
            "addresses": [{"line1": "Geheimweg 7", "postal_code": "10999", "city": "Berlin", "country": "DE"}]}),
        )
        .await;
    assert_eq!(status, 201);
    s.get(&token, &format!("/api/v1/screen-pop?phone={}", enc(secret_phone)))
        .await;
    s.get(&token, "/api/v1/screen-pop?phone=%2B4930777000000").await;
    s.get(&token, &format!("/api/v1/customers?q={}", "Quackenbush")).await;
    s.post(
        &token,
        "/api/v1/customers",
        json!({"name": secret_name, "phones": [{"number": "bad +4930777123456"}]}),
    )
    .await;
    s.get(&token, &format!("/api/v1/customers/{}", c["id"])).await;
    s.post_raw(
        "",
        "/api/v1/auth/login",
        "application/json",
        r#"{"username": "Zebulon Quackenbush", "password": "Geheimweg"}"#,
    )
    .await;
    let (_, log) = s.stop();
    assert!(log.contains("HTTP listening"), "the log was captured: {log}");
    // The demo seeding said how it went (no long silence at start-up).
    assert!(
        log.contains("seeding demo data") && log.contains("service history"),
        "{log}"
    );
    // A wrong password is logged without the name tried; the audit log keeps that.
    for secret in [
        secret_name,
        "Quackenbush",
        "4930777123456",
        "777123456",
        "Geheimweg",
        "zq@example.org",
    ] {
        assert!(!log.contains(secret), "{secret:?} appeared in the log:\n{log}");
    }
}
