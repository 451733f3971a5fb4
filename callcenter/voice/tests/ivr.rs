//! IVR flows: validation with file and line, hot reload, and the demo flow walked in virtual time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use telephony::ivr::engine::{Command, Input, Ivr, Now, Value};
use telephony::ivr::script::{self, LookupKind, Script};
use telephony::media::prompts::Prompts;
use telephony::Time;
use voice::library::{Change, Library};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ivr-scripts")
}

fn prompts() -> Arc<Prompts> {
    Arc::new(Prompts::load(&root().join("prompts")).unwrap())
}

fn demo() -> Arc<Script> {
    let p = prompts();
    Arc::new(script::load(&root().join("demo.toml"), &|n| p.contains(n)).unwrap())
}

/// Tuesday 2026-11-24, 10:00 in Berlin: open.
fn tuesday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}
/// Sunday: closed.
fn sunday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// Drives one call: plays finish at once unless told otherwise, timers fire when asked.
struct Caller {
    ivr: Ivr,
    wall: DateTime<Utc>,
    mono: u64,
    played: Vec<Vec<String>>,
    pending_play: Option<u64>,
    timers: Vec<(u64, Time)>,
    commands: Vec<Command>,
}

impl Caller {
    fn new(script: Arc<Script>, caller: &str, wall: DateTime<Utc>) -> Caller {
        Caller {
            ivr: Ivr::new(script, caller, "800"),
            wall,
            mono: 0,
            played: vec![],
            pending_play: None,
            timers: vec![],
            commands: vec![],
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: Time(self.mono),
            wall: self.wall,
        }
    }

    fn send(&mut self, input: Input) -> Vec<Command> {
        let out = self.ivr.on(self.now(), input);
        for c in &out {
            match c {
                Command::Play { prompts, token } => {
                    self.played.push(prompts.clone());
                    self.pending_play = Some(*token);
                }
                Command::StopPlayback => self.pending_play = None,
                Command::Timer { id, at } => self.timers.push((*id, *at)),
                _ => {}
            }
        }
        self.commands.extend(out.clone());
        out
    }

    /// Let the current prompt finish.
    fn finish_prompt(&mut self) -> Vec<Command> {
        let t = self.pending_play.take().expect("something is playing");
        self.mono += 1000;
        self.send(Input::PlayDone(t))
    }

    /// Let the latest timer fire.
    fn timeout(&mut self) -> Vec<Command> {
        let (id, at) = self.timers.pop().expect("a timer is running");
        self.mono = at.0;
        self.send(Input::Timer(id))
    }

    fn keys(&mut self, keys: &str) {
        for k in keys.chars() {
            self.mono += 300;
            self.send(Input::Digit(k));
        }
    }

    fn last_played(&self) -> &[String] {
        self.played.last().expect("played")
    }
}

fn asset_vars(warranty: &str, until: &str, category: &str) -> HashMap<String, Value> {
    HashMap::from([
        ("asset.serial".to_string(), Value::Digits("WM-2311-000123".into())),
        ("asset.warranty".to_string(), Value::Text(warranty.into())),
        (
            "asset.warranty_until".to_string(),
            Value::Date(until.parse::<NaiveDate>().unwrap()),
        ),
        ("asset.category".to_string(), Value::Text(category.into())),
        ("customer.first_name".to_string(), Value::Name("Anna".into())),
    ])
}

#[test]
fn unknown_caller_gets_warranty_status_by_serial_number_read_back() {
    let mut c = Caller::new(demo(), "sipp", sunday());
    let out = c.send(Input::Start);
    assert_eq!(
        out,
        vec![Command::Lookup {
            what: LookupKind::Caller,
            key: "sipp".into()
        }]
    );
    c.send(Input::Found(None));
    assert_eq!(c.last_played(), ["welcome"]);
    c.finish_prompt();
    assert_eq!(c.last_played(), ["menu_main"]);
    // Barge-in: the key stops the menu prompt.
    c.keys("1");
    assert!(c.commands.contains(&Command::StopPlayback));
    assert_eq!(c.last_played(), ["enter_serial"]);
    c.keys("2311000123#");
    let lookup = c.commands.iter().rev().find_map(|x| match x {
        Command::Lookup { what, key } => Some((*what, key.clone())),
        _ => None,
    });
    assert_eq!(lookup, Some((LookupKind::Serial, "2311000123".to_string())));
    c.send(Input::Found(Some(asset_vars("in_warranty", "2027-03-15", "appliance"))));
    assert_eq!(
        c.last_played(),
        [
            "serial_is",
            "n2",
            "n3",
            "n1",
            "n1",
            "n0",
            "n0",
            "n0",
            "n1",
            "n2",
            "n3",
            "warranty_valid_until",
            "month3",
            "n15",
            "n2",
            "thousand",
            "n20",
            "n7"
        ],
        "the serial and the date are read back"
    );
    c.finish_prompt();
    assert_eq!(c.last_played(), ["anything_else"]);
    c.finish_prompt();
    c.timeout();
    assert_eq!(c.last_played(), ["no_input", "anything_else"], "asked once more");
    c.finish_prompt();
    c.timeout();
    assert_eq!(c.last_played(), ["goodbye"]);
    let out = c.finish_prompt();
    assert_eq!(out, vec![Command::Hangup]);
    assert!(c.ivr.is_done());
    assert_eq!(c.ivr.digits(), "12311000123#");
    assert_eq!(c.ivr.outcome(), Some("self_service"));
    assert_eq!(
        c.ivr.path(),
        "identify>greet>menu>warranty>warranty_lookup>warranty_known>warranty_not_mileage>warranty_not_hours>\
         warranty_by_date>warranty_not_expired>say_valid>after_warranty>goodbye"
    );
}

#[test]
fn a_known_caller_is_greeted_by_name_and_a_fault_goes_to_the_repairs_queue_by_product_line() {
    let mut c = Caller::new(demo(), "+49301111111", tuesday_morning());
    c.send(Input::Start);
    c.send(Input::Found(Some(asset_vars("expired", "2025-01-31", "motorcycle"))));
    assert_eq!(c.last_played(), ["hello", "name_anna", "welcome_back"]);
    c.finish_prompt();
    c.keys("2");
    assert_eq!(c.last_played(), ["queue_repairs"]);
    let out = c.finish_prompt();
    assert_eq!(
        out,
        vec![Command::Queue {
            queue: "repairs".into(),
            skills: vec!["motorcycle".into()],
            min_level: 1,
            priority: 0
        }]
    );
    assert_eq!(c.ivr.queue(), Some("repairs"));
    assert_eq!(c.ivr.outcome(), Some("queued"));
}

#[test]
fn a_caller_without_a_known_product_picks_the_line_and_complaints_need_experts() {
    let mut c = Caller::new(demo(), "sipp", tuesday_morning());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.finish_prompt();
    c.keys("2");
    assert_eq!(c.last_played(), ["product_line_menu"]);
    c.keys("3");
    c.finish_prompt();
    assert!(c.commands.contains(&Command::Queue {
        queue: "repairs".into(),
        skills: vec!["truck".into()],
        min_level: 1,
        priority: 0
    }));

    let mut c = Caller::new(demo(), "sipp", tuesday_morning());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.keys("3"); // type-ahead during the greeting
    c.finish_prompt();
    assert!(c.commands.contains(&Command::Queue {
        queue: "complaints".into(),
        skills: vec!["complaints".into()],
        min_level: 4,
        priority: 1
    }));
}

#[test]
fn outside_business_hours_the_caller_can_leave_a_message() {
    let mut c = Caller::new(demo(), "sipp", sunday());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.finish_prompt();
    c.keys("0");
    assert_eq!(c.last_played(), ["closed"]);
    c.finish_prompt();
    c.keys("1");
    assert_eq!(c.last_played(), ["voicemail", "beep"]);
    let out = c.finish_prompt();
    assert!(out.contains(&Command::StartRecording { max_seconds: 60 }));
    c.keys("#");
    assert!(c.commands.contains(&Command::StopRecording));
    assert_eq!(c.last_played(), ["thanks_message", "goodbye"]);
    assert_eq!(c.finish_prompt(), vec![Command::Hangup]);
    assert_eq!(c.ivr.outcome(), Some("voicemail"));
    // A holiday is closed too, whatever the weekday.
    let christmas = Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap();
    assert!(!demo().is_open(christmas));
    assert!(demo().is_open(tuesday_morning()));
}

#[test]
fn invalid_keys_and_silence_are_retried_then_the_caller_reaches_an_operator() {
    let mut c = Caller::new(demo(), "sipp", tuesday_morning());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.finish_prompt();
    c.keys("7");
    assert_eq!(c.last_played(), ["invalid", "menu_main"]);
    c.finish_prompt();
    c.timeout();
    assert_eq!(c.last_played(), ["no_input", "menu_main"]);
    c.keys("9");
    assert_eq!(c.last_played(), ["queue_operator"], "two retries, then the fail node");
    // A stale timer from an earlier prompt changes nothing.
    let before = c.played.len();
    c.send(Input::Timer(1));
    assert_eq!(c.played.len(), before);
}

#[test]
fn a_short_serial_is_asked_again() {
    let mut c = Caller::new(demo(), "sipp", sunday());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.keys("1");
    c.finish_prompt();
    c.keys("12#");
    assert_eq!(
        c.last_played(),
        ["serial_too_short", "enter_serial"],
        "a serial's own wording, not a menu's"
    );
    c.keys("4711");
    c.timeout(); // the inter-digit timeout ends the entry once it is long enough
    assert!(c.commands.contains(&Command::Lookup {
        what: LookupKind::Serial,
        key: "4711".into()
    }));
}

fn check(text: &str) -> Result<Script, script::ScriptError> {
    let p = prompts();
    script::parse(Path::new("flows/test.toml"), text, &|n| p.contains(n))
}

const MINI: &str = r#"[flow]
name = "mini"
start = "hello"
timezone = "Europe/Berlin"

[node.hello]
say = ["welcome"]
next = "bye"

[node.bye]
say = ["goodbye"]
hangup = true
"#;

#[test]
fn broken_flows_are_refused_with_file_and_line() {
    check(MINI).unwrap();
    let cases = [
        (
            MINI.replace("next = \"bye\"", "next = \"nowhere\""),
            8,
            "no node named \"nowhere\"",
        ),
        (
            MINI.replace("[\"goodbye\"]", "[\"goodby\"]"),
            11,
            "no prompt named \"goodby\"",
        ),
        (
            MINI.replace("[\"welcome\"]", "[\"welcome\", \"$customer.shoe_size\"]"),
            7,
            "unknown variable",
        ),
        (
            MINI.replace("hangup = true", "hangup = true\nqueue = \"x\""),
            10,
            "mixes",
        ),
        (MINI.replace("Europe/Berlin", "Mars/Olympus"), 4, "time zone"),
        (MINI.replace("hangup = true", "hang_up = true"), 12, "unknown field"),
        (MINI.replace("next = \"bye\"", "next = \"bye"), 8, ""),
        (
            MINI.replace("[node.hello]", "[hours]\nmon = \"18:00-08:00\"\n\n[node.hello]"),
            7,
            "cannot read hours",
        ),
        (
            MINI.replace(
                "[node.hello]",
                "[node.x]\nif = \"caller ~ 3\"\nthen = \"bye\"\nelse = \"bye\"\n\n[node.hello]",
            ),
            7,
            "cannot read condition",
        ),
        (
            MINI.replace(
                "[node.hello]",
                "[node.m]\nmenu = [\"menu_main\"]\noptions = { \"12\" = \"bye\" }\nfail = \"bye\"\n\n[node.hello]",
            ),
            8,
            "must be one key",
        ),
    ];
    for (text, line, msg) in cases {
        let e = check(&text).expect_err(&text);
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(msg), "{e}");
        assert!(e.to_string().starts_with(&format!("flows/test.toml:{line}: ")), "{e}");
    }
}

#[test]
fn a_looping_flow_hangs_up_instead_of_spinning() {
    let text = MINI.replace(
        "[node.hello]\nsay = [\"welcome\"]\nnext = \"bye\"",
        "[node.hello]\nif = \"caller\"\nthen = \"again\"\nelse = \"bye\"\n\n[node.again]\nset = { x = \"1\" }\nnext = \"hello\"",
    );
    let s = Arc::new(check(&text).unwrap());
    let mut ivr = Ivr::new(s, "123", "800");
    let out = ivr.on(
        Now {
            mono: Time(0),
            wall: sunday(),
        },
        Input::Start,
    );
    assert_eq!(out, vec![Command::Hangup]);
}

#[test]
fn edits_are_picked_up_and_a_broken_edit_keeps_the_last_good_version() {
    let dir = std::env::temp_dir().join(format!("aftercare-ivr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("main.toml");
    std::fs::write(&file, MINI).unwrap();
    let lib = Library::load(&dir, prompts()).unwrap();
    assert_eq!(lib.script_for("800").unwrap().name, "mini");
    assert_eq!(lib.reload(), vec![], "nothing changed");

    // Broken: reported once, with file and line; the old version answers calls.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        &file,
        MINI.replace("name = \"mini\"", "name = \"mini2\"")
            .replace("\"bye\"", "\"by\""),
    )
    .unwrap();
    bump(&file, 1);
    match lib.reload().as_slice() {
        [Change::Rejected(e)] => {
            assert_eq!((e.file.clone(), e.line), (file.clone(), 8), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lib.reload(), vec![], "reported once");
    assert_eq!(lib.script_for("800").unwrap().name, "mini");

    // Fixed: the new version takes over.
    std::fs::write(&file, MINI.replace("name = \"mini\"", "name = \"mini2\"")).unwrap();
    bump(&file, 2);
    assert_eq!(lib.reload(), vec![Change::Loaded(file.clone())]);
    assert_eq!(lib.script_for("800").unwrap().name, "mini2");

    // A second flow for one number wins over the catch-all.
    let special = dir.join("special.toml");
    std::fs::write(
        &special,
        MINI.replace("name = \"mini\"", "name = \"vip\"\nnumbers = [\"900\"]"),
    )
    .unwrap();
    lib.reload();
    assert_eq!(lib.script_for("900").unwrap().name, "vip");
    assert_eq!(lib.script_for("800").unwrap().name, "mini2");
    std::fs::remove_file(&special).unwrap();
    assert_eq!(lib.reload(), vec![Change::Removed(special)]);
    std::fs::remove_dir_all(&dir).unwrap();

    // At start-up a broken flow stops the service with file and line.
    let bad = std::env::temp_dir().join(format!("aftercare-ivr-bad-{}", std::process::id()));
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.toml"), MINI.replace("\"bye\"", "\"by\"")).unwrap();
    let e = Library::load(&bad, prompts()).err().unwrap().to_string();
    assert!(e.contains("x.toml:8:"), "{e}");
    std::fs::remove_dir_all(&bad).unwrap();
}

/// Give the file a distinct modification time (file systems with coarse clocks).
fn bump(file: &Path, n: u64) {
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(n);
    std::fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn the_shipped_flows_load() {
    let lib = Library::load(&root(), prompts()).unwrap();
    assert!(lib.names().contains(&"demo".to_string()));
}

fn survey() -> Arc<Script> {
    let p = prompts();
    Arc::new(script::load(&root().join("survey.toml"), &|n| p.contains(n)).unwrap())
}

#[test]
fn the_survey_takes_three_answers_and_a_comment() {
    let mut c = Caller::new(survey(), "aftercare", tuesday_morning());
    c.send(Input::Start);
    assert_eq!(c.last_played(), ["survey_hello"]);
    // A key typed during the greeting answers the first question.
    c.keys("4");
    c.finish_prompt();
    assert_eq!(c.last_played(), ["survey_technician"]);
    c.keys("5");
    assert_eq!(c.last_played(), ["survey_fixed"]);
    c.keys("2");
    assert_eq!(c.last_played(), ["survey_comment", "beep"]);
    let out = c.finish_prompt();
    assert!(out.contains(&Command::StartRecording { max_seconds: 60 }));
    c.keys("#");
    assert!(c.commands.contains(&Command::Survey {
        repair: 4,
        technician: 5,
        fixed_first_time: false
    }));
    assert_eq!(c.last_played(), ["survey_thanks"]);
    assert_eq!(c.finish_prompt(), vec![Command::Hangup]);
}

#[test]
fn an_answer_out_of_range_is_not_recorded() {
    let mut c = Caller::new(survey(), "aftercare", tuesday_morning());
    c.send(Input::Start);
    c.finish_prompt();
    c.keys("9");
    c.keys("3");
    c.keys("1");
    c.finish_prompt();
    c.keys("#");
    assert!(!c.commands.iter().any(|cmd| matches!(cmd, Command::Survey { .. })));
    assert_eq!(c.last_played(), ["survey_sorry"]);
}

#[test]
fn a_survey_node_names_its_answers() {
    let base = r#"[flow]
name = "s"
start = "ask"
timezone = "Europe/Berlin"

[node.ask]
collect = "a"
prompt = ["survey_repair"]
next = "save"
fail = "bye"

[node.bye]
say = ["goodbye"]
hangup = true
"#;
    let with = |save: &str| format!("{base}\n[node.save]\n{save}\nnext = \"bye\"\nfail = \"bye\"\n");
    assert!(check(&with(r#"survey = { repair = "a", technician = "a", fixed = "a" }"#)).is_ok());
    let err = check(&with(r#"survey = { repair = "a", technician = "a" }"#)).unwrap_err();
    assert!(err.message.contains("`fixed`"), "{err:?}");
    let err = check(&with(r#"survey = { repair = "a", technician = "a", fixed = "nope" }"#)).unwrap_err();
    assert!(err.message.contains("unknown variable"), "{err:?}");
    let err = check(&with(
        r#"survey = { repair = "a", technician = "a", fixed = "a", mood = "a" }"#,
    ))
    .unwrap_err();
    assert!(err.message.contains("mood") && err.line == 17, "{err:?}");
}

/// MINI with a queue node sending callers to `queue` (the `queue =` key on line 8).
fn queued(queue: &str) -> String {
    MINI.replace(
        "[node.hello]\nsay = [\"welcome\"]\nnext = \"bye\"",
        &format!("[node.hello]\nsay = [\"welcome\"]\nqueue = \"{queue}\""),
    )
}

#[test]
fn flows_and_queues_are_checked_against_each_other_at_start_and_on_every_edit() {
    let dir = std::env::temp_dir().join(format!("aftercare-ivr-queues-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let flow = dir.join("main.toml");
    let queues = dir.join("queues.toml");
    std::fs::write(&queues, "[queue.general]\n").unwrap();

    // At start-up: a queue queues.toml lacks stops the service, naming the flow's line.
    std::fs::write(&flow, queued("generl")).unwrap();
    let e = Library::load(&dir, prompts()).err().unwrap().to_string();
    assert!(
        e.contains("main.toml:8:") && e.contains("\"generl\"") && e.contains("general"),
        "{e}"
    );

    std::fs::write(&flow, queued("general")).unwrap();
    let lib = Library::load(&dir, prompts()).unwrap();
    assert_eq!(lib.queue_defs().len(), 1);

    // An edited flow naming an unknown queue: refused at its line, the last good one stays.
    std::fs::write(&flow, queued("generl").replace("name = \"mini\"", "name = \"typo\"")).unwrap();
    bump(&flow, 1);
    match lib.reload().as_slice() {
        [Change::Rejected(e)] => assert_eq!((e.file.clone(), e.line), (flow.clone(), 8), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(lib.script_for("800").unwrap().name, "mini");

    // queues.toml dropping a queue the flow in service uses: refused, naming the flow's line.
    std::fs::write(&flow, queued("general")).unwrap();
    bump(&flow, 2);
    assert_eq!(lib.reload(), vec![Change::Loaded(flow.clone())]);
    std::fs::write(&queues, "[queue.repairs]\n").unwrap();
    bump(&queues, 3);
    match lib.reload().as_slice() {
        [Change::Rejected(e)] => {
            assert_eq!((e.file.clone(), e.line), (flow.clone(), 8), "{e}");
            assert!(e.message.contains("queues.toml not applied"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lib.queue_defs()[0].acd.name, "general", "the queues in service stay");

    // A broken queues.toml: refused with its own file and line.
    std::fs::write(&queues, "[queue.general]\nwrap_up = \"soon\"\n").unwrap();
    bump(&queues, 4);
    match lib.reload().as_slice() {
        [Change::Rejected(e)] => assert_eq!((e.file.clone(), e.line), (queues.clone(), 2), "{e}"),
        other => panic!("{other:?}"),
    }

    // Renaming a queue in both files at once is one consistent change: both are applied.
    std::fs::write(&queues, "[queue.front_desk]\n[queue.general]\n").unwrap();
    std::fs::write(&flow, queued("front_desk")).unwrap();
    bump(&queues, 5);
    bump(&flow, 5);
    let changes = lib.reload();
    assert!(changes.contains(&Change::QueuesLoaded(queues.clone())), "{changes:?}");
    assert!(changes.contains(&Change::Loaded(flow.clone())), "{changes:?}");
    let names: Vec<String> = lib.queue_defs().iter().map(|q| q.acd.name.clone()).collect();
    assert_eq!(names, vec!["front_desk", "general"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Up to the warranty look-up of serial 4711 on a Sunday.
fn at_serial_lookup() -> Caller {
    let mut c = Caller::new(demo(), "sipp", sunday());
    c.send(Input::Start);
    c.send(Input::Found(None));
    c.keys("1");
    c.keys("4711#");
    c
}

const SERIAL_4711: [&str; 5] = ["serial_is", "n4", "n7", "n1", "n1"];

#[test]
fn a_warranty_ended_by_mileage_or_hours_says_why_and_split_cover_gives_both_dates() {
    use crm_core::warranty::WarrantyRule;
    // What the caller hears after the serial, for an asset whose warranty `rule` decided.
    let said = |state: &str, rule: WarrantyRule| {
        let mut vars = asset_vars(state, "2027-03-15", "motorcycle");
        if state == "expired" {
            vars.remove("asset.warranty_until");
        }
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        voice::lookup::warranty_vars(&rule, today, &mut vars);
        let mut c = at_serial_lookup();
        c.send(Input::Found(Some(vars)));
        assert_eq!(c.last_played()[..SERIAL_4711.len()], SERIAL_4711, "the serial first");
        c.last_played()[SERIAL_4711.len()..].join(" ")
    };
    let mileage = WarrantyRule::MileageExceeded {
        limit_km: 50_000,
        actual_km: 61_250,
    };
    assert_eq!(
        said("expired", mileage),
        "warranty_ended_mileage n60 n1 thousand n2 hundred n50 kilometres limit_is n50 thousand kilometres",
        "the reason, with the reading and the limit, instead of \"it ended on\" and nothing"
    );
    let hours = WarrantyRule::HoursExceeded {
        limit_hours: 2000,
        actual_hours: 2400,
    };
    assert_eq!(
        said("expired", hours),
        "warranty_ended_hours n2 thousand n4 hundred hours limit_is n2 thousand hours"
    );
    // Parts for 24 months, labour for 12: on the day, labour has ended and parts run on.
    let split = WarrantyRule::Factory {
        parts_until: "2027-03-15".parse().unwrap(),
        labor_until: "2026-03-15".parse().unwrap(),
    };
    assert_eq!(
        said("in_warranty", split),
        "warranty_valid_until month3 n15 n2 thousand n20 n7 \
         parts_covered_until month3 n15 n2 thousand n20 n7 labour_cover_ended month3 n15 n2 thousand n20 n6"
    );
    // The same day for both: one date, as before.
    let same = WarrantyRule::Factory {
        parts_until: "2027-03-15".parse().unwrap(),
        labor_until: "2027-03-15".parse().unwrap(),
    };
    assert_eq!(
        said("in_warranty", same),
        "warranty_valid_until month3 n15 n2 thousand n20 n7"
    );
}

#[test]
fn after_a_readback_a_wrong_key_is_answered_and_another_serial_can_be_checked() {
    let mut c = at_serial_lookup();
    c.send(Input::Found(Some(asset_vars("in_warranty", "2027-03-15", "appliance"))));
    c.finish_prompt();
    assert_eq!(c.last_played(), ["anything_else"]);
    c.keys("5");
    assert_eq!(c.last_played(), ["invalid", "anything_else"], "not a silent hang-up");
    assert!(!c.commands.contains(&Command::Hangup));
    c.keys("1");
    assert_eq!(c.last_played(), ["enter_serial"], "1 checks another serial");
    c.keys("9999#");
    c.send(Input::Found(None));
    assert_eq!(
        c.last_played(),
        ["serial_unknown", "n9", "n9", "n9", "n9"],
        "an unknown serial is read back"
    );
    c.finish_prompt();
    c.keys("8");
    c.keys("8");
    assert_eq!(c.last_played(), ["goodbye"], "a second wrong key ends politely");
    assert_eq!(c.finish_prompt(), vec![Command::Hangup]);
}
