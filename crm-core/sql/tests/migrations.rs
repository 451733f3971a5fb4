//! Migrations on a database that holds data: SQLite's rebuild of `users` (0012, new roles) keeps
//! every user, their id and everything that refers to them.

use sqlx::Row;

#[tokio::test]
async fn the_role_rebuild_keeps_users_and_what_refers_to_them() {
    let db = crm_sql::testing::TestDb::sqlite().await;
    let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true).foreign_keys(true))
        .await
        .expect("open");
    // Everything before the rebuild.
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            crm_sql::SQLITE_MIGRATIONS
                .migrations
                .iter()
                .filter(|m| m.version < 12)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
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
