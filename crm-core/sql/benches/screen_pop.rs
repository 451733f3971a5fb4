//! Screen-pop latency on a realistic database, on each backend.
//!
//! `cargo bench -p crm-sql --bench screen_pop` builds, per backend, a fresh database with
//! 100,000 customers, 300,000 assets, 1,000,000 interactions, 50,000 tickets and 20,000 repair
//! orders (scale with `AFTERCARE_BENCH_CUSTOMERS`), then:
//! 1. prints p50/p90/p99 of 5,000 screen pops by random phone numbers, beside a `SELECT 1` round
//!    trip measured the same way in the same process (the reference);
//! 2. runs the divan benchmarks (screen pop by phone and by serial, and the reference).
//!
//! PostgreSQL is taken from `AFTERCARE_TEST_PG_URL` (default: local, user postgres) and skipped,
//! with a note, when unreachable.

use std::sync::OnceLock;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use crm_core::model::Actor;
use crm_core::screen_pop::{screen_pop, Lookup, ScreenPopSettings};
use crm_core::types::{PhoneNumber, SerialNumber};
use crm_core::Store;
use crm_sql::testing::TestDb;
use rand::{Rng, SeedableRng};

fn customers() -> i64 {
    std::env::var("AFTERCARE_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Rows are generated inside the database by a recursive CTE, which SQLite and PostgreSQL both
/// accept, so loading a million rows takes seconds rather than minutes.
fn series(n: i64) -> String {
    format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ")
}

fn phone_of(i: i64) -> String {
    format!("+4930{}", 10_000_000 + i)
}

async fn load<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, store: &dyn Store, n: i64) -> anyhow::Result<()>
where
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    chrono::DateTime<Utc>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    NaiveDate: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (code, parts, labor) in [("WM-7000", 24, 24), ("DW-6000", 24, 12), ("RF-350", 60, 24)] {
        store
            .create_model(
                Actor::SYSTEM,
                &crm_fixtures::testsuite::sample_model(code, parts, labor),
            )
            .await?;
    }
    let now = Utc::now();
    let d = |s: &str| s.parse::<NaiveDate>().expect("date");
    let t0 = Instant::now();
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO customers (kind, name, search_name, email, time_zone, do_not_call, marketing_consent, birthday, created_at) \
         SELECT 'person', 'Customer ' || i, 'customer ' || i, NULL, 'Europe/Berlin', (i % 20 = 0), (i % 2 = 0), NULL, $1 FROM s",
        series(n)
    ))
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO customer_phones (customer_id, position, e164, label) SELECT i, 0, '+4930' || (10000000 + i), 'home' FROM s",
        series(n)
    ))
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO customer_addresses (customer_id, position, label, line1, line2, postal_code, city, country, lat, lon) \
         SELECT i, 0, 'home', 'Hauptstraße ' || (i % 200), NULL, '10115', 'Berlin', 'DE', 52.5, 13.4 FROM s",
        series(n)
    ))
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO assets (customer_id, model_id, serial, vin, purchase_date, dealer, mileage_km, operating_hours) \
         SELECT ((i - 1) % {n}) + 1, (i % 3) + 1, 'BENCH-' || i, NULL, \
                CASE i % 3 WHEN 0 THEN $1 WHEN 1 THEN $2 ELSE $3 END, 'Dealer', NULL, NULL FROM s",
        series(3 * n)
    ))
    .bind(d("2022-03-01"))
    .bind(d("2024-11-15"))
    .bind(d("2026-06-30"))
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO interactions (customer_id, kind, direction, at, summary, user_id) \
         SELECT ((i - 1) % {n}) + 1, 'call', 'inbound', $1, 'Caller asked about repair status', NULL FROM s",
        series(10 * n)
    ))
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO tickets (customer_id, asset_id, subject, description, status, priority, created_at, updated_at) \
         SELECT i * 2 - 1, (i * 2 - 1), 'E21 drain pump', '', CASE i % 4 WHEN 0 THEN 'closed' ELSE 'open' END, 'normal', $1, $1 FROM s",
        series(n / 2)
    ))
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO status_history (subject, subject_id, from_status, to_status, at, user_id, note) \
         SELECT 'ticket', i, NULL, 'open', $1, NULL, NULL FROM s",
        series(n / 2)
    ))
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query::<DB>(&format!(
        "{}INSERT INTO repair_orders (ticket_id, customer_id, asset_id, station_id, technician_id, status, fault_code, description, scheduled_for, created_at, completed_at) \
         SELECT i, i * 2 - 1, i * 2 - 1, NULL, NULL, 'new', 'E21', '', NULL, $1, NULL FROM s",
        series(n / 5)
    ))
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query::<DB>("ANALYZE").execute(pool).await?;
    eprintln!(
        "  loaded {n} customers, {} assets, {} interactions in {:.1?}",
        3 * n,
        10 * n,
        t0.elapsed()
    );
    Ok(())
}

struct Fixture {
    store: std::sync::Arc<dyn Store>,
    n: i64,
}

/// The databases behind the fixtures; emptied (so dropped and removed) when `main` ends.
static DATABASES: std::sync::Mutex<Vec<TestDb>> = std::sync::Mutex::new(Vec::new());

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

fn fixture(backend: &'static str) -> Option<&'static Fixture> {
    static SQLITE: OnceLock<Option<Fixture>> = OnceLock::new();
    static PG: OnceLock<Option<Fixture>> = OnceLock::new();
    let cell = if backend == "sqlite" { &SQLITE } else { &PG };
    cell.get_or_init(|| {
        rt().block_on(async {
            let db = if backend == "sqlite" {
                TestDb::sqlite().await
            } else {
                TestDb::postgres().await?
            };
            let url = db.url().to_string();
            let n = customers();
            eprintln!("{backend}: building the benchmark database");
            if backend == "sqlite" {
                let s = crm_sql::connect_sqlite(&url).await.expect("sqlite");
                load(s.pool(), &s, n).await.expect("load sqlite");
            } else {
                let s = crm_sql::connect_postgres(&url, 4).await.expect("postgres");
                load(s.pool(), &s, n).await.expect("load postgres");
            }
            let db = db.open().await;
            let store = db.shared();
            DATABASES.lock().expect("lock").push(db);
            Some(Fixture { store, n })
        })
    })
    .as_ref()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn pop_by_phone(f: &Fixture, i: i64) {
    let phone = PhoneNumber::parse(&phone_of(i)).expect("phone");
    let pop = screen_pop(
        f.store.as_ref(),
        &Lookup::Phone(phone),
        today(),
        ScreenPopSettings::default(),
    )
    .await
    .expect("screen pop")
    .expect("customer exists");
    assert_eq!(pop.assets.len(), 3);
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.50), at(0.90), at(0.99))
}

fn report(backend: &'static str) {
    let Some(f) = fixture(backend) else {
        eprintln!("{backend}: skipped (not reachable)");
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (pops, pings) = rt().block_on(async {
        for _ in 0..300 {
            pop_by_phone(f, rng.gen_range(1..=f.n)).await;
        }
        let mut pops = Vec::with_capacity(5000);
        let mut pings = Vec::with_capacity(5000);
        for _ in 0..5000 {
            let t = Instant::now();
            f.store.ping().await.expect("ping");
            pings.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            pop_by_phone(f, rng.gen_range(1..=f.n)).await;
            pops.push(t.elapsed().as_secs_f64() * 1e3);
        }
        (pops, pings)
    });
    let (p50, p90, p99) = percentiles(pops);
    let (r50, _, r99) = percentiles(pings);
    println!(
        "{backend:8} screen pop by phone: p50 {p50:.3} ms  p90 {p90:.3} ms  p99 {p99:.3} ms | reference SELECT 1: p50 {r50:.3} ms p99 {r99:.3} ms | p99 = {:.1}× reference p99",
        p99 / r99
    );
}

fn main() {
    println!(
        "Screen pop on {} customers / {} assets / {} interactions",
        customers(),
        3 * customers(),
        10 * customers()
    );
    report("sqlite");
    report("postgres");
    divan::main();
    DATABASES.lock().expect("lock").clear();
}

#[divan::bench(args = ["sqlite", "postgres"])]
fn screen_pop_by_phone(bencher: divan::Bencher, backend: &'static str) {
    let Some(f) = fixture(backend) else { return };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    bencher.bench_local(|| rt().block_on(pop_by_phone(f, rng.gen_range(1..=f.n))));
}

#[divan::bench(args = ["sqlite", "postgres"])]
fn screen_pop_by_serial(bencher: divan::Bencher, backend: &'static str) {
    let Some(f) = fixture(backend) else { return };
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    bencher.bench_local(|| {
        let serial = SerialNumber::parse(&format!("BENCH-{}", rng.gen_range(1..=3 * f.n))).expect("serial");
        rt().block_on(async {
            screen_pop(
                f.store.as_ref(),
                &Lookup::Serial(serial),
                today(),
                ScreenPopSettings::default(),
            )
            .await
            .expect("screen pop")
            .expect("found")
        })
    });
}

/// The reference: one `SELECT 1` round trip on the same pool.
#[divan::bench(args = ["sqlite", "postgres"])]
fn reference_round_trip(bencher: divan::Bencher, backend: &'static str) {
    let Some(f) = fixture(backend) else { return };
    bencher.bench_local(|| rt().block_on(f.store.ping()).expect("ping"));
}
