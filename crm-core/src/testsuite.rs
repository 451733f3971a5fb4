//! The behaviour every storage backend must show, written once.
//!
//! Each function takes a fresh, migrated, empty store and panics on a violation. A backend's tests
//! call [`behaviour_tests!`](crate::behaviour_tests) with a constructor to get one test per function.

use chrono::{Datelike, Duration, NaiveDate, Utc};

use crate::callback::*;
use crate::error::StoreError;
use crate::field::*;
use crate::model::*;
use crate::screen_pop::{screen_pop, Lookup, ScreenPopSettings};
use crate::store::Store;
use crate::types::*;
use crate::warranty::{WarrantyPolicy, WarrantyState};

/// Expands to one `#[tokio::test]` per behaviour. `$make` is an async expression yielding an
/// `Option` of a value with a `store(&self) -> &dyn Store` method (it may clean up on drop);
/// `None` means the backend is not available here and the test returns (the maker says why).
#[macro_export]
macro_rules! behaviour_tests {
    ($make:expr) => {
        $crate::behaviour_tests!(@each $make;
            customers_round_trip, customer_search, customer_patch, import_is_all_or_nothing,
            assets_and_warranty, ticket_status_flow, repair_orders, complaints, stations_and_technicians,
            stock_ledger, knowledge_base, users_sessions_and_audit, screen_pop_by_phone_and_serial,
            emptiness, serial_by_keypad_digits, call_detail_records, agent_skills, field_tasks, stock_operations,
            callbacks, agent_tasks, reports, reminders_and_campaigns, repeated_writes_race);
    };
    (@each $make:expr; $($name:ident),+) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(handle) = $make.await else { return };
                $crate::testsuite::$name(handle.store()).await;
            }
        )+
    };
}

fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}
fn phone(s: &str) -> Phone {
    Phone {
        number: PhoneNumber::parse(s).unwrap(),
        label: PhoneLabel::Mobile,
    }
}
fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}
fn actor() -> Actor {
    Actor::SYSTEM
}

pub fn sample_customer(name: &str, phones: &[&str]) -> NewCustomer {
    NewCustomer {
        kind: CustomerKind::Person,
        name: text(name),
        email: Some(Email::parse("anna@example.com").unwrap()),
        time_zone: TimeZone::parse("Europe/Berlin").unwrap(),
        do_not_call: false,
        marketing_consent: true,
        birthday: Some(date("1980-05-17")),
        phones: phones.iter().map(|p| phone(p)).collect(),
        addresses: vec![Address {
            label: "home".into(),
            line1: text("Hauptstraße 5"),
            line2: None,
            postal_code: "10115".into(),
            city: text("Berlin"),
            country: "DE".into(),
            location: Some(GeoPoint::new(52.53, 13.38).unwrap()),
        }],
    }
}

pub fn sample_model(code: &str, parts: u16, labor: u16) -> NewProductModel {
    NewProductModel {
        code: SerialNumber::parse(code).unwrap(),
        name: text("AquaPro 7 kg"),
        category: ProductCategory::Appliance,
        product_line: SkillName::parse("washing_machines").unwrap(),
        fault_codes: vec![FaultCode {
            code: "E21".into(),
            description: "Drain pump blocked".into(),
        }],
        warranty: Some(WarrantyPolicy {
            parts_months: parts,
            labor_months: labor,
            max_mileage_km: None,
            max_hours: None,
        }),
        maintenance_months: Some(12),
    }
}

fn sample_asset(customer_id: i64, model_id: i64, serial: &str, purchase: NaiveDate) -> NewAsset {
    NewAsset {
        customer_id,
        model_id,
        serial: SerialNumber::parse(serial).unwrap(),
        vin: None,
        purchase_date: purchase,
        dealer: Some("ElektroMarkt".into()),
        mileage_km: None,
        operating_hours: None,
    }
}

fn sample_station(name: &str) -> NewStation {
    NewStation {
        name: text(name),
        city: text("Berlin"),
        location: GeoPoint::new(52.5, 13.4).unwrap(),
        time_zone: TimeZone::parse("Europe/Berlin").unwrap(),
        skills: vec![Skill {
            name: SkillName::parse("washing_machines").unwrap(),
            level: SkillLevel::new(4).unwrap(),
        }],
        capacity_per_day: 12,
        opening_hours: vec![OpeningHours {
            weekday: 1,
            opens: "08:00:00".parse().unwrap(),
            closes: "17:00:00".parse().unwrap(),
        }],
    }
}

fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Conflict { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected conflict on {field}, got {other:?}"),
    }
}
fn assert_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, field),
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}
fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound { .. })),
        "expected not found, got {r:?}"
    );
}

pub async fn customers_round_trip(s: &dyn Store) {
    let new = sample_customer("Anna Müller", &["+49 30 1234567", "+49 151 2345678"]);
    let c = s.create_customer(actor(), &new).await.unwrap();
    assert!(c.id > 0);
    let got = s.get_customer(c.id).await.unwrap();
    assert_eq!(got, c);
    assert_eq!(got.name, "Anna Müller");
    assert_eq!(got.phones.len(), 2);
    assert_eq!(got.phones[0].number.as_str(), "+49301234567");
    assert_eq!(got.addresses[0].location, Some(GeoPoint::new(52.53, 13.38).unwrap()));
    assert_eq!(got.birthday, Some(date("1980-05-17")));
    assert_eq!(got.time_zone.as_str(), "Europe/Berlin");
    assert_not_found(s.get_customer(c.id + 1000).await);

    let found = s
        .find_customer_by_phone(&PhoneNumber::parse("+491512345678").unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(c.id));
    assert_eq!(
        s.find_customer_by_phone(&PhoneNumber::parse("+491512345679").unwrap())
            .await
            .unwrap(),
        None
    );

    let i = s
        .add_interaction(
            actor(),
            c.id,
            &NewInteraction {
                kind: InteractionKind::Call,
                direction: Direction::Inbound,
                summary: text("Asked about E21"),
                at: Some(Utc::now() - Duration::hours(2)),
            },
        )
        .await
        .unwrap();
    let j = s
        .add_interaction(
            actor(),
            c.id,
            &NewInteraction {
                kind: InteractionKind::Note,
                direction: Direction::Internal,
                summary: text("Prefers mornings"),
                at: None,
            },
        )
        .await
        .unwrap();
    let list = s.list_interactions(c.id, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![j.id, i.id],
        "newest first"
    );
    assert_not_found(
        s.add_interaction(
            actor(),
            c.id + 1000,
            &NewInteraction {
                kind: InteractionKind::Note,
                direction: Direction::Internal,
                summary: text("x"),
                at: None,
            },
        )
        .await,
    );
}

pub async fn customer_search(s: &dyn Store) {
    for (n, p) in [
        ("Anna Müller", "+49301111111"),
        ("Annette Schmidt", "+49302222222"),
        ("Bernd Weber", "+49303333333"),
        ("Weber Logistik GmbH", "+49404444444"),
    ] {
        let mut c = sample_customer(n, &[p]);
        c.email = Some(Email::parse(&format!("c{}@example.com", &p[p.len() - 2..])).unwrap());
        s.create_customer(actor(), &c).await.unwrap();
    }
    let names = |v: Vec<Customer>| v.into_iter().map(|c| c.name).collect::<Vec<_>>();
    let q = |q: &str, limit| CustomerQuery {
        q: Some(q.into()),
        limit,
        offset: 0,
    };
    assert_eq!(
        names(s.search_customers(&q("ann", 10)).await.unwrap()),
        vec!["Anna Müller", "Annette Schmidt"]
    );
    assert_eq!(
        names(s.search_customers(&q("WEBER", 10)).await.unwrap()),
        vec!["Bernd Weber", "Weber Logistik GmbH"]
    );
    assert_eq!(
        names(s.search_customers(&q("müller", 10)).await.unwrap()),
        vec!["Anna Müller"]
    );
    assert_eq!(
        names(s.search_customers(&q("MÜLLER", 10)).await.unwrap()),
        vec!["Anna Müller"]
    );
    // By e-mail.
    assert_eq!(
        names(s.search_customers(&q("c22@example", 10)).await.unwrap()),
        vec!["Annette Schmidt"]
    );
    // By phone digits, in any spelling.
    let by_phone = s.search_customers(&q("030 3333333", 10)).await.unwrap();
    assert_eq!(names(by_phone.clone()), vec!["Bernd Weber"]);
    assert_eq!(by_phone[0].phones.len(), 1, "results carry their phones");
    // Limit and offset, stable order by name.
    let all = s
        .search_customers(&CustomerQuery {
            q: None,
            limit: 2,
            offset: 1,
        })
        .await
        .unwrap();
    assert_eq!(names(all), vec!["Annette Schmidt", "Bernd Weber"]);
    // Wildcards in the query are literal.
    assert!(s.search_customers(&q("%", 10)).await.unwrap().is_empty());
    assert!(s.search_customers(&q("_nna", 10)).await.unwrap().is_empty());
}

pub async fn customer_patch(s: &dyn Store) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let p = CustomerPatch {
        name: Some(text("Anna Schulz")),
        email: Some(None),
        do_not_call: Some(true),
        phones: Some(vec![phone("+49155555555"), phone("+49301111111")]),
        ..Default::default()
    };
    let u = s.update_customer(actor(), c.id, &p).await.unwrap();
    assert_eq!(u.name, "Anna Schulz");
    assert_eq!(u.email, None);
    assert!(u.do_not_call);
    assert_eq!(u.phones.len(), 2);
    assert_eq!(u.addresses, c.addresses, "addresses untouched");
    assert_eq!(s.get_customer(c.id).await.unwrap(), u);
    assert_eq!(
        s.find_customer_by_phone(&PhoneNumber::parse("+49155555555").unwrap())
            .await
            .unwrap(),
        Some(c.id)
    );
    assert_not_found(s.update_customer(actor(), c.id + 99, &p).await);
}

pub async fn import_is_all_or_nothing(s: &dyn Store) {
    let mut b = sample_customer("B Two", &["+49301000002"]);
    b.email = Some(Email::parse("b.two@example.com").unwrap());
    let rows = vec![sample_customer("A One", &["+49301000001"]), b];
    let ids = s.import_customers(actor(), &rows).await.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|c| c.matched == ImportMatch::Created));
    // The same file again adds no one: each row is matched to the customer it made.
    let again = s.import_customers(actor(), &rows).await.unwrap();
    assert_eq!(
        again,
        ids.iter()
            .map(|c| ImportedCustomer {
                id: c.id,
                matched: ImportMatch::Phone
            })
            .collect::<Vec<_>>()
    );
    // A new number but a known e-mail address (in any case): the same customer.
    let mut moved = sample_customer("A One", &["+49301000009"]);
    moved.email = Some(Email::parse("ANNA@example.com").unwrap());
    let by_mail = s.import_customers(actor(), &[moved]).await.unwrap();
    assert_eq!(by_mail[0].matched, ImportMatch::Email);
    assert_eq!(
        s.find_customer_by_phone(&PhoneNumber::parse("+49301000009").unwrap())
            .await
            .unwrap(),
        None,
        "a matched row changes nothing"
    );
    let m = s.create_model(actor(), &sample_model("WM-7000", 24, 24)).await.unwrap();
    let today = Utc::now().date_naive();
    let ids: Vec<i64> = ids.iter().map(|c| c.id).collect();
    let good = sample_asset(ids[0], m.id, "SER-0001", today);
    let dup = sample_asset(ids[1], m.id, "SER-0001", today);
    assert_conflict(s.import_assets(actor(), &[good.clone(), dup]).await, "serial");
    assert!(s.list_assets(ids[0]).await.unwrap().is_empty(), "nothing half-written");
    let bad_owner = sample_asset(ids[1] + 1000, m.id, "SER-0002", today);
    assert_invalid(
        s.import_assets(actor(), &[good.clone(), bad_owner]).await,
        "customer_id",
    );
    assert!(s.list_assets(ids[0]).await.unwrap().is_empty(), "nothing half-written");
    assert_eq!(s.import_assets(actor(), &[good]).await.unwrap().len(), 1);
}

pub async fn assets_and_warranty(s: &dyn Store) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let m = s.create_model(actor(), &sample_model("WM-7000", 24, 12)).await.unwrap();
    assert_eq!(s.get_model(m.id).await.unwrap(), m);
    assert_eq!(m.fault_codes.len(), 1);
    assert_conflict(s.create_model(actor(), &sample_model("WM-7000", 1, 1)).await, "code");
    let purchase = Utc::now().date_naive() - Duration::days(100);
    let a = s
        .create_asset(actor(), &sample_asset(c.id, m.id, "wm-2026-0001", purchase))
        .await
        .unwrap();
    assert_eq!(a.serial.as_str(), "WM-2026-0001");
    assert_eq!(s.get_asset(a.id).await.unwrap(), a);
    assert_conflict(
        s.create_asset(actor(), &sample_asset(c.id, m.id, "WM-2026-0001", purchase))
            .await,
        "serial",
    );
    assert_invalid(
        s.create_asset(actor(), &sample_asset(c.id + 5, m.id, "WM-2026-0002", purchase))
            .await,
        "customer_id",
    );
    assert_invalid(
        s.create_asset(actor(), &sample_asset(c.id, m.id + 5, "WM-2026-0003", purchase))
            .await,
        "model_id",
    );
    let found = s
        .find_asset_by_serial(&SerialNumber::parse("WM-2026-0001").unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|x| x.id), Some(a.id));

    let with = s
        .add_contract(
            actor(),
            a.id,
            &NewServiceContract {
                name: text("CarePlus"),
                starts_on: purchase,
                ends_on: purchase + Duration::days(5 * 365),
                covers_parts: true,
                covers_labor: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(with.contracts.len(), 1);
    let detailed = s.customer_assets(c.id).await.unwrap();
    assert_eq!(detailed.len(), 1);
    assert_eq!(detailed[0].asset, with);
    assert_eq!(detailed[0].policy.as_ref().map(|p| p.labor_months), Some(12));
    assert_eq!(detailed[0].model_code, "WM-7000");

    let u = s
        .update_asset(
            actor(),
            a.id,
            &AssetPatch {
                mileage_km: Some(1200),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.mileage_km, Some(1200));
    assert_invalid(
        s.update_asset(
            actor(),
            a.id,
            &AssetPatch {
                customer_id: Some(c.id + 77),
                ..Default::default()
            },
        )
        .await,
        "customer_id",
    );
}

async fn customer_with_asset(s: &dyn Store) -> (Customer, Asset) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let m = s.create_model(actor(), &sample_model("WM-7000", 24, 24)).await.unwrap();
    let a = s
        .create_asset(
            actor(),
            &sample_asset(c.id, m.id, "WM-1", Utc::now().date_naive() - Duration::days(30)),
        )
        .await
        .unwrap();
    (c, a)
}

pub async fn ticket_status_flow(s: &dyn Store) {
    let (c, a) = customer_with_asset(s).await;
    let t = s
        .create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id,
                asset_id: Some(a.id),
                subject: text("E21 drain pump"),
                description: "Water stays in the drum".into(),
                priority: Priority::High,
            },
        )
        .await
        .unwrap();
    assert_eq!(t.status, TicketStatus::Open);
    assert_eq!(t.history.len(), 1);
    let to = |st| TicketPatch {
        status: Some(st),
        note: Some("by test".into()),
        ..Default::default()
    };
    let t2 = s
        .update_ticket(actor(), t.id, &to(TicketStatus::InProgress))
        .await
        .unwrap();
    assert_eq!(t2.status, TicketStatus::InProgress);
    assert_eq!(t2.history.len(), 2);
    assert_eq!(t2.history[1].from.as_deref(), Some("open"));
    assert_eq!(t2.history[1].to, "in_progress");
    assert_eq!(t2.history[1].note.as_deref(), Some("by test"));
    s.update_ticket(actor(), t.id, &to(TicketStatus::Resolved))
        .await
        .unwrap();
    s.update_ticket(actor(), t.id, &to(TicketStatus::Closed)).await.unwrap();
    assert_conflict(s.update_ticket(actor(), t.id, &to(TicketStatus::Open)).await, "status");
    assert_eq!(
        s.get_ticket(t.id).await.unwrap().history.len(),
        4,
        "refused change left no trace"
    );

    assert_invalid(
        s.create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id + 50,
                asset_id: None,
                subject: text("x"),
                description: String::new(),
                priority: Priority::Low,
            },
        )
        .await,
        "customer_id",
    );
    // An asset must belong to the ticket's customer.
    let other = s
        .create_customer(actor(), &sample_customer("Bernd", &["+49302222222"]))
        .await
        .unwrap();
    assert_invalid(
        s.create_ticket(
            actor(),
            &NewTicket {
                customer_id: other.id,
                asset_id: Some(a.id),
                subject: text("x"),
                description: String::new(),
                priority: Priority::Low,
            },
        )
        .await,
        "asset_id",
    );
    let open = s
        .list_tickets(&TicketQuery {
            customer_id: Some(c.id),
            status: Some(TicketStatus::Open),
            limit: 10,
        })
        .await
        .unwrap();
    assert!(open.is_empty());
    let mine = s
        .list_tickets(&TicketQuery {
            customer_id: Some(c.id),
            status: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].history.len(), 4);
}

/// One step of a task, with the position where it needs one.
fn task_step(action: TaskAction, location: Option<GeoPoint>) -> TaskWrite {
    TaskWrite::Step(TaskStep {
        action,
        location,
        reason: None,
    })
}

/// Works an assigned order through its technician's task flow, as the mobile app does: accepted,
/// on the way, on site and, when `complete`, reported (fault code, work done, hours) and completed.
async fn work_task(s: &dyn Store, technician_id: i64, repair_order_id: i64, complete: bool) -> Task {
    let me = Actor::user(1);
    let step = task_step;
    let writes = [
        step(TaskAction::Accept, None),
        step(TaskAction::Depart, None),
        step(TaskAction::CheckIn, Some(GeoPoint::new(52.53, 13.38).unwrap())),
    ];
    let mut task = None;
    for w in &writes {
        task = Some(s.task_write(me, technician_id, repair_order_id, None, w).await.unwrap());
    }
    if complete {
        return work_task_finish(s, technician_id, repair_order_id).await;
    }
    task.unwrap()
}

/// The report and the completion of a task whose technician is on site.
async fn work_task_finish(s: &dyn Store, technician_id: i64, repair_order_id: i64) -> Task {
    let me = Actor::user(1);
    let report = TaskWrite::Report(TaskReport {
        fault_code: Some("E21".into()),
        diagnosis: None,
        work_done: Some(text("replaced the drain pump")),
        labour_hours: Some(1.0),
    });
    s.task_write(me, technician_id, repair_order_id, None, &report)
        .await
        .unwrap();
    let done = task_step(TaskAction::Complete, None);
    s.task_write(me, technician_id, repair_order_id, None, &done)
        .await
        .unwrap()
}

pub async fn repair_orders(s: &dyn Store) {
    let (c, a) = customer_with_asset(s).await;
    let st = s.create_station(actor(), &sample_station("North")).await.unwrap();
    let tech = s
        .create_technician(
            actor(),
            &NewTechnician {
                station_id: st.id,
                name: text("Tom Tech"),
                skills: st.skills.clone(),
                shifts: vec![],
                location: None,
            },
        )
        .await
        .unwrap();
    let t = s
        .create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id,
                asset_id: Some(a.id),
                subject: text("E21"),
                description: String::new(),
                priority: Priority::Normal,
            },
        )
        .await
        .unwrap();
    let ro = s
        .create_repair_order(
            actor(),
            &NewRepairOrder {
                ticket_id: t.id,
                asset_id: None,
                station_id: Some(st.id),
                technician_id: None,
                fault_code: Some("E21".into()),
                description: "replace pump".into(),
                scheduled_for: None,
                appointment: None,
                duration_minutes: None,
                parts: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(ro.asset_id, a.id, "asset taken from the ticket");
    assert_eq!(ro.customer_id, c.id);
    assert_eq!(ro.status, RepairStatus::New);
    // A fault code must be in the model's catalogue.
    assert_invalid(
        s.create_repair_order(
            actor(),
            &NewRepairOrder {
                ticket_id: t.id,
                asset_id: None,
                station_id: None,
                technician_id: None,
                fault_code: Some("E99".into()),
                description: String::new(),
                scheduled_for: None,
                appointment: None,
                duration_minutes: None,
                parts: vec![],
            },
        )
        .await,
        "fault_code",
    );
    let step = |status| RepairOrderPatch {
        status: Some(status),
        technician_id: Some(tech.id),
        ..Default::default()
    };
    assert_conflict(
        s.update_repair_order(actor(), ro.id, &step(RepairStatus::Completed))
            .await,
        "status",
    );
    s.update_repair_order(actor(), ro.id, &step(RepairStatus::Assigned))
        .await
        .unwrap();
    // Work on site and its completion are the technician's to record, with the report: editing
    // the order cannot set them.
    for status in [
        RepairStatus::InProgress,
        RepairStatus::Completed,
        RepairStatus::CannotComplete,
    ] {
        assert_conflict(s.update_repair_order(actor(), ro.id, &step(status)).await, "status");
    }
    work_task(s, tech.id, ro.id, false).await;
    assert_conflict(
        s.update_repair_order(actor(), ro.id, &step(RepairStatus::Completed))
            .await,
        "status",
    );
    assert_eq!(
        s.get_repair_order(ro.id).await.unwrap().status,
        RepairStatus::InProgress
    );
    work_task_finish(s, tech.id, ro.id).await;
    let done = s.get_repair_order(ro.id).await.unwrap();
    assert_eq!(done.status, RepairStatus::Completed);
    assert!(done.completed_at.is_some());
    assert_eq!(done.history.len(), 4);
    let job = s.callback_for_order(ro.id).await.unwrap().expect("a callback job");
    assert_eq!((job.customer_id, job.status), (c.id, JobStatus::Pending));
    assert_eq!(done.technician_id, Some(tech.id));
    assert_invalid(
        s.update_repair_order(
            actor(),
            ro.id,
            &RepairOrderPatch {
                technician_id: Some(tech.id + 100),
                ..Default::default()
            },
        )
        .await,
        "technician_id",
    );
    let by_tech = s
        .list_repair_orders(&RepairOrderQuery {
            technician_id: Some(tech.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_tech.len(), 1);
    let none = s
        .list_repair_orders(&RepairOrderQuery {
            technician_id: Some(tech.id + 1),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn complaints(s: &dyn Store) {
    let (c, _) = customer_with_asset(s).await;
    let k = s
        .create_complaint(
            actor(),
            &NewComplaint {
                customer_id: c.id,
                ticket_id: None,
                repair_order_id: None,
                category: ComplaintCategory::Delay,
                description: text("Technician came two days late"),
                owner_user_id: None,
                due_on: Some(date("2030-01-01")),
            },
        )
        .await
        .unwrap();
    assert_eq!(k.status, ComplaintStatus::Open);
    let r = s
        .update_complaint(
            actor(),
            k.id,
            &ComplaintPatch {
                status: Some(ComplaintStatus::Resolved),
                resolution: Some(text("Apologised, voucher sent")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status, ComplaintStatus::Resolved);
    assert_eq!(r.resolution.as_deref(), Some("Apologised, voucher sent"));
    s.update_complaint(
        actor(),
        k.id,
        &ComplaintPatch {
            status: Some(ComplaintStatus::Closed),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_conflict(
        s.update_complaint(
            actor(),
            k.id,
            &ComplaintPatch {
                status: Some(ComplaintStatus::Open),
                ..Default::default()
            },
        )
        .await,
        "status",
    );
    assert_eq!(s.list_complaints(Some(c.id), 10).await.unwrap().len(), 1);
    assert!(s.list_complaints(Some(c.id + 1), 10).await.unwrap().is_empty());

    // Open past the due date: escalated, once; due later, or resolved: not.
    let due = |on: &str| NewComplaint {
        customer_id: c.id,
        ticket_id: None,
        repair_order_id: None,
        category: ComplaintCategory::Parts,
        description: text("Part still missing"),
        owner_user_id: None,
        due_on: Some(date(on)),
    };
    let late = s.create_complaint(actor(), &due("2026-03-01")).await.unwrap();
    let soon = s.create_complaint(actor(), &due("2026-03-09")).await.unwrap();
    assert_eq!(late.escalated_at, None);
    let settled = s.create_complaint(actor(), &due("2026-02-01")).await.unwrap();
    s.update_complaint(
        actor(),
        settled.id,
        &ComplaintPatch {
            status: Some(ComplaintStatus::Resolved),
            resolution: Some(text("Part fitted")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = chrono::DateTime::from_timestamp(1_772_800_000, 0).unwrap();
    let escalated = s
        .escalate_overdue_complaints(actor(), date("2026-03-05"), now)
        .await
        .unwrap();
    assert_eq!(
        escalated.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![late.id],
        "{escalated:?}"
    );
    assert_eq!(escalated[0].escalated_at, Some(now));
    assert_eq!(s.get_complaint(late.id).await.unwrap().escalated_at, Some(now));
    assert!(s
        .escalate_overdue_complaints(actor(), date("2026-03-06"), now)
        .await
        .unwrap()
        .is_empty());
    let later = s
        .escalate_overdue_complaints(actor(), date("2026-03-10"), now)
        .await
        .unwrap();
    assert_eq!(later.iter().map(|k| k.id).collect::<Vec<_>>(), vec![soon.id]);
}

pub async fn stations_and_technicians(s: &dyn Store) {
    let st = s.create_station(actor(), &sample_station("North")).await.unwrap();
    assert_eq!(s.get_station(st.id).await.unwrap(), st);
    assert_eq!(st.opening_hours.len(), 1);
    let up = s
        .update_station(
            actor(),
            st.id,
            &StationPatch {
                capacity_per_day: Some(20),
                rating: Some(4.5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((up.capacity_per_day, up.rating), (20, 4.5));
    let t = s
        .create_technician(
            actor(),
            &NewTechnician {
                station_id: st.id,
                name: text("Tom Tech"),
                skills: st.skills.clone(),
                shifts: st.opening_hours.clone(),
                location: Some(GeoPoint::new(52.4, 13.3).unwrap()),
            },
        )
        .await
        .unwrap();
    assert_eq!(s.get_technician(t.id).await.unwrap(), t);
    assert_invalid(
        s.create_technician(
            actor(),
            &NewTechnician {
                station_id: st.id + 9,
                name: text("Nobody"),
                skills: vec![],
                shifts: vec![],
                location: None,
            },
        )
        .await,
        "station_id",
    );
    let moved = s
        .update_technician(
            actor(),
            t.id,
            &TechnicianPatch {
                location: Some(GeoPoint::new(52.0, 13.0).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.location, Some(GeoPoint::new(52.0, 13.0).unwrap()));
    assert_eq!(s.list_technicians(Some(st.id)).await.unwrap().len(), 1);
    assert_eq!(s.list_technicians(Some(st.id + 1)).await.unwrap().len(), 0);
    assert_eq!(s.list_stations().await.unwrap().len(), 1);
}

pub async fn stock_ledger(s: &dyn Store) {
    let st = s.create_station(actor(), &sample_station("North")).await.unwrap();
    let part = s
        .create_part(
            actor(),
            &NewPart {
                sku: SerialNumber::parse("DRP-100").unwrap(),
                name: text("Drain pump"),
                price: Money {
                    minor: 4590,
                    currency: Currency::parse("EUR").unwrap(),
                },
                product_line: None,
                safety_stock: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(s.get_part(part.id).await.unwrap(), part);
    let mv = |delta, reason| NewStockMovement {
        part_id: part.id,
        delta,
        reason,
        reference: text("repair_order:1"),
    };
    s.record_stock_movement(actor(), st.id, &mv(5, StockReason::Receipt))
        .await
        .unwrap();
    s.record_stock_movement(actor(), st.id, &mv(-3, StockReason::Consumption))
        .await
        .unwrap();
    assert_conflict(
        s.record_stock_movement(actor(), st.id, &mv(-3, StockReason::Consumption))
            .await,
        "delta",
    );
    let levels = s.stock_levels(st.id).await.unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(levels[0].quantity, 2);
    assert!(levels[0].below_safety_stock);
    let moves = s.stock_movements(st.id, 10).await.unwrap();
    assert_eq!(moves.iter().map(|m| m.delta).collect::<Vec<_>>(), vec![-3, 5]);
    assert_eq!(moves[0].reference, "repair_order:1");
    assert_invalid(
        s.record_stock_movement(
            actor(),
            st.id,
            &NewStockMovement {
                part_id: part.id + 40,
                ..mv(1, StockReason::Receipt)
            },
        )
        .await,
        "part_id",
    );
    assert_not_found(
        s.record_stock_movement(actor(), st.id + 40, &mv(1, StockReason::Receipt))
            .await,
    );
}

pub async fn knowledge_base(s: &dyn Store) {
    let art = |title: &str, body: &str, line: Option<&str>| NewKbArticle {
        title: text(title),
        body: text(body),
        product_line: line.map(|l| SkillName::parse(l).unwrap()),
        fault_code: None,
        tags: vec!["pump".into()],
    };
    let a = s
        .create_article(
            actor(),
            &art(
                "Drain pump blocked",
                "Clean the filter behind the flap",
                Some("washing_machines"),
            ),
        )
        .await
        .unwrap();
    s.create_article(
        actor(),
        &art(
            "Fridge warm",
            "Check the compressor and the drain",
            Some("refrigerators"),
        ),
    )
    .await
    .unwrap();
    let search = |q: &str, line: Option<&str>| KbQuery {
        q: Some(q.into()),
        product_line: line.map(|l| SkillName::parse(l).unwrap()),
        limit: 10,
    };
    assert_eq!(s.search_articles(&search("drain", None)).await.unwrap().len(), 2);
    assert_eq!(s.search_articles(&search("DRAIN filter", None)).await.unwrap().len(), 1);
    assert_eq!(
        s.search_articles(&search("drain", Some("refrigerators")))
            .await
            .unwrap()[0]
            .title,
        "Fridge warm"
    );
    assert_eq!(
        s.search_articles(&search("pump", None)).await.unwrap().len(),
        2,
        "tags count"
    );
    let up = s
        .update_article(
            actor(),
            a.id,
            &art("Drain pump blocked (E21)", "Clean the filter", None),
        )
        .await
        .unwrap();
    assert_eq!(up.title, "Drain pump blocked (E21)");
    assert_eq!(up.product_line, None);
    s.delete_article(actor(), a.id).await.unwrap();
    assert_not_found(s.get_article(a.id).await);
    assert_not_found(s.delete_article(actor(), a.id).await);
}

pub async fn users_sessions_and_audit(s: &dyn Store) {
    let u = s
        .create_user(
            actor(),
            &NewUserRecord {
                username: "agent1".into(),
                display_name: "Agent One".into(),
                role: Role::Agent,
                technician_id: None,
                password_hash: "$argon2id$fake".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap(), u);
    assert_conflict(
        s.create_user(
            actor(),
            &NewUserRecord {
                username: "agent1".into(),
                display_name: "Again".into(),
                role: Role::Agent,
                technician_id: None,
                password_hash: "x".into(),
            },
        )
        .await,
        "username",
    );
    let (cu, hash) = s.user_credentials("agent1").await.unwrap().unwrap();
    assert_eq!((cu.id, hash.as_str()), (u.id, "$argon2id$fake"));
    assert!(s.user_credentials("nobody").await.unwrap().is_none());

    let now = Utc::now();
    s.create_session("h1", u.id, now + Duration::hours(1)).await.unwrap();
    s.create_session("h2", u.id, now - Duration::seconds(1)).await.unwrap();
    assert_eq!(s.session_user("h1", now).await.unwrap().map(|x| x.id), Some(u.id));
    assert!(s.session_user("h2", now).await.unwrap().is_none(), "expired");
    assert!(s.session_user("nope", now).await.unwrap().is_none());
    s.delete_session("h1").await.unwrap();
    assert!(s.session_user("h1", now).await.unwrap().is_none(), "logged out");

    let c = s
        .create_customer(Actor::user(u.id), &sample_customer("Anna", &["+49301111111"]))
        .await
        .unwrap();
    s.update_customer(
        Actor::user(u.id),
        c.id,
        &CustomerPatch {
            do_not_call: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let log = s.list_audit(10).await.unwrap();
    let mine: Vec<_> = log.iter().filter(|e| e.user_id == Some(u.id)).collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(
        (mine[0].action.as_str(), mine[0].entity.as_str()),
        ("update", "customer")
    );
    assert_eq!(mine[0].entity_id, Some(c.id));
    assert_eq!(mine[0].detail["do_not_call"], true);
    assert_eq!(mine[1].action, "create");
    assert!(
        log.iter().all(|e| !e.detail.to_string().contains("argon2")),
        "no password hash in the audit log"
    );
}

pub async fn screen_pop_by_phone_and_serial(s: &dyn Store) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let m = s.create_model(actor(), &sample_model("WM-7000", 24, 24)).await.unwrap();
    let today = Utc::now().date_naive();
    let fresh = s
        .create_asset(
            actor(),
            &sample_asset(c.id, m.id, "WM-NEW-1", today - Duration::days(30)),
        )
        .await
        .unwrap();
    let old = s
        .create_asset(
            actor(),
            &sample_asset(c.id, m.id, "WM-OLD-1", today - Duration::days(1000)),
        )
        .await
        .unwrap();
    s.create_ticket(
        actor(),
        &NewTicket {
            customer_id: c.id,
            asset_id: Some(fresh.id),
            subject: text("E21"),
            description: String::new(),
            priority: Priority::Normal,
        },
    )
    .await
    .unwrap();
    s.add_interaction(
        actor(),
        c.id,
        &NewInteraction {
            kind: InteractionKind::Call,
            direction: Direction::Inbound,
            summary: text("called"),
            at: None,
        },
    )
    .await
    .unwrap();
    let pop = screen_pop(
        s,
        &Lookup::Phone(PhoneNumber::parse("+49301111111").unwrap()),
        today,
        ScreenPopSettings::default(),
    )
    .await
    .unwrap()
    .expect("customer found");
    assert_eq!(pop.customer.id, c.id);
    assert_eq!(pop.matched_by, "phone");
    let state = |id| pop.assets.iter().find(|a| a.asset.id == id).unwrap().warranty.state;
    assert_eq!(state(fresh.id), WarrantyState::InWarranty);
    assert_eq!(state(old.id), WarrantyState::Expired);
    assert_eq!(pop.open_tickets.len(), 1);
    assert_eq!(pop.recent_interactions.len(), 1);

    let by_serial = screen_pop(
        s,
        &Lookup::Serial(SerialNumber::parse("wm-old-1").unwrap()),
        today,
        ScreenPopSettings::default(),
    )
    .await
    .unwrap()
    .expect("found by serial");
    assert_eq!(by_serial.customer.id, c.id);
    assert_eq!(by_serial.matched_by, "serial");
    let nobody = screen_pop(
        s,
        &Lookup::Phone(PhoneNumber::parse("+49309999999").unwrap()),
        today,
        ScreenPopSettings::default(),
    )
    .await
    .unwrap();
    assert!(nobody.is_none());
}

pub async fn emptiness(s: &dyn Store) {
    s.ping().await.unwrap();
    assert!(s.is_empty().await.unwrap());
    s.create_customer(actor(), &sample_customer("Anna", &["+49301111111"]))
        .await
        .unwrap();
    assert!(!s.is_empty().await.unwrap());
}

pub async fn serial_by_keypad_digits(s: &dyn Store) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let m = s.create_model(actor(), &sample_model("WM-7000", 24, 12)).await.unwrap();
    let day = date("2026-01-15");
    let a = s
        .create_asset(actor(), &sample_asset(c.id, m.id, "WM-2026/0001", day))
        .await
        .unwrap();
    let found = s.find_asset_by_serial_digits("20260001").await.unwrap();
    assert_eq!(found.map(|x| x.id), Some(a.id));
    assert_eq!(
        s.find_asset_by_serial_digits("2026000").await.unwrap(),
        None,
        "whole digits only"
    );
    assert_eq!(s.find_asset_by_serial_digits("").await.unwrap(), None);
    assert_eq!(s.find_asset_by_serial_digits("2026'0001").await.unwrap(), None);
    // Two serials with the same digits: the keypad cannot tell them apart.
    s.create_asset(actor(), &sample_asset(c.id, m.id, "DW-2026-0001", day))
        .await
        .unwrap();
    assert_eq!(s.find_asset_by_serial_digits("20260001").await.unwrap(), None);
}

pub async fn call_detail_records(s: &dyn Store) {
    let c = s
        .create_customer(actor(), &sample_customer("Anna Müller", &["+49301111111"]))
        .await
        .unwrap();
    let t0 = Utc::now() - Duration::minutes(10);
    let cdr = |n: i64, customer_id: Option<i64>| NewCdr {
        call_id: format!("call-{n}@example"),
        direction: Direction::Inbound,
        caller: "+49301111111".into(),
        called: "800".into(),
        customer_id,
        started_at: t0 + Duration::seconds(n),
        answered_at: Some(t0 + Duration::seconds(n + 1)),
        ended_at: t0 + Duration::seconds(n + 30),
        ivr_script: Some("demo".into()),
        ivr_path: "identify>greet_known>menu>warranty".into(),
        dtmf: format!("1{n}#"),
        queue: None,
        outcome: CallOutcome::SelfService,
        end_reason: "caller_hangup".into(),
        recording: None,
        agent_id: None,
        queue_wait_ms: None,
        answered_within_sl: None,
        serial_owner_id: None,
        voicemail: None,
    };
    let first = s.insert_cdr(&cdr(1, Some(c.id))).await.unwrap();
    assert_eq!(first.call, {
        let mut x = cdr(1, Some(c.id));
        x.started_at = first.call.started_at;
        x.answered_at = first.call.answered_at;
        x.ended_at = first.call.ended_at;
        x
    });
    assert!(
        (first.call.started_at - (t0 + Duration::seconds(1)))
            .num_milliseconds()
            .abs()
            < 1
    );
    let agent = s
        .create_user(
            actor(),
            &NewUserRecord {
                username: "agent3".into(),
                display_name: "Agent Three".into(),
                role: Role::Agent,
                technician_id: None,
                password_hash: "x".into(),
            },
        )
        .await
        .unwrap();
    let mut queued = cdr(3, None);
    queued.outcome = CallOutcome::Answered;
    queued.queue = Some("repairs".into());
    queued.answered_at = None;
    queued.agent_id = Some(agent.id);
    queued.queue_wait_ms = Some(12_345);
    s.insert_cdr(&queued).await.unwrap();
    s.insert_cdr(&cdr(2, None)).await.unwrap();
    let list = s.list_cdrs(10).await.unwrap();
    let order: Vec<&str> = list.iter().map(|x| x.call.dtmf.as_str()).collect();
    assert_eq!(order, ["13#", "12#", "11#"], "newest first");
    assert_eq!(list[0].call.queue.as_deref(), Some("repairs"));
    assert_eq!(list[0].call.outcome, CallOutcome::Answered);
    assert_eq!(list[0].call.answered_at, None);
    assert_eq!(
        (list[0].call.agent_id, list[0].call.queue_wait_ms),
        (Some(agent.id), Some(12_345))
    );
    let mut ghost = cdr(5, None);
    ghost.agent_id = Some(agent.id + 999);
    let e = s.insert_cdr(&ghost).await.unwrap_err();
    assert!(e.to_string().contains("agent_id"), "{e}");
    assert_eq!(s.list_cdrs(2).await.unwrap().len(), 2);
    let e = s.insert_cdr(&cdr(4, Some(c.id + 999))).await.unwrap_err();
    assert!(e.to_string().contains("customer_id"), "{e}");
    let mut ghost_owner = cdr(6, Some(c.id));
    ghost_owner.serial_owner_id = Some(c.id + 999);
    let e = s.insert_cdr(&ghost_owner).await.unwrap_err();
    assert!(e.to_string().contains("serial_owner_id"), "{e}");
    assert_eq!(
        s.list_cdrs(10).await.unwrap().len(),
        3,
        "the refused record was not written"
    );
    // The caller and the owner of the serial they typed are both kept.
    let owner = s
        .create_customer(actor(), &sample_customer("Jonas Weber", &["+49301111112"]))
        .await
        .unwrap();
    let mut neighbour = cdr(7, Some(c.id));
    neighbour.serial_owner_id = Some(owner.id);
    s.insert_cdr(&neighbour).await.unwrap();
    let newest = &s.list_cdrs(1).await.unwrap()[0];
    assert_eq!(
        (newest.call.customer_id, newest.call.serial_owner_id),
        (Some(c.id), Some(owner.id))
    );
    // A message left by a caller nobody knows is written with its task to call back.
    let mut message = cdr(8, None);
    message.caller = "+4930555000111".into();
    message.outcome = CallOutcome::Voicemail;
    message.voicemail = Some("/data/voicemail/x.wav".into());
    let written = s.insert_cdr(&message).await.unwrap();
    assert_eq!(written.call.voicemail.as_deref(), Some("/data/voicemail/x.wav"));
    assert_eq!(s.get_cdr(written.id).await.unwrap(), written);
    let q = crate::care::AgentTaskQuery {
        kind: Some(crate::care::AgentTaskKind::Voicemail),
        limit: 10,
        ..Default::default()
    };
    let tasks = s.list_agent_tasks(&q).await.unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(
        (
            tasks[0].customer_id,
            tasks[0].callback_number.as_deref(),
            tasks[0].cdr_id,
            tasks[0].queue.as_str()
        ),
        (None, Some("+4930555000111"), Some(written.id), "general")
    );
    assert!(s.get_cdr(written.id + 1000).await.is_err());
}

pub async fn agent_skills(s: &dyn Store) {
    let u = s
        .create_user(
            actor(),
            &NewUserRecord {
                username: "agent7".into(),
                display_name: "Agent Seven".into(),
                role: Role::Agent,
                technician_id: None,
                password_hash: "x".into(),
            },
        )
        .await
        .unwrap();
    assert!(s.agent_skills(u.id).await.unwrap().is_empty());
    let skill = |n: &str, l: u8| AgentSkill {
        skill: n.into(),
        level: l,
    };
    let set = s
        .set_agent_skills(actor(), u.id, &[skill("truck", 4), skill("appliance", 2)])
        .await
        .unwrap();
    assert_eq!(set, vec![skill("appliance", 2), skill("truck", 4)], "sorted by name");
    assert_eq!(s.agent_skills(u.id).await.unwrap(), set);
    // Replaced as a whole.
    s.set_agent_skills(actor(), u.id, &[skill("complaints", 5)])
        .await
        .unwrap();
    assert_eq!(s.agent_skills(u.id).await.unwrap(), vec![skill("complaints", 5)]);
    // Refused lists change nothing.
    for bad in [
        vec![skill("truck", 0)],
        vec![skill("truck", 6)],
        vec![skill("", 1)],
        vec![skill("a b", 1)],
        vec![skill("truck", 1), skill("truck", 2)],
    ] {
        assert_invalid(s.set_agent_skills(actor(), u.id, &bad).await, "skills");
    }
    assert_eq!(s.agent_skills(u.id).await.unwrap(), vec![skill("complaints", 5)]);
    assert_not_found(s.set_agent_skills(actor(), 999_999, &[skill("truck", 1)]).await);
}

fn sample_part(sku: &str, safety_stock: u32) -> NewPart {
    NewPart {
        sku: SerialNumber::parse(sku).unwrap(),
        name: text("Drain pump"),
        price: Money {
            minor: 4590,
            currency: Currency::parse("EUR").unwrap(),
        },
        product_line: None,
        safety_stock,
    }
}

/// A technician's task from assignment to completion: the flow and its refusals, the report,
/// parts (stock and billing), photos, the signature, idempotent retries, and isolation from
/// another technician.
pub async fn field_tasks(s: &dyn Store) {
    let (c, a) = customer_with_asset(s).await;
    let st = s.create_station(actor(), &sample_station("North")).await.unwrap();
    let tech = |name: &'static str| NewTechnician {
        station_id: st.id,
        name: text(name),
        skills: st.skills.clone(),
        shifts: vec![],
        location: None,
    };
    let tom = s.create_technician(actor(), &tech("Tom Tech")).await.unwrap();
    let eve = s.create_technician(actor(), &tech("Eve Other")).await.unwrap();
    let part = s.create_part(actor(), &sample_part("DRP-100", 1)).await.unwrap();
    s.record_stock_movement(
        actor(),
        st.id,
        &NewStockMovement {
            part_id: part.id,
            delta: 2,
            reason: StockReason::Receipt,
            reference: text("delivery:1"),
        },
    )
    .await
    .unwrap();
    let t = s
        .create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id,
                asset_id: Some(a.id),
                subject: text("pump"),
                description: String::new(),
                priority: Priority::High,
            },
        )
        .await
        .unwrap();
    let booked = Appointment {
        from: "2026-03-02T09:00:00Z".parse().unwrap(),
        to: "2026-03-02T11:00:00Z".parse().unwrap(),
    };
    let ro = s
        .create_repair_order(
            actor(),
            &NewRepairOrder {
                ticket_id: t.id,
                asset_id: None,
                station_id: None,
                technician_id: None,
                fault_code: None,
                description: "drain pump noisy".into(),
                scheduled_for: None,
                appointment: Some(booked),
                duration_minutes: Some(60),
                parts: vec![NeededPart {
                    part_id: part.id,
                    quantity: 2,
                }],
            },
        )
        .await
        .unwrap();
    assert_eq!((ro.duration_minutes, ro.task_status), (60, None));
    assert_eq!(ro.appointment, Some(booked), "the appointment is kept");
    let sites = s.order_sites(&[ro.id, ro.id + 1000]).await.unwrap();
    assert_eq!(
        sites,
        vec![OrderSite {
            repair_order_id: ro.id,
            location: c.addresses[0].location,
            product_line: s.get_model(a.model_id).await.unwrap().product_line.as_str().to_string(),
            priority: Priority::High,
            customer: c.name.as_str().to_string(),
            address: format!("{}, {}", c.addresses[0].line1.as_str(), c.addresses[0].city.as_str()),
            model: s.get_model(a.model_id).await.unwrap().name.as_str().to_string(),
        }]
    );
    assert_eq!(
        s.get_repair_order(ro.id).await.unwrap().parts_needed,
        vec![NeededPart {
            part_id: part.id,
            quantity: 2
        }]
    );
    let unknown_part = NewRepairOrder {
        ticket_id: t.id,
        asset_id: None,
        station_id: None,
        technician_id: None,
        fault_code: None,
        description: String::new(),
        scheduled_for: None,
        appointment: None,
        duration_minutes: None,
        parts: vec![NeededPart {
            part_id: part.id + 99,
            quantity: 1,
        }],
    };
    assert_invalid(s.create_repair_order(actor(), &unknown_part).await, "parts[0].part_id");
    // Unassigned: no task for anybody, and dispatch's reason is kept.
    assert_not_found(s.tech_task(tom.id, ro.id).await);
    let un = s
        .set_dispatch(
            actor(),
            ro.id,
            &DispatchDecision::Unassigned {
                reason: "no_capacity".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(un.unassigned_reason.as_deref(), Some("no_capacity"));
    let when = Utc::now() + Duration::hours(2);
    let ro = s
        .set_dispatch(
            actor(),
            ro.id,
            &DispatchDecision::Assign {
                station_id: st.id,
                technician_id: tom.id,
                scheduled_for: when,
                route_seq: Some(1),
                appointment: None,
                override_reason: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(ro.status, RepairStatus::Assigned);
    assert_eq!(
        (ro.task_status, ro.route_seq, ro.unassigned_reason.clone()),
        (Some(TaskStatus::Assigned), Some(1), None)
    );
    assert_eq!(ro.appointment, Some(booked), "dispatch keeps the booked window");
    let rebooked = Appointment {
        from: booked.from + Duration::hours(4),
        to: booked.to + Duration::hours(4),
    };
    let ro = s
        .set_dispatch(
            actor(),
            ro.id,
            &DispatchDecision::Assign {
                station_id: st.id,
                technician_id: tom.id,
                scheduled_for: rebooked.from,
                route_seq: None,
                appointment: Some(rebooked),
                override_reason: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (ro.appointment, ro.scheduled_for),
        (Some(rebooked), Some(rebooked.from))
    );
    let since = Utc::now() - Duration::hours(1);
    assert_eq!(s.tech_tasks(tom.id, since).await.unwrap().len(), 1);
    assert!(s.tech_tasks(eve.id, since).await.unwrap().is_empty());
    assert_not_found(s.tech_task(eve.id, ro.id).await);

    let step = |action, location: Option<GeoPoint>, reason: Option<&str>| {
        TaskWrite::Step(TaskStep {
            action,
            location,
            reason: reason.map(text),
        })
    };
    let me = Actor::user(1);
    // Another technician cannot touch it, whatever the write.
    assert_not_found(
        s.task_write(me, eve.id, ro.id, None, &step(TaskAction::Accept, None, None))
            .await,
    );
    // Illegal transition: 409 naming the allowed ones.
    match s
        .task_write(me, tom.id, ro.id, None, &step(TaskAction::Complete, None, None))
        .await
    {
        Err(StoreError::Conflict { field, message }) => {
            assert_eq!(field, "action");
            assert!(message.contains("allowed: accept"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let key = Idempotency {
        key: "k-accept".into(),
        fingerprint: "POST accept".into(),
    };
    let accepted = s
        .task_write(me, tom.id, ro.id, Some(&key), &step(TaskAction::Accept, None, None))
        .await
        .unwrap();
    assert_eq!(accepted.status, TaskStatus::Accepted);
    // The retry is answered the same and applies nothing (accepting twice would be a 409).
    let again = s
        .task_write(me, tom.id, ro.id, Some(&key), &step(TaskAction::Accept, None, None))
        .await
        .unwrap();
    assert_eq!(again, accepted);
    let reused = Idempotency {
        fingerprint: "POST depart".into(),
        ..key.clone()
    };
    assert_conflict(
        s.task_write(me, tom.id, ro.id, Some(&reused), &step(TaskAction::Depart, None, None))
            .await,
        "Idempotency-Key",
    );
    s.task_write(me, tom.id, ro.id, None, &step(TaskAction::Depart, None, None))
        .await
        .unwrap();
    // Started work is not reassigned.
    assert_conflict(
        s.set_dispatch(
            actor(),
            ro.id,
            &DispatchDecision::Assign {
                station_id: st.id,
                technician_id: eve.id,
                scheduled_for: when,
                route_seq: None,
                appointment: None,
                override_reason: None,
            },
        )
        .await,
        "technician_id",
    );
    assert_invalid(
        s.task_write(me, tom.id, ro.id, None, &step(TaskAction::CheckIn, None, None))
            .await,
        "location",
    );
    let home = c.addresses[0].location.unwrap();
    let near = GeoPoint::new(home.lat + 0.001, home.lon).unwrap();
    let on_site = s
        .task_write(me, tom.id, ro.id, None, &step(TaskAction::CheckIn, Some(near), None))
        .await
        .unwrap();
    assert_eq!(on_site.status, TaskStatus::OnSite);
    assert_eq!(on_site.repair_status, RepairStatus::InProgress);
    let d = on_site.check_in.as_ref().unwrap().distance_m.unwrap();
    assert!((100.0..123.0).contains(&d), "{d}");
    // Completing needs the report first: the fault found, the work done and the hours.
    assert_invalid(
        s.task_write(me, tom.id, ro.id, None, &step(TaskAction::Complete, None, None))
            .await,
        "fault_code",
    );
    let without_fault = TaskWrite::Report(TaskReport {
        work_done: Some(text("cleaned the filter")),
        labour_hours: Some(0.5),
        ..Default::default()
    });
    s.task_write(me, tom.id, ro.id, None, &without_fault).await.unwrap();
    assert_invalid(
        s.task_write(me, tom.id, ro.id, None, &step(TaskAction::Complete, None, None))
            .await,
        "fault_code",
    );
    assert_invalid(
        s.task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Report(TaskReport {
                fault_code: Some("NOPE".into()),
                ..Default::default()
            }),
        )
        .await,
        "fault_code",
    );
    let reported = s
        .task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Report(TaskReport {
                fault_code: Some("E21".into()),
                diagnosis: Some(text("pump blocked by a coin")),
                work_done: Some(text("replaced the drain pump")),
                labour_hours: Some(1.5),
            }),
        )
        .await
        .unwrap();
    assert_eq!(reported.fault_code.as_deref(), Some("E21"));
    assert_eq!(reported.labour_hours, Some(1.5));
    // Parts: the ledger goes down, never below zero; in warranty, billed to the warranty.
    let used = s
        .task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Part(NewPartUse {
                part_id: part.id,
                quantity: 2,
            }),
        )
        .await
        .unwrap();
    assert_eq!(used.parts.len(), 1);
    assert_eq!((used.parts[0].quantity, used.parts[0].billing), (2, Billing::Warranty));
    // A part made for another product line does not go into this washing machine.
    let compressor = NewPart {
        product_line: Some(SkillName::parse("refrigerators").unwrap()),
        ..sample_part("CMP-200", 0)
    };
    let compressor = s.create_part(actor(), &compressor).await.unwrap();
    assert_invalid(
        s.task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Part(NewPartUse {
                part_id: compressor.id,
                quantity: 1,
            }),
        )
        .await,
        "part_id",
    );
    assert_conflict(
        s.task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Part(NewPartUse {
                part_id: part.id,
                quantity: 1,
            }),
        )
        .await,
        "quantity",
    );
    let levels = s.stock_levels(st.id).await.unwrap();
    assert_eq!(levels[0].quantity, 0);
    let moves = s.stock_movements(st.id, 5).await.unwrap();
    assert_eq!(moves[0].reference, format!("repair_order:{}", ro.id));
    assert_eq!(moves[0].reason, StockReason::Consumption);
    let file = |name: &str| StoredFile {
        path: format!("photos/{name}"),
        content_type: "image/png".into(),
        bytes: 68,
        sha256: name.repeat(4),
    };
    s.task_write(me, tom.id, ro.id, None, &TaskWrite::Photo(file("ab")))
        .await
        .unwrap();
    let photos = s
        .task_write(me, tom.id, ro.id, None, &TaskWrite::Photo(file("ab")))
        .await
        .unwrap();
    assert_eq!(photos.photos.len(), 1, "the same photo twice is stored once");
    let signed = s
        .task_write(
            me,
            tom.id,
            ro.id,
            None,
            &TaskWrite::Signature {
                signed_by: text("Anna Müller"),
                file: file("cd"),
            },
        )
        .await
        .unwrap();
    assert_eq!(signed.signature.as_ref().unwrap().signed_by, "Anna Müller");
    let paused = s
        .task_write(me, tom.id, ro.id, None, &step(TaskAction::Pause, None, None))
        .await
        .unwrap();
    assert_eq!(paused.allowed, vec![TaskAction::Resume, TaskAction::CannotComplete]);
    s.task_write(me, tom.id, ro.id, None, &step(TaskAction::Resume, None, None))
        .await
        .unwrap();
    let done = s
        .task_write(me, tom.id, ro.id, None, &step(TaskAction::Complete, None, None))
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.repair_status),
        (TaskStatus::Completed, RepairStatus::Completed)
    );
    assert!(done.allowed.is_empty());
    let steps: Vec<&str> = done.history.iter().map(|h| h.to.as_str()).collect();
    assert_eq!(
        steps,
        ["accepted", "en_route", "on_site", "paused", "on_site", "completed"]
    );
    let ro = s.get_repair_order(ro.id).await.unwrap();
    assert_eq!(ro.status, RepairStatus::Completed);
    assert!(ro.completed_at.is_some());
    // The completion owes the customer a satisfaction callback, written with it.
    let job = s.callback_for_order(ro.id).await.unwrap().expect("a callback job");
    assert_eq!(
        (job.status, job.attempts, Some(job.due_at)),
        (JobStatus::Pending, 0, ro.completed_at)
    );
    // Finished today: still in today's list; the task is kept as written.
    let listed = s.tech_tasks(tom.id, since).await.unwrap();
    assert_eq!(listed, vec![done]);
    // Positions: newer reports move the technician, older ones are ignored.
    let t0 = Utc::now();
    assert!(s.record_position(tom.id, near, t0).await.unwrap());
    assert!(!s
        .record_position(tom.id, home, t0 - Duration::seconds(5))
        .await
        .unwrap());
    assert_eq!(s.get_technician(tom.id).await.unwrap().location, Some(near));
    assert_not_found(s.record_position(eve.id + 50, near, t0).await);
}

/// Transfers move stock between stations as one document or not at all; a stocktake books
/// each variance; alerts list what is below safety stock.
pub async fn stock_operations(s: &dyn Store) {
    let north = s.create_station(actor(), &sample_station("North")).await.unwrap();
    let south = s.create_station(actor(), &sample_station("South")).await.unwrap();
    let pump = s.create_part(actor(), &sample_part("DRP-100", 3)).await.unwrap();
    let belt = s.create_part(actor(), &sample_part("BLT-200", 0)).await.unwrap();
    s.record_stock_movement(
        actor(),
        north.id,
        &NewStockMovement {
            part_id: pump.id,
            delta: 5,
            reason: StockReason::Receipt,
            reference: text("delivery:7"),
        },
    )
    .await
    .unwrap();
    let transfer = |q| NewTransfer {
        from_station_id: north.id,
        to_station_id: south.id,
        part_id: pump.id,
        quantity: q,
    };
    assert_conflict(s.transfer_stock(actor(), &transfer(6)).await, "quantity");
    assert!(
        s.stock_levels(south.id).await.unwrap().is_empty(),
        "a refused transfer changes nothing"
    );
    let tr = s.transfer_stock(actor(), &transfer(4)).await.unwrap();
    let q = |levels: Vec<StockLevel>, part: i64| levels.iter().find(|l| l.part_id == part).map(|l| l.quantity);
    assert_eq!(q(s.stock_levels(north.id).await.unwrap(), pump.id), Some(1));
    assert_eq!(q(s.stock_levels(south.id).await.unwrap(), pump.id), Some(4));
    let out = &s.stock_movements(north.id, 1).await.unwrap()[0];
    let inn = &s.stock_movements(south.id, 1).await.unwrap()[0];
    assert_eq!([out.id, inn.id], tr.movement_ids);
    assert_eq!(
        (out.reason, inn.reason),
        (StockReason::TransferOut, StockReason::TransferIn)
    );
    assert_eq!(out.reference, format!("transfer:{}", tr.id));
    assert_eq!(inn.reference, out.reference);
    assert_invalid(
        s.transfer_stock(
            actor(),
            &NewTransfer {
                to_station_id: north.id,
                ..transfer(1)
            },
        )
        .await,
        "to_station_id",
    );
    assert_invalid(
        s.transfer_stock(
            actor(),
            &NewTransfer {
                part_id: pump.id + 99,
                ..transfer(1)
            },
        )
        .await,
        "part_id",
    );
    // North: 1 pump below its safety stock of 3.
    let alerts = s.stock_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].station_id, alerts[0].part_id, alerts[0].quantity),
        (north.id, pump.id, 1)
    );
    let take = s
        .stocktake(
            actor(),
            south.id,
            &NewStocktake {
                counts: vec![
                    StockCount {
                        part_id: pump.id,
                        counted: 3,
                    },
                    StockCount {
                        part_id: belt.id,
                        counted: 2,
                    },
                ],
            },
        )
        .await
        .unwrap();
    let v: Vec<(i64, i64)> = take.lines.iter().map(|l| (l.expected, l.variance)).collect();
    assert_eq!(v, [(4, -1), (0, 2)]);
    let moves = s.stock_movements(south.id, 2).await.unwrap();
    assert!(moves
        .iter()
        .all(|m| m.reason == StockReason::Stocktake && m.reference == format!("stocktake:{}", take.id)));
    assert_eq!(q(s.stock_levels(south.id).await.unwrap(), belt.id), Some(2));
    assert_invalid(
        s.stocktake(
            actor(),
            south.id,
            &NewStocktake {
                counts: vec![StockCount {
                    part_id: belt.id + 99,
                    counted: 1,
                }],
            },
        )
        .await,
        "counts[0].part_id",
    );
    assert_not_found(
        s.stocktake(
            actor(),
            south.id + 99,
            &NewStocktake {
                counts: vec![StockCount {
                    part_id: belt.id,
                    counted: 1,
                }],
            },
        )
        .await,
    );
}

/// Satisfaction callbacks: one job per completion, written with it; leases keep two nodes off
/// one job; an attempt is recorded under its key before dialling, and one whose node died is
/// never placed again; a survey ends the job and scores the station and technician.
pub async fn callbacks(s: &dyn Store) {
    let (c, a) = customer_with_asset(s).await;
    let st = s.create_station(actor(), &sample_station("North")).await.unwrap();
    let tech = s
        .create_technician(
            actor(),
            &NewTechnician {
                station_id: st.id,
                name: text("Tom Tech"),
                skills: st.skills.clone(),
                shifts: vec![],
                location: None,
            },
        )
        .await
        .unwrap();
    let mut orders = vec![];
    for i in 0..7 {
        let t = s
            .create_ticket(
                actor(),
                &NewTicket {
                    customer_id: c.id,
                    asset_id: Some(a.id),
                    subject: text("E21"),
                    description: String::new(),
                    priority: Priority::Normal,
                },
            )
            .await
            .unwrap();
        let ro = s
            .create_repair_order(
                actor(),
                &NewRepairOrder {
                    ticket_id: t.id,
                    asset_id: None,
                    station_id: Some(st.id),
                    technician_id: None,
                    fault_code: None,
                    description: format!("repair {i}"),
                    scheduled_for: None,
                    appointment: None,
                    duration_minutes: None,
                    parts: vec![],
                },
            )
            .await
            .unwrap();
        let to = |status| RepairOrderPatch {
            status: Some(status),
            technician_id: Some(tech.id),
            ..Default::default()
        };
        s.update_repair_order(actor(), ro.id, &to(RepairStatus::Assigned))
            .await
            .unwrap();
        work_task(s, tech.id, ro.id, false).await;
        assert!(
            s.callback_for_order(ro.id).await.unwrap().is_none(),
            "not before completion"
        );
        if i < 6 {
            work_task_finish(s, tech.id, ro.id).await;
        }
        orders.push(ro.id);
    }
    assert!(s.callback_for_order(orders[6]).await.unwrap().is_none());
    // Whole seconds: what every backend stores exactly.
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp() + 60, 0).unwrap();

    // Two nodes claiming at once share the due jobs without overlap.
    let (x, y) =
        futures_util::future::join(s.claim_callbacks("a", now, 60, 4), s.claim_callbacks("b", now, 60, 4)).await;
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut ids: Vec<i64> = x.iter().chain(&y).map(|j| j.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((x.len() + y.len(), ids.len()), (6, 6), "{x:?} {y:?}");
    assert!(
        s.claim_callbacks("c", now, 60, 10).await.unwrap().is_empty(),
        "all leased"
    );
    let (held, node) = if x.is_empty() { (&y[0], "b") } else { (&x[0], "a") };
    let other = if node == "a" { "b" } else { "a" };
    assert_eq!(held.lease_owner.as_deref(), Some(node));

    // Only the holder records an attempt; its key names the job and the attempt.
    assert_conflict(s.begin_attempt(other, held.id, now).await, "lease");
    let first = s.begin_attempt(node, held.id, now).await.unwrap();
    assert_eq!(
        (first.attempt, first.idempotency_key.clone()),
        (1, attempt_key(held.id, 1))
    );
    let retry = now + Duration::hours(1);
    let job = s
        .finish_attempt(first.id, Outcome::NoAnswer, now, AfterAttempt::Retry(retry))
        .await
        .unwrap();
    assert_eq!(
        (job.status, job.attempts, job.due_at, job.lease_owner),
        (JobStatus::Pending, 1, retry, None)
    );
    assert_conflict(
        s.finish_attempt(first.id, Outcome::Answered, now, AfterAttempt::End(JobStatus::Done))
            .await,
        "outcome",
    );

    // The node dies between recording attempt 2 and its outcome.
    let t2 = retry + Duration::minutes(1);
    let again = s.claim_callbacks(node, t2, 60, 10).await.unwrap();
    assert!(again.iter().any(|j| j.id == held.id), "due again after the back-off");
    let second = s.begin_attempt(node, held.id, t2).await.unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(
        s.recover_callbacks(t2 + Duration::seconds(30)).await.unwrap(),
        0,
        "lease still held"
    );
    // A call outlasting its lease keeps it by renewing; only the holder can.
    s.renew_callback(node, held.id, t2 + Duration::seconds(50), 60)
        .await
        .unwrap();
    assert_conflict(
        s.renew_callback(other, held.id, t2 + Duration::seconds(50), 60).await,
        "lease",
    );
    assert_eq!(
        s.recover_callbacks(t2 + Duration::seconds(90)).await.unwrap(),
        0,
        "renewed"
    );
    let later = t2 + Duration::minutes(3);
    assert_eq!(s.recover_callbacks(later).await.unwrap(), 1);
    let attempts = s.callback_attempts(held.id).await.unwrap();
    assert_eq!(attempts[1].outcome, Some(Outcome::InDoubt));
    // The expired holder cannot go on; the other node takes over with attempt 3, never 2.
    assert_conflict(s.begin_attempt(node, held.id, later).await, "lease");
    let taken = s.claim_callbacks(other, later, 60, 10).await.unwrap();
    assert!(taken.iter().any(|j| j.id == held.id));
    let third = s.begin_attempt(other, held.id, later).await.unwrap();
    assert_eq!(
        (third.attempt, third.idempotency_key.clone()),
        (3, attempt_key(held.id, 3))
    );
    assert_eq!(s.customer_attempts_since(c.id, now).await.unwrap(), 3);
    assert_eq!(
        s.customer_attempts_since(c.id, later + Duration::seconds(1))
            .await
            .unwrap(),
        0
    );

    // The customer answers: the survey ends the job and scores the station and technician.
    let survey = |repair_order_id, score: u8| NewSurvey {
        repair_order_id,
        job_id: None,
        repair_score: score,
        technician_score: 5,
        fixed_first_time: score > 2,
        comment_path: None,
    };
    assert_invalid(
        s.record_survey(actor(), &survey(held.repair_order_id, 6), later).await,
        "repair_score",
    );
    assert_conflict(
        s.record_survey(actor(), &survey(orders[6], 4), later).await,
        "repair_order_id",
    );
    let wrong_job = NewSurvey {
        job_id: Some(held.id),
        ..survey(orders.iter().copied().find(|o| *o != held.repair_order_id).unwrap(), 4)
    };
    assert_invalid(s.record_survey(actor(), &wrong_job, later).await, "job_id");
    let answered = NewSurvey {
        job_id: Some(held.id),
        ..survey(held.repair_order_id, 4)
    };
    let r = s.record_survey(actor(), &answered, later).await.unwrap();
    assert_eq!((r.station_id, r.technician_id), (Some(st.id), Some(tech.id)));
    assert_conflict(s.record_survey(actor(), &answered, later).await, "repair_order_id");
    let job = s
        .finish_attempt(third.id, Outcome::Answered, later, AfterAttempt::Retry(later))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Done, "the survey ended the job");
    assert_eq!(r.complaint_id, None, "a good answer opens no complaint");
    let other_order = orders.iter().copied().find(|o| *o != held.repair_order_id).unwrap();
    let poor = s.record_survey(actor(), &survey(other_order, 2), later).await.unwrap();
    // A poor answer opens a complaint about the repair, in the same write.
    let complaint = s.get_complaint(poor.complaint_id.expect("a complaint")).await.unwrap();
    assert_eq!(
        (complaint.repair_order_id, complaint.category, complaint.status),
        (
            Some(other_order),
            ComplaintCategory::ProductQuality,
            ComplaintStatus::Open
        )
    );
    assert_eq!(complaint.due_on, Some((later + Duration::days(3)).date_naive()));
    // The answers are on the order and in the customer's history.
    assert_eq!(s.survey_for_order(held.repair_order_id).await.unwrap(), Some(r.clone()));
    assert_eq!(s.survey_for_order(other_order).await.unwrap(), Some(poor.clone()));
    assert_eq!(s.survey_for_order(orders[6]).await.unwrap(), None);
    let history = s.list_interactions(c.id, 10).await.unwrap();
    let surveyed: Vec<&str> = history
        .iter()
        .filter(|i| i.summary.starts_with("Satisfaction survey"))
        .map(|i| i.summary.as_str())
        .collect();
    assert_eq!(surveyed.len(), 2, "{history:?}");
    assert!(
        surveyed
            .iter()
            .any(|t| t.contains("repair 2/5") && t.contains("not fixed")),
        "{surveyed:?}"
    );
    let score = s.station_score(st.id).await.unwrap();
    assert_eq!(
        (score.surveys, score.mean, score.first_time_fix),
        (2, Some(3.0), Some(0.5))
    );
    let score = s.technician_score(tech.id).await.unwrap();
    assert_eq!((score.surveys, score.mean), (2, Some(5.0)));
    assert_eq!(s.station_score(st.id + 99).await.unwrap().mean, None);

    // A job not to be dialled now waits or ends without an attempt.
    let rest = s
        .claim_callbacks("c", later + Duration::hours(1), 60, 10)
        .await
        .unwrap();
    let pending: Vec<&CallbackJob> = rest.iter().filter(|j| j.status == JobStatus::Pending).collect();
    assert_eq!(pending.len(), 4, "{rest:?}");
    let stopped = s
        .defer_callback("c", pending[0].id, later, AfterAttempt::End(JobStatus::DoNotCall))
        .await
        .unwrap();
    assert_eq!(stopped.status, JobStatus::DoNotCall);
    assert!(stopped.finished_at.is_some());
    assert_conflict(
        s.defer_callback("d", pending[1].id, later, AfterAttempt::Retry(later))
            .await,
        "lease",
    );
}

fn user_record(username: &str, display_name: &str, role: Role) -> NewUserRecord {
    NewUserRecord {
        username: username.into(),
        display_name: display_name.into(),
        role,
        technician_id: None,
        password_hash: "x".into(),
    }
}

/// A station, its technician and `n` repair orders for one customer's asset, each completed.
async fn completed_repairs(s: &dyn Store, n: usize) -> (Customer, Station, Technician, Vec<i64>) {
    let (c, a) = customer_with_asset(s).await;
    let st = s.create_station(actor(), &sample_station("South")).await.unwrap();
    let new_tech = NewTechnician {
        station_id: st.id,
        name: text("Tina Tech"),
        skills: st.skills.clone(),
        shifts: vec![],
        location: None,
    };
    let tech = s.create_technician(actor(), &new_tech).await.unwrap();
    let mut ids = vec![];
    for i in 0..n {
        let ticket = NewTicket {
            customer_id: c.id,
            asset_id: Some(a.id),
            subject: text("No heat"),
            description: String::new(),
            priority: Priority::Normal,
        };
        let t = s.create_ticket(actor(), &ticket).await.unwrap();
        let order = NewRepairOrder {
            ticket_id: t.id,
            asset_id: None,
            station_id: Some(st.id),
            technician_id: Some(tech.id),
            fault_code: None,
            description: format!("visit {i}"),
            scheduled_for: None,
            appointment: None,
            duration_minutes: None,
            parts: vec![],
        };
        let ro = s.create_repair_order(actor(), &order).await.unwrap();
        let p = RepairOrderPatch {
            status: Some(RepairStatus::Assigned),
            technician_id: Some(tech.id),
            ..Default::default()
        };
        s.update_repair_order(actor(), ro.id, &p).await.unwrap();
        work_task(s, tech.id, ro.id, true).await;
        ids.push(ro.id);
    }
    (c, st, tech, ids)
}

pub async fn agent_tasks(s: &dyn Store) {
    use crate::care::*;
    let user = |name: &str, role| user_record(name, name, role);
    let ann = s.create_user(actor(), &user("ann", Role::Agent)).await.unwrap();
    let bob = s.create_user(actor(), &user("bob", Role::Agent)).await.unwrap();
    let sue = s.create_user(actor(), &user("sue", Role::Supervisor)).await.unwrap();
    let (c, st, tech, orders) = completed_repairs(s, 3).await;
    let new_complaint = |owner| NewComplaint {
        customer_id: c.id,
        ticket_id: None,
        repair_order_id: None,
        category: ComplaintCategory::Delay,
        description: text("Waited a week"),
        owner_user_id: owner,
        due_on: Some(date("2026-03-01")),
    };

    // Without agents who take complaints, a supervisor owns a new complaint.
    let first = s.create_complaint(actor(), &new_complaint(None)).await.unwrap();
    assert_eq!(first.owner_user_id, Some(sue.id));
    // Then the least loaded agent with the skill, the better level first.
    let skill = |l| {
        [AgentSkill {
            skill: "complaints".into(),
            level: l,
        }]
    };
    s.set_agent_skills(actor(), ann.id, &skill(4)).await.unwrap();
    s.set_agent_skills(actor(), bob.id, &skill(5)).await.unwrap();
    let owners = [
        s.create_complaint(actor(), &new_complaint(None))
            .await
            .unwrap()
            .owner_user_id,
        s.create_complaint(actor(), &new_complaint(None))
            .await
            .unwrap()
            .owner_user_id,
        s.create_complaint(actor(), &new_complaint(Some(ann.id)))
            .await
            .unwrap()
            .owner_user_id,
        s.create_complaint(actor(), &new_complaint(None))
            .await
            .unwrap()
            .owner_user_id,
    ];
    assert_eq!(owners, [Some(bob.id), Some(ann.id), Some(ann.id), Some(bob.id)]);

    // Escalation alerts the supervisors once per complaint.
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let escalated = s
        .escalate_overdue_complaints(actor(), date("2026-03-05"), now)
        .await
        .unwrap();
    assert_eq!(escalated.len(), 5);
    s.escalate_overdue_complaints(actor(), date("2026-03-06"), now)
        .await
        .unwrap();
    let supervisors = |kind| {
        AgentTaskQuery {
            queues: vec![SUPERVISORS.into()],
            limit: 100,
            ..Default::default()
        }
        .with_kind(kind)
    };
    let alerts = s.list_agent_tasks(&supervisors(None)).await.unwrap();
    assert_eq!(alerts.len(), 5, "{alerts:?}");
    assert!(alerts
        .iter()
        .all(|t| t.kind == AgentTaskKind::ComplaintEscalated && t.status == AgentTaskStatus::Open));
    assert_eq!(alerts[0].source, escalation_source(alerts[0].complaint_id.unwrap()));

    // Resolving a complaint raises its follow-up call two days later, once.
    let resolve = ComplaintPatch {
        status: Some(ComplaintStatus::InProgress),
        ..Default::default()
    };
    s.update_complaint(actor(), first.id, &resolve).await.unwrap();
    let resolve = ComplaintPatch {
        status: Some(ComplaintStatus::Resolved),
        resolution: Some(text("Replaced the pump")),
        ..Default::default()
    };
    s.update_complaint(actor(), first.id, &resolve).await.unwrap();
    let follow = s
        .list_agent_tasks(&AgentTaskQuery {
            queues: vec!["complaints".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(follow.len(), 1);
    assert_eq!(
        (follow[0].kind, follow[0].complaint_id, follow[0].customer_id),
        (AgentTaskKind::ComplaintFollowUp, Some(first.id), Some(c.id))
    );
    let days = (follow[0].due_at - follow[0].created_at).num_days();
    assert_eq!(days, FOLLOW_UP_DAYS);

    // A callback out of attempts becomes a preview-dial task in the same write.
    let later = now + Duration::minutes(1);
    let jobs = s.claim_callbacks("n", later, 60, 10).await.unwrap();
    assert_eq!(jobs.len(), 3);
    let a = s.begin_attempt("n", jobs[0].id, later).await.unwrap();
    s.finish_attempt(a.id, Outcome::NoAnswer, later, AfterAttempt::End(JobStatus::Exhausted))
        .await
        .unwrap();
    let b = s.begin_attempt("n", jobs[1].id, later).await.unwrap();
    s.finish_attempt(
        b.id,
        Outcome::NoAnswer,
        later,
        AfterAttempt::Retry(later + Duration::hours(1)),
    )
    .await
    .unwrap();
    let general = AgentTaskQuery {
        queues: vec!["general".into()],
        limit: 10,
        ..Default::default()
    };
    let calls = s.list_agent_tasks(&general).await.unwrap();
    assert_eq!(calls.len(), 1, "a retry raises none: {calls:?}");
    assert_eq!(
        (calls[0].kind, calls[0].repair_order_id, calls[0].source.clone()),
        (
            AgentTaskKind::CallbackNoAnswer,
            Some(jobs[0].repair_order_id),
            callback_source(jobs[0].id)
        )
    );

    // A poor survey alerts the supervisors and moves the ratings dispatch ranks by.
    let survey = |repair_order_id, repair_score, technician_score| NewSurvey {
        repair_order_id,
        job_id: None,
        repair_score,
        technician_score,
        fixed_first_time: true,
        comment_path: None,
    };
    s.record_survey(actor(), &survey(orders[1], 5, 4), later).await.unwrap();
    let poor = s.record_survey(actor(), &survey(orders[2], 2, 1), later).await.unwrap();
    let complaint = s.get_complaint(poor.complaint_id.unwrap()).await.unwrap();
    assert_eq!(complaint.owner_user_id, Some(bob.id), "two open each: the better level");
    let alerts = s
        .list_agent_tasks(&supervisors(Some(AgentTaskKind::PoorSurvey)))
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].complaint_id, Some(complaint.id));
    assert_eq!(s.get_station(st.id).await.unwrap().rating, 3.5);
    assert_eq!(s.get_technician(tech.id).await.unwrap().rating, 2.5);

    // One agent at a time holds a task; only the holder finishes it, once.
    let task = calls[0].id;
    let claimed = s.claim_agent_task(ann.id, task, later).await.unwrap();
    assert_eq!(
        (claimed.status, claimed.claimed_by),
        (AgentTaskStatus::Claimed, Some(ann.id))
    );
    assert_conflict(s.claim_agent_task(bob.id, task, later).await, "status");
    assert_eq!(
        s.claim_agent_task(ann.id, task, later).await.unwrap().claimed_by,
        Some(ann.id)
    );
    let done = TaskFinish {
        outcome: TaskOutcome::Reached,
        note: Some("Survey taken by phone".into()),
    };
    assert_conflict(s.finish_agent_task(bob.id, task, &done, later).await, "status");
    let bad = TaskFinish {
        outcome: TaskOutcome::Reached,
        note: Some("x".repeat(2001)),
    };
    assert_invalid(s.finish_agent_task(ann.id, task, &bad, later).await, "note");
    let finished = s.finish_agent_task(ann.id, task, &done, later).await.unwrap();
    assert_eq!(
        (finished.status, finished.outcome, finished.finished_at),
        (AgentTaskStatus::Done, Some(TaskOutcome::Reached), Some(later))
    );
    assert_conflict(s.finish_agent_task(ann.id, task, &done, later).await, "status");
    assert_conflict(s.claim_agent_task(bob.id, task, later).await, "status");
    assert!(
        s.list_agent_tasks(&general).await.unwrap().is_empty(),
        "done tasks leave the list"
    );

    // Raising a task again from the same source adds none.
    let reminder = NewAgentTask {
        kind: AgentTaskKind::Birthday,
        source: "birthday-x".into(),
        campaign_id: None,
        customer_id: Some(c.id),
        repair_order_id: None,
        complaint_id: None,
        asset_id: None,
        summary: "Birthday".into(),
        callback_number: None,
        cdr_id: None,
        due_at: later,
    };
    assert_eq!(
        s.raise_tasks(&[reminder.clone(), reminder.clone()], later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.raise_tasks(&[reminder], later).await.unwrap(), 0);
    let mine = AgentTaskQuery {
        customer_id: Some(c.id),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(s.list_agent_tasks(&mine).await.unwrap().len(), 5 + 1 + 1 + 1);
    assert!(matches!(s.agent_task(-1).await, Err(StoreError::NotFound { .. })));
}

pub async fn reports(s: &dyn Store) {
    use crate::reports::*;
    // Three repairs of one asset, each opened after the last was completed: two are repeats.
    let (c, st, tech, orders) = completed_repairs(s, 3).await;
    let asset = s.get_repair_order(orders[0]).await.unwrap().asset_id;
    // A fourth through the technician's flow: labour, a fault code and a part in warranty.
    let part = s.create_part(actor(), &sample_part("DRP-100", 1)).await.unwrap();
    let receipt = NewStockMovement {
        part_id: part.id,
        delta: 2,
        reason: StockReason::Receipt,
        reference: text("delivery:1"),
    };
    s.record_stock_movement(actor(), st.id, &receipt).await.unwrap();
    let t = s
        .create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id,
                asset_id: Some(asset),
                subject: text("Leaks"),
                description: String::new(),
                priority: Priority::High,
            },
        )
        .await
        .unwrap();
    let order = NewRepairOrder {
        ticket_id: t.id,
        asset_id: None,
        station_id: Some(st.id),
        technician_id: Some(tech.id),
        fault_code: None,
        description: "leak".into(),
        scheduled_for: None,
        appointment: None,
        duration_minutes: None,
        parts: vec![],
    };
    let ro = s.create_repair_order(actor(), &order).await.unwrap();
    let assign = RepairOrderPatch {
        status: Some(RepairStatus::Assigned),
        technician_id: Some(tech.id),
        ..Default::default()
    };
    s.update_repair_order(actor(), ro.id, &assign).await.unwrap();
    let me = Actor::user(1);
    let step = task_step;
    let home = c.addresses[0].location.unwrap();
    for w in [
        step(TaskAction::Accept, None),
        step(TaskAction::Depart, None),
        step(TaskAction::CheckIn, Some(home)),
        TaskWrite::Report(TaskReport {
            fault_code: Some("E21".into()),
            diagnosis: None,
            work_done: Some(text("new pump")),
            labour_hours: Some(2.0),
        }),
        TaskWrite::Part(NewPartUse {
            part_id: part.id,
            quantity: 1,
        }),
        step(TaskAction::Complete, None),
    ] {
        s.task_write(me, tech.id, ro.id, None, &w).await.unwrap();
    }
    let survey = NewSurvey {
        repair_order_id: orders[0],
        job_id: None,
        repair_score: 4,
        technician_score: 4,
        fixed_first_time: false,
        comment_path: None,
    };
    s.record_survey(actor(), &survey, Utc::now()).await.unwrap();
    let today = Utc::now().date_naive();
    let period = Period::last(today, 7);

    let by_model = s.service_report(period, Dimension::Model).await.unwrap();
    assert_eq!(by_model.len(), 1, "{by_model:?}");
    let m = &by_model[0];
    assert_eq!((m.key.as_str(), m.repairs, m.repeat_repairs), ("WM-7000", 4, 3));
    // Three repairs of an hour each, one of two hours.
    assert_eq!((m.first_time_fix_rate, m.mean_labour_hours), (Some(0.25), Some(1.25)));
    assert_eq!((m.mean_score, m.surveyed_fixed_rate), (Some(4.0), Some(0.0)));
    let batch = s.service_report(period, Dimension::SerialBatch).await.unwrap();
    assert_eq!((batch[0].key.as_str(), batch[0].repairs), ("WM", 4));
    let faults = s.service_report(period, Dimension::FaultCode).await.unwrap();
    let keyed: Vec<(&str, i64)> = faults.iter().map(|r| (r.key.as_str(), r.repairs)).collect();
    // Every completion carries its fault code.
    assert_eq!(keyed, vec![("E21", 4)]);
    assert_eq!(
        s.service_report(period, Dimension::Station).await.unwrap()[0].key,
        "South"
    );
    let before = Period::last(today - Duration::days(7), 7);
    assert!(s.service_report(before, Dimension::Model).await.unwrap().is_empty());
    let ranking = s.station_ranking(period).await.unwrap();
    assert_eq!(
        (
            ranking.len(),
            ranking[0].rank,
            ranking[0].station_id,
            ranking[0].figures.repairs
        ),
        (1, 1, st.id, 4)
    );

    let parts = s.parts_report(period, PartsBy::Model).await.unwrap();
    assert_eq!(parts.consumption.len(), 1);
    let p = &parts.consumption[0];
    assert_eq!(
        (
            p.key.as_str(),
            p.quantity,
            p.warranty_quantity,
            p.warranty_value_minor,
            p.paid_value_minor
        ),
        ("WM-7000", 1, 1, 4590, 0)
    );
    let by_station = s.parts_report(period, PartsBy::Station).await.unwrap();
    assert_eq!(by_station.consumption[0].key, "South");
    let turn = &parts.stock[0];
    assert_eq!(
        (
            turn.opening,
            turn.closing,
            turn.consumed,
            turn.turnover,
            turn.safety_breach
        ),
        (0, 1, 1, Some(2.0), true)
    );
    let earlier = s.parts_report(before, PartsBy::Model).await.unwrap();
    assert!(earlier.consumption.is_empty());
    assert_eq!(
        (earlier.stock[0].opening, earlier.stock[0].closing),
        (0, 0),
        "nothing before the receipt"
    );

    // Calls: two answered (one within 20 s), one abandoned, one never queued.
    // Early today, so the calls fall on today whenever this runs.
    let t0 = today.and_hms_opt(0, 1, 0).unwrap().and_utc();
    let agent = s
        .create_user(actor(), &user_record("ann", "Ann Agent", Role::Agent))
        .await
        .unwrap();
    let call = |n: i64, queue: Option<&str>, outcome, wait_s: i64| NewCdr {
        call_id: format!("r-{n}"),
        direction: Direction::Inbound,
        caller: "+49301111111".into(),
        called: "800".into(),
        customer_id: None,
        started_at: t0 + Duration::seconds(n),
        answered_at: (outcome == CallOutcome::Answered).then(|| t0 + Duration::seconds(n + wait_s)),
        ended_at: t0 + Duration::seconds(n + wait_s + 120),
        ivr_script: None,
        ivr_path: String::new(),
        dtmf: String::new(),
        queue: queue.map(str::to_string),
        outcome,
        end_reason: "caller_hangup".into(),
        recording: None,
        agent_id: (outcome == CallOutcome::Answered).then_some(agent.id),
        queue_wait_ms: Some(wait_s * 1000),
        answered_within_sl: (outcome == CallOutcome::Answered).then_some(wait_s <= 20),
        serial_owner_id: None,
        voicemail: None,
    };
    for cdr in [
        call(0, Some("general"), CallOutcome::Answered, 5),
        call(1, Some("general"), CallOutcome::Answered, 30),
        call(2, Some("general"), CallOutcome::Abandoned, 40),
        call(3, None, CallOutcome::SelfService, 0),
    ] {
        s.insert_cdr(&cdr).await.unwrap();
    }
    let cc = s
        .call_center_report(Period::last(today, 1), Interval::Day)
        .await
        .unwrap();
    assert_eq!(cc.queues.len(), 1, "{cc:?}");
    let g = &cc.queues[0];
    assert_eq!((g.offered, g.answered, g.abandoned), (3, 2, 1));
    assert_eq!(
        (g.service_level, g.asa_seconds, g.aht_seconds),
        (Some(0.333), Some(17.5), Some(120.0))
    );
    assert_eq!(cc.intervals[0].interval.map(|t| t.date_naive()), Some(t0.date_naive()));
    assert_eq!((cc.agents[0].agent.as_str(), cc.agents[0].answered), ("Ann Agent", 2));
    // Per 15 minutes, the intervals add up to the day; yesterday saw none of it.
    let quarters = s
        .call_center_report(Period::last(today, 1), Interval::Quarter)
        .await
        .unwrap();
    let offered: i64 = quarters.intervals.iter().map(|f| f.offered).sum();
    assert_eq!(offered, 3);
    assert!(quarters
        .intervals
        .iter()
        .all(|f| f.interval.unwrap().timestamp() % 900 == 0));
    let before = s
        .call_center_report(Period::last(today - Duration::days(1), 1), Interval::Hour)
        .await
        .unwrap();
    assert!(before.queues.is_empty() && before.agents.is_empty());

    // Settlement: drafted once per order, approved by someone else, then final.
    let new = |station_id, from, to| NewSettlement { station_id, from, to };
    assert_invalid(
        s.create_settlement(
            actor(),
            &new(st.id, today, today + Duration::days(1)),
            4500,
            "EUR",
            Utc::now(),
        )
        .await,
        "to",
    );
    assert_invalid(
        s.create_settlement(actor(), &new(st.id + 99, today, today), 4500, "EUR", Utc::now())
            .await,
        "station_id",
    );
    let drafted = s
        .create_settlement(
            Actor::user(agent.id),
            &new(st.id, period.from, today),
            4500,
            "EUR",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            drafted.status,
            drafted.orders,
            drafted.labour_hours_warranty,
            drafted.labour_hours_paid
        ),
        (SettlementStatus::Draft, 4, 5.0, 0.0)
    );
    assert_eq!(
        (drafted.parts_warranty_minor, drafted.warranty_amount_minor),
        (4590, 5 * 4500 + 4590)
    );
    assert_conflict(
        s.create_settlement(actor(), &new(st.id, period.from, today), 4500, "EUR", Utc::now())
            .await,
        "to",
    );
    assert_conflict(
        s.approve_settlement(Actor::user(agent.id), drafted.id, Utc::now())
            .await,
        "approved_by",
    );
    let sue = s
        .create_user(actor(), &user_record("sue", "Sue Supervisor", Role::Supervisor))
        .await
        .unwrap();
    let approved = s
        .approve_settlement(Actor::user(sue.id), drafted.id, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (approved.status, approved.approved_by),
        (SettlementStatus::Approved, Some(sue.id))
    );
    assert_conflict(
        s.approve_settlement(Actor::user(sue.id), drafted.id, Utc::now()).await,
        "status",
    );
    let lines = s.settlement_lines(drafted.id).await.unwrap();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines.iter().map(|l| l.labour_hours).sum::<f64>(),
        drafted.labour_hours_warranty
    );
    assert_eq!(s.list_settlements(Some(st.id), 10).await.unwrap(), vec![approved]);
    assert_eq!(
        s.backfill_repair_facts(100).await.unwrap(),
        0,
        "every completion wrote its facts"
    );
}

pub async fn reminders_and_campaigns(s: &dyn Store) {
    use crate::care::*;
    let today = Utc::now().date_naive();
    let born = |years: i32| {
        today
            .with_year(today.year() - years)
            .unwrap_or(today - Duration::days(365 * years as i64))
    };
    let person = |name: &str, phone: &str, consent: bool, dnc: bool| NewCustomer {
        marketing_consent: consent,
        do_not_call: dnc,
        birthday: Some(born(40)),
        ..sample_customer(name, &[phone])
    };
    let glad = s
        .create_customer(actor(), &person("Gina Glad", "+49301000001", true, false))
        .await
        .unwrap();
    let quiet = s
        .create_customer(actor(), &person("Quentin Quiet", "+49301000002", false, false))
        .await
        .unwrap();
    let blocked = s
        .create_customer(actor(), &person("Dora Dnc", "+49301000003", true, true))
        .await
        .unwrap();

    // Birthdays: only with consent and never on the do-not-call list.
    let found = s.care_candidates(AgentTaskKind::Birthday, today, 0).await.unwrap();
    let ids: Vec<i64> = found.iter().map(|c| c.customer_id).collect();
    assert_eq!(ids, vec![glad.id], "{found:?}");
    assert!(!ids.contains(&quiet.id), "no consent, no birthday call");

    // Maintenance every 12 months: an asset bought 12 months less 5 days ago is due in 5 days;
    // a warranty of 12 months on the same purchase ends within 30 days.
    let m = s.create_model(actor(), &sample_model("WM-7000", 12, 12)).await.unwrap();
    let bought = today.checked_sub_months(chrono::Months::new(12)).unwrap() + Duration::days(5);
    let a = s
        .create_asset(actor(), &sample_asset(glad.id, m.id, "WM-2501-1", bought))
        .await
        .unwrap();
    s.create_asset(actor(), &sample_asset(blocked.id, m.id, "WM-2501-2", bought))
        .await
        .unwrap();
    let recent = s
        .create_asset(
            actor(),
            &sample_asset(glad.id, m.id, "WM-2601-3", today - Duration::days(20)),
        )
        .await
        .unwrap();
    // An asset whose factory warranty ended long ago, under a service contract that ends in
    // ten days: the warranty reminder comes from the contract.
    let old = s
        .create_asset(
            actor(),
            &sample_asset(quiet.id, m.id, "WM-2301-4", today - Duration::days(3 * 365)),
        )
        .await
        .unwrap();
    s.add_contract(
        actor(),
        old.id,
        &NewServiceContract {
            name: text("CarePlus"),
            starts_on: today - Duration::days(2 * 365),
            ends_on: today + Duration::days(10),
            covers_parts: true,
            covers_labor: true,
        },
    )
    .await
    .unwrap();
    let now = Utc::now();
    let tasks = |kind, horizon, campaign| async move {
        let found = s.care_candidates(kind, today, horizon).await.unwrap();
        assert!(
            found.iter().all(|c| c.customer_id != blocked.id),
            "never on do-not-call: {found:?}"
        );
        found
            .iter()
            .filter_map(|c| reminder(kind, today, horizon, c, campaign, now))
            .collect::<Vec<_>>()
    };
    let due = tasks(AgentTaskKind::MaintenanceDue, 14, None).await;
    assert_eq!(due.len(), 1, "{due:?}");
    let due_on = bought.checked_add_months(chrono::Months::new(12)).unwrap();
    assert_eq!(
        (due[0].asset_id, due[0].source.clone()),
        (Some(a.id), format!("maintenance-{}-{due_on}", a.id))
    );
    let ending = tasks(AgentTaskKind::WarrantyExpiring, 30, None).await;
    assert_eq!(
        ending.iter().map(|t| t.asset_id).collect::<Vec<_>>(),
        vec![Some(a.id), Some(old.id)]
    );
    let contract_end = today + Duration::days(10);
    assert_eq!(ending[1].source, format!("warranty-{}-{contract_end}", old.id));
    assert!(
        tasks(AgentTaskKind::WarrantyExpiring, 2, None).await.is_empty(),
        "not within two days"
    );
    assert!(
        due.iter().chain(&ending).all(|t| t.asset_id != Some(recent.id)),
        "bought 20 days ago"
    );

    // A campaign: its tasks carry it, and its progress counts them.
    let new = NewCampaign {
        name: "Spring maintenance".into(),
        kind: AgentTaskKind::MaintenanceDue,
        within_days: 14,
    };
    let campaign = s.create_campaign(actor(), &new, &due, now).await.unwrap();
    assert_eq!((campaign.tasks, campaign.queue.as_str()), (1, "general"));
    assert_eq!(
        s.raise_tasks(&due, now).await.unwrap(),
        0,
        "the day's round raises no second task for the campaign's reminder"
    );
    assert_conflict(s.create_campaign(actor(), &new, &due, now).await, "kind");
    let listed = s
        .list_agent_tasks(&AgentTaskQuery {
            campaign_id: Some(campaign.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let user = s
        .create_user(actor(), &user_record("cara", "Cara Caller", Role::Agent))
        .await
        .unwrap();
    s.claim_agent_task(user.id, listed[0].id, now).await.unwrap();
    let done = TaskFinish {
        outcome: TaskOutcome::Reached,
        note: None,
    };
    s.finish_agent_task(user.id, listed[0].id, &done, now).await.unwrap();
    let progress = s.campaign(campaign.id).await.unwrap();
    assert_eq!(
        (progress.tasks, progress.open, progress.done, progress.reached),
        (1, 0, 1, 1)
    );
    assert_eq!(s.list_campaigns(10).await.unwrap(), vec![progress]);
    let bad = NewCampaign {
        kind: AgentTaskKind::PoorSurvey,
        ..new
    };
    assert_invalid(s.create_campaign(actor(), &bad, &due, now).await, "kind");
}

/// Run `n` copies of a write at once: every future is polled in the same pass, so each has its
/// own connection and transaction in flight together (a barrier with nothing in front of it).
/// On PostgreSQL that is real concurrency; SQLite queues them on its write lock.
async fn at_once<'a, T>(n: usize, make: impl Fn(usize) -> futures_util::future::BoxFuture<'a, T>) -> Vec<T> {
    futures_util::future::join_all((0..n).map(make)).await
}

/// Every write a person can repeat (a double click, a browser or mobile retry) is applied once
/// or refused, however the repeats interleave: settlement drafts, idempotent task writes,
/// read-modify-write patches, the desk's wrap-up, campaigns and imports.
pub async fn repeated_writes_race(s: &dyn Store) {
    use crate::care::*;
    use crate::reports::*;
    use futures_util::FutureExt;
    const N: usize = 8;

    // Settlements: one draft wins; its amount is the sum of its lines; a repair is settled once.
    let (c, st, tech, orders) = completed_repairs(s, 3).await;
    let today = Utc::now().date_naive();
    let draft = NewSettlement {
        station_id: st.id,
        from: today - Duration::days(7),
        to: today,
    };
    let ann = s
        .create_user(actor(), &user_record("ann", "Ann", Role::Supervisor))
        .await
        .unwrap();
    let bob = s
        .create_user(actor(), &user_record("bob", "Bob", Role::Supervisor))
        .await
        .unwrap();
    let results = at_once(N, |_| {
        let d = &draft;
        async move { s.create_settlement(actor(), d, 4500, "EUR", Utc::now()).await }.boxed()
    })
    .await;
    let won: Vec<&Settlement> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "exactly one draft: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, StoreError::Conflict { field, .. } if field == "to"),
                "{e:?}"
            );
        }
    }
    let lines = s.settlement_lines(won[0].id).await.unwrap();
    assert_eq!(lines.len(), orders.len());
    let t = SettlementTotals::of(&lines, won[0].labour_rate_minor);
    assert_eq!(
        (
            won[0].orders,
            won[0].warranty_amount_minor,
            won[0].labour_hours_warranty
        ),
        (t.orders, t.warranty_amount_minor, t.labour_hours_warranty)
    );
    assert_eq!(s.list_settlements(Some(st.id), 10).await.unwrap().len(), 1);
    // Two approvers at once: one approves, the other is told it is approved already.
    let approvers = at_once(2, |i| {
        let id = won[0].id;
        let by = if i == 0 { ann.id } else { bob.id };
        async move { s.approve_settlement(Actor::user(by), id, Utc::now()).await }.boxed()
    })
    .await;
    assert_eq!(approvers.iter().filter(|r| r.is_ok()).count(), 1, "{approvers:?}");

    // An Idempotency-Key retried while the first is in flight: all get the first answer.
    let t = s
        .create_ticket(
            actor(),
            &NewTicket {
                customer_id: c.id,
                asset_id: None,
                subject: text("Noise"),
                description: String::new(),
                priority: Priority::Normal,
            },
        )
        .await
        .unwrap();
    let asset = s.get_repair_order(orders[0]).await.unwrap().asset_id;
    let ro = s
        .create_repair_order(
            actor(),
            &NewRepairOrder {
                ticket_id: t.id,
                asset_id: Some(asset),
                station_id: Some(st.id),
                technician_id: Some(tech.id),
                fault_code: None,
                description: String::new(),
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
        technician_id: Some(tech.id),
        ..Default::default()
    };
    s.update_repair_order(actor(), ro.id, &assign).await.unwrap();
    let accept = TaskWrite::Step(TaskStep {
        action: TaskAction::Accept,
        location: None,
        reason: None,
    });
    let idem = Idempotency {
        key: "accept-1".into(),
        fingerprint: "POST /accept {}".into(),
    };
    let answers = at_once(N, |_| {
        let (w, k) = (&accept, &idem);
        async move { s.task_write(Actor::user(ann.id), tech.id, ro.id, Some(k), w).await }.boxed()
    })
    .await;
    let first = answers[0].as_ref().expect("accepted").clone();
    for a in &answers {
        assert_eq!(
            a.as_ref().ok(),
            Some(&first),
            "every duplicate gets the first answer: {a:?}"
        );
    }
    assert_eq!(first.status, TaskStatus::Accepted);

    // Patches of different fields at once: none is lost (no read outside the transaction).
    for round in 0..3u32 {
        let patches = [
            StationPatch {
                name: Some(text(&format!("South {round}"))),
                ..Default::default()
            },
            StationPatch {
                capacity_per_day: Some(20 + round),
                ..Default::default()
            },
            StationPatch {
                rating: Some(3.0 + f64::from(round) / 10.0),
                ..Default::default()
            },
        ];
        at_once(patches.len(), |i| {
            let p = &patches[i];
            async move { s.update_station(actor(), st.id, p).await.unwrap() }.boxed()
        })
        .await;
        let now = s.get_station(st.id).await.unwrap();
        assert_eq!(
            (now.name.as_str(), now.capacity_per_day, now.rating),
            (
                format!("South {round}").as_str(),
                20 + round,
                3.0 + f64::from(round) / 10.0
            ),
            "round {round}"
        );
        let here = GeoPoint::new(52.5, 13.4 + f64::from(round) / 100.0).unwrap();
        let tech_patches = [
            TechnicianPatch {
                skills: Some(vec![Skill {
                    name: SkillName::parse("washing_machines").unwrap(),
                    level: SkillLevel::new(2 + round as u8).unwrap(),
                }]),
                ..Default::default()
            },
            TechnicianPatch {
                location: Some(here),
                ..Default::default()
            },
        ];
        at_once(tech_patches.len(), |i| {
            let p = &tech_patches[i];
            async move { s.update_technician(actor(), tech.id, p).await.unwrap() }.boxed()
        })
        .await;
        let now = s.get_technician(tech.id).await.unwrap();
        assert_eq!(
            (now.skills[0].level.get(), now.location),
            (2 + round as u8, Some(here)),
            "round {round}"
        );
    }

    // The desk's wrap-up, Save pressed again and again: one note, one ticket, one repair order.
    let tickets = || async {
        let q = TicketQuery {
            customer_id: Some(c.id),
            status: None,
            limit: 100,
        };
        s.list_tickets(&q).await.unwrap().len()
    };
    let tickets_before = tickets().await;
    let wrap = NewWrapUp {
        call_id: "a84b4c76e66710@pc33.example.com".into(),
        customer_id: c.id,
        fingerprint: "form-1".into(),
        interaction: NewInteraction {
            kind: InteractionKind::Call,
            direction: Direction::Inbound,
            summary: text("Call: repair order. Drum noise."),
            at: None,
        },
        ticket: Some(NewTicket {
            customer_id: c.id,
            asset_id: Some(asset),
            subject: text("Drum noise"),
            description: String::new(),
            priority: Priority::Normal,
        }),
        repair_order: Some(NewRepairOrder {
            ticket_id: 0,
            asset_id: Some(asset),
            station_id: None,
            technician_id: None,
            fault_code: None,
            description: "Drum noise".into(),
            scheduled_for: None,
            appointment: None,
            duration_minutes: None,
            parts: vec![],
        }),
    };
    let filed = at_once(N, |_| {
        let w = &wrap;
        async move { s.wrap_up_call(Actor::user(ann.id), w).await.unwrap() }.boxed()
    })
    .await;
    assert_eq!(filed.iter().filter(|f| !f.replayed).count(), 1, "filed once");
    let ids = |f: &WrapUpRecord| {
        (
            f.interaction.id,
            f.ticket.as_ref().map(|t| t.id),
            f.repair_order.as_ref().map(|r| r.id),
        )
    };
    assert!(
        filed.iter().all(|f| ids(f) == ids(&filed[0])),
        "every Save gets the first answer"
    );
    assert!(filed[0].repair_order.is_some());
    assert_eq!(tickets().await, tickets_before + 1);
    let changed = NewWrapUp {
        fingerprint: "form-2".into(),
        ..wrap.clone()
    };
    assert_conflict(s.wrap_up_call(Actor::user(ann.id), &changed).await, "call_id");

    // A campaign started twice at once: one holds the reminder, the other is refused.
    let task = NewAgentTask {
        kind: AgentTaskKind::MaintenanceDue,
        source: format!("maintenance-{asset}-{today}"),
        campaign_id: None,
        customer_id: Some(c.id),
        repair_order_id: None,
        complaint_id: None,
        asset_id: Some(asset),
        summary: "Maintenance due".into(),
        callback_number: None,
        cdr_id: None,
        due_at: Utc::now(),
    };
    let campaign = NewCampaign {
        name: "Maintenance".into(),
        kind: AgentTaskKind::MaintenanceDue,
        within_days: 14,
    };
    let started = at_once(4, |_| {
        let (k, t) = (&campaign, std::slice::from_ref(&task));
        async move { s.create_campaign(actor(), k, t, Utc::now()).await }.boxed()
    })
    .await;
    assert_eq!(started.iter().filter(|r| r.is_ok()).count(), 1, "{started:?}");
    assert_eq!(
        s.list_campaigns(10).await.unwrap().len(),
        1,
        "the refused ones left nothing"
    );

    // The same import run twice at once: nobody is added twice.
    let mut b = sample_customer("Rita Race", &["+49301777002"]);
    b.email = Some(Email::parse("rita@example.com").unwrap());
    let mut a = sample_customer("Ralf Race", &["+49301777001"]);
    a.email = Some(Email::parse("ralf@example.com").unwrap());
    let rows = vec![a, b];
    let imports = at_once(4, |_| {
        let r = &rows;
        async move { s.import_customers(actor(), r).await.unwrap() }.boxed()
    })
    .await;
    let created: usize = imports
        .iter()
        .map(|i| i.iter().filter(|c| c.matched == ImportMatch::Created).count())
        .sum();
    assert_eq!(created, 2, "{imports:?}");
    let found = s
        .search_customers(&CustomerQuery {
            q: Some("race".into()),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
}
