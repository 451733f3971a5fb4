//! The early-warning rule on generated data, on both backends: two batches of one model in
//! service since June 2025, repaired through the technician's flow under a virtual clock for
//! seven months. The steady batch (three repairs a month) is not raised; the batch with a
//! planted rise (two a month, then twelve in November) is, once, with its cases and an e-mail
//! to each quality engineer in the outbox.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use crm_core::field::{TaskAction, TaskReport, TaskStep, TaskWrite};
use crm_core::mail::{MailKind, MailStatus};
use crm_core::model::*;
use crm_core::quality::{assess, window, WarningRules};
use crm_core::types::*;
use crm_core::Store;
use crm_sql::testing::TestDb;

fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

struct Plant {
    customer: i64,
    station: i64,
    technician: i64,
    /// Batch → its assets.
    steady: Vec<i64>,
    rising: Vec<i64>,
}

async fn plant(s: &dyn Store, model_id: i64) -> Plant {
    let c = s
        .create_customer(
            Actor::SYSTEM,
            &crm_fixtures::testsuite::sample_customer("Quality Fleet", &["+49301234567"]),
        )
        .await
        .unwrap();
    let station = s
        .create_station(
            Actor::SYSTEM,
            &NewStation {
                name: text("Quality Station"),
                city: text("Kassel"),
                location: GeoPoint::new(51.3, 9.5).unwrap(),
                time_zone: TimeZone::parse("Europe/Berlin").unwrap(),
                skills: vec![Skill {
                    name: SkillName::parse("washing_machines").unwrap(),
                    level: SkillLevel::new(4).unwrap(),
                }],
                capacity_per_day: 50,
                opening_hours: vec![],
                status: StationStatus::Approved,
                region: None,
                partner: Partner::default(),
            },
        )
        .await
        .unwrap();
    let tech = s
        .create_technician(
            Actor::SYSTEM,
            &NewTechnician {
                station_id: station.id,
                name: text("Quinn Quality"),
                skills: station.skills.clone(),
                shifts: vec![],
                location: None,
            },
        )
        .await
        .unwrap();
    let sold: NaiveDate = "2025-06-01".parse().unwrap();
    let mut batches = [vec![], vec![]];
    for (b, prefix) in ["EW-STEADY", "EW-RISING"].iter().enumerate() {
        for i in 0..200 {
            let a = s
                .create_asset(
                    Actor::SYSTEM,
                    &NewAsset {
                        customer_id: c.id,
                        model_id,
                        serial: SerialNumber::parse(&format!("{prefix}-{i:05}")).unwrap(),
                        vin: None,
                        purchase_date: sold,
                        dealer: None,
                        mileage_km: None,
                        operating_hours: None,
                        produced_on: None,
                    },
                )
                .await
                .unwrap();
            batches[b].push(a.id);
        }
    }
    let [steady, rising] = batches;
    Plant {
        customer: c.id,
        station: station.id,
        technician: tech.id,
        steady,
        rising,
    }
}

/// A repair of `asset` opened and completed on the virtual clock's day, fault E21.
async fn repair(s: &dyn Store, p: &Plant, asset: i64) -> i64 {
    let t = s
        .create_ticket(
            Actor::SYSTEM,
            &NewTicket {
                customer_id: p.customer,
                asset_id: Some(asset),
                subject: text("Leaks"),
                description: String::new(),
                priority: Priority::Normal,
            },
        )
        .await
        .unwrap();
    let ro = s
        .create_repair_order(
            Actor::SYSTEM,
            &NewRepairOrder {
                ticket_id: t.id,
                asset_id: None,
                station_id: Some(p.station),
                technician_id: Some(p.technician),
                fault_code: None,
                description: "leak".into(),
                scheduled_for: None,
                appointment: None,
                duration_minutes: None,
                parts: vec![],
            },
        )
        .await
        .unwrap();
    let assign = RepairOrderPatch {
        status: Some(RepairStatus::Assigned),
        technician_id: Some(p.technician),
        ..Default::default()
    };
    s.update_repair_order(Actor::SYSTEM, ro.id, &assign).await.unwrap();
    let step = |action| {
        TaskWrite::Step(TaskStep {
            action,
            location: (action == TaskAction::CheckIn).then(|| GeoPoint::new(51.3, 9.5).unwrap()),
            reason: None,
        })
    };
    for w in [
        step(TaskAction::Accept),
        step(TaskAction::Depart),
        step(TaskAction::CheckIn),
        TaskWrite::Report(TaskReport {
            fault_code: Some("E21".into()),
            diagnosis: None,
            work_done: Some(text("new seal")),
            labour_hours: Some(1.0),
        }),
        step(TaskAction::Complete),
    ] {
        s.task_write(Actor::user(1), p.technician, ro.id, None, &w)
            .await
            .unwrap();
    }
    ro.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_rise_is_raised_once_and_a_steady_batch_is_not() {
    for db in TestDb::each().await {
        let db = db.open().await;
        let backend = db.backend();
        let store = db.shared();
        let clock = std::sync::Arc::new(std::sync::Mutex::new(day(2026, 5, 1)));
        let c2 = clock.clone();
        crm_sql::clock::run_at(clock.clone(), async move {
            let s = store.as_ref();
            let model = s
                .create_model(Actor::SYSTEM, &crm_fixtures::testsuite::sample_model("EW-9000", 24, 24))
                .await
                .unwrap();
            let p = plant(s, model.id).await;
            let mut november = vec![];
            // May to October: three repairs a month of the steady batch, two of the rising one;
            // November: three and twelve.
            for (month, rising) in [(5, 2), (6, 2), (7, 2), (8, 2), (9, 2), (10, 2), (11, 12)] {
                for i in 0..(3 + rising) {
                    *c2.lock().unwrap() = day(2026, month, 2 + i);
                    let asset = if i < 3 {
                        p.steady[(month * 10 + i) as usize]
                    } else {
                        p.rising[(month * 13 + i) as usize]
                    };
                    let id = repair(s, &p, asset).await;
                    if month == 11 && i >= 3 {
                        november.push(id);
                    }
                }
            }
            let now = day(2026, 12, 4);
            *c2.lock().unwrap() = now;
            let rules = WarningRules::default();
            let w = window(now.date_naive(), rules.baseline_months);
            let cells = s.quality_cells(&w, rules.min_cases).await.unwrap();
            let found: Vec<(&str, i64, i64)> = cells
                .iter()
                .map(|c| (c.batch.as_str(), c.cases_month, c.cases_before))
                .collect();
            assert_eq!(found, vec![("EW-RISING", 12, 12), ("EW-STEADY", 3, 18)], "[{backend}]");
            let steady = cells.iter().find(|c| c.batch == "EW-STEADY").unwrap();
            assert_eq!(steady.units, 200);
            assert!(
                assess(steady, &rules).is_none(),
                "[{backend}] the steady batch: {steady:?}"
            );
            let rising = cells.iter().find(|c| c.batch == "EW-RISING").unwrap();
            let finding = assess(rising, &rules).expect("the planted rise");
            assert!(finding.ratio > 5.0 && finding.p_value < 1e-4, "[{backend}] {finding:?}");

            let engineers = [
                Email::parse("qe1@example.com").unwrap(),
                Email::parse("qe2@example.com").unwrap(),
            ];
            let alert = s
                .raise_quality_alert(&finding, &w, &engineers, now)
                .await
                .unwrap()
                .expect("raised");
            assert_eq!(
                (
                    alert.batch.as_str(),
                    alert.fault_code.as_str(),
                    alert.cases,
                    alert.repair_orders.clone()
                ),
                ("EW-RISING", "E21", 12, november.clone()),
                "[{backend}]"
            );
            // Once per cause while it is open: the next day's scan raises nothing.
            assert_eq!(
                s.raise_quality_alert(&finding, &w, &engineers, now).await.unwrap(),
                None
            );
            let mail = s.list_mail(Some(MailStatus::Queued), 10).await.unwrap();
            let alerts: Vec<&str> = mail
                .iter()
                .filter(|m| m.kind == MailKind::Alert)
                .map(|m| m.to.as_str())
                .collect();
            assert_eq!(alerts.len(), 2, "[{backend}] one message per engineer: {alerts:?}");
            assert!(mail[0].subject.contains("EW-RISING") && mail[0].text.contains(&format!("#{}", november[0])));
            // Closed, the cause may be raised again.
            let closed = s
                .close_quality_alert(Actor::SYSTEM, alert.id, "seal supplier changed", now)
                .await
                .unwrap();
            assert!(!closed.open);
            assert!(s
                .raise_quality_alert(&finding, &w, &engineers, now)
                .await
                .unwrap()
                .is_some());
            assert_eq!(s.list_quality_alerts(true, 10).await.unwrap().len(), 1);
        })
        .await;
    }
}
