//! Dealers and paid repairs over HTTP against the demo: a dealer login registers a sale (the
//! warranty then starts there and says so) and sees only its own vehicles and figures; an
//! out-of-warranty repair is quoted on site, accepted by phone and by signature, invoiced on
//! completion and paid in two parts.

use serde_json::{json, Value};

use crate::support::{Server, PNG_1X1 as PNG};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A motorcycle model of the demo's catalogue.
async fn motorcycle_model(server: &Server, admin: &str) -> Value {
    let (_, models) = server.get(admin, "/api/v1/product-models").await;
    models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["category"] == "motorcycle")
        .expect("a motorcycle model")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dealer_registers_its_sales_and_sees_only_its_own() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let agent = server.login("agent1", "demo").await;
    let dealer = server.login("dealer", "demo").await;

    // The dealer login sees its own dealer record and nobody else's.
    let (status, mine) = server.get(&dealer, "/api/v1/dealers").await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let own = mine[0]["id"].as_i64().unwrap();
    let (_, all) = server.get(&admin, "/api/v1/dealers").await;
    assert!(all.as_array().unwrap().len() >= 8, "{all}");
    let other = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .find(|id| *id != own)
        .unwrap();
    assert_eq!(server.get(&dealer, &format!("/api/v1/dealers/{other}")).await.0, 404);
    assert_eq!(
        server
            .get(&dealer, &format!("/api/v1/dealers/{other}/vehicles"))
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get(&dealer, &format!("/api/v1/reports/dealers?dealer_id={other}"))
            .await
            .0,
        404
    );
    assert_eq!(
        server.get(&dealer, "/api/v1/customers?q=a").await.0,
        403,
        "no CRM for dealers"
    );
    // The demo registered sales: some assets start their warranty at the sale.
    let (_, sold) = server
        .get(&dealer, &format!("/api/v1/dealers/{own}/vehicles?limit=5"))
        .await;
    assert!(!sold.as_array().unwrap().is_empty(), "{sold}");

    // A new motorcycle off the line, not sold yet: warranty from production plus 6 months.
    let model = motorcycle_model(&server, &admin).await;
    let (_, owner) = server
        .post(
            &admin,
            "/api/v1/customers",
            json!({"name": "Lager MotoWelt", "phones": [{"number": "+49 40 5550100"}]}),
        )
        .await;
    let vin = format!("WMC{:014}", rand::random::<u32>());
    let made = today() - chrono::Duration::days(120);
    let (status, asset) = server
        .post(
            &admin,
            "/api/v1/assets",
            json!({"customer_id": owner["id"], "model_id": model["id"], "serial": format!("MC-{}", rand::random::<u16>()),
                   "vin": vin, "purchase_date": made, "produced_on": made}),
        )
        .await;
    assert_eq!(status, 201, "{asset}");
    let asset_id = asset["id"].as_i64().unwrap();
    let (_, seen) = server.get(&admin, &format!("/api/v1/assets/{asset_id}")).await;
    assert_eq!(seen["warranty"]["start"]["basis"], "production_grace", "{seen}");

    // The dealer registers the sale by VIN for a buyer it brings along; a retry is answered.
    let (_, buyer) = server
        .post(
            &admin,
            "/api/v1/customers",
            json!({"name": "Lena <i>Voss</i>", "phones": [{"number": "+49 40 5550101"}]}),
        )
        .await;
    let sold_on = today() - chrono::Duration::days(2);
    let sale = json!({"vin_or_serial": vin, "dealer_id": own, "customer_id": buyer["id"], "sold_on": sold_on,
                      "delivery": {"inspected_on": sold_on, "inspector": "K. Brandt", "passed": true, "odometer_km": 8}});
    assert_eq!(server.post(&agent, "/api/v1/sales", sale.clone()).await.0, 403);
    let mut foreign = sale.clone();
    foreign["dealer_id"] = json!(other);
    let (status, body) = server.post(&dealer, "/api/v1/sales", foreign).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("dealer_id")), "{body}");
    let mut failed = sale.clone();
    failed["delivery"]["passed"] = json!(false);
    let (status, body) = server.post(&dealer, "/api/v1/sales", failed).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("delivery.passed")),
        "{body}"
    );
    let (status, registered) = server.post(&dealer, "/api/v1/sales", sale.clone()).await;
    assert_eq!(status, 201, "{registered}");
    let (status, again) = server.post(&dealer, "/api/v1/sales", sale.clone()).await;
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(again["sale"]["id"], registered["sale"]["id"]);
    let mut second = sale.clone();
    second["sold_on"] = json!(sold_on - chrono::Duration::days(1));
    second["delivery"]["inspected_on"] = json!(sold_on - chrono::Duration::days(1));
    assert_eq!(server.post(&dealer, "/api/v1/sales", second).await.0, 409);

    let (_, seen) = server.get(&admin, &format!("/api/v1/assets/{asset_id}")).await;
    assert_eq!(seen["customer_id"], buyer["id"]);
    assert_eq!(seen["warranty"]["start"]["basis"], "registered_sale", "{seen}");
    assert_eq!(seen["warranty"]["start"]["sold_on"], json!(sold_on));
    assert_eq!(seen["warranty"]["state"], "in_warranty");

    // The dealer's vehicles and its after-sales row; JSON and CSV.
    let (_, sold) = server
        .get(&dealer, &format!("/api/v1/dealers/{own}/vehicles?limit=1000"))
        .await;
    let bike = sold
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sale"]["asset_id"] == asset_id)
        .expect("the new sale is listed");
    assert_eq!(bike["customer_name"], "Lena <i>Voss</i>");
    let (status, rows) = server.get(&dealer, "/api/v1/reports/dealers").await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["dealer_id"], own);
    assert!(rows[0]["sold"].as_u64().unwrap() >= 1, "{rows}");
    let (status, _, csv) = server.get_text(&admin, "/api/v1/reports/dealers?format=csv").await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("dealer_id,code,name,territory,sold,"), "{csv}");
    assert_eq!(csv.lines().count(), all.as_array().unwrap().len() + 1, "{csv}");
}

/// A customer (living at the station) with an appliance bought four years ago, out of
/// warranty, and its repair order brought on site by the station's first technician. Returns
/// the order, the station, the technician's token and the fault code to report.
pub async fn a_repair_out_of_warranty_on_site(server: &Server, admin: &str, name: &str) -> (i64, i64, String, String) {
    let (_, stations) = server.get(admin, "/api/v1/stations").await;
    let station = stations
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "approved")
        .expect("a working station")
        .clone();
    let station_id = station["id"].as_i64().unwrap();
    let phone = format!("+49 30 555{:04}", rand::random::<u16>() % 10_000);
    let (_, customer) = server
        .post(
            admin,
            "/api/v1/customers",
            json!({"name": name, "phones": [{"number": phone}],
                   "addresses": [{"label": "home", "line1": "Ringstraße 9", "postal_code": "10115", "city": "Berlin",
                                  "country": "DE", "location": station["location"]}]}),
        )
        .await;
    let (_, models) = server.get(admin, "/api/v1/product-models").await;
    let (_, techs) = server
        .get(admin, &format!("/api/v1/technicians?station_id={station_id}"))
        .await;
    let line = techs[0]["skills"][0]["name"].clone();
    let model = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["product_line"] == line)
        .unwrap_or(&models[0])
        .clone();
    let (status, asset) = server
        .post(
            admin,
            "/api/v1/assets",
            json!({"customer_id": customer["id"], "model_id": model["id"], "serial": format!("OLD-{}", rand::random::<u32>()),
                   "purchase_date": today() - chrono::Duration::days(4 * 365)}),
        )
        .await;
    assert_eq!(status, 201, "{asset}");
    assert_eq!(asset["warranty"]["state"], "expired", "{asset}");
    let (_, ticket) = server
        .post(
            admin,
            "/api/v1/tickets",
            json!({"customer_id": customer["id"], "asset_id": asset["id"], "subject": "Noise"}),
        )
        .await;
    let (status, ro) = server
        .post(
            admin,
            "/api/v1/repair-orders",
            json!({"ticket_id": ticket["id"], "station_id": station_id, "technician_id": techs[0]["id"], "description": "noise"}),
        )
        .await;
    assert_eq!(status, 201, "{ro}");
    let id = ro["id"].as_i64().unwrap();
    let (tech, code) = server.work_on_site(admin, id).await;
    (id, station_id, tech, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_repair_goes_from_quote_to_a_paid_invoice() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let agent = server.login("agent1", "demo").await;

    let (id, station_id, tech, code) = a_repair_out_of_warranty_on_site(&server, &admin, "Paul Bezahl").await;
    let (status, body) = server
        .send(
            reqwest::Method::PUT,
            &tech,
            &format!("/api/v1/tech/tasks/{id}/report"),
            json!({"fault_code": code, "work_done": "bearing replaced", "labour_hours": 1.0}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let complete = |token: String| {
        let server = &server;
        async move {
            server
                .post(
                    &token,
                    &format!("/api/v1/tech/tasks/{id}/status"),
                    json!({"action": "complete"}),
                )
                .await
        }
    };
    let (status, body) = complete(tech.clone()).await;
    assert_eq!((status, body["field"].as_str()), (409, Some("quote")), "{body}");

    // On site: a quote; the customer accepts it on the phone to an agent.
    let (status, v1) = server
        .post(
            &tech,
            &format!("/api/v1/tech/tasks/{id}/quote"),
            json!({"labour_minutes": 60}),
        )
        .await;
    assert_eq!(status, 201, "{v1}");
    let lines = v1["quote"]["lines"].as_array().unwrap();
    let sum: i64 = lines.iter().map(|l| l["gross_minor"].as_i64().unwrap()).sum();
    assert_eq!(v1["quote"]["total_minor"].as_i64(), Some(sum), "{v1}");
    assert_eq!(lines[0]["net_minor"], 7_900, "an hour at 79.00: {v1}");
    let v1_id = v1["quote"]["id"].as_i64().unwrap();
    let (status, accepted) = server
        .post(
            &agent,
            &format!("/api/v1/repair-orders/{id}/quote/accept"),
            json!({"quote_id": v1_id, "customer_name": "Paul Bezahl", "note": "read out 1 h labour and travel; agreed"}),
        )
        .await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted")),
        "{accepted}"
    );

    // A change on site: a new version, signed on the device; the old one no longer counts.
    let (status, v2) = server
        .post(
            &tech,
            &format!("/api/v1/tech/tasks/{id}/quote"),
            json!({"labour_minutes": 90, "travel_km": 12.5}),
        )
        .await;
    assert_eq!((status, v2["quote"]["version"].as_u64()), (201, Some(2)), "{v2}");
    let (status, body) = complete(tech.clone()).await;
    assert_eq!((status, body["field"].as_str()), (409, Some("quote")), "{body}");
    let png = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, PNG);
    let sign = |quote_id: &Value| json!({"quote_id": quote_id, "signed_by": "Paul Bezahl", "png_base64": png});
    let (status, body) = server
        .send(
            reqwest::Method::PUT,
            &tech,
            &format!("/api/v1/tech/tasks/{id}/quote/accept"),
            sign(&json!(v1_id)),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (409, Some("quote_id")), "{body}");
    let (status, signed) = server
        .send(
            reqwest::Method::PUT,
            &tech,
            &format!("/api/v1/tech/tasks/{id}/quote/accept"),
            sign(&v2["quote"]["id"]),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["acceptance"]["method"], "signature");

    // Completion issues the invoice from the signed quote.
    let (status, body) = complete(tech.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, invoice) = server.get(&agent, &format!("/api/v1/repair-orders/{id}/invoice")).await;
    assert_eq!(status, 200, "{invoice}");
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let number = invoice["number"].as_str().unwrap();
    assert!(number.starts_with(&format!("S{station_id:03}-")), "{number}");
    assert!(
        number.contains(&format!("-{year}-")) || number.contains(&format!("-{}-", year + 1)),
        "{number}"
    );
    assert_eq!(invoice["lines"], signed["lines"]);
    let total = invoice["total_minor"].as_i64().unwrap();
    let inv = invoice["id"].as_i64().unwrap();

    // Paid in two parts; a retried request counts once; more than the balance is refused.
    // Paid on the invoice's day: the station's, which around midnight is not UTC's.
    let paid_on = invoice["issued_on"].clone();
    let pay = |method: &str, amount: i64, key: &str| json!({"method": method, "amount_minor": amount, "paid_on": paid_on, "request_key": key});
    let path = format!("/api/v1/invoices/{inv}/payments");
    let (status, part) = server.post(&agent, &path, pay("cash", 5_000, "desk-1")).await;
    assert_eq!((status, part["status"].as_str()), (200, Some("partly_paid")), "{part}");
    let (_, again) = server.post(&agent, &path, pay("cash", 5_000, "desk-1")).await;
    assert_eq!(again["payments"].as_array().unwrap().len(), 1, "{again}");
    let (status, body) = server.post(&agent, &path, pay("card", total, "desk-2")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("amount_minor")), "{body}");
    let (status, body) = server.post(&agent, &path, pay("cheque", 1, "desk-3")).await;
    assert_eq!(status, 422, "{body}");
    let (status, paid) = server
        .post(&agent, &path, pay("transfer", total - 5_000, "desk-4"))
        .await;
    assert_eq!(
        (status, paid["status"].as_str(), paid["balance_minor"].as_i64()),
        (200, Some("paid"), Some(0)),
        "{paid}"
    );

    // Revenue names the station with at least this invoice; another station's manager sees none of it.
    // The invoice's own day (the station's; a report's default period ends on UTC's today).
    let day = paid_on.as_str().unwrap();
    let (status, rows) = server
        .get(
            &admin,
            &format!("/api/v1/reports/revenue?by=station&from={day}&to={day}"),
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == station_id)
        .expect("the station's revenue");
    assert!(row["total_minor"].as_i64().unwrap() >= total, "{row}");
    let (status, _, csv) = server
        .get_text(&admin, "/api/v1/reports/revenue?by=model&format=csv")
        .await;
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("key,id,invoices,net_minor,tax_minor,total_minor"),
        "{csv}"
    );
    let manager = server.login("station", "demo").await;
    let (_, me) = server.get(&manager, "/api/v1/me").await;
    if me["station_id"] != station_id {
        assert_eq!(server.get(&manager, &format!("/api/v1/invoices/{inv}")).await.0, 404);
    }
}
