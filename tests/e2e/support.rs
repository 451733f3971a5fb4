//! Start the real `aftercare` binary on a fresh database and talk to it over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crm_sql::testing::TestDb;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_aftercare");

/// libfaketime's `faketime` (Debian package faketime; `.ci/run` installs it).
pub fn require_faketime() {
    let found = Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "faketime is needed (Debian package faketime; .ci/run installs it)"
    );
}

/// Run one scenario against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crm_sql::testing::TestDb::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crm_sql::testing::TestDb::postgres().await else { return };
                    super::$name(db).await;
                }
            )+
        }
    };
}

/// A running `aftercare serve`; stopped with SIGTERM on drop.
/// A 1×1 PNG (a signature drawn on a device, as far as the server can tell).
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub struct Server {
    child: Child,
    pub base: String,
    /// The SIP address (UDP and TCP).
    pub sip: std::net::SocketAddr,
    pub stdout: String,
    stderr_file: PathBuf,
    /// The server's `data_dir` (uploads, voicemail); removed on drop.
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
}

pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "aftercare-e2e-{}-{}-{name}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

impl Server {
    /// `aftercare serve --demo` with a small demo data set.
    pub async fn demo(db: &TestDb) -> Server {
        Server::start(db, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await
    }

    pub async fn start(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Server {
        let ivr = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr-scripts");
        Server::start_in(db, &ivr, args, env).await
    }

    /// Like `start`, with the IVR flows (and queues) of `ivr`.
    pub async fn start_in(db: &TestDb, ivr: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(db, ivr, args, env, None).await
    }

    /// Like `start`, with the server's clock set to `utc` ("2026-12-07 18:30:00", UTC) by
    /// libfaketime (Debian `faketime`); from there it runs on. Timers (monotonic) stay real.
    pub async fn start_at(db: &TestDb, args: &[&str], env: &[(&str, &str)], utc: &str) -> Server {
        require_faketime();
        let ivr = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr-scripts");
        Server::launch(db, &ivr, args, env, Some(utc)).await
    }

    async fn launch(db: &TestDb, ivr: &Path, args: &[&str], env: &[(&str, &str)], clock: Option<&str>) -> Server {
        let stderr_file = temp_path("stderr.log");
        let stderr = std::fs::File::create(&stderr_file).expect("stderr file");
        let data_dir = temp_path("data");
        let mut cmd = match clock {
            None => Command::new(BIN),
            Some(at) => {
                let mut c = Command::new("faketime");
                c.args(["-f", &format!("@{at}"), BIN])
                    .env("TZ", "UTC")
                    .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
                c
            }
        };
        cmd.args(["serve", "--http", "127.0.0.1:0", "--database-url", db.url()]);
        if !args.contains(&"--data-dir") {
            cmd.args(["--data-dir", data_dir.to_str().expect("utf-8 path")]);
        }
        cmd.args(["--sip", "127.0.0.1:0", "--ivr-dir", ivr.to_str().expect("utf-8 path")])
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("aftercare starts");
        let out = child.stdout.take().expect("stdout");
        // The server prints its address once it listens; read stdout until then on a thread.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                seen.push_str(&line);
                if line.contains("is listening on http://") {
                    let _ = tx.send(seen.clone());
                }
                line.clear();
            }
            let _ = tx.send(seen);
        });
        let stdout = rx.recv_timeout(Duration::from_secs(120)).unwrap_or_default();
        let base = stdout
            .lines()
            .find_map(|l| l.split("is listening on ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        let sip = stdout
            .lines()
            .find_map(|l| l.strip_prefix("SIP on "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok());
        let (Some(base), Some(sip)) = (base, sip) else {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&stderr_file).unwrap_or_default();
            panic!("server did not start.\nstdout:\n{stdout}\nstderr:\n{err}")
        };
        Server {
            child,
            base,
            sip,
            stdout,
            stderr_file,
            data_dir,
            // Idle connections are dropped before the server's 10 s keep-alive limit, as a
            // well-behaved client does, so none is reused just as the server closes it.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Log in and return the bearer token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "",
                "/api/v1/auth/login",
                serde_json::json!({"username": user, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {user}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let mut r = self.client.get(self.url(path));
        if !token.is_empty() {
            r = r.bearer_auth(token);
        }
        let resp = r.send().await.expect("request");
        decode(resp).await
    }

    pub async fn send(&self, method: reqwest::Method, token: &str, path: &str, body: Value) -> (u16, Value) {
        let mut r = self.client.request(method, self.url(path)).json(&body);
        if !token.is_empty() {
            r = r.bearer_auth(token);
        }
        decode(r.send().await.expect("request")).await
    }

    /// A GET whose answer is not JSON: status, content type and body.
    pub async fn get_text(&self, token: &str, path: &str) -> (u16, String, String) {
        let (status, kind, bytes) = self.get_bytes(token, path).await;
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A GET of a file: status, content type and the bytes.
    pub async fn get_bytes(&self, token: &str, path: &str) -> (u16, String, Vec<u8>) {
        let resp = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, kind, resp.bytes().await.expect("body").to_vec())
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        let resp = self.client.get(self.url("/metrics")).send().await.expect("request");
        resp.text().await.expect("metrics text")
    }

    /// A login for a technician record (`field{id}`, made on first use).
    pub async fn technician_login(&self, admin: &str, technician_id: i64) -> String {
        let username = format!("field{technician_id}");
        let (status, body) = self
            .post(
                admin,
                "/api/v1/users",
                serde_json::json!({"username": username, "display_name": "Field Tech", "role": "technician",
                                   "technician_id": technician_id, "password": "field-secret"}),
            )
            .await;
        assert!(status == 201 || status == 409, "{status} {body}");
        self.login(&username, "field-secret").await
    }

    /// Brings a repair order on site through its technician's task flow, as the mobile app does:
    /// assigned (to the first technician when dispatch left it open), accepted, on the way and
    /// checked in at the customer's. Returns the technician's token and the fault code the
    /// report will give (the order's own, or the first of its model's catalogue).
    pub async fn work_on_site(&self, admin: &str, id: i64) -> (String, String) {
        let path = format!("/api/v1/tech/tasks/{id}/status");
        let mut token = String::new();
        for _ in 0..5 {
            let (_, ro) = self.get(admin, &format!("/api/v1/repair-orders/{id}")).await;
            let tech = match ro["technician_id"].as_i64() {
                Some(t) => t,
                None => {
                    let (_, techs) = self.get(admin, "/api/v1/technicians").await;
                    techs[0]["id"].as_i64().expect("a technician")
                }
            };
            if ro["status"] == "new" {
                let (status, body) = self
                    .patch(
                        admin,
                        &format!("/api/v1/repair-orders/{id}"),
                        serde_json::json!({"status": "assigned", "technician_id": tech}),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            token = self.technician_login(admin, tech).await;
            // Dispatch may move an order nobody has accepted yet; then ask again.
            if self
                .post(&token, &path, serde_json::json!({"action": "accept"}))
                .await
                .0
                == 200
            {
                break;
            }
        }
        let (status, task) = self.post(&token, &path, serde_json::json!({"action": "depart"})).await;
        assert_eq!(status, 200, "{task}");
        let at = match &task["customer"]["address"]["location"] {
            Value::Null => serde_json::json!({"lat": 52.52, "lon": 13.40}),
            l => l.clone(),
        };
        let (status, task) = self
            .post(&token, &path, serde_json::json!({"action": "check_in", "location": at}))
            .await;
        assert_eq!(status, 200, "{task}");
        let code = match task["fault_code"].as_str() {
            Some(c) => c.to_string(),
            None => {
                let (_, asset) = self
                    .get(admin, &format!("/api/v1/assets/{}", task["asset"]["id"]))
                    .await;
                let (_, model) = self
                    .get(admin, &format!("/api/v1/product-models/{}", asset["model_id"]))
                    .await;
                model["fault_codes"][0]["code"]
                    .as_str()
                    .expect("a fault code")
                    .to_string()
            }
        };
        (token, code)
    }

    /// The technician's report (fault code, work done, hours) and the completion; the
    /// completion's status and body.
    pub async fn finish_task(&self, tech: &str, id: i64, fault_code: &str) -> (u16, Value) {
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                tech,
                &format!("/api/v1/tech/tasks/{id}/report"),
                serde_json::json!({"fault_code": fault_code, "work_done": "Repaired and tested", "labour_hours": 1.0}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.quote_if_paid(tech, id, serde_json::json!([])).await;
        self.post(
            tech,
            &format!("/api/v1/tech/tasks/{id}/status"),
            serde_json::json!({"action": "complete"}),
        )
        .await
    }

    /// What the technician does on site when the warranty does not cover the repair: a quote of
    /// an hour and these parts, signed by the customer on the device. Nothing when the warranty
    /// covers it.
    pub async fn quote_if_paid(&self, tech: &str, id: i64, parts: Value) {
        let (status, quoted) = self
            .post(
                tech,
                &format!("/api/v1/tech/tasks/{id}/quote"),
                serde_json::json!({"labour_minutes": 60, "parts": parts}),
            )
            .await;
        if status == 409 && quoted["field"] == "repair_order_id" {
            return;
        }
        assert!(status == 201 || status == 200, "{status} {quoted}");
        let png = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, PNG_1X1);
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                tech,
                &format!("/api/v1/tech/tasks/{id}/quote/accept"),
                serde_json::json!({"quote_id": quoted["quote"]["id"], "signed_by": "The Customer", "png_base64": png}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, token, path, body).await
    }

    /// POST a raw body with a content type.
    pub async fn post_raw(&self, token: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        decode(resp).await
    }

    /// Kill with SIGKILL (no shutdown, no flushing): a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop with SIGTERM and return the exit status and everything written to stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let status = terminate(&mut self.child);
        let mut err = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_file) {
            let _ = f.read_to_string(&mut err);
        }
        (status, err)
    }
}

async fn decode(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// SIGTERM, then wait up to 15 s (SIGKILL after that). Returns the exit code.
fn terminate(child: &mut Child) -> Option<i32> {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            terminate(&mut self.child);
        }
        let _ = std::fs::remove_file(&self.stderr_file);
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A copy of the shipped IVR flows, prompts and queues in a scratch directory (removed on
/// drop), with extra files written over them.
pub struct IvrDir(pub PathBuf);

impl IvrDir {
    pub fn with(files: &[(&str, &str)]) -> IvrDir {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ivr-scripts");
        let dir = temp_path("ivr");
        std::fs::create_dir_all(dir.join("prompts")).expect("ivr dir");
        for sub in ["", "prompts"] {
            for e in std::fs::read_dir(src.join(sub)).expect("ivr-scripts").flatten() {
                if e.path().is_file() {
                    std::fs::copy(e.path(), dir.join(sub).join(e.file_name())).expect("copy");
                }
            }
        }
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
        IvrDir(dir)
    }
}

impl Drop for IvrDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A call recording once its writer has finished it (up to 5 s): its format and samples
/// (stereo: caller left, our side right).
pub async fn finished_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    for _ in 0..50 {
        if let Ok(mut r) = hound::WavReader::open(path) {
            if r.len() > 0 {
                let spec = r.spec();
                return (spec, r.samples::<i16>().map(|s| s.unwrap()).collect());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no finished recording at {}", path.display())
}

/// Run the binary to completion.
pub fn run(args: &[&str], cwd: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").stdin(Stdio::null());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("aftercare runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
