//! Migrations on a database that holds data: SQLite's rebuilds of `users` (0012 and 0017, new
//! roles) and `agent_tasks` (0017, a new kind) keep every row, its id and everything that
//! refers to it.

use sqlx::Row;

/// A fresh SQLite database (kept while the first value lives), a pool on it with foreign keys
/// on, and the migrations before `version`, to run first.
async fn before_migration(version: i64) -> (crm_sql::testing::TestDb, sqlx::SqlitePool, sqlx::migrate::Migrator) {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true).foreign_keys(true))
        .await
        .expect("open");
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            crm_sql::SQLITE_MIGRATIONS
                .migrations
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    (db, pool, before)
}

#[tokio::test]
async fn the_role_rebuild_keeps_users_and_what_refers_to_them() {
    let (_db, pool, before) = before_migration(12).await;
    before.run(&pool).await.expect("migrations up to 0011");
    for sql in [
        "INSERT INTO users (id, username, display_name, role, technician_id, password_hash, created_at) \
         VALUES (7, 'sue', 'Sue', 'supervisor', NULL, 'h', '2026-01-01T00:00:00Z')",
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ('t', 7, '2099-01-01T00:00:00Z')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    crm_sql::SQLITE_MIGRATIONS.run(&pool).await.expect("the rebuild");
    let row = sqlx::query(
        "SELECT u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = 't'",
    )
    .fetch_one(&pool)
    .await
    .expect("the session still finds its user");
    assert_eq!(
        (row.get::<String, _>(0), row.get::<String, _>(1)),
        ("sue".into(), "supervisor".into())
    );
    let fk: Vec<sqlx::sqlite::SqliteRow> = sqlx::query("PRAGMA foreign_key_check").fetch_all(&pool).await.unwrap();
    assert!(fk.is_empty(), "nothing dangles");
    // The new roles are allowed, others still are not; ids go on from the highest.
    sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) \
         VALUES ('rita', 'Rita', 'reviewer', 'h', '2026-01-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .expect("a reviewer");
    let bad = sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES ('x', 'X', 'king', 'h', 'now')",
    )
    .execute(&pool)
    .await;
    assert!(bad.is_err(), "the CHECK holds");
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'rita'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(id, 8);
}

/// 0017 rebuilds `users` (the dealer role) and `agent_tasks` (the overdue-invoice kind) on
/// SQLite: a station manager, a regional supervisor and a voicemail task from an unknown caller
/// (its number and call record) come through whole, and the new kind and role are allowed.
#[tokio::test]
async fn the_sales_rebuild_keeps_users_scopes_and_voicemail_tasks() {
    let (_db, pool, before) = before_migration(17).await;
    before.run(&pool).await.expect("migrations up to 0016");
    for sql in [
        "INSERT INTO stations (id, name, city, lat, lon, time_zone, skills, capacity_per_day, opening_hours, rating, status, region, partner) \
         VALUES (3, 'Nord', 'Kiel', 54.3, 10.1, 'Europe/Berlin', '[]', 5, '[]', 4.5, 'approved', 'north', '{}')",
        "INSERT INTO users (id, username, display_name, role, technician_id, password_hash, created_at, station_id, region) \
         VALUES (4, 'stan', 'Stan', 'station_manager', NULL, 'h', '2026-01-01T00:00:00Z', 3, NULL), \
                (5, 'nora', 'Nora', 'supervisor', NULL, 'h', '2026-01-01T00:00:00Z', NULL, 'north')",
        "INSERT INTO cdrs (id, call_id, direction, caller, called, started_at, ended_at, ivr_path, dtmf, outcome, end_reason, voicemail) \
         VALUES (9, 'c9', 'inbound', '+4940111', '100', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', '', '', 'voicemail', 'bye', 'vm/9.wav')",
        "INSERT INTO agent_tasks (id, kind, queue, source, summary, status, due_at, created_at, claimed_by, callback_number, cdr_id) \
         VALUES (11, 'voicemail', 'general', 'voicemail-9', 'call back', 'claimed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 5, '+4940111', 9)",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    crm_sql::SQLITE_MIGRATIONS.run(&pool).await.expect("0017");
    let users: Vec<(i64, String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT id, role, station_id, region FROM users ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        users,
        vec![
            (4, "station_manager".into(), Some(3), None),
            (5, "supervisor".into(), None, Some("north".into()))
        ]
    );
    let task: (String, Option<i64>, Option<String>, Option<i64>) =
        sqlx::query_as("SELECT status, claimed_by, callback_number, cdr_id FROM agent_tasks WHERE id = 11")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(task, ("claimed".into(), Some(5), Some("+4940111".into()), Some(9)));
    let fk: Vec<sqlx::sqlite::SqliteRow> = sqlx::query("PRAGMA foreign_key_check").fetch_all(&pool).await.unwrap();
    assert!(fk.is_empty(), "nothing dangles");
    for sql in [
        "INSERT INTO dealers (id, code, name, address, contacts, territory, agreement, status, created_at) \
         VALUES (1, 'D-1', 'D', '{}', '[]', 'north', '{}', 'active', '2026-01-01T00:00:00Z')",
        "INSERT INTO users (username, display_name, role, password_hash, created_at, dealer_id) \
         VALUES ('dora', 'Dora', 'dealer', 'h', '2026-01-01T00:00:00Z', 1)",
        "INSERT INTO agent_tasks (kind, queue, source, customer_id, summary, status, due_at, created_at, callback_number) \
         VALUES ('invoice_overdue', 'general', 'invoice-1-overdue', NULL, 'pay', 'open', 'x', 'x', '+4940111')",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    let bad = sqlx::query(
        "INSERT INTO agent_tasks (kind, queue, source, summary, status, due_at, created_at, callback_number) \
         VALUES ('nonsense', 'general', 's', 'x', 'open', 'x', 'x', '1')",
    )
    .execute(&pool)
    .await;
    assert!(bad.is_err(), "the kind CHECK holds");
}
