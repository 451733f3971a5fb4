//! The `aftercare` command line. `main.rs` only calls [`main`]; everything it does lives here so
//! tests can reach it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand};
use crm_core::screen_pop::ScreenPopSettings;
use crm_core::Store;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat, Overrides};
use crate::http::{self, AppState, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "aftercare",
    version,
    about = "After-sales service platform: CRM, call center, dispatch."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares. Each may also come from a TOML file (`--config`) or from an
/// `AFTERCARE_<NAME>` environment variable (`AFTERCARE_DATABASE_URL`, `AFTERCARE_HTTP`, …);
/// flags win over the environment, which wins over the file.
#[derive(clap::Args, Debug, Clone)]
struct Common {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database: `sqlite://PATH` or `postgres://USER@HOST/DB` [env: AFTERCARE_DATABASE_URL].
    /// Default: a SQLite file in the data directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Directory for the embedded database and other files [default: ./aftercare-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log as `text` or `json` (to stderr).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `callcenter=debug,info` [default: info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: HTTP API, pages and background work, until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        common: Common,
        /// HTTP listen address [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// SIP listen address, UDP and TCP [default: 0.0.0.0:5060].
        #[arg(long, value_name = "ADDR")]
        sip: Option<std::net::SocketAddr>,
        /// RTP port range [default: 20000-29999].
        #[arg(long, value_name = "FIRST-LAST")]
        rtp_ports: Option<String>,
        /// Directory of IVR flows and their prompts [default: ./ivr-scripts].
        #[arg(long, value_name = "DIR")]
        ivr_dir: Option<PathBuf>,
        /// Fill an empty database with realistic demo data and demo logins (password `demo`).
        #[arg(long)]
        demo: bool,
    },
    /// Staffing simulator: Poisson arrivals and exponential handle times through the real ACD
    /// core in virtual time (M/M/N, no abandonment); prints JSON
    /// `{"p_wait", "asa_seconds", "service_level", "occupancy"}`.
    Simulate(SimulateArgs),
    /// Vehicle routing with time windows on a benchmark instance.
    Vrptw {
        #[command(subcommand)]
        what: VrptwCommand,
    },
    /// Import a CSV file; every row is checked first, and a file with any bad row writes nothing.
    Import {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        what: ImportWhat,
    },
}

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// Calls arriving per hour.
    #[arg(long)]
    arrivals_per_hour: f64,
    /// Average handle time in seconds.
    #[arg(long)]
    aht_seconds: f64,
    /// Agents staffed.
    #[arg(long)]
    agents: u32,
    /// Calls to simulate (more calls, less noise; 10,000,000 gives about ±1 %).
    #[arg(long, default_value_t = 1_000_000)]
    calls: u64,
    /// Random seed: the same seed and inputs give the same figures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Service-level threshold: answered within this many seconds.
    #[arg(long, default_value_t = 20.0)]
    sl_seconds: f64,
}

#[derive(Subcommand, Debug)]
enum VrptwCommand {
    /// Solve a Solomon instance on one thread and print JSON
    /// `{"distance", "vehicles", "routes": [[customer ids…]…]}`; every route respects capacity
    /// and time windows.
    Solve {
        /// The instance file (Solomon format).
        file: PathBuf,
        /// Time to search.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Search exactly this many iterations instead (the same seed then gives the same answer).
        #[arg(long)]
        iterations: Option<u64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn vrptw(what: VrptwCommand) -> anyhow::Result<()> {
    let VrptwCommand::Solve {
        file,
        seconds,
        iterations,
        seed,
    } = what;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        anyhow::bail!("--seconds: between 0 and 3600");
    }
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let inst = dispatch::vrptw::solomon::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut solver = dispatch::vrptw::sisr::Solver::new(
        &inst,
        dispatch::vrptw::sisr::Params {
            seed,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    let budget = std::time::Duration::from_secs_f64(seconds);
    let (solution, _) = match iterations {
        Some(n) => solver.run(|i| (i < n).then(|| i as f64 / n as f64)),
        // The clock is read every 64 iterations.
        None => {
            let mut done = 0.0;
            solver.run(|i| {
                if i % 64 == 0 {
                    done = started.elapsed().as_secs_f64() / budget.as_secs_f64();
                }
                (done < 1.0).then_some(done)
            })
        }
    };
    dispatch::vrptw::check(&inst, &solution).map_err(|v| anyhow::anyhow!("internal error, invalid solution: {v:?}"))?;
    let out = serde_json::json!({
        "instance": inst.name,
        "distance": (solution.distance(&inst) * 100.0).round() / 100.0,
        "vehicles": solution.vehicles(),
        "routes": solution.routes,
        "unassigned": solution.unassigned,
    });
    println!("{out}");
    Ok(())
}

impl From<SimulateArgs> for acd::simulate::Params {
    fn from(a: SimulateArgs) -> Self {
        acd::simulate::Params {
            arrivals_per_hour: a.arrivals_per_hour,
            aht_seconds: a.aht_seconds,
            agents: a.agents,
            calls: a.calls,
            seed: a.seed,
            sl_seconds: a.sl_seconds,
        }
    }
}

#[derive(Subcommand, Debug)]
enum ImportWhat {
    /// Customers. Columns: name, phone (required); kind, email, phone2, time_zone, street,
    /// postal_code, city, country, lat, lon, birthday, do_not_call, marketing_consent.
    Customers { file: PathBuf },
    /// Assets. Columns: serial, customer_phone, model_code, purchase_date (required); vin, dealer,
    /// mileage_km, operating_hours, produced_on.
    Assets { file: PathBuf },
}

fn load(common: &Common, serve: Overrides) -> Result<Config, crate::config::ConfigError> {
    Config::load(
        common.config.as_deref(),
        &Overrides {
            http: serve.http,
            sip: serve.sip,
            rtp_ports: serve.rtp_ports,
            ivr_dir: serve.ivr_dir,
            database_url: common.database_url.clone(),
            data_dir: common.data_dir.clone(),
            log_format: common.log_format,
            log_level: common.log_level.clone(),
        },
    )
}

fn init_tracing(cfg: &Config) {
    let filter = EnvFilter::try_new(&cfg.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = cfg.database_url();
    tracing::info!(database = %crm_sql::redact_url(&url), "opening database");
    Ok(crm_sql::connect(&url).await?)
}

/// Register for SIGINT and SIGTERM now (so a signal that arrives during start-up is not lost to
/// the default action) and return a future that resolves on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

async fn serve(cfg: Config, demo: bool) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let store = open_store(&cfg).await?;
    if demo {
        match crate::demo::seed_demo(store.as_ref(), Utc::now().date_naive(), cfg.demo_customers).await? {
            Some(summary) => {
                println!("Demo data: {} customers, {} assets.", summary.customers, summary.assets);
                // The backlog goes into routes over the next working days, or gets its reason
                // (with auto-assignment off, the dispatcher does that by hand).
                let rules = fieldops::DayRules {
                    speed_kmh: f64::from(cfg.travel_speed_kmh),
                    reach_km: dispatch::candidates::REACH_KM,
                    break_minutes: f64::from(cfg.break_minutes),
                };
                let started = std::time::Instant::now();
                if cfg.auto_assign {
                    let h = fieldops::plan_backlog(store.as_ref(), Utc::now(), rules).await?;
                    tracing::info!(
                        days = h.days.len(),
                        routes = h.days.iter().map(|d| d.routes.len()).sum::<usize>(),
                        unassigned = h.unassigned.len(),
                        secs = started.elapsed().as_secs_f32(),
                        "planned the demo backlog"
                    );
                }
                println!(
                    "DEMO ONLY - these logins all use the password \"{}\":",
                    crate::demo::DEMO_PASSWORD
                );
                let names: Vec<&str> = summary.logins.iter().map(|(u, _)| u.as_str()).collect();
                println!("  {}", names.join(", "));
            }
            None => println!("Demo: the database already holds data; nothing was added."),
        }
    }
    let settings = Settings {
        session_ttl: chrono::Duration::hours(i64::from(cfg.session_ttl_hours)),
        screen_pop: ScreenPopSettings {
            expiring_within_days: cfg.warranty_expiring_days,
            ..ScreenPopSettings::default()
        },
        files_dir: cfg.data_dir.join("files"),
        voicemail_dir: cfg.data_dir.join("voicemail"),
        photo_max_bytes: cfg.photo_max_kib as usize * 1024,
        map_tiles_url: cfg.map_tiles_url.clone(),
        travel_speed_kmh: f64::from(cfg.travel_speed_kmh),
        break_minutes: f64::from(cfg.break_minutes),
        auto_assign: cfg.auto_assign,
        claim_rules: crm_core::claims::ClaimRules {
            travel_bands: cfg.travel_bands()?,
            default_rate_minor: i64::from(cfg.labour_rate_minor),
            currency: cfg.currency.clone(),
        },
        quality: cfg.quality_settings()?,
        billing: crm_core::billing::BillingRules {
            labour_rate_minor: i64::from(cfg.paid_labour_rate_minor),
            travel_per_km_minor: i64::from(cfg.paid_travel_per_km_minor),
            tax_rate_bp: cfg.tax_rate_bp,
            currency: cfg.currency.clone(),
            payment_days: cfg.payment_days,
        },
    };
    // Shared live events (several nodes), before anything is served.
    let bus = match &cfg.redis_url {
        Some(url) => {
            let bus = fieldops::bus::Bus::redis(url, format!("{}:field", cfg.redis_prefix))
                .await
                .map_err(|e| anyhow::anyhow!("redis_url: cannot reach {}: {e}", crm_sql::redact_url(url)))?;
            tracing::info!("live events shared through Redis");
            Some(bus)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.http).await?;
    let addr = listener.local_addr()?;
    // One shutdown signal for every part: HTTP drains, the switch hangs up its calls.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let voice = voice::start(voice_config(&cfg)?, store.clone(), stop_rx.clone()).await?;
    tokio::spawn(crate::housekeeping::run(
        store.clone(),
        std::time::Duration::from_secs(600),
        cfg.warranty_expiring_days,
        cfg.quality_settings()?,
        stop_rx.clone(),
    ));
    // The e-mail outbox goes out through the SMTP server; without one it waits in storage.
    match cfg.mail_settings()? {
        Some(m) => {
            let sender = crate::mail::Sender::new(m)?;
            let node = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
            tokio::spawn(crate::mail::run(store.clone(), sender, node, stop_rx.clone()));
        }
        None => tracing::info!("no smtp_host: e-mail waits in the outbox until one is configured"),
    }
    // Satisfaction callbacks go out through the trunk; without one they wait in storage.
    if cfg.sip_trunk.is_some() {
        let settings = crate::callbacks::Settings {
            policy: cfg.callback_policy().map_err(|e| anyhow::anyhow!("{e}"))?,
            node: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            lease_seconds: cfg.callback_lease_seconds,
            flow: cfg.callback_flow.clone(),
            poll: std::time::Duration::from_secs(2),
        };
        tokio::spawn(crate::callbacks::run(
            store.clone(),
            voice.dialer(),
            settings,
            stop_rx.clone(),
        ));
    } else {
        tracing::info!("no sip_trunk: satisfaction callbacks wait in storage until one is configured");
    }
    tracing::info!(%addr, backend = store.backend(), "HTTP listening");
    println!(
        "SIP on {} (UDP and TCP): call it from a softphone to reach the IVR.",
        voice.sip
    );
    println!("Aftercare is listening on http://{addr}  (API docs: http://{addr}/docs)");
    let mut state = AppState::new(store, settings).with_voice(&voice);
    if let Some(bus) = bus {
        state = state.with_bus(bus);
    }
    if state.settings.auto_assign {
        tokio::spawn(
            state
                .field
                .clone()
                .roll_over_every(std::time::Duration::from_secs(300), stop_rx.clone()),
        );
    }
    let mut http_stop = stop_rx;
    http::run(listener, state, async move {
        let _ = http_stop.wait_for(|v| *v).await;
    })
    .await?;
    voice.finished().await;
    Ok(())
}

fn voice_config(cfg: &Config) -> anyhow::Result<voice::VoiceConfig> {
    Ok(voice::VoiceConfig {
        sip: cfg.sip,
        public_ip: cfg.sip_public_ip,
        rtp_ports: cfg.rtp_range().map_err(anyhow::Error::msg)?,
        ivr_dir: cfg.ivr_dir()?,
        recordings: cfg.record_calls.then(|| cfg.data_dir.join("recordings")),
        voicemail_dir: cfg.data_dir.join("voicemail"),
        max_calls: cfg.max_calls,
        rtp_timeout: (cfg.rtp_timeout_seconds > 0)
            .then(|| std::time::Duration::from_secs(cfg.rtp_timeout_seconds.into())),
        rate_limit: cfg.sip_rate_limit,
        ban_seconds: cfg.sip_ban_seconds,
        trusted: cfg.sip_trusted.clone(),
        trunk: cfg.sip_trunk,
        trunk_credentials: match (&cfg.sip_trunk_username, &cfg.sip_trunk_password) {
            (Some(u), Some(p)) => Some(telephony::sip::ua::Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        },
        caller_id: cfg.sip_caller_id.clone(),
        screen_pop: ScreenPopSettings {
            expiring_within_days: cfg.warranty_expiring_days,
            ..ScreenPopSettings::default()
        },
    })
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            common,
            http,
            sip,
            rtp_ports,
            ivr_dir,
            demo,
        } => match load(
            &common,
            Overrides {
                http,
                sip,
                rtp_ports,
                ivr_dir,
                ..Overrides::default()
            },
        ) {
            Ok(cfg) => {
                init_tracing(&cfg);
                serve(cfg, demo).await
            }
            Err(e) => Err(e.into()),
        },
        Command::Simulate(args) => acd::simulate::run(args.into())
            .map_err(anyhow::Error::msg)
            .map(|r| println!("{}", serde_json::to_string(&r).expect("plain numbers"))),
        Command::Vrptw { what } => vrptw(what),
        Command::Import { common, what } => match load(&common, Overrides::default()) {
            Ok(cfg) => {
                init_tracing(&cfg);
                import(cfg, what).await
            }
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn import(cfg: Config, what: ImportWhat) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    let (kind, file, noun) = match what {
        ImportWhat::Customers { file } => (crate::import::Kind::Customers, file, "customers"),
        ImportWhat::Assets { file } => (crate::import::Kind::Assets, file, "assets"),
    };
    match crate::import::run(kind, &file, store.as_ref(), Utc::now().date_naive()).await {
        Ok(n) => {
            println!("Imported {noun} from {}: {n}.", file.display());
            Ok(())
        }
        Err(crate::import::ImportError::Rows(rows)) => {
            for r in &rows {
                eprintln!("{}: {r}", file.display());
            }
            anyhow::bail!("{} row(s) refused; nothing was written", rows.len())
        }
        Err(e) => Err(e.into()),
    }
}
