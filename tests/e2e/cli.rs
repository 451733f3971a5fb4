//! The command line: import, configuration errors, defaults on a fresh machine.

use crm_core::model::CustomerQuery;
use crm_sql::testing::TestDb;

use crate::support::{run, temp_path};

crate::on_both_backends!(import_writes_all_or_nothing);

async fn import_writes_all_or_nothing(db: TestDb) {
    let dir = temp_path("import");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "name,phone,email,street,postal_code,city,country,lat,lon\n\
         Ida Import,+49 40 1110001,ida@example.com,Elbchaussee 1,22763,Hamburg,DE,53.55,9.9\n\
         Otto Oops,040 1110002,,,,,,,\n\
         Paula Probe,+49 40 1110003,not-an-email,,,,,,\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &["import", "--database-url", db.url(), "customers", bad.to_str().unwrap()],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("line 3: phone"), "{err}");
    assert!(err.contains("line 4: email"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");

    let good = dir.join("good.csv");
    std::fs::write(
        &good,
        "name,phone,phone2,email,street,postal_code,city,country,lat,lon,do_not_call\n\
         Ida Import,+49 40 1110001,,ida@example.com,Elbchaussee 1,22763,Hamburg,DE,53.55,9.9,no\n\
         Otto Okay,+49 40 1110002,+49 151 1110002,,,,,,,,yes\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &[
            "import",
            "--database-url",
            db.url(),
            "customers",
            good.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 created"), "{out}");
    // Piped, the import counts its rows instead of drawing a bar.
    assert!(err.contains("checking: 2/2 rows"), "{err}");
    // The same file again: nobody is added twice, and the answer says so.
    let (code, out, err) = run(
        &[
            "import",
            "--database-url",
            db.url(),
            "customers",
            good.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 created, 2 already there and left unchanged (2 matched by phone, 0 by e-mail)"),
        "{out}"
    );

    // Assets refer to customers by phone and models by code; the demo catalogue supplies models.
    let store = crm_sql::connect(db.url()).await.unwrap();
    let found = store
        .search_customers(&CustomerQuery {
            q: Some("import".into()),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].addresses[0].city.as_str(), "Hamburg");
    let otto = store
        .search_customers(&CustomerQuery {
            q: Some("otto".into()),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert!(otto[0].do_not_call);
    assert_eq!(otto[0].phones.len(), 2);
    let model = store
        .create_model(
            crm_core::model::Actor::SYSTEM,
            &crm_fixtures::testsuite::sample_model("WM-7000", 24, 24),
        )
        .await
        .unwrap();
    let assets = dir.join("assets.csv");
    std::fs::write(
        &assets,
        "serial,customer_phone,model_code,purchase_date,dealer\n\
         WM-IMP-1,+49401110001,WM-7000,2025-05-01,MediaShop\n\
         WM-IMP-2,+49401119999,WM-7000,2025-05-01,\n\
         WM-IMP-1,+49401110002,WM-7000,2025-05-01,\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &["import", "--database-url", db.url(), "assets", assets.to_str().unwrap()],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("line 3: customer_phone"), "{err}");
    assert!(err.contains("line 4: serial"), "{err}");
    assert!(
        store.list_assets(found[0].id).await.unwrap().is_empty(),
        "nothing half-written"
    );
    std::fs::write(
        &assets,
        "serial,customer_phone,model_code,purchase_date,dealer\nWM-IMP-1,+49401110001,wm-7000,2025-05-01,MediaShop\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &["import", "--database-url", db.url(), "assets", assets.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let a = store.list_assets(found[0].id).await.unwrap();
    assert_eq!((a.len(), a[0].model_id), (1, model.id));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = temp_path("config");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("aftercare.toml");
    std::fs::write(&cfg, "log_level = \"info\"\nhttp = \"not an address\"\n").unwrap();
    let (code, _, err) = run(&["serve", "--config", cfg.to_str().unwrap()], Some(&dir));
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:2", cfg.display())), "{err}");
    assert!(err.contains("http"), "{err}");
    assert!(
        !dir.join("aftercare-data").exists(),
        "nothing created on a config error"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_documents_every_flag() {
    let (code, out, _) = run(&["serve", "--help"], None);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--database-url",
        "--http",
        "--demo",
        "--log-format",
        "--log-level",
        "--data-dir",
        "AFTERCARE_DATABASE_URL",
    ] {
        assert!(out.contains(flag), "{flag} in --help:\n{out}");
    }
}

/// With no configuration the service keeps a SQLite file under ./aftercare-data/, and the
/// shipped IVR flows beside it.
#[tokio::test]
async fn default_database_is_a_local_sqlite_file() {
    let dir = temp_path("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = std::process::Command::new(crate::support::BIN)
        .args(["serve", "--http", "127.0.0.1:0"])
        .current_dir(&dir)
        .env_remove("AFTERCARE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it listens, then stop it.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0 && !line.contains("is listening") {
        line.clear();
    }
    assert!(line.contains("is listening"), "started");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let db = dir.join("aftercare-data/aftercare.db");
    assert!(db.exists(), "created {}", db.display());
    let flows = dir.join("aftercare-data/ivr-scripts");
    assert!(flows.join("demo.toml").exists(), "the shipped IVR flow was installed");
    assert!(flows.join("prompts/menu_main.wav").exists(), "with its prompts");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `aftercare simulate` prints the four figures as JSON; with enough calls they approach Erlang C.
#[test]
fn simulate_prints_json_close_to_erlang_c() {
    let out = std::process::Command::new(crate::support::BIN)
        .args([
            "simulate",
            "--arrivals-per-hour",
            "200",
            "--aht-seconds",
            "180",
            "--agents",
            "14",
        ])
        .args(["--calls", "300000", "--seed", "4", "--sl-seconds", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = v["p_wait"].as_f64().unwrap();
    assert!((p - 0.174).abs() < 0.02, "{v}");
    for key in ["asa_seconds", "service_level", "occupancy"] {
        assert!(v[key].as_f64().is_some(), "{key} in {v}");
    }
    let bad = std::process::Command::new(crate::support::BIN)
        .args([
            "simulate",
            "--arrivals-per-hour",
            "200",
            "--aht-seconds",
            "180",
            "--agents",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be positive"));
}

#[test]
fn vrptw_solve_prints_valid_routes_for_a_solomon_instance() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/solomon");
    let file = dir.join("R101.txt");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["vrptw", "solve"])
        .arg(&file)
        .args(["--iterations", "3000", "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Re-check the routes here, independently: each customer once, capacity 200, windows.
    let text = std::fs::read_to_string(&file).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect::<Vec<f64>>()
        })
        .filter(|r| r.len() == 7)
        .collect();
    let d = |a: usize, b: usize| ((rows[a][1] - rows[b][1]).powi(2) + (rows[a][2] - rows[b][2]).powi(2)).sqrt();
    let routes = v["routes"].as_array().unwrap();
    assert_eq!(v["vehicles"].as_u64().unwrap() as usize, routes.len());
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0.0;
    for r in routes {
        let r: Vec<usize> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as usize)
            .collect();
        let load: f64 = r.iter().map(|&c| rows[c][3]).sum();
        assert!(load <= 200.0, "capacity: {r:?}");
        let (mut t, mut prev) = (0.0f64, 0);
        for &c in &r {
            assert!(seen.insert(c), "customer {c} twice");
            t = (t + rows[prev][6] + d(prev, c)).max(rows[c][4]);
            assert!(
                t <= rows[c][5] + 1e-6,
                "customer {c} served at {t} after {}",
                rows[c][5]
            );
            total += d(prev, c);
            prev = c;
        }
        total += d(prev, 0);
        assert!(
            t + rows[prev][6] + d(prev, 0) <= rows[0][5] + 1e-6,
            "back at the depot in time"
        );
    }
    assert_eq!(seen.len(), 100, "every customer served");
    let distance = v["distance"].as_f64().unwrap();
    assert!((distance - total).abs() < 0.01, "{distance} vs {total}");
    // R101's best known distance is 1642.88; a short search lands within a few per cent.
    assert!(distance < 1642.88 * 1.05, "{distance}");

    for (args, needle) in [
        (vec!["vrptw", "solve", "/nonexistent.txt"], "nonexistent"),
        (
            vec!["vrptw", "solve", file.to_str().unwrap(), "--seconds", "0"],
            "--seconds",
        ),
    ] {
        let out = std::process::Command::new(crate::support::BIN)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
    }
}
