//! The service network over HTTP: a station manager sees and works only their own station (every
//! other station's order, claim and settlement is 404 and changes nothing), a reviewer decides
//! claims but does not approve settlements, and the demo holds every lifecycle and review state.

use serde_json::{json, Value};

use crate::support::Server;

/// A repair of an asset in warranty at `station_id`, worked to completion by one of its
/// technicians; returns the order.
pub async fn a_completed_warranty_repair(server: &Server, admin: &str, station_id: i64) -> i64 {
    let id = an_assigned_order(server, admin, station_id).await;
    let (token, code) = server.work_on_site(admin, id).await;
    let (status, body) = server.finish_task(&token, id, &code).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// As [`a_completed_warranty_repair`], with a warranty part from the station's stock (booked in
/// first), so its claim has a part line a reviewer can ask back.
pub async fn a_completed_warranty_repair_with_a_part(server: &Server, admin: &str, station_id: i64) -> i64 {
    let id = an_assigned_order(server, admin, station_id).await;
    let (token, code) = server.work_on_site(admin, id).await;
    let (_, task) = server.get(&token, &format!("/api/v1/tech/tasks/{id}")).await;
    let (_, all) = server.get(admin, "/api/v1/parts").await;
    let part = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_line"] == task["asset"]["product_line"])
        .expect("a part for the asset's product line")["id"]
        .clone();
    let (status, body) = server
        .post(
            admin,
            &format!("/api/v1/stations/{station_id}/stock"),
            json!({"part_id": part, "delta": 1, "reason": "receipt", "reference": "delivery:e2e"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, used) = server
        .post(
            &token,
            &format!("/api/v1/tech/tasks/{id}/parts"),
            json!({"part_id": part, "quantity": 1}),
        )
        .await;
    assert_eq!(status, 200, "{used}");
    assert_eq!(used["parts"][0]["billing"], "warranty", "{used}");
    let (status, body) = server.finish_task(&token, id, &code).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// A parts order of `quantity` of the first catalogue part from the first warehouse to the
/// station, approved and shipped with `(carrier, tracking)`: its id and the part's.
pub async fn a_shipped_parts_order(
    server: &Server,
    admin: &str,
    station_id: i64,
    quantity: u32,
    (carrier, tracking): (&str, &str),
) -> (i64, i64) {
    let (_, warehouses) = server.get(admin, "/api/v1/warehouses").await;
    let (_, parts) = server.get(admin, "/api/v1/parts").await;
    let part = parts[0]["id"].as_i64().expect("a part in the catalogue");
    let (status, filed) = server
        .post(
            admin,
            "/api/v1/parts-orders",
            json!({"station_id": station_id, "warehouse_id": warehouses[0]["id"], "lines": [{"part_id": part, "quantity": quantity}]}),
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["order"]["id"].as_i64().unwrap();
    for (step, body) in [
        ("approve", json!({})),
        ("ship", json!({"carrier": carrier, "tracking": tracking})),
    ] {
        let (status, out) = server
            .post(admin, &format!("/api/v1/parts-orders/{id}/{step}"), body)
            .await;
        assert_eq!(status, 200, "{step}: {out}");
    }
    (id, part)
}

/// An order for a new customer's asset in warranty, given to the station's first technician.
pub async fn an_assigned_order(server: &Server, admin: &str, station_id: i64) -> i64 {
    let (status, customer) = server
        .post(
            admin,
            "/api/v1/customers",
            json!({"name": "Greta Garantie", "phones": [{"number": "+49 30 5557001"}],
                   "addresses": [{"label": "home", "line1": "Ringstraße 2", "postal_code": "10115", "city": "Berlin",
                                  "country": "DE", "location": {"lat": 52.53, "lon": 13.39}}]}),
        )
        .await;
    assert_eq!(status, 201, "{customer}");
    let (_, models) = server.get(admin, "/api/v1/product-models").await;
    let model = &models[0];
    let bought = chrono::Utc::now().date_naive() - chrono::Duration::days(60);
    let serial = format!("WRN-{}", rand::random::<u32>());
    let (status, asset) = server
        .post(
            admin,
            "/api/v1/assets",
            json!({"customer_id": customer["id"], "model_id": model["id"], "serial": serial, "purchase_date": bought}),
        )
        .await;
    assert_eq!(status, 201, "{asset}");
    let (status, ticket) = server
        .post(
            admin,
            "/api/v1/tickets",
            json!({"customer_id": customer["id"], "asset_id": asset["id"], "subject": "Stops mid-cycle"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    let (_, techs) = server
        .get(admin, &format!("/api/v1/technicians?station_id={station_id}"))
        .await;
    let tech = techs[0]["id"].as_i64().expect("a technician at the station");
    let (status, ro) = server
        .post(
            admin,
            "/api/v1/repair-orders",
            json!({"ticket_id": ticket["id"], "station_id": station_id, "technician_id": tech, "description": "stops"}),
        )
        .await;
    assert_eq!(status, 201, "{ro}");
    let id = ro["id"].as_i64().unwrap();
    if ro["status"] == "new" {
        let (status, body) = server
            .patch(
                admin,
                &format!("/api/v1/repair-orders/{id}"),
                json!({"status": "assigned", "technician_id": tech}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

fn own_station(me: &Value) -> i64 {
    me["station_id"].as_i64().expect("the station manager's station")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_manager_works_only_their_own_station() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let manager = server.login("station", "demo").await;
    let reviewer = server.login("reviewer", "demo").await;
    let (_, me) = server.get(&manager, "/api/v1/me").await;
    let mine = own_station(&me);

    // The demo: stations in every lifecycle state, claims in every review state, settlements
    // drawn up and approved.
    let (_, stations) = server.get(&admin, "/api/v1/stations").await;
    let statuses: std::collections::BTreeSet<&str> = stations
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        ["applying", "approved", "suspended", "terminated"]
    );
    let (_, claims) = server.get(&reviewer, "/api/v1/claims?limit=200").await;
    let states: std::collections::BTreeSet<&str> = claims
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    for s in ["submitted", "in_review", "decided", "appealed"] {
        assert!(states.contains(s), "a {s} claim in the demo: {states:?}");
    }
    let (_, settlements) = server.get(&admin, "/api/v1/settlements").await;
    let kinds: std::collections::BTreeSet<&str> = settlements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["approved", "draft"],
        "{settlements}"
    );
    // Agents see stations without bank details or contract terms.
    let agent = server.login("agent1", "demo").await;
    let (_, seen) = server.get(&agent, &format!("/api/v1/stations/{mine}")).await;
    assert!(
        seen["partner"]["bank"].is_null() && seen["partner"]["contract"].is_null(),
        "{seen}"
    );
    let (_, full) = server.get(&reviewer, &format!("/api/v1/stations/{mine}")).await;
    assert!(full["partner"]["bank"]["iban"].is_string(), "{full}");

    // Another station's objects: a claim, an order, a settlement.
    let theirs = claims
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["station_id"] != mine)
        .expect("a claim of another station")
        .clone();
    let cid = theirs["id"].as_i64().unwrap();
    let line = theirs["lines"][0]["id"].as_i64().unwrap();
    let (_, list) = server.get(&manager, "/api/v1/claims?limit=200").await;
    assert!(
        list.as_array().unwrap().iter().all(|c| c["station_id"] == mine),
        "only their own claims"
    );
    let (_, other) = server
        .get(&manager, &format!("/api/v1/claims?station_id={}", theirs["station_id"]))
        .await;
    assert_eq!(other, json!([]));
    let (status, _) = server.get(&manager, &format!("/api/v1/claims/{cid}")).await;
    assert_eq!(status, 404);
    for (path, body) in [
        (format!("/api/v1/claims/{cid}/appeal"), json!({"reason": "x"})),
        (
            format!("/api/v1/claims/{cid}/lines/{line}/return"),
            json!({"status": "shipped", "carrier": "DHL", "tracking": "1"}),
        ),
    ] {
        let (status, body) = server.post(&manager, &path, body).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = server
        .post(
            &manager,
            &format!("/api/v1/claims/{cid}/lines/{line}/review"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, 403, "a station does not review its claims");
    let (_, after) = server.get(&reviewer, &format!("/api/v1/claims/{cid}")).await;
    assert_eq!(after, theirs, "nothing changed");

    let (_, board) = server.get(&admin, "/api/v1/dispatch/board").await;
    let foreign = board["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["station_id"].as_i64().is_some_and(|s| s != mine))
        .expect("an order of another station")["id"]
        .as_i64()
        .unwrap();
    let before = server.get(&admin, &format!("/api/v1/repair-orders/{foreign}")).await.1;
    for (route, body) in [
        ("accept", json!({})),
        ("decline", json!({"reason": "not ours"})),
        ("assign", json!({"technician_id": 1})),
    ] {
        let (status, body) = server
            .post(&manager, &format!("/api/v1/station/orders/{foreign}/{route}"), body)
            .await;
        assert_eq!(status, 404, "{route}: {body}");
    }
    let (status, _) = server
        .get(&manager, &format!("/api/v1/station/overview?station_id={}", mine + 1))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        server.get(&admin, &format!("/api/v1/repair-orders/{foreign}")).await.1,
        before
    );
    let foreign_settlement = settlements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station_id"] != mine)
        .map(|s| s["id"].as_i64().unwrap());
    if let Some(id) = foreign_settlement {
        for path in [
            format!("/api/v1/settlements/{id}"),
            format!("/api/v1/settlements/{id}/export"),
        ] {
            assert_eq!(server.get(&manager, &path).await.0, 404, "{path}");
        }
    }
    // Parts orders: only their own are listed; another station's is 404 and stays as it is.
    let (_, all_orders) = server.get(&admin, "/api/v1/parts-orders").await;
    let (_, own_orders) = server.get(&manager, "/api/v1/parts-orders").await;
    assert!(
        own_orders.as_array().unwrap().iter().all(|o| o["station_id"] == mine),
        "{own_orders}"
    );
    let other_order = all_orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["station_id"] != mine)
        .expect("the demo's parts orders of other stations")
        .clone();
    let oid = other_order["id"].as_i64().unwrap();
    assert_eq!(
        server.get(&manager, &format!("/api/v1/parts-orders/{oid}")).await.0,
        404
    );
    for route in ["receive", "cancel"] {
        let (status, body) = server
            .post(&manager, &format!("/api/v1/parts-orders/{oid}/{route}"), json!({}))
            .await;
        assert_eq!(status, 404, "{route}: {body}");
    }
    let (status, _) = server
        .post(&manager, &format!("/api/v1/parts-orders/{oid}/approve"), json!({}))
        .await;
    assert_eq!(status, 403, "the manufacturer approves");
    assert_eq!(
        server.get(&admin, &format!("/api/v1/parts-orders/{oid}")).await.1,
        other_order
    );
    let other_station = other_order["station_id"].as_i64().unwrap();
    assert_eq!(
        server
            .get(&manager, &format!("/api/v1/stations/{other_station}/replenishment"))
            .await
            .0,
        404
    );
    let (status, body) = server
        .post(
            &manager,
            "/api/v1/parts-orders",
            json!({"station_id": other_station, "warehouse_id": other_order["warehouse_id"], "lines": [{"part_id": 1, "quantity": 1}]}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("station_id")), "{body}");

    // Their own station: an own technician only; the CRM's customer routes are not theirs.
    let (_, overview) = server.get(&manager, "/api/v1/station/overview").await;
    assert_eq!(overview["station"]["id"], mine);
    let open = overview["open"].as_array().unwrap();
    if let Some(o) = open.first() {
        let (status, body) = server
            .post(
                &manager,
                &format!("/api/v1/station/orders/{}/assign", o["order"]["id"]),
                json!({"technician_id": 999_999}),
            )
            .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("technician_id")), "{body}");
    }
    assert_eq!(server.get(&manager, "/api/v1/customers").await.0, 403);
    assert_eq!(server.get(&manager, "/api/v1/dispatch/board").await.0, 403);

    // A claim of their own: filed twice, one claim; the reviewer decides; no second appeal.
    let order = a_completed_warranty_repair(&server, &admin, mine).await;
    let (status, filed) = server
        .post(&manager, "/api/v1/claims", json!({"repair_order_id": order}))
        .await;
    assert_eq!(status, 201, "{filed}");
    let (status, again) = server
        .post(&manager, "/api/v1/claims", json!({"repair_order_id": order}))
        .await;
    assert_eq!(
        (status, again["claim"]["id"].clone()),
        (200, filed["claim"]["id"].clone())
    );
    let id = filed["claim"]["id"].as_i64().unwrap();
    let first = filed["claim"]["lines"][0]["id"].as_i64().unwrap();
    let (status, body) = server
        .post(
            &reviewer,
            &format!("/api/v1/claims/{id}/lines/{first}/review"),
            json!({"decision": "cut"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("amount_minor")), "{body}");
    for l in filed["claim"]["lines"].as_array().unwrap() {
        let (status, body) = server
            .post(
                &reviewer,
                &format!("/api/v1/claims/{id}/lines/{}/review", l["id"]),
                json!({"decision": "reject", "code": "no_evidence"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, appealed) = server
        .post(
            &manager,
            &format!("/api/v1/claims/{id}/appeal"),
            json!({"reason": "photos attached"}),
        )
        .await;
    assert_eq!(
        (status, appealed["status"].as_str()),
        (200, Some("appealed")),
        "{appealed}"
    );
    let (status, body) = server
        .post(
            &manager,
            &format!("/api/v1/claims/{id}/appeal"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (409, Some("appeal")), "{body}");
    // A regional supervisor sees the north's stations, technicians and orders only.
    let north = server.login("supervisor-north", "demo").await;
    let (_, all) = server.get(&admin, "/api/v1/stations").await;
    let in_north: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["region"] == "north")
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    let south = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["region"] == "south")
        .expect("a station in the south")["id"]
        .as_i64()
        .unwrap();
    let (_, seen) = server.get(&north, "/api/v1/stations").await;
    let seen: Vec<i64> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, in_north);
    assert_eq!(server.get(&north, &format!("/api/v1/stations/{south}")).await.0, 404);
    assert_eq!(
        server.get(&north, &format!("/api/v1/stations/{south}/stock")).await.0,
        404
    );
    let (_, board) = server.get(&north, "/api/v1/dispatch/board").await;
    assert!(board["stations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| in_north.contains(&s["id"].as_i64().unwrap())));
    assert!(board["orders"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["station_id"].as_i64().is_none_or(|s| in_north.contains(&s))));
    let (_, techs) = server.get(&north, "/api/v1/technicians").await;
    assert!(techs
        .as_array()
        .unwrap()
        .iter()
        .all(|t| in_north.contains(&t["station_id"].as_i64().unwrap())));
    let (_, south_orders) = server
        .get(&admin, &format!("/api/v1/repair-orders?station_id={south}"))
        .await;
    if let Some(o) = south_orders.as_array().unwrap().first() {
        let path = format!("/api/v1/repair-orders/{}", o["id"]);
        assert_eq!(server.get(&north, &path).await.0, 404);
        assert_eq!(
            server
                .patch(&north, &path, json!({"note": "moved by the north"}))
                .await
                .0,
            404
        );
    }
    let (_, listed) = server
        .get(&north, &format!("/api/v1/repair-orders?station_id={south}"))
        .await;
    assert_eq!(listed, json!([]));
    let (_, claims_north) = server.get(&north, "/api/v1/claims?limit=200").await;
    assert!(claims_north
        .as_array()
        .unwrap()
        .iter()
        .all(|c| in_north.contains(&c["station_id"].as_i64().unwrap())));

    // Their reports are the region's: ranking, parts stock and claims name only its stations,
    // where the same reports for the whole network name the south too.
    let year = {
        let to = chrono::Utc::now().date_naive();
        format!("from={}&to={to}", to - chrono::Duration::days(365))
    };
    let stations_in = |v: &serde_json::Value, list: &str, field: &str| -> Vec<i64> {
        let rows = if list.is_empty() { v } else { &v[list] };
        rows.as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|r| match &r[field] {
                serde_json::Value::String(k) => k.parse().unwrap(),
                n => n.as_i64().unwrap(),
            })
            .collect()
    };
    for (path, list, field) in [
        ("/api/v1/reports/stations", "", "station_id"),
        ("/api/v1/reports/parts", "stock", "station_id"),
        ("/api/v1/reports/claims", "", "key"),
    ] {
        let path = format!("{path}?{year}");
        let (status, everyone) = server.get(&admin, &path).await;
        assert_eq!(status, 200, "{path}: {everyone}");
        let everyone = stations_in(&everyone, list, field);
        assert!(everyone.iter().any(|s| !in_north.contains(s)), "{path}: {everyone:?}");
        let (status, region) = server.get(&north, &path).await;
        assert_eq!(status, 200, "{path}: {region}");
        let region = stations_in(&region, list, field);
        assert!(!region.is_empty(), "{path}: the north has figures");
        assert!(region.iter().all(|s| in_north.contains(s)), "{path}: {region:?}");
    }

    // A supervisor suspends the station: its orders not started go back to dispatch.
    let boss = server.login("supervisor", "demo").await;
    let (status, body) = server
        .post(
            &boss,
            &format!("/api/v1/stations/{mine}/status"),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (409, Some("reason")), "{body}");
    let (status, moved) = server
        .post(
            &boss,
            &format!("/api/v1/stations/{mine}/status"),
            json!({"status": "suspended", "reason": "audit"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    for ro in moved["released_orders"].as_array().unwrap() {
        let (_, o) = server.get(&admin, &format!("/api/v1/repair-orders/{ro}")).await;
        assert_ne!(o["station_id"].as_i64(), Some(mine), "{o}");
    }
}
