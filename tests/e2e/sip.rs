//! Real SIP peers against the built binary: sipp (Debian `sip-tester`) calls the demo IVR with
//! G.711 audio and RFC 4733 DTMF from the pcaps sipp ships, and the call records show what
//! happened. `.ci/run` installs sipp; without it these tests fail (they cannot be skipped in CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crm_sql::testing::TestDb;
use serde_json::Value;

use crate::support::{temp_path, IvrDir, Server};

const PCAPS: &str = "/usr/share/sip-tester";

/// A scratch directory with `pcap/` pointing at sipp's pcaps (its scenarios use that path).
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new() -> Workdir {
        let dir = temp_path("sipp");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(PCAPS, dir.join("pcap")).unwrap();
        Workdir(dir)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn require_sipp() {
    let ok = Command::new("sipp").arg("-v").output().is_ok() && Path::new(PCAPS).join("dtmf_2833_1.pcap").exists();
    assert!(
        ok,
        "sipp and its pcaps are needed (Debian package sip-tester; .ci/run installs it)"
    );
}

/// Run sipp in `dir` against the server; returns (exit code, stdout+stderr).
pub fn sipp(dir: &Path, server: &Server, args: &[&str]) -> (i32, String) {
    sipp_at(dir, server.sip, args)
}

/// Run sipp in `dir` against a SIP address.
pub fn sipp_at(dir: &Path, target: std::net::SocketAddr, args: &[&str]) -> (i32, String) {
    let target = target.to_string();
    let out = Command::new("timeout")
        .arg("120")
        .arg("sipp")
        .args(args)
        .args(["-i", "127.0.0.1", "-p", "0", "-mp", &free_media_port().to_string()])
        .args(["-m", "1", "-l", "1", "-nostdin", "-timeout", "100", "-trace_err"])
        .arg(&target)
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = sipp_errors(dir);
    (out.status.code().unwrap_or(-1), format!("{text}\n{errors}"))
}

/// An even UDP port pair nobody holds right now (sipp needs a fixed media port).
pub fn free_media_port() -> u16 {
    for _ in 0..100 {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        let even = p & !1;
        drop(s);
        if std::net::UdpSocket::bind(("127.0.0.1", even)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", even + 1)).is_ok()
        {
            return even;
        }
    }
    panic!("no free port pair");
}

pub async fn newest_cdr(server: &Server, token: &str) -> Value {
    // The record is written when the call ends; allow the write a moment.
    for _ in 0..50 {
        let (status, body) = server.get(token, "/api/v1/cdrs?limit=1").await;
        assert_eq!(status, 200, "{body}");
        if let Some(c) = body.as_array().and_then(|a| a.first()) {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no call record was written");
}

/// The newest call record once one newer than `earlier` (a record read before) is written.
pub async fn cdr_after(server: &Server, token: &str, earlier: &Value) -> Value {
    for _ in 0..50 {
        let c = newest_cdr(server, token).await;
        if c["id"].as_i64() > earlier["id"].as_i64() {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no call record was written after {earlier}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_pcap_reaches_the_ivr_and_the_call_record_shows_the_digit() {
    require_sipp();
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let token = server.login("agent1", "demo").await;
    let dir = Workdir::new();
    let (code, log) = sipp(&dir.0, &server, &["-sn", "uac_pcap"]);
    assert_eq!(code, 0, "sipp reported a failed call:\n{log}");
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["dtmf"], "1", "{cdr}");
    assert_eq!(cdr["caller"], "sipp");
    assert_eq!(cdr["ivr_script"], "demo");
    assert!(
        cdr["ivr_path"]
            .as_str()
            .unwrap()
            .starts_with("identify>greet>menu>warranty"),
        "{cdr}"
    );
    assert_eq!(cdr["end_reason"], "caller_hangup");
    assert!(cdr["answered_at"].is_string());
    let (_, metrics) = server.get("", "/metrics").await;
    let metrics = metrics.as_str().unwrap().to_string();
    let received: u64 = metric(&metrics, "aftercare_rtp_received_total");
    assert!(received > 200, "the G.711 pcap (about 8 s) arrived: {received} packets");
    assert_eq!(metric(&metrics, "aftercare_rtp_foreign_total"), 0);
}

pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// A scenario of ours: a known customer calls, presses 1, types an asset's serial number and
/// `#`, hears its warranty status, and the IVR ends the call with a BYE that sipp answers.
/// Menu option 1, the serial's digits and `#`, then `then` (keys pressed right after, during the
/// readback); the scenario ends with our BYE.
pub fn serial_scenario(caller: &str, digits: &str, then: &str) -> String {
    let mut keys = String::new();
    let entry = "1".chars().chain(digits.chars()).chain("#".chars()).count();
    for (i, d) in "1"
        .chars()
        .chain(digits.chars())
        .chain("#".chars())
        .chain(then.chars())
        .enumerate()
    {
        if i == entry {
            // The look-up is done and the readback has begun.
            keys.push_str("  <pause milliseconds=\"2000\"/>\n");
        }
        let name = match d {
            '#' => "pound".to_string(),
            '*' => "star".to_string(),
            d => d.to_string(),
        };
        keys.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"pcap/dtmf_2833_{name}.pcap\"/></action></nop>\n  <pause milliseconds=\"400\"/>\n"
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="serial number self-service">
  <send retrans="500">
    <![CDATA[
      INVITE sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="1500"/>
{keys}  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_caller_types_a_serial_number_and_hears_the_warranty_status() {
    require_sipp();
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let token = server.login("agent1", "demo").await;
    // A person with a phone and at least one asset whose serial digits are unique.
    let (_, customers) = server.get(&token, "/api/v1/customers?limit=50").await;
    let mut pick = None;
    for c in customers.as_array().unwrap() {
        if c["kind"] != "person" || c["phones"].as_array().unwrap().is_empty() {
            continue;
        }
        let (_, assets) = server
            .get(&token, &format!("/api/v1/customers/{}/assets", c["id"]))
            .await;
        if let Some(a) = assets.as_array().unwrap().first() {
            pick = Some((c.clone(), a.clone()));
            break;
        }
    }
    let (customer, asset) = pick.expect("the demo data has a person with an asset");
    let phone = customer["phones"][0]["number"].as_str().unwrap().to_string();
    let serial = asset["serial"].as_str().unwrap();
    let digits: String = serial.chars().filter(|c| c.is_ascii_digit()).collect();
    let dir = Workdir::new();
    std::fs::write(dir.0.join("serial.xml"), serial_scenario(&phone, &digits, "88")).unwrap();
    let (code, log) = sipp(&dir.0, &server, &["-sf", "serial.xml"]);
    assert_eq!(code, 0, "the call did not end cleanly:\n{log}");
    let cdr = newest_cdr(&server, &token).await;
    // A key during the readback stops it; 8 is no choice there: the caller is told and asked
    // again, and a second 8 ends the call with goodbye.
    assert_eq!(cdr["dtmf"], format!("1{digits}#88"), "{cdr}");
    assert_eq!(cdr["customer_id"], customer["id"], "{cdr}");
    let path = cdr["ivr_path"].as_str().unwrap();
    assert!(
        path.starts_with("identify>greet_known>menu>warranty>warranty_lookup>warranty_known"),
        "{path}"
    );
    let state = asset["warranty"]["state"].as_str().unwrap();
    let said = match (asset["warranty"]["rule"].as_str().unwrap(), state) {
        ("mileage_exceeded", _) => "say_mileage",
        ("hours_exceeded", _) => "say_hours",
        ("no_coverage", _) => "say_no_coverage",
        (_, "in_warranty") => "say_valid",
        (_, "expiring_soon") => "say_expiring",
        _ => "say_expired",
    };
    assert!(path.contains(said), "{state}: {path}");
    assert!(path.ends_with(">after_warranty>goodbye"), "{path}");
    assert_eq!(cdr["outcome"], "self_service");
    assert_eq!(cdr["end_reason"], "ivr_hangup");
    assert_eq!(cdr["serial_owner_id"], customer["id"], "{cdr}");

    // The same caller asks about somebody else's product: the call stays theirs, and the
    // record names the serial's owner beside them.
    let mut other = None;
    for c in customers
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] != customer["id"])
    {
        let (_, assets) = server
            .get(&token, &format!("/api/v1/customers/{}/assets", c["id"]))
            .await;
        if let Some(a) = assets.as_array().unwrap().first() {
            other = Some((c["id"].clone(), a["serial"].as_str().unwrap().to_string()));
            break;
        }
    }
    let (owner, serial) = other.expect("a second customer with an asset");
    let digits: String = serial.chars().filter(|c| c.is_ascii_digit()).collect();
    std::fs::write(dir.0.join("serial.xml"), serial_scenario(&phone, &digits, "88")).unwrap();
    let (code, log) = sipp(&dir.0, &server, &["-sf", "serial.xml"]);
    assert_eq!(code, 0, "the call did not end cleanly:\n{log}");
    let second = cdr_after(&server, &token, &cdr).await;
    assert_eq!(
        second["customer_id"], customer["id"],
        "the caller, not the owner: {second}"
    );
    assert_eq!(second["serial_owner_id"], owner, "{second}");
}

/// A delayed offer (RFC 3261 §13.2.1): the INVITE has no SDP, our 200 carries the offer, and
/// sipp's ACK the answer (PCMU and telephone-event at its media port). The caller then presses 1
/// as RFC 4733 packets; the digit reaching the IVR shows the media was set up from the ACK.
const DELAYED_OFFER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="delayed offer">
  <send retrans="500">
    <![CDATA[
      INVITE sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:delayed@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP 0 8 101" search_in="body" check_it="true" assign_to="offer"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:delayed@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="2500"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:delayed@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Subject: offered [$offer]
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_offer_call_gets_our_offer_and_its_media_from_the_ack() {
    require_sipp();
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let token = server.login("agent1", "demo").await;
    let dir = Workdir::new();
    std::fs::write(dir.0.join("delayed.xml"), DELAYED_OFFER).unwrap();
    let (code, log) = sipp(&dir.0, &server, &["-sf", "delayed.xml"]);
    assert_eq!(code, 0, "sipp reported a failed call (was the INVITE refused?):\n{log}");
    let cdr = newest_cdr(&server, &token).await;
    assert!(cdr["answered_at"].is_string(), "{cdr}");
    assert_eq!(cdr["dtmf"], "1", "the digit came over the media the ACK set up: {cdr}");
    assert_eq!(cdr["end_reason"], "caller_hangup", "{cdr}");
    let (_, metrics) = server.get("", "/metrics").await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metric(&metrics, "aftercare_rtp_sent_total") > 50,
        "prompts were played to sipp"
    );
    assert_eq!(metric(&metrics, "aftercare_rtp_foreign_total"), 0);
}

/// A flow on 802 that greets and says goodbye, with no outcome of its own.
const GOODBYE_FLOW: &str = r#"[flow]
name = "goodbye"
start = "hello"
timezone = "Europe/Berlin"
numbers = ["802"]

[node.hello]
say = ["goodbye"]
hangup = true
"#;

/// A caller who waits for the IVR to hang up.
const WAIT_FOR_BYE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="wait for the IVR's BYE">
  <send retrans="500">
    <![CDATA[
      INVITE sip:802@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:patient@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:802@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:802@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:patient@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:802@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv request="BYE" timeout="30000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#;

/// A call the IVR itself ends is recorded as such, not as a caller who gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_ivr_ends_is_not_recorded_as_abandoned() {
    require_sipp();
    let ivr = IvrDir::with(&[("goodbye.toml", GOODBYE_FLOW)]);
    let db = TestDb::sqlite().await;
    let server = Server::start_in(&db, &ivr.0, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await;
    let token = server.login("agent1", "demo").await;
    let dir = Workdir::new();
    std::fs::write(dir.0.join("bye.xml"), WAIT_FOR_BYE).unwrap();
    let (code, log) = sipp(&dir.0, &server, &["-sf", "bye.xml"]);
    assert_eq!(code, 0, "{log}");
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["ivr_script"], "goodbye", "{cdr}");
    assert_eq!(cdr["end_reason"], "ivr_hangup", "{cdr}");
    assert_eq!(cdr["outcome"], "ivr_ended", "{cdr}");
}

/// Energy of `samples` between `lo` and `hi` Hz over the energy of all bins (Goertzel at 50 Hz
/// steps on 20 ms frames).
pub fn band_share(samples: &[i16], lo: f32, hi: f32) -> f64 {
    let (mut band, mut all) = (0f64, 0f64);
    for frame in samples.chunks_exact(160) {
        let x: Vec<f32> = frame.iter().map(|&s| s as f32).collect();
        let mut f = 50.0f32;
        while f < 4000.0 {
            let w = 2.0 * std::f32::consts::PI * f / 8000.0;
            let c = 2.0 * w.cos();
            let (mut s1, mut s2) = (0f32, 0f32);
            for v in &x {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let p = (s1 * s1 + s2 * s2 - c * s1 * s2) as f64;
            all += p;
            if (lo..=hi).contains(&f) {
                band += p;
            }
            f += 50.0;
        }
    }
    if all == 0.0 {
        0.0
    } else {
        band / all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_the_ivr_and_records_speech_not_silence() {
    assert!(
        Command::new("baresip").arg("-h").output().is_ok(),
        "baresip is needed (Debian package baresip; .ci/run installs it)"
    );
    let db = TestDb::sqlite().await;
    let data = temp_path("data");
    let server = Server::start(
        &db,
        &["--demo", "--data-dir", data.to_str().unwrap()],
        &[("AFTERCARE_DEMO_CUSTOMERS", "150"), ("AFTERCARE_RECORD_CALLS", "true")],
    )
    .await;
    let dir = Workdir::new();
    // Our microphone: ten seconds of quiet noise, so the call does not end when the file does.
    let mic = dir.0.join("mic.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&mic, spec).unwrap();
    for i in 0..80_000u32 {
        w.write_sample(((i.wrapping_mul(2_654_435_761) >> 24) as i16) - 128)
            .unwrap();
    }
    w.finalize().unwrap();
    let sip_port = free_media_port() + 1;
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\naudio_player aubridge,dev1\naudio_source aufile,{mic}\naudio_alert aubridge,dev1\n\
         module_path /usr/lib/baresip/modules\nmodule stdio.so\nmodule g711.so\nmodule aubridge.so\nmodule aufile.so\nmodule sndfile.so\n\
         module_app account.so\nmodule_app menu.so\nsnd_path {dir}\n",
        mic = mic.display(),
        dir = dir.0.display()
    );
    std::fs::write(dir.0.join("config"), config).unwrap();
    std::fs::write(dir.0.join("accounts"), "<sip:baresip@127.0.0.1>;regint=0\n").unwrap();
    let out = Command::new("timeout")
        .args(["30", "baresip", "-f"])
        .arg(&dir.0)
        .args(["-e", &format!("/dial sip:800@{}", server.sip), "-t", "7"])
        .output()
        .expect("baresip runs");
    let log = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Call established"), "baresip could not call:\n{log}");
    let dump = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip wrote no recording:\n{log}"));
    let mut reader = hound::WavReader::open(&dump).unwrap();
    assert_eq!(reader.spec().sample_rate, 8000);
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    assert!(
        samples.len() > 8000 * 4,
        "at least four seconds heard: {}",
        samples.len()
    );
    let rms = (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    let loud_frames = samples
        .chunks_exact(160)
        .filter(|f| f.iter().map(|&s| (s as i64).abs()).max().unwrap_or(0) > 1000)
        .count();
    let share = band_share(&samples, 300.0, 3400.0);
    assert!(rms > 500.0, "not silence: RMS {rms:.0}");
    assert!(
        loud_frames * 3 > samples.len() / 160,
        "speech in over a third of the frames: {loud_frames}"
    );
    assert!(share > 0.8, "energy is in the speech band (300-3400 Hz): {share:.2}");
    eprintln!(
        "baresip heard {:.1} s: RMS {rms:.0}, {:.0} % of energy in 300-3400 Hz",
        samples.len() as f64 / 8000.0,
        share * 100.0
    );

    // The call was recorded: stereo, the caller (baresip's noise) left, our prompts right.
    let token = server.login("agent1", "demo").await;
    let cdr = newest_cdr(&server, &token).await;
    let path = PathBuf::from(cdr["recording"].as_str().expect("the record names the recording"));
    assert!(path.starts_with(&data), "{}", path.display());
    let (spec, all) = crate::support::finished_wav(&path).await;
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let ours = all
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| (s as i64).abs())
        .max()
        .unwrap_or(0);
    assert!(
        all.len() > 2 * 8000 * 4 && ours > 5000,
        "{} samples, our peak {ours}",
        all.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

/// sipp's recording of key `digit` as RFC 4733 events, without its end packets: a sender whose
/// end packets are lost or that sends none.
fn dtmf_pcap_without_end(digit: char) -> Vec<u8> {
    let b = std::fs::read(Path::new(PCAPS).join(format!("dtmf_2833_{digit}.pcap"))).unwrap();
    let mut out = b[..24].to_vec();
    let mut at = 24;
    let mut kept = 0;
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &b[at + 16..at + 16 + len];
        let ip_header = usize::from(frame[14] & 0x0f) * 4;
        let event = &frame[14 + ip_header + 8 + 12..];
        if event[1] & 0x80 == 0 {
            out.extend_from_slice(&b[at..at + 16 + len]);
            kept += 1;
        }
        at += 16 + len;
    }
    assert!((5..10).contains(&kept), "{kept} of sipp's packets kept");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_end_packets_never_come_counts_once_it_goes_quiet() {
    require_sipp();
    let db = TestDb::sqlite().await;
    let server = Server::start(&db, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await;
    let token = server.login("agent1", "demo").await;
    let dir = Workdir::new();
    std::fs::write(dir.0.join("one_no_end.pcap"), dtmf_pcap_without_end('1')).unwrap();
    // Option 1 without end packets and nothing after it: only its going quiet can count it.
    let call = serial_scenario("quiet", "", "");
    let head = &call[..call
        .find("  <pause milliseconds=\"1500\"/>\n")
        .expect("the answered call")];
    let scenario = format!(
        r#"{head}  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="one_no_end.pcap"/></action></nop>
  <pause milliseconds="3000"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:800@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Customer" <sip:quiet@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:800@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#
    );
    std::fs::write(dir.0.join("quiet.xml"), scenario).unwrap();
    let (code, log) = sipp(&dir.0, &server, &["-sf", "quiet.xml"]);
    assert_eq!(code, 0, "{log}");
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["dtmf"], "1", "the key counted once: {cdr}");
    assert!(
        cdr["ivr_path"].as_str().unwrap().ends_with(">menu>warranty"),
        "and took the caller on: {cdr}"
    );
}

/// linphone's console client (Debian `linphone-cli`), kept to loopback: IPv4 only, bound to
/// 127.0.0.1 and announcing 127.0.0.1 in its SDP (else it offers the host's other addresses and
/// our RTP would leave loopback), sound from and to WAV files.
fn linphone_config(rtp_port: u16) -> String {
    format!(
        "[sip]\nsip_tcp_port=-1\nsip_tls_port=-1\nuse_ipv6=0\nipv6_migration_done=1\nguess_hostname=0\n\
         bind_address=127.0.0.1\n[net]\nmtu=0\nnat_address=127.0.0.1\nfirewall_policy=1\n\
         [rtp]\naudio_rtp_port={rtp_port}\nbind_address=127.0.0.1\n[sound]\nechocancellation=0\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_calls_the_ivr_presses_a_key_and_hears_the_prompts() {
    use tokio::io::AsyncWriteExt;
    assert!(
        Command::new("linphonec").arg("-v").output().is_ok(),
        "linphonec is needed (Debian package linphone-cli; .ci/run installs it)"
    );
    let db = TestDb::sqlite().await;
    let server = Server::start(&db, &["--demo"], &[("AFTERCARE_DEMO_CUSTOMERS", "150")]).await;
    let dir = Workdir::new();
    let mic = dir.0.join("mic.wav");
    let heard = dir.0.join("heard.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&mic, spec).unwrap();
    for i in 0..8000 * 15u32 {
        w.write_sample(((i.wrapping_mul(2_654_435_761) >> 24) as i16) - 128)
            .unwrap();
    }
    w.finalize().unwrap();
    std::fs::write(dir.0.join("linphonerc"), linphone_config(free_media_port())).unwrap();
    let sip_port = free_media_port();
    let mut phone = tokio::process::Command::new("linphonec")
        .arg("-c")
        .arg(dir.0.join("linphonerc"))
        .args(["-d", "0"])
        .env("HOME", &dir.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("linphonec runs");
    let mut keyboard = phone.stdin.take().unwrap();
    let mut say = async |line: String| {
        keyboard.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        keyboard.flush().await.unwrap();
    };
    say(format!("ports sip {sip_port}")).await;
    say("soundcard use files".into()).await;
    say(format!("play {}", mic.display())).await;
    say(format!("record {}", heard.display())).await;
    say(format!("call sip:800@{}", server.sip)).await;
    // The greeting and the main menu, then option 1 (warranty status) as linphone sends it.
    tokio::time::sleep(Duration::from_secs(9)).await;
    say("1".into()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    say("terminate".into()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    say("quit".into()).await;
    let out = tokio::time::timeout(Duration::from_secs(20), phone.wait_with_output())
        .await
        .expect("linphonec quits")
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("connected"), "linphone could not call:\n{log}");

    // Its key reached the IVR, which took the caller to the serial number entry.
    let token = server.login("agent1", "demo").await;
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["dtmf"], "1", "{cdr}\n{log}");
    assert!(cdr["ivr_path"].as_str().unwrap().ends_with(">menu>warranty"), "{cdr}");
    assert_eq!(cdr["end_reason"], "caller_hangup");
    // And linphone heard the prompts: speech, not silence.
    let mut reader = hound::WavReader::open(&heard).unwrap_or_else(|e| panic!("{e}: {log}"));
    // linphone's header may promise a few bytes more than it wrote: read what is there.
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    let rate = reader.spec().sample_rate as usize;
    assert!(samples.len() > rate * 8, "{} samples at {rate} Hz", samples.len());
    let rms = (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(rms > 300.0, "linphone heard the prompts: RMS {rms:.0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_tcp_work_like_calls_over_udp() {
    require_sipp();
    let db = TestDb::sqlite().await;
    let server = Server::demo(&db).await;
    let token = server.login("agent1", "demo").await;
    let dir = Workdir::new();
    let (code, log) = sipp(&dir.0, &server, &["-sn", "uac", "-t", "t1", "-d", "2000"]);
    assert_eq!(code, 0, "sipp over TCP:\n{log}");
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["end_reason"], "caller_hangup", "{cdr}");
    assert!(cdr["answered_at"].is_string());
}

/// sipp's answer to an INVITE: 200 OK with SDP offering `codec` (`0 PCMU` or `8 PCMA`) and
/// telephone-event, `user` in the Contact.
pub fn answer_200(user: &str, codec: &str) -> String {
    let (pt, name) = codec.split_once(' ').expect("\"PT NAME\"");
    format!(
        r#"  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o={user} 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {pt} 101
      a=rtpmap:{pt} {name}/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
"#
    )
}

/// The ACK that confirms a call sipp will end itself: `[$us]` and `[$them]` keep the dialog's
/// From and To for its BYE (sipp refuses variables that are set and never used).
pub const ACK_KEEPING_DIALOG: &str = r#"  <recv request="ACK">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="them"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="us"/>
    </action>
  </recv>
"#;

/// A trunk played by sipp: it challenges the INVITE (digest, qop=auth), checks our answer with
/// `verifyauth` (aftercare / s3cret), answers as `user` with `codec`, then runs `then` (the
/// ACK's `recv` first).
pub fn digest_trunk(user: &str, codec: &str, then: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="trunk with digest authentication">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="trunk.example", nonce="5f8a3c0b", algorithm=MD5, qop="auth"
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="aftercare" password="s3cret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
  <send next="end">
    <![CDATA[
      SIP/2.0 403 Wrong Credentials
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="good"/>
{answer}{then}  <label id="end"/>
</scenario>
"#,
        answer = answer_200(user, codec)
    )
}

/// sipp in `dir` as a UAS (a trunk, a phone) running `scenario` (written there) on
/// `127.0.0.1:port`, RTP on `media`, stopped after `seconds`; `args` add to it (`-m 1`,
/// `-trace_err`, …).
pub fn sipp_uas(dir: &Path, scenario: &str, port: u16, media: u16, seconds: u32, args: &[&str]) -> std::process::Child {
    std::fs::write(dir.join("uas.xml"), scenario).unwrap();
    Command::new("timeout")
        .arg(seconds.to_string())
        .args(["sipp", "-sf", "uas.xml", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &media.to_string(), "-nostdin"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp starts")
}

/// Everything sipp wrote to its error logs in `dir`.
pub fn sipp_errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// The trunk of the outbound-call test: hangs up after three seconds of the IVR.
fn trunk_scenario(our_contact: &str) -> String {
    digest_trunk(
        "trunk",
        "8 PCMA",
        &format!(
            r#"{ACK_KEEPING_DIALOG}  <pause milliseconds="3000"/>
  <send retrans="500">
    <![CDATA[
      BYE {our_contact} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$us]
      To: [$them]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_call_through_a_trunk_answers_its_digest_challenge() {
    require_sipp();
    let dir = Workdir::new();
    let trunk_port = free_media_port() + 1;
    let media = free_media_port();
    let db = TestDb::sqlite().await;
    let trunk = format!("127.0.0.1:{trunk_port}");
    let server = Server::start(
        &db,
        &["--demo"],
        &[
            ("AFTERCARE_DEMO_CUSTOMERS", "150"),
            ("AFTERCARE_SIP_TRUNK", trunk.as_str()),
            ("AFTERCARE_SIP_TRUNK_USERNAME", "aftercare"),
            ("AFTERCARE_SIP_TRUNK_PASSWORD", "s3cret"),
        ],
    )
    .await;
    let mut uas = sipp_uas(
        &dir.0,
        &trunk_scenario(&format!("sip:aftercare@{}", server.sip)),
        trunk_port,
        media,
        60,
        &["-m", "1", "-trace_err"],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = server.login("supervisor", "demo").await;
    let agent = server.login("agent1", "demo").await;
    let body = serde_json::json!({"to": "+4930555123", "flow": "demo"});
    let (status, refused) = server.post(&agent, "/api/v1/calls", body.clone()).await;
    assert_eq!(status, 403, "agents do not place automated calls: {refused}");
    let (status, bad) = server
        .post(
            &token,
            "/api/v1/calls",
            serde_json::json!({"to": "4930", "flow": "demo"}),
        )
        .await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("to")), "{bad}");
    let (status, bad) = server
        .post(
            &token,
            "/api/v1/calls",
            serde_json::json!({"to": "+4930555123", "flow": "nope"}),
        )
        .await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("flow")), "{bad}");
    let (status, placed) = server.post(&token, "/api/v1/calls", body).await;
    assert_eq!(status, 202, "{placed}");
    let status = tokio::task::spawn_blocking(move || uas.wait().unwrap()).await.unwrap();
    let errors = sipp_errors(&dir.0);
    assert!(status.success(), "the trunk's scenario failed: {errors}");
    let cdr = newest_cdr(&server, &token).await;
    assert_eq!(cdr["call_id"], placed["call_id"], "{cdr}");
    assert_eq!(cdr["direction"], "outbound");
    assert_eq!(cdr["called"], "+4930555123");
    assert!(cdr["answered_at"].is_string(), "answered after the challenge: {cdr}");
    assert_eq!(cdr["end_reason"], "callee_hangup");
    assert!(cdr["ivr_path"].as_str().unwrap().starts_with("identify>"), "{cdr}");
}

fn options(n: usize, extra: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:800@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKflood{n}\r\nMax-Forwards: 70\r\n\
         From: <sip:scan@127.0.0.1>;tag={n}\r\nTo: <sip:800@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Send `n` requests from `sock` as fast as it can, then count the answers that come back.
fn answers(sock: &std::net::UdpSocket, to: std::net::SocketAddr, first: usize, n: usize) -> Vec<String> {
    for i in first..first + n {
        sock.send_to(&options(i, ""), to).unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..len]).to_string());
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanners_learn_nothing_and_floods_are_banned() {
    assert!(
        Command::new("svwar").arg("-h").output().is_ok(),
        "svwar is needed (Debian package sipvicious; .ci/run installs it)"
    );
    let db = TestDb::sqlite().await;
    let server = Server::start(
        &db,
        &[],
        &[("AFTERCARE_SIP_RATE_LIMIT", "20"), ("AFTERCARE_SIP_BAN_SECONDS", "60")],
    )
    .await;
    let port = server.sip.port().to_string();
    // sipvicious enumerates extensions by comparing answers; ours are the same for everyone.
    for method in ["REGISTER", "INVITE"] {
        let out = Command::new("timeout")
            .args(["60", "svwar", "-e100-120", "-m", method, "127.0.0.1", "-p", &port])
            .output()
            .expect("svwar runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("found nothing"),
            "svwar ({method}) learned something:\n{text}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await; // let the bucket refill
    }

    // Oversized header fields are refused; no answer names our software.
    let probe = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    let long = format!("Subject: {}\r\n", "x".repeat(9000));
    probe.send_to(&options(1, &long), server.sip).unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = probe.recv_from(&mut buf).expect("an answer");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 400"), "{answer}");
    let ok = answers(&probe, server.sip, 2, 1);
    assert!(ok[0].starts_with("SIP/2.0 200 OK"), "{ok:?}");
    for a in ok.iter().chain([answer.to_string()].iter()) {
        assert!(!a.contains("Server:") && !a.contains("User-Agent:"), "{a}");
    }

    // A flood from one address: the burst (twice the rate) is answered, then nothing.
    let flood = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let got = answers(&flood, server.sip, 100, 200);
    assert!(
        (30..=45).contains(&got.len()),
        "{} answers to a flood of 200",
        got.len()
    );
    let later = answers(&flood, server.sip, 400, 5);
    assert!(later.is_empty(), "still banned: {later:?}");
    // Others are still served.
    let other = std::net::UdpSocket::bind("127.0.0.4:0").unwrap();
    assert_eq!(answers(&other, server.sip, 500, 3).len(), 3);
    let (_, metrics) = server.get("", "/metrics").await;
    let banned = metric(metrics.as_str().unwrap(), "aftercare_sip_banned_total");
    assert!(banned >= 100, "{banned} messages dropped as banned");
    // Each ban is counted and logged once, with the address masked (the flood's at least).
    let started = metric(metrics.as_str().unwrap(), "aftercare_sip_bans_total");
    let (_, log) = server.stop();
    let bans: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("banned by the rate limiter"))
        .collect();
    assert!(
        started >= 1 && bans.len() as u64 == started,
        "{started} bans counted:\n{log}"
    );
    assert!(bans.iter().all(|l| l.contains("127.0.0.x")), "{bans:?}");
    assert!(!log.contains("127.0.0.2"), "an address in the log:\n{log}");
}
