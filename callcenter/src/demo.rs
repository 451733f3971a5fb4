//! `aftercare serve --demo`: fill an empty database with the crm-core demo data set and the demo
//! logins (all with the password `demo`).

use chrono::NaiveDate;
use crm_core::model::{Actor, AgentSkill, NewUserRecord, Role};
use crm_core::Store;
use crm_fixtures::demo::{generate, seed, DemoSize};

use crate::http::auth::hash_password;

pub const DEMO_PASSWORD: &str = "demo";
pub const DEMO_SEED: u64 = 20_261_122;

pub struct DemoSummary {
    pub customers: usize,
    pub assets: usize,
    pub logins: Vec<(String, Role)>,
}

/// Seed demo data when the database is empty; `None` when it already holds data.
pub async fn seed_demo(store: &dyn Store, today: NaiveDate, customers: usize) -> anyhow::Result<Option<DemoSummary>> {
    if !store.is_empty().await? {
        return Ok(None);
    }
    let size = DemoSize {
        customers,
        ..DemoSize::default()
    };
    let data = generate(DEMO_SEED, today, size);
    // Seeding takes several seconds: say what it is doing (no personal data, only counts).
    let started = std::time::Instant::now();
    let mut report = |step: &'static str, done: usize, total: usize| {
        tracing::info!(
            step,
            done,
            total,
            secs = started.elapsed().as_secs_f32(),
            "seeding demo data"
        );
    };
    // The service history is written at the times it happened (the store's clock is set for
    // this task while seeding).
    let clock: crm_sql::clock::VirtualClock = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let set = clock.clone();
    let mut at = move |t: Option<chrono::DateTime<chrono::Utc>>| {
        *set.lock().unwrap_or_else(|e| e.into_inner()) = t.unwrap_or_else(chrono::Utc::now);
    };
    let seeded = crm_sql::clock::run_at(clock, seed(store, &data, &mut report, &mut at)).await?;

    // The station manager runs the first approved station; the regional supervisor sees the
    // stations of the north.
    let first_station = store
        .list_stations()
        .await?
        .into_iter()
        .find(|s| s.status.takes_work())
        .map(|s| s.id);
    let login = |u: &str, name: &str, role| Login {
        username: u.into(),
        display_name: name.into(),
        role,
        technician_id: None,
        station_id: None,
        region: None,
        dealer_id: None,
    };
    let mut logins = vec![
        login("admin", "Demo Administrator", Role::Admin),
        login("supervisor", "Demo Supervisor", Role::Supervisor),
        Login {
            region: Some("north".into()),
            ..login("supervisor-north", "Demo Supervisor North", Role::Supervisor)
        },
        login("reviewer", "Demo Claims Reviewer", Role::Reviewer),
        Login {
            station_id: first_station,
            ..login("station", "Demo Station Manager", Role::StationManager)
        },
        Login {
            dealer_id: seeded.dealer_ids.get(2).copied(),
            ..login("dealer", "Demo Dealer (MotoWelt)", Role::Dealer)
        },
    ];
    for i in 1..=10 {
        logins.push(login(&format!("agent{i}"), &format!("Demo Agent {i}"), Role::Agent));
    }
    for (i, tech) in seeded.technician_ids.iter().take(20).enumerate() {
        let n = i + 1;
        logins.push(Login {
            technician_id: Some(*tech),
            ..login(&format!("tech{n}"), &format!("Demo Technician {n}"), Role::Technician)
        });
    }
    let mut out = Vec::with_capacity(logins.len());
    for l in logins {
        let (username, role) = (l.username.clone(), l.role);
        let user = store
            .create_user(
                Actor::SYSTEM,
                &NewUserRecord {
                    username: l.username,
                    display_name: l.display_name,
                    role,
                    technician_id: l.technician_id,
                    station_id: l.station_id,
                    region: l.region,
                    dealer_id: l.dealer_id,
                    password_hash: hash_password(DEMO_PASSWORD),
                },
            )
            .await?;
        if role == Role::Agent {
            let n: u32 = username.trim_start_matches("agent").parse().unwrap_or(1);
            store.set_agent_skills(Actor::SYSTEM, user.id, &demo_skills(n)).await?;
        }
        out.push((username, role));
    }
    // The demo's settlements were drawn up by the system; an administrator approves the oldest,
    // so there is one of each state to look at.
    let admin = store.user_credentials("admin").await?.map(|(u, _)| u.id);
    let drafts = store.list_settlements(None, 10).await?;
    if let (Some(admin), Some(oldest)) = (admin, drafts.iter().min_by_key(|s| s.id)) {
        store
            .approve_settlement(Actor::user(admin), oldest.id, chrono::Utc::now())
            .await?;
    }
    Ok(Some(DemoSummary {
        customers: seeded.customers,
        assets: seeded.assets,
        logins: out,
    }))
}

/// Demo agents 1–4 are normal seats for every product line, 5–7 senior ones, 8–10 experts who
/// also take complaints.
fn demo_skills(agent: u32) -> Vec<AgentSkill> {
    let level = match agent {
        1..=4 => 2,
        5..=7 => 3,
        _ => 5,
    };
    let mut skills: Vec<AgentSkill> = ["general", "appliance", "motorcycle", "truck"]
        .iter()
        .map(|s| AgentSkill {
            skill: s.to_string(),
            level,
        })
        .collect();
    if agent >= 8 {
        skills.push(AgentSkill {
            skill: "complaints".into(),
            level: 5,
        });
    }
    skills
}

struct Login {
    username: String,
    display_name: String,
    role: Role,
    technician_id: Option<i64>,
    station_id: Option<i64>,
    region: Option<String>,
    dealer_id: Option<i64>,
}
