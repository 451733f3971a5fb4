//! The OpenAPI document is the contract: schemathesis, a schema-driven fuzzer, reads the served
//! `/openapi.json` and sends thousands of requests built from it, as an administrator and as a
//! technician, on each backend. It fails the run on any answer the document does not describe
//! (status, content type, body), any server error, any request outside the document that is
//! accepted (`negative_data_rejection`), and any request inside it that is refused for a reason
//! the document could have stated (`valid_requests_are_accepted` in `tests/contract/checks.py`,
//! which lists the rules JSON Schema cannot express). Needs `schemathesis` (PyPI; `.ci/run`
//! installs the version pinned there).

use std::path::Path;
use std::process::Command;

use crm_sql::testing::TestDb;

use crate::support::{temp_path, Server};

crate::on_both_backends!(a_fuzzer_reading_the_document_finds_no_answer_outside_it);

/// Examples per operation and phase: enough to reach every field's edges, small enough for CI.
const EXAMPLES: &str = "20";

fn require_schemathesis() {
    let ok = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "schemathesis is needed (pip install schemathesis; .ci/run installs it)"
    );
}

/// One schemathesis run as `user`; panics with its report unless it found nothing.
fn fuzz(server: &Server, token: &str, user: &str) {
    let dir = temp_path("schemathesis");
    std::fs::create_dir_all(&dir).unwrap();
    let checks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contract");
    let out = Command::new("schemathesis")
        .current_dir(&dir)
        .env("PYTHONPATH", &checks)
        .env("SCHEMATHESIS_HOOKS", "checks")
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(checks.join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", server.base)])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Every check runs by default (built-in and ours); naming them on the command line would
        // also override the per-operation settings of the config file, so only the exclusion is.
        .args(["--exclude-checks", "positive_data_acceptance"])
        // Signing in and out changes the session the run works with.
        .args(["--exclude-path-regex", "auth/(login|logout)"])
        .args([
            "--max-examples",
            EXAMPLES,
            "--seed",
            "4475",
            "--generation-database",
            "none",
        ])
        // Speed is measured in benchmarks and load runs, not here: a whole-network plan at the
        // highest effort takes seconds, and up to a minute on a machine running two fuzzers, so
        // the time limit only catches a request that hangs.
        .args(["--request-timeout", "180", "--max-response-time", "180"])
        .output()
        .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&dir);
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("generated,") || l.contains(" in ") && l.starts_with('='))
        .collect();
    eprintln!("schemathesis as {user}: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "schemathesis as {user} found answers outside the document:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn a_fuzzer_reading_the_document_finds_no_answer_outside_it(db: TestDb) {
    require_schemathesis();
    let server = Server::demo(&db).await;
    let admin = server.login("admin", "demo").await;
    let tech = server.login("tech1", "demo").await;
    fuzz(&server, &tech, "a technician");
    fuzz(&server, &admin, "an administrator");
    // The service is still whole after the run.
    let (status, _) = server.get(&admin, "/api/v1/me").await;
    assert_eq!(status, 200);
}
