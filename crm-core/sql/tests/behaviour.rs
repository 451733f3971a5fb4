//! The crm-core behaviour suite, run against each backend on a fresh database per test.

mod sqlite {
    use crm_sql::testing::TestDb;
    crm_fixtures::behaviour_tests!(async { Some(TestDb::sqlite().await.open().await) });
}

mod postgres {
    use crm_sql::testing::TestDb;
    crm_fixtures::behaviour_tests!(async {
        match TestDb::postgres().await {
            Some(db) => Some(db.open().await),
            None => None,
        }
    });
}
