//! Invoices around New Year's Eve, on both backends under a virtual clock: an invoice takes the
//! year of the station's own day (Berlin), so a repair finished at half past midnight local time
//! on 1 January (still 31 December in UTC) starts the new year's numbers at 1; payments and
//! overdue reminders count the station's days too.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use crm_core::billing::*;
use crm_core::care::{AgentTaskKind, AgentTaskQuery};
use crm_core::field::{TaskAction, TaskReport, TaskStep, TaskWrite};
use crm_core::model::*;
use crm_core::types::*;
use crm_core::Store;
use crm_sql::testing::TestDb;

fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

struct Shop {
    customer: i64,
    asset: i64,
    station: i64,
    technician: i64,
}

async fn shop(s: &dyn Store) -> Shop {
    let c = s
        .create_customer(
            Actor::SYSTEM,
            &crm_fixtures::testsuite::sample_customer("Silvester Kunde", &["+49301234500"]),
        )
        .await
        .unwrap();
    let model = s
        .create_model(Actor::SYSTEM, &crm_fixtures::testsuite::sample_model("NY-1000", 12, 12))
        .await
        .unwrap();
    let asset = s
        .create_asset(
            Actor::SYSTEM,
            &NewAsset {
                customer_id: c.id,
                model_id: model.id,
                serial: SerialNumber::parse("NY-1000-0001").unwrap(),
                vin: None,
                purchase_date: "2020-03-01".parse().unwrap(),
                dealer: None,
                mileage_km: None,
                operating_hours: None,
                produced_on: None,
            },
        )
        .await
        .unwrap();
    let (station, tech) = crm_fixtures::testsuite::station_with_technician(s, "Berlin Ost", "Nele Neujahr").await;
    Shop {
        customer: c.id,
        asset: asset.id,
        station: station.id,
        technician: tech.id,
    }
}

/// A paid repair opened, quoted, accepted and completed on the virtual clock's time.
async fn paid_repair(s: &dyn Store, p: &Shop, now: DateTime<Utc>) -> Invoice {
    let ro = crm_fixtures::testsuite::assigned_order(s, p.customer, p.asset, p.station, p.technician).await;
    let step = |action| {
        TaskWrite::Step(TaskStep {
            action,
            location: (action == TaskAction::CheckIn).then(|| GeoPoint::new(52.5, 13.4).unwrap()),
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
            work_done: Some(text("freed the drum")),
            labour_hours: Some(0.5),
        }),
    ] {
        s.task_write(Actor::SYSTEM, p.technician, ro, None, &w).await.unwrap();
    }
    let ask = QuoteRequest {
        labour_minutes: Some(30),
        ..QuoteRequest::default()
    };
    let (q, _) = s
        .create_quote(Actor::SYSTEM, ro, &ask, &BillingRules::default(), now)
        .await
        .unwrap();
    let yes = NewAcceptance::Phone {
        customer_name: text("Silvester Kunde"),
        note: text("agreed, half an hour"),
    };
    s.accept_quote(Actor::SYSTEM, ro, q.id, &yes, now).await.unwrap();
    s.task_write(Actor::SYSTEM, p.technician, ro, None, &step(TaskAction::Complete))
        .await
        .unwrap();
    s.invoice_for_order(ro).await.unwrap().expect("an invoice")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_takes_the_year_of_the_stations_day() {
    for db in TestDb::each().await {
        let db = db.open().await;
        let backend = db.backend();
        let store = db.shared();
        let clock = std::sync::Arc::new(std::sync::Mutex::new(utc(2026, 12, 31, 12, 0)));
        let c2 = clock.clone();
        crm_sql::clock::run_at(clock.clone(), async move {
            let s = store.as_ref();
            let p = shop(s).await;
            let at = |t: DateTime<Utc>| {
                *c2.lock().unwrap() = t;
                t
            };
            // 23:30 in Berlin on New Year's Eve: the old year.
            let late = paid_repair(s, &p, at(utc(2026, 12, 31, 22, 30))).await;
            // 00:30 in Berlin on 1 January, 23:30 UTC the day before: the new year, number 1.
            let first = paid_repair(s, &p, at(utc(2026, 12, 31, 23, 30))).await;
            let second = paid_repair(s, &p, at(utc(2027, 1, 1, 10, 0))).await;
            let nos = [&late, &first, &second].map(|i| (i.number.clone(), i.issued_on));
            let day = |s: &str| s.parse::<NaiveDate>().unwrap();
            let expected = [
                (format!("S{:03}-2026-00001", p.station), day("2026-12-31")),
                (format!("S{:03}-2027-00001", p.station), day("2027-01-01")),
                (format!("S{:03}-2027-00002", p.station), day("2027-01-01")),
            ];
            assert_eq!(nos, expected, "{backend}");

            // Paid on the station's 1 January while UTC still says 31 December: accepted.
            at(utc(2026, 12, 31, 23, 45));
            let pay = NewPayment {
                method: PaymentMethod::Card,
                amount_minor: first.totals.total_minor,
                paid_on: day("2027-01-01"),
                reference: Some(text("slip 0001")),
                request_key: "ny-1".into(),
            };
            let paid = s
                .record_payment(Actor::SYSTEM, first.id, &pay, utc(2026, 12, 31, 23, 45))
                .await
                .unwrap();
            assert_eq!(paid.status, InvoiceStatus::Paid, "{backend}");
            let too_early = NewPayment {
                request_key: "ny-2".into(),
                paid_on: day("2026-12-30"),
                amount_minor: 1,
                ..pay.clone()
            };
            let refused = s
                .record_payment(Actor::SYSTEM, late.id, &too_early, utc(2027, 1, 2, 9, 0))
                .await;
            assert!(
                matches!(&refused, Err(crm_core::StoreError::Invalid(e)) if e.field == "paid_on"),
                "{backend}: {refused:?}"
            );

            // Due 14 days after their dates: the old year's on 14 January, the new year's on
            // the 15th. Reminders count overdue the day after.
            let remind = |today: &str| s.remind_overdue_invoices(day(today), utc(2027, 1, 20, 8, 0));
            assert_eq!(remind("2027-01-14").await.unwrap(), 0, "{backend}");
            assert_eq!(remind("2027-01-15").await.unwrap(), 1, "{backend}: the old year's only");
            assert_eq!(
                remind("2027-01-16").await.unwrap(),
                1,
                "{backend}: the new year's unpaid one"
            );
            assert_eq!(remind("2027-01-17").await.unwrap(), 0, "{backend}: once per invoice");
            let tasks = s
                .list_agent_tasks(&AgentTaskQuery {
                    kind: Some(AgentTaskKind::InvoiceOverdue),
                    limit: 10,
                    ..AgentTaskQuery::default()
                })
                .await
                .unwrap();
            let mut about: Vec<bool> = tasks.iter().map(|t| t.summary.contains(&late.number)).collect();
            about.sort();
            assert_eq!(about, vec![false, true], "{backend}: {tasks:?}");
        })
        .await;
    }
}
