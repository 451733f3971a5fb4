//! The real binary under a set clock (libfaketime): a working Monday morning, the same Monday
//! evening after every shift has ended, and a Saturday. At each, a fresh demo network must
//! account for every open order (in a route of today or a later day, started, or unassigned
//! with a true reason); *Plan today* previews exactly what it then applies and plans the next
//! working day once today is over; a technician falling behind re-plans their own station
//! only; and the technician app files a visit under the day it is on at the station.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Europe::Berlin;
use futures_util::StreamExt as _;
use serde_json::{json, Value};

use crate::field::until;
use crate::support::Server;

/// Monday 7 December 2026, 08:30 in Berlin.
const MORNING: &str = "2026-12-07 07:30:00";
/// The same Monday, 19:30 in Berlin: every demo shift (07–16, 10–19) is over.
const EVENING: &str = "2026-12-07 18:30:00";
/// Saturday 12 December 2026, 10:00 in Berlin: nobody works at weekends.
const SATURDAY: &str = "2026-12-12 09:00:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_working_morning_dispatch_plans_today_and_re_plans_only_the_late_station() {
    at_the_clock(MORNING, NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_evening_dispatch_plans_the_next_working_day_and_keeps_technicians() {
    at_the_clock(EVENING, NaiveDate::from_ymd_opt(2026, 12, 8).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_saturday_dispatch_plans_monday() {
    at_the_clock(SATURDAY, NaiveDate::from_ymd_opt(2026, 12, 14).unwrap()).await;
}

fn at(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// The set clock as an instant.
fn set(clock: &str) -> DateTime<Utc> {
    format!("{}Z", clock.replace(' ', "T")).parse().unwrap()
}

/// Every open order on the board is accounted for, as the week simulation checks it.
async fn accounted_for(server: &Server, boss: &str, now: DateTime<Utc>, when: &str) -> Value {
    let (_, board) = server.get(boss, "/api/v1/dispatch/board").await;
    let (_, techs) = server.get(boss, "/api/v1/technicians").await;
    let techs: HashMap<i64, &Value> = techs
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t))
        .collect();
    let has = |t: &Value, line: &str| t["skills"].as_array().unwrap().iter().any(|s| s["name"] == line);
    let shifts_on = |t: &Value, day: NaiveDate| -> Vec<(NaiveTime, NaiveTime)> {
        t["shifts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["weekday"].as_u64() == Some(u64::from(day.weekday().number_from_monday())))
            .map(|s| {
                let p = |k: &str| s[k].as_str().unwrap().parse::<NaiveTime>().unwrap();
                (p("opens"), p("closes"))
            })
            .collect()
    };
    let station_at: HashMap<i64, (f64, f64)> = board["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                (s["lat"].as_f64().unwrap(), s["lon"].as_f64().unwrap()),
            )
        })
        .collect();
    let today = now.with_timezone(&Berlin).date_naive();
    let orders = board["orders"].as_array().unwrap();
    assert!(orders.len() > 50, "{when}: a demo backlog: {}", orders.len());
    for o in orders {
        let line = o["product_line"].as_str().unwrap();
        let started = matches!(o["task_status"].as_str(), Some("en_route" | "on_site")) || o["status"] == "in_progress";
        if started {
            assert!(o["technician_id"].is_i64(), "{when}: started without a technician: {o}");
            continue;
        }
        match (o["technician_id"].as_i64(), at(&o["scheduled_for"])) {
            (None, _) => {
                let reason = o["unassigned_reason"].as_str();
                assert!(reason.is_some(), "{when}: neither a technician nor a reason: {o}");
                if reason == Some("no_skill_match") {
                    assert!(!techs.values().any(|t| has(t, line)), "{when}: {line} exists: {o}");
                }
            }
            (Some(_), None) => panic!("{when}: assigned without a visit time: {o}"),
            (Some(t), Some(visit)) => {
                let tech = techs[&t];
                assert!(has(tech, line), "{when}: assigned without the skill {line}: {o}");
                // Routes stay local: the order's own station, or a neighbour within 80 km.
                let home = tech["station_id"].as_i64().unwrap();
                if o["station_id"].as_i64() != Some(home) {
                    let (lat, lon) = station_at[&home];
                    let (olat, olon) = (o["lat"].as_f64().unwrap(), o["lon"].as_f64().unwrap());
                    let km = ((olon - lon) * lat.to_radians().cos()).hypot(olat - lat) * 111.195;
                    assert!(km <= 80.0, "{when}: a technician {km:.0} km from their station: {o}");
                }
                let local = visit.with_timezone(&Berlin);
                let day = local.date_naive();
                assert!(day >= today, "{when}: its visit day has passed: {o}");
                let shifts = shifts_on(tech, day);
                assert!(
                    shifts.iter().any(|(a, b)| *a <= local.time() && local.time() <= *b),
                    "{when}: planned outside the technician's shifts: {o}"
                );
                if day == today {
                    let later = shifts.iter().any(|(_, b)| now.with_timezone(&Berlin).time() < *b);
                    assert!(later, "{when}: today's visit after the technician's day ended: {o}");
                }
            }
        }
    }
    board
}

/// Each order's (technician, planned start), for comparing boards.
fn placements(board: &Value) -> HashMap<i64, (Value, Value, Value)> {
    board["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_i64().unwrap(),
                (
                    o["technician_id"].clone(),
                    o["scheduled_for"].clone(),
                    o["station_id"].clone(),
                ),
            )
        })
        .collect()
}

async fn at_the_clock(clock: &str, planned_day: NaiveDate) {
    let now = set(clock);
    let today = now.with_timezone(&Berlin).date_naive();
    let db = crm_sql::testing::TestDb::sqlite().await;
    let server = Server::start_at(&db, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")], clock).await;
    let boss = server.login("supervisor", "demo").await;
    // The server runs on the set clock: its sign-in is recorded on that day.
    let (_, audit) = server.get(&boss, "/api/v1/audit?limit=1").await;
    let signed_in = at(&audit[0]["at"]).unwrap();
    assert!(
        (signed_in - now).num_minutes().abs() < 10,
        "server clock {signed_in}, set {now}"
    );

    let before = accounted_for(&server, &boss, now, "after start-up").await;
    let assigned = before["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["technician_id"].is_i64())
        .count();

    // Plan today: the preview changes nothing, and applying gives what it showed.
    let ask = json!({"iterations": 2000, "seed": 5});
    let (status, preview) = server
        .post(
            &boss,
            "/api/v1/dispatch/plan",
            json!({"iterations": 2000, "seed": 5, "preview": true}),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["applied"], false);
    let (_, unchanged) = server.get(&boss, "/api/v1/dispatch/board").await;
    assert_eq!(placements(&unchanged), placements(&before), "a preview writes nothing");
    let (status, plan) = server.post(&boss, "/api/v1/dispatch/plan", ask).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["applied"], true);
    // Both start from the same five-minute mark unless one passed in between.
    let dates = |p: &Value| {
        p["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["date"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(dates(&plan), dates(&preview), "the preview showed the days applied");
    for k in ["moved", "unassigned"] {
        let (a, b) = (plan[k].as_array().unwrap().len(), preview[k].as_array().unwrap().len());
        assert!(a.abs_diff(b) <= 3.max(b / 20), "{k}: applied {a}, previewed {b}");
    }
    let first = plan["days"][0]["date"].as_str().unwrap().parse::<NaiveDate>().unwrap();
    assert_eq!(first, planned_day, "{clock}: the day planned");
    let moved = plan["moved"].as_array().unwrap();
    let taken_over = moved.iter().filter(|m| m["why"] == "taken_over").count();
    eprintln!(
        "{clock}: {assigned} orders with a technician; the plan moved {} ({taken_over} to another technician), left {} out",
        moved.len(),
        plan["unassigned"].as_array().unwrap().len()
    );
    assert!(
        taken_over * 10 <= assigned,
        "{clock}: {taken_over} of {assigned} orders changed technician"
    );
    let after = accounted_for(&server, &boss, now, "after Plan today").await;

    // A technician reports from 300 km away. In the morning they cannot make their next visit:
    // their station is re-planned, and no other station's orders move. After the shifts, or
    // at the weekend, there is no visit today to miss: nothing moves at all.
    let tech1 = server.login("tech1", "demo").await;
    let (_, me) = server.get(&tech1, "/api/v1/me").await;
    let (_, mine) = server
        .get(&boss, &format!("/api/v1/technicians/{}", me["technician_id"]))
        .await;
    let station = mine["station_id"].clone();
    let ws_url = format!(
        "{}/api/v1/dispatch/ws?token={boss}",
        server.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("dispatch socket");
    let (status, _) = server
        .post(&tech1, "/api/v1/tech/position", json!({"lat": 50.0, "lon": 8.0}))
        .await;
    assert_eq!(status, 202);
    until(&mut ws, "position").await;
    let working = first == today;
    if working {
        until(&mut ws, "planned").await;
    } else {
        // Give a re-plan, if one were started, time to write.
        let quiet = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let m = ws.next().await;
                if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = m {
                    if t.contains("\"planned\"") {
                        return t.to_string();
                    }
                } else if m.is_none() {
                    return String::new();
                }
            }
        })
        .await;
        assert!(quiet.is_err(), "{clock}: a re-plan after the shifts: {quiet:?}");
    }
    let (_, later) = server.get(&boss, "/api/v1/dispatch/board").await;
    let (was, now_placed) = (placements(&after), placements(&later));
    for (id, p) in &was {
        if p.2 != station {
            assert_eq!(
                now_placed.get(id),
                Some(p),
                "{clock}: order {id} of another station moved"
            );
        } else if !working {
            assert_eq!(
                now_placed.get(id),
                Some(p),
                "{clock}: order {id} moved after the shifts"
            );
        }
    }
    accounted_for(&server, &boss, now, "after the position report").await;

    // The technician app files each visit under its day at the station.
    let (_, tasks) = server.get(&tech1, "/api/v1/tech/tasks").await;
    for t in tasks.as_array().unwrap() {
        let Some(visit) = at(&t["scheduled_for"]) else { continue };
        let day = visit.with_timezone(&Berlin).date_naive();
        assert_eq!(t["visit_date"], json!(day), "{t}");
        if !matches!(t["day"].as_str(), Some("done")) {
            let expect = if day <= today { "today" } else { "upcoming" };
            assert_eq!(t["day"], expect, "{clock}: {t}");
        }
    }
}
