//! Report latency on PostgreSQL with a million repair orders.
//!
//! `cargo bench -p crm-sql --bench reports` builds a throw-away database (scale with
//! `AFTERCARE_BENCH_ORDERS`, default 1,000,000): 200,000 customers, 400,000 assets of 50 models,
//! 500 stations with 2,000 technicians, one ticket and one completed repair order (with its
//! facts) per order over the last two years, surveys for 40 % of them, 1.2 repair parts per
//! order with their stock movements, 300 parts stocked at every station, a million calls over
//! the last year, and a warranty claim per repair (1.75 lines each, in every review state). Then, for each report, over the last 30 days and over the longest period (366
//! days), it prints the median and worst of 10 runs beside the reference — `SELECT COUNT(*)` over
//! the repair orders, the cheapest full pass over the table, timed the same way in the same
//! process — times the day's customer-care reminders, and runs the divan benchmarks (30 days).
//!
//! PostgreSQL comes from `AFTERCARE_TEST_PG_URL` (default: local, user postgres); the bench says
//! so and stops when it is unreachable.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use chrono::{Duration, Utc};
use crm_core::claims::ClaimsBy;
use crm_core::reports::{Dimension, Interval, PartsBy, Period};
use crm_core::Store;
use crm_sql::testing::TestDb;

fn orders() -> i64 {
    std::env::var("AFTERCARE_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

struct Fixture {
    store: Arc<dyn Store>,
    pool: sqlx::PgPool,
}

/// Everything is generated inside PostgreSQL (`generate_series`), in seconds rather than hours.
async fn load(pool: &sqlx::PgPool, n: i64) -> anyhow::Result<()> {
    let customers = (n / 5).max(100);
    let assets = 2 * customers;
    let steps: Vec<String> = vec![
        "INSERT INTO product_models (code, name, category, product_line, fault_codes, warranty, maintenance_months) \
         SELECT 'M' || i, 'Model ' || i, 'appliance', 'washing_machines', '[]', \
                '{\"parts_months\":24,\"labor_months\":12}', 6 + (i % 3) * 6 FROM generate_series(1, 50) i"
            .into(),
        "INSERT INTO stations (name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating) \
         SELECT 'Station ' || i, 'City', 48 + (i % 50) * 0.1, 9 + (i / 50) * 0.1, 'Europe/Berlin', '[]', 20, '[]', 4.0 \
         FROM generate_series(1, 500) i"
            .into(),
        "INSERT INTO technicians (station_id, name, skills, shifts, rating) \
         SELECT (i % 500) + 1, 'Tech ' || i, '[]', '[]', 4.0 FROM generate_series(1, 2000) i"
            .into(),
        "INSERT INTO users (username, display_name, role, password_hash, created_at) \
         SELECT 'agent' || i, 'Agent ' || i, 'agent', 'x', now() FROM generate_series(1, 200) i"
            .into(),
        format!(
            "INSERT INTO customers (kind, name, search_name, email, time_zone, do_not_call, marketing_consent, birthday, created_at) \
             SELECT 'person', 'Customer ' || i, 'customer ' || i, NULL, 'Europe/Berlin', (i % 20 = 0), (i % 3 <> 0), \
                    DATE '1950-01-01' + (i % 20000), now() \
             FROM generate_series(1, {customers}) i"
        ),
        format!(
            "INSERT INTO assets (customer_id, model_id, serial, purchase_date) \
             SELECT (i % {customers}) + 1, (i % 50) + 1, 'M' || ((i % 50) + 1) || '-' || (2400 + i % 24) || '-' || i, \
                    current_date - (i % 1500) FROM generate_series(1, {assets}) i"
        ),
        format!(
            "INSERT INTO tickets (customer_id, asset_id, subject, description, status, priority, created_at, updated_at) \
             SELECT (i % {assets} % {customers}) + 1, (i % {assets}) + 1, 'Fault', '', 'resolved', 'normal', \
                    now() - (i % 730) * interval '1 day', now() FROM generate_series(1, {n}) i"
        ),
        format!(
            "INSERT INTO repair_orders (ticket_id, customer_id, asset_id, station_id, technician_id, status, fault_code, \
               description, created_at, completed_at, task_status) \
             SELECT i, (i % {assets} % {customers}) + 1, (i % {assets}) + 1, (i % 2000) % 500 + 1, (i % 2000) + 1, 'completed', \
                    'F' || (i % 40), 'repair', now() - (i % 730) * interval '1 day' - interval '2 days', \
                    now() - (i % 730) * interval '1 day', 'completed' FROM generate_series(1, {n}) i"
        ),
        format!(
            "INSERT INTO repair_facts (repair_order_id, completed_on, completed_at, station_id, technician_id, asset_id, model_id, \
               serial_batch, fault_code, labour_hours, labour_warranty, parts_warranty_minor, parts_paid_minor, response_minutes, \
               repeat_of, repeated) \
             SELECT r.id, CAST(r.completed_at AS DATE), r.completed_at, r.station_id, r.technician_id, r.asset_id, \
                    ((r.asset_id - 1) % 50) + 1, 'M' || (((r.asset_id - 1) % 50) + 1) || '-' || (2400 + (r.asset_id - 1) % 24), \
                    r.fault_code, 0.5 + (r.id % 6) * 0.25, (r.id % 3 <> 0), (r.id % 4) * 1500, (r.id % 5) * 900, \
                    60 + (r.id % 48) * 30, NULL, (r.id % 9 = 0) FROM repair_orders r"
        ),
        format!(
            "INSERT INTO survey_results (repair_order_id, station_id, technician_id, repair_score, technician_score, fixed_first_time, answered_at) \
             SELECT id, station_id, technician_id, 1 + (id % 5), 1 + (id % 4), (id % 7 <> 0), completed_at + interval '1 day' \
             FROM repair_orders WHERE id % 5 < 2"
        ),
        "INSERT INTO parts (sku, name, price_minor, currency, product_line, safety_stock) \
         SELECT 'P-' || i, 'Part ' || i, 500 + i * 10, 'EUR', NULL, 3 FROM generate_series(1, 300) i"
            .into(),
        "INSERT INTO station_stock (station_id, part_id, quantity) \
         SELECT s, p, (s + p) % 12 FROM generate_series(1, 500) s, generate_series(1, 300) p"
            .into(),
        // 1.2 parts per order: one each, and a second on every fifth.
        format!(
            "INSERT INTO stock_movements (station_id, part_id, delta, reason, reference, at) \
             SELECT r.station_id, ((r.id * k) % 300) + 1, -1, 'consumption', 'repair_order:' || r.id, r.completed_at \
             FROM repair_orders r, generate_series(1, 2) k WHERE k = 1 OR r.id % 5 = 0 ORDER BY r.id"
        ),
        format!(
            "INSERT INTO repair_parts (repair_order_id, part_id, station_id, quantity, billing, unit_price_minor, currency, movement_id, at, model_id) \
             SELECT o, m.part_id, m.station_id, 1, CASE WHEN m.id % 3 = 0 THEN 'paid' ELSE 'warranty' END, 500 + m.part_id * 10, 'EUR', \
                    m.id, m.at, ((((o - 1) % {assets}) + 1 - 1) % 50) + 1 \
             FROM (SELECT *, CAST(substr(reference, 14) AS BIGINT) AS o FROM stock_movements) m"
        ),
        format!(
            "INSERT INTO cdrs (call_id, direction, caller, called, started_at, answered_at, ended_at, ivr_path, dtmf, queue, outcome, \
               end_reason, agent_id, queue_wait_ms) \
             SELECT 'c' || i, 'inbound', '+4930', '800', now() - (i % 525600) * interval '1 minute', \
                    CASE WHEN i % 10 < 8 THEN now() - (i % 525600) * interval '1 minute' + (i % 60) * interval '1 second' END, \
                    now() - (i % 525600) * interval '1 minute' + interval '5 minutes', '', '', \
                    (ARRAY['general', 'repairs', 'complaints'])[1 + i % 3], \
                    CASE WHEN i % 10 < 8 THEN 'answered' ELSE 'abandoned' END, 'caller_hangup', \
                    CASE WHEN i % 10 < 8 THEN 1 + i % 200 END, (i % 60) * 1000 FROM generate_series(1, {n}) i"
        ),
        // The running sums the call records add to, as `insert_cdr` keeps them.
        "INSERT INTO queue_intervals (queue, interval_start, offered, answered, abandoned, answered_within_sl, wait_ms, talk_s) \
         SELECT queue, date_bin('15 minutes', started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), COUNT(*), \
                SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END), \
                SUM(CASE WHEN outcome = 'answered' AND queue_wait_ms <= 20000 THEN 1 ELSE 0 END), \
                SUM(CASE WHEN outcome = 'answered' THEN queue_wait_ms ELSE 0 END), \
                SUM(CASE WHEN outcome = 'answered' THEN 300 - queue_wait_ms / 1000 ELSE 0 END) FROM cdrs GROUP BY 1, 2"
            .into(),
        "INSERT INTO agent_days (agent_id, day, answered, answered_within_sl, wait_ms, talk_s) \
         SELECT agent_id, CAST(started_at AS DATE), COUNT(*), SUM(CASE WHEN queue_wait_ms <= 20000 THEN 1 ELSE 0 END), \
                SUM(queue_wait_ms), SUM(300 - queue_wait_ms / 1000) FROM cdrs WHERE agent_id IS NOT NULL GROUP BY 1, 2"
            .into(),
        // One warranty claim per repair: 60 % decided (a tenth of their lines rejected, a tenth
        // cut to half), the rest submitted, in review or appealed; a labour line each, a part on
        // every second, travel on every fourth.
        "INSERT INTO claims (repair_order_id, station_id, technician_id, asset_id, model_id, fault_code, completed_on, status, \
           currency, claimed_minor, approved_minor, flags, evidence, submitted_at) \
         SELECT f.repair_order_id, f.station_id, f.technician_id, f.asset_id, f.model_id, f.fault_code, f.completed_on, \
                (ARRAY['decided', 'decided', 'decided', 'decided', 'decided', 'decided', 'submitted', 'in_review', 'appealed', 'decided'])[1 + f.repair_order_id % 10], \
                'EUR', 0, 0, CASE WHEN f.repair_order_id % 7 = 0 THEN '[\"no_signature\"]' ELSE '[]' END, '{}', f.completed_at \
         FROM repair_facts f ORDER BY f.repair_order_id"
            .into(),
        "INSERT INTO claim_lines (claim_id, completed_on, kind, part_id, description, quantity, minutes, unit_minor, claimed_minor, \
           decision, approved_minor, reject_code, flags) \
         SELECT c.id, c.completed_on, l.kind, l.part_id, l.kind, 1, l.minutes, l.amount, l.amount, \
                CASE WHEN c.status = 'decided' AND (c.id + l.k) % 10 = 0 THEN 'rejected' \
                     WHEN c.status = 'decided' AND (c.id + l.k) % 10 = 1 THEN 'cut' \
                     WHEN c.status = 'decided' OR (c.status = 'in_review' AND l.k = 1) THEN 'approved' ELSE 'pending' END, \
                CASE WHEN c.status = 'decided' AND (c.id + l.k) % 10 = 0 THEN 0 \
                     WHEN c.status = 'decided' AND (c.id + l.k) % 10 = 1 THEN l.amount / 2 \
                     WHEN c.status = 'decided' OR (c.status = 'in_review' AND l.k = 1) THEN l.amount ELSE 0 END, \
                CASE WHEN c.status = 'decided' AND (c.id + l.k) % 10 = 0 \
                     THEN (ARRAY['not_covered', 'no_evidence', 'wrong_part', 'duplicate'])[1 + c.id % 4] END, '[]' \
         FROM claims c CROSS JOIN LATERAL (SELECT k, \
                (ARRAY['labour', 'part', 'travel'])[k] AS kind, \
                CASE WHEN k = 2 THEN (c.id % 300) + 1 END AS part_id, \
                CASE WHEN k = 1 THEN 30 + (c.id % 6) * 15 END AS minutes, \
                CASE k WHEN 1 THEN (30 + (c.id % 6) * 15) * 75 WHEN 2 THEN 510 + (c.id % 300) * 10 ELSE 1500 END AS amount \
              FROM generate_series(1, 3) k WHERE k = 1 OR (k = 2 AND c.id % 2 = 0) OR (k = 3 AND c.id % 4 = 0)) l \
         ORDER BY c.id, l.k"
            .into(),
        "UPDATE claims c SET claimed_minor = s.claimed, approved_minor = s.approved FROM \
         (SELECT claim_id, SUM(claimed_minor) AS claimed, SUM(approved_minor) AS approved FROM claim_lines GROUP BY claim_id) s \
         WHERE s.claim_id = c.id"
            .into(),
        "VACUUM ANALYZE".into(),
    ];
    for sql in steps {
        let t = Instant::now();
        sqlx::query(&sql).execute(pool).await?;
        eprintln!("  {:>6.1} s  {}", t.elapsed().as_secs_f64(), &sql[..sql.len().min(60)]);
    }
    Ok(())
}

/// Databases to drop when the bench ends (statics are never dropped).
static DATABASES: std::sync::Mutex<Vec<TestDb>> = std::sync::Mutex::new(Vec::new());

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        rt().block_on(async {
            let db = TestDb::postgres().await?;
            eprintln!("postgres: building the benchmark database ({} repair orders)", orders());
            let s = crm_sql::connect_postgres(db.url(), 4).await.expect("postgres");
            load(s.pool(), orders()).await.expect("load");
            let pool = s.pool().clone();
            let db = db.open().await;
            let store = db.shared();
            DATABASES.lock().expect("lock").push(db);
            Some(Fixture { store, pool })
        })
    })
    .as_ref()
}

fn period(days: i64) -> Period {
    Period::last(Utc::now().date_naive(), days)
}

/// One run of the report named `name` over `p`; returns the rows it produced.
async fn run(f: &Fixture, name: &str, p: Period) -> usize {
    let s = f.store.as_ref();
    match name {
        "call center (hour)" => s.call_center_report(p, Interval::Hour).await.map(|r| r.intervals.len()),
        "call center (15 min)" => s
            .call_center_report(p, Interval::Quarter)
            .await
            .map(|r| r.intervals.len()),
        "service by model" => s.service_report(p, Dimension::Model, None).await.map(|r| r.len()),
        "service by serial batch" => s.service_report(p, Dimension::SerialBatch, None).await.map(|r| r.len()),
        "service by fault code" => s.service_report(p, Dimension::FaultCode, None).await.map(|r| r.len()),
        "service by station" => s.service_report(p, Dimension::Station, None).await.map(|r| r.len()),
        "station ranking" => s.station_ranking(p, None).await.map(|r| r.len()),
        "parts by model + stock" => s
            .parts_report(p, PartsBy::Model, None)
            .await
            .map(|r| r.consumption.len() + r.stock.len()),
        "parts by station + stock" => s
            .parts_report(p, PartsBy::Station, None)
            .await
            .map(|r| r.consumption.len() + r.stock.len()),
        "claims by station" => s.claims_report(p, ClaimsBy::Station, None).await.map(|r| r.len()),
        "claims by model" => s.claims_report(p, ClaimsBy::Model, None).await.map(|r| r.len()),
        "claims by fault code" => s.claims_report(p, ClaimsBy::FaultCode, None).await.map(|r| r.len()),
        "claims by cut reason" => s.claims_report(p, ClaimsBy::CutReason, None).await.map(|r| r.len()),
        "reference: COUNT(*) of repair orders" => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM repair_orders")
            .fetch_one(&f.pool)
            .await
            .map(|n| n as usize)
            .map_err(|e| crm_core::StoreError::Backend(e.to_string())),
        other => panic!("unknown report {other}"),
    }
    .expect(name)
}

const REPORTS: &[&str] = &[
    "reference: COUNT(*) of repair orders",
    "call center (hour)",
    "call center (15 min)",
    "service by model",
    "service by serial batch",
    "service by fault code",
    "service by station",
    "station ranking",
    "parts by model + stock",
    "parts by station + stock",
    "claims by station",
    "claims by model",
    "claims by fault code",
    "claims by cut reason",
];

/// Median and worst of 10 runs, in ms.
fn time(f: &Fixture, name: &str, p: Period) -> (f64, f64, usize) {
    rt().block_on(async {
        let rows = run(f, name, p).await;
        let mut v: Vec<f64> = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            run(f, name, p).await;
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 2], v[v.len() - 1], rows)
    })
}

fn settlement(f: &Fixture) {
    // A station's month, drafted: the one write among the reports.
    let station = rt().block_on(async {
        sqlx::query_scalar::<_, i64>("SELECT MIN(id) FROM stations")
            .fetch_one(&f.pool)
            .await
            .expect("station")
    });
    let to = Utc::now().date_naive() - Duration::days(1);
    let new = crm_core::reports::NewSettlement {
        station_id: station,
        from: to - Duration::days(30),
        to,
    };
    let t = Instant::now();
    let s = rt()
        .block_on(
            f.store
                .create_settlement(crm_core::model::Actor::SYSTEM, &new, Utc::now()),
        )
        .expect("settlement");
    let drafted = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let lines = rt().block_on(f.store.settlement_lines(s.id)).expect("lines");
    let sum: i64 = lines.iter().map(|l| l.amount_minor).sum();
    assert_eq!(sum, s.amount_minor, "a settlement is the sum of its lines");
    println!(
        "settlement of one station's month: drafted in {drafted:.1} ms ({} claims), its {} lines read in {:.1} ms",
        s.claims,
        lines.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// The day's customer-care reminders, as housekeeping raises them: candidates from the store,
/// the rule, counted (not written, so the reports above stay as measured).
fn reminders(f: &Fixture) {
    use crm_core::care::{reminder, AgentTaskKind};
    let today = Utc::now().date_naive();
    for (kind, horizon) in [
        (AgentTaskKind::MaintenanceDue, 14),
        (AgentTaskKind::WarrantyExpiring, 30),
        (AgentTaskKind::Birthday, 0),
    ] {
        let t = Instant::now();
        let found = rt()
            .block_on(f.store.care_candidates(kind, today, horizon))
            .expect("candidates");
        let due = found
            .iter()
            .filter(|c| reminder(kind, today, horizon, c, None, Utc::now()).is_some())
            .count();
        println!(
            "reminders {:18} {:>8.1} ms: {} candidates, {} due",
            kind.as_str(),
            t.elapsed().as_secs_f64() * 1e3,
            found.len(),
            due
        );
    }
}

fn main() {
    let Some(f) = fixture() else {
        eprintln!("postgres not reachable: the reports benchmark needs it (AFTERCARE_TEST_PG_URL)");
        return;
    };
    println!(
        "Reports on PostgreSQL, {} completed repair orders, {} calls",
        orders(),
        orders()
    );
    println!(
        "{:38} {:>24} {:>24}",
        "report", "30 days: p50 / max ms", "366 days: p50 / max ms"
    );
    let reference = time(f, REPORTS[0], period(30)).0;
    for name in REPORTS {
        let (a50, amax, arows) = time(f, name, period(30));
        let (b50, bmax, brows) = time(f, name, period(366));
        println!(
            "{name:38} {a50:>8.1} / {amax:>6.1} ({:>4.1}×) {b50:>8.1} / {bmax:>6.1} ({:>4.1}×)   rows {arows} / {brows}",
            a50 / reference,
            b50 / reference
        );
    }
    settlement(f);
    reminders(f);
    divan::main();
    // The throw-away database is dropped (WITH FORCE: the fixture's pool stays open).
    DATABASES.lock().expect("lock").clear();
}

#[divan::bench(args = ["service by model", "station ranking", "call center (hour)", "parts by station + stock"])]
fn report_30_days(bencher: divan::Bencher, name: &str) {
    let Some(f) = fixture() else { return };
    bencher.bench_local(|| rt().block_on(run(f, name, period(30))));
}
