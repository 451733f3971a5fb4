//! Layered configuration: built-in defaults, then a TOML file (`--config`), then `AFTERCARE_*`
//! environment variables, then command-line flags. A bad file is reported with its path and line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address.
    pub http: SocketAddr,
    /// `sqlite://…` or `postgres://…`; unset means a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Where the embedded database and other files live.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `callcenter=debug,info`.
    pub log_level: String,
    /// How long a login token lives.
    pub session_ttl_hours: u32,
    /// Coverage ending within this many days shows as `expiring_soon`.
    pub warranty_expiring_days: u32,
    /// How many customers `--demo` creates.
    pub demo_customers: usize,
    /// SIP listen address, UDP and TCP.
    pub sip: SocketAddr,
    /// The address written into SDP and Contact when `sip` listens on all interfaces; unset
    /// means the address of the interface that holds the default route.
    pub sip_public_ip: Option<std::net::IpAddr>,
    /// RTP port range, `FIRST-LAST` (one even port per call).
    pub rtp_ports: String,
    /// Directory of IVR flows (`*.toml`) with their `prompts/`. Unset: `./ivr-scripts` when it
    /// exists (a checkout), else `data_dir/ivr-scripts`, written from the copy built into the
    /// binary on first start.
    pub ivr_dir: Option<PathBuf>,
    /// Record every call to a stereo WAV under `data_dir/recordings`.
    pub record_calls: bool,
    /// Calls beyond this many are refused with 503.
    pub max_calls: usize,
    /// An answered call that has received no RTP for this long is hung up (the caller is gone
    /// and their BYE was lost); 0 turns it off.
    pub rtp_timeout_seconds: u32,
    /// SIP messages per second one source may send before it is banned for a while.
    pub sip_rate_limit: u32,
    pub sip_ban_seconds: u32,
    /// Sources never rate-limited (your trunk, your proxy): addresses or CIDR blocks.
    pub sip_trusted: Vec<String>,
    /// Outbound calls to phone numbers go to this trunk (`IP:PORT`).
    pub sip_trunk: Option<SocketAddr>,
    /// Digest credentials for the trunk's challenges (MD5 or SHA-256).
    pub sip_trunk_username: Option<String>,
    pub sip_trunk_password: Option<String>,
    /// The number shown to the people we call.
    pub sip_caller_id: String,
    /// Largest photo a technician may upload, in KiB.
    pub photo_max_kib: u32,
    /// Map tiles for the dispatcher's page (`{z}`, `{x}`, `{y}` placeholders). Empty: the map
    /// draws without tiles (as it does when they cannot be fetched).
    pub map_tiles_url: String,
    /// Average road speed for ETAs and day plans.
    pub travel_speed_kmh: u32,
    /// Minutes of break in day plans for every stretch of shift over six hours, taken between
    /// three and six hours into it (0: none). The gap of a split shift is a break anyway.
    pub break_minutes: u32,
    /// Assign new repair orders to the best technician as they are created, and re-plan today
    /// when an urgent order arrives or a technician falls behind.
    pub auto_assign: bool,
    /// Satisfaction callbacks after a completed repair: the customer's local calling hours
    /// (`HH:MM-HH:MM`, up to `24:00`) and days (`mon-sat`, or a list such as `mon,wed,fri`).
    pub callback_hours: String,
    pub callback_days: String,
    /// Minutes after the completion before the first call.
    pub callback_first_delay_minutes: u32,
    /// Minutes before the second attempt, doubled for each further one.
    pub callback_retry_minutes: u32,
    pub callback_max_attempts: u32,
    /// Attempts per customer per local day.
    pub callback_daily_limit: u32,
    /// How long a node holds a callback it claimed (the call must end within it).
    pub callback_lease_seconds: u32,
    /// The IVR flow that asks the survey's questions.
    pub callback_flow: String,
    /// Labour-hour settlements: the rate per hour in minor units (4500 = 45.00) and the
    /// currency (ISO 4217).
    pub labour_rate_minor: u32,
    pub currency: String,
    /// The travel allowance of warranty claims by straight-line distance from the station:
    /// `UP_TO_KM=ALLOWANCE_MINOR` bands, rising, comma-separated (beyond the last band, its
    /// allowance).
    pub claim_travel_bands: String,
    /// Customer-paid work: the labour rate per hour and the travel rate per km (there and back),
    /// in minor units of `currency`; the tax on every line in basis points (1900 = 19 %); days
    /// from an invoice to its due date.
    pub paid_labour_rate_minor: u32,
    pub paid_travel_per_km_minor: u32,
    pub tax_rate_bp: u32,
    pub payment_days: u32,
    /// Outbound e-mail through this SMTP server (`host`; loopback or a name). Unset: messages
    /// wait in the outbox until one is configured.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls_if_offered` (default), `starttls` (required), `tls` (implicit, port 465) or
    /// `none`.
    pub smtp_tls: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// A PEM root certificate to trust besides the system's (a private CA).
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender, `Name <address>`; its domain names the `Message-ID`s.
    pub mail_from: String,
    /// The first back-off step after a failed attempt, doubling up to 64 times it.
    pub mail_retry_seconds: u32,
    /// How long a node holds a message it is sending.
    pub mail_lease_seconds: u32,
    /// Who receives early-warning alerts (e-mail addresses).
    pub quality_engineers: Vec<String>,
    /// An alert when a batch's repair rate rose by this factor over its baseline (1.0: doubled),
    /// with at least `quality_min_cases` repairs in the month, against `quality_baseline_months`.
    pub quality_rise: f64,
    pub quality_min_cases: u32,
    pub quality_baseline_months: u32,
    /// Share live events between nodes through Redis (`redis://host:6379`). Unset: one node,
    /// in-process.
    pub redis_url: Option<String>,
    /// Prefix of the Redis channels (nodes of one installation share it).
    pub redis_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("aftercare-data"),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            session_ttl_hours: 12,
            warranty_expiring_days: 30,
            demo_customers: 3000,
            sip: SocketAddr::from(([0, 0, 0, 0], 5060)),
            sip_public_ip: None,
            rtp_ports: "20000-29999".into(),
            ivr_dir: None,
            record_calls: false,
            max_calls: 4000,
            rtp_timeout_seconds: 60,
            sip_rate_limit: 50,
            sip_ban_seconds: 60,
            sip_trusted: vec![],
            sip_trunk: None,
            sip_trunk_username: None,
            sip_trunk_password: None,
            sip_caller_id: "aftercare".into(),
            photo_max_kib: 8192,
            map_tiles_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            travel_speed_kmh: 40,
            break_minutes: 30,
            auto_assign: true,
            redis_url: None,
            redis_prefix: "aftercare".into(),
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: "starttls_if_offered".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_ca_file: None,
            mail_from: "Aftercare <service@aftercare.invalid>".into(),
            mail_retry_seconds: 60,
            mail_lease_seconds: 120,
            quality_engineers: vec![],
            quality_rise: 1.0,
            quality_min_cases: 3,
            quality_baseline_months: 6,
            callback_hours: "09:00-20:00".into(),
            callback_days: "mon-sat".into(),
            callback_first_delay_minutes: 120,
            callback_retry_minutes: 60,
            callback_max_attempts: 4,
            callback_daily_limit: 2,
            callback_lease_seconds: 600,
            labour_rate_minor: 4500,
            currency: "EUR".into(),
            claim_travel_bands: "15=0,40=1500,80=3000,150=5000".into(),
            paid_labour_rate_minor: 7900,
            paid_travel_per_km_minor: 60,
            tax_rate_bp: 1900,
            payment_days: 14,
            callback_flow: "survey".into(),
        }
    }
}

/// Never print a database password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("http", &self.http)
            .field("database_url", &self.database_url.as_deref().map(crm_sql::redact_url))
            .field("data_dir", &self.data_dir)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("session_ttl_hours", &self.session_ttl_hours)
            .field("warranty_expiring_days", &self.warranty_expiring_days)
            .field("demo_customers", &self.demo_customers)
            .field("sip", &self.sip)
            .field("sip_public_ip", &self.sip_public_ip)
            .field("rtp_ports", &self.rtp_ports)
            .field("ivr_dir", &self.ivr_dir)
            .field("record_calls", &self.record_calls)
            .field("rtp_timeout_seconds", &self.rtp_timeout_seconds)
            .field("max_calls", &self.max_calls)
            .field("sip_rate_limit", &self.sip_rate_limit)
            .field("sip_ban_seconds", &self.sip_ban_seconds)
            .field("sip_trusted", &self.sip_trusted)
            .field("sip_trunk", &self.sip_trunk)
            .field("sip_trunk_username", &self.sip_trunk_username)
            .field(
                "sip_trunk_password",
                &self.sip_trunk_password.as_ref().map(|_| "********"),
            )
            .field("sip_caller_id", &self.sip_caller_id)
            .field("photo_max_kib", &self.photo_max_kib)
            .field("map_tiles_url", &self.map_tiles_url)
            .field("travel_speed_kmh", &self.travel_speed_kmh)
            .field("break_minutes", &self.break_minutes)
            .field("auto_assign", &self.auto_assign)
            .field("redis_url", &self.redis_url.as_deref().map(crm_sql::redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("callback_hours", &self.callback_hours)
            .field("callback_days", &self.callback_days)
            .field("callback_first_delay_minutes", &self.callback_first_delay_minutes)
            .field("callback_retry_minutes", &self.callback_retry_minutes)
            .field("callback_max_attempts", &self.callback_max_attempts)
            .field("callback_daily_limit", &self.callback_daily_limit)
            .field("callback_lease_seconds", &self.callback_lease_seconds)
            .field("labour_rate_minor", &self.labour_rate_minor)
            .field("currency", &self.currency)
            .field("claim_travel_bands", &self.claim_travel_bands)
            .field("paid_labour_rate_minor", &self.paid_labour_rate_minor)
            .field("paid_travel_per_km_minor", &self.paid_travel_per_km_minor)
            .field("tax_rate_bp", &self.tax_rate_bp)
            .field("payment_days", &self.payment_days)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username.as_ref().map(|_| "(set)"))
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "********"))
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("mail_retry_seconds", &self.mail_retry_seconds)
            .field("mail_lease_seconds", &self.mail_lease_seconds)
            .field("quality_engineers", &self.quality_engineers.len())
            .field("quality_rise", &self.quality_rise)
            .field("quality_min_cases", &self.quality_min_cases)
            .field("quality_baseline_months", &self.quality_baseline_months)
            .field("callback_flow", &self.callback_flow)
            .finish()
    }
}

const KEYS: &[&str] = &[
    "http",
    "database_url",
    "data_dir",
    "log_format",
    "log_level",
    "session_ttl_hours",
    "warranty_expiring_days",
    "demo_customers",
    "sip",
    "sip_public_ip",
    "rtp_ports",
    "ivr_dir",
    "record_calls",
    "max_calls",
    "rtp_timeout_seconds",
    "sip_rate_limit",
    "sip_ban_seconds",
    "sip_trusted",
    "sip_trunk",
    "sip_trunk_username",
    "sip_trunk_password",
    "sip_caller_id",
    "photo_max_kib",
    "map_tiles_url",
    "travel_speed_kmh",
    "break_minutes",
    "auto_assign",
    "redis_url",
    "redis_prefix",
    "callback_hours",
    "callback_days",
    "callback_first_delay_minutes",
    "callback_retry_minutes",
    "callback_max_attempts",
    "callback_daily_limit",
    "callback_lease_seconds",
    "callback_flow",
    "labour_rate_minor",
    "currency",
    "claim_travel_bands",
    "paid_labour_rate_minor",
    "paid_travel_per_km_minor",
    "tax_rate_bp",
    "payment_days",
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "smtp_username",
    "smtp_password",
    "smtp_ca_file",
    "mail_from",
    "mail_retry_seconds",
    "mail_lease_seconds",
    "quality_engineers",
    "quality_rise",
    "quality_min_cases",
    "quality_baseline_months",
];

/// Flags given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp_ports: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ivr_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Config {
    /// The callback pacing rules from `callback_*`.
    pub fn callback_policy(&self) -> Result<crm_core::callback::CallbackPolicy, ConfigError> {
        let (opens, closes) = parse_hours(&self.callback_hours)
            .ok_or_else(|| ConfigError("callback_hours: use HH:MM-HH:MM, e.g. 09:00-20:00".into()))?;
        let days = parse_days(&self.callback_days)
            .ok_or_else(|| ConfigError("callback_days: use day names, e.g. mon-sat or mon,wed,fri".into()))?;
        let policy = crm_core::callback::CallbackPolicy {
            opens,
            closes,
            days,
            first_delay_minutes: self.callback_first_delay_minutes,
            retry_after_minutes: self.callback_retry_minutes.max(1),
            max_attempts: self.callback_max_attempts,
            daily_limit: self.callback_daily_limit,
        };
        policy.validate().map_err(|e| {
            ConfigError(format!(
                "callback_hours, callback_max_attempts or callback_daily_limit: {e}"
            ))
        })?;
        Ok(policy)
    }

    /// The claims' travel bands from `claim_travel_bands`.
    pub fn travel_bands(&self) -> Result<Vec<crm_core::claims::TravelBand>, ConfigError> {
        let bad = |why: String| ConfigError(format!("claim_travel_bands: {why}; use e.g. 15=0,40=1500,80=3000"));
        let bands = self
            .claim_travel_bands
            .split(',')
            .map(|band| {
                let (km, minor) = band
                    .split_once('=')
                    .ok_or_else(|| bad(format!("{:?} is not UP_TO_KM=ALLOWANCE_MINOR", band.trim())))?;
                let up_to_km = km
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad(format!("{:?} is not a distance in km", km.trim())))?;
                let allowance_minor = minor
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|m| (0..=10_000_000).contains(m))
                    .ok_or_else(|| {
                        bad(format!(
                            "{:?} is not an allowance of 0 to 10000000 minor units",
                            minor.trim()
                        ))
                    })?;
                Ok(crm_core::claims::TravelBand {
                    up_to_km,
                    allowance_minor,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        crm_core::claims::check_bands(&bands).map_err(bad)?;
        Ok(bands)
    }

    /// The outbox sender's settings, when `smtp_host` is set.
    pub fn mail_settings(&self) -> Result<Option<crate::mail::MailSettings>, ConfigError> {
        let tls = crate::mail::TlsMode::parse(&self.smtp_tls)
            .ok_or_else(|| ConfigError("smtp_tls: starttls_if_offered, starttls, tls or none".into()))?;
        let from: lettre::message::Mailbox = self
            .mail_from
            .parse()
            .map_err(|e| ConfigError(format!("mail_from: {e}; use Name <address@domain>")))?;
        if !(1..=3600).contains(&self.mail_retry_seconds) {
            return Err(ConfigError("mail_retry_seconds: must be 1 to 3600".into()));
        }
        if !(5..=3600).contains(&self.mail_lease_seconds) {
            return Err(ConfigError("mail_lease_seconds: must be 5 to 3600".into()));
        }
        if self.smtp_username.is_some() != self.smtp_password.is_some() {
            return Err(ConfigError(
                "smtp_username: set both smtp_username and smtp_password, or neither".into(),
            ));
        }
        let Some(host) = self.smtp_host.clone() else {
            return Ok(None);
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(ConfigError("smtp_host: a host name or address".into()));
        }
        Ok(Some(crate::mail::MailSettings {
            host,
            port: self.smtp_port,
            tls,
            credentials: self.smtp_username.clone().zip(self.smtp_password.clone()),
            ca_file: self.smtp_ca_file.clone(),
            from,
            first_retry: chrono::Duration::seconds(i64::from(self.mail_retry_seconds)),
            lease_seconds: self.mail_lease_seconds,
            poll: std::time::Duration::from_secs(1),
        }))
    }

    /// The early-warning settings from `quality_*`.
    pub fn quality_settings(&self) -> Result<crate::quality::QualitySettings, ConfigError> {
        let rules = crm_core::quality::WarningRules {
            rise: self.quality_rise,
            min_cases: self.quality_min_cases,
            baseline_months: self.quality_baseline_months,
            alpha: crm_core::quality::WarningRules::default().alpha,
        };
        rules.validate().map_err(|e| ConfigError(format!("quality_{e}")))?;
        let engineers = self
            .quality_engineers
            .iter()
            .map(|e| {
                crm_core::types::Email::parse(e)
                    .map_err(|_| ConfigError(format!("quality_engineers: {e:?} is not an e-mail address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::quality::QualitySettings { rules, engineers })
    }

    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_with_env(file, overrides, Env::prefixed("AFTERCARE_").only(KEYS))
    }

    fn load_with_env(file: Option<&Path>, overrides: &Overrides, env: Env) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
            // Parse first ourselves so a syntax error names file and line.
            if let Err((line, message)) = check_toml_syntax(&text) {
                return Err(ConfigError(format!("{}:{line}: {message}", path.display())));
            }
            fig = fig.merge(Toml::string(&text));
            match fig.extract::<Config>() {
                Err(e) => return Err(ConfigError(describe(&e, Some((path, &text))))),
                // A value of the right type but not allowed: name the file's line too.
                Ok(from_file) => {
                    if let Err(ConfigError(msg)) = from_file.check() {
                        let key = msg.split(':').next().unwrap_or("");
                        let line = text
                            .lines()
                            .position(|l| {
                                l.trim_start()
                                    .strip_prefix(key)
                                    .is_some_and(|r| r.trim_start().starts_with('='))
                            })
                            .map(|i| format!(":{}", i + 1))
                            .unwrap_or_default();
                        return Err(ConfigError(format!("{}{line}: {msg}", path.display())));
                    }
                }
            }
        }
        fig = fig.merge(env).merge(Serialized::defaults(overrides));
        let cfg: Config = fig.extract().map_err(|e| ConfigError(describe(&e, None)))?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            crm_sql::backend_of(url).map_err(|e| ConfigError(format!("database_url: {e}")))?;
        }
        self.rtp_range().map_err(|e| ConfigError(format!("rtp_ports: {e}")))?;
        for t in &self.sip_trusted {
            telephony::sip::guard::Cidr::parse(t).map_err(|e| ConfigError(format!("sip_trusted: {e}")))?;
        }
        if self.max_calls == 0 {
            return Err(ConfigError("max_calls: must be at least 1".into()));
        }
        if self.session_ttl_hours == 0 {
            return Err(ConfigError("session_ttl_hours: must be at least 1".into()));
        }
        if !(16..=65_536).contains(&self.photo_max_kib) {
            return Err(ConfigError("photo_max_kib: must be 16 to 65536".into()));
        }
        if !(5..=150).contains(&self.travel_speed_kmh) {
            return Err(ConfigError("travel_speed_kmh: must be 5 to 150".into()));
        }
        if self.break_minutes > 120 {
            return Err(ConfigError("break_minutes: must be 0 to 120".into()));
        }
        self.callback_policy()?;
        if crm_core::types::Currency::parse(&self.currency).is_err() {
            return Err(ConfigError("currency: a three-letter ISO 4217 code such as EUR".into()));
        }
        self.travel_bands()?;
        self.mail_settings()?;
        self.quality_settings()?;
        if self.paid_labour_rate_minor > 10_000_000 || self.paid_travel_per_km_minor > 10_000_000 {
            return Err(ConfigError(
                "paid_labour_rate_minor, paid_travel_per_km_minor: at most 10000000".into(),
            ));
        }
        if self.tax_rate_bp > 10_000 {
            return Err(ConfigError("tax_rate_bp: at most 10000 (100 %)".into()));
        }
        if !(1..=365).contains(&self.payment_days) {
            return Err(ConfigError("payment_days: 1 to 365".into()));
        }
        if self.labour_rate_minor > 10_000_000 {
            return Err(ConfigError("labour_rate_minor: at most 10000000".into()));
        }
        if !(30..=86_400).contains(&self.callback_lease_seconds) {
            return Err(ConfigError("callback_lease_seconds: must be 30 to 86400".into()));
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError("redis_url: must start with redis:// or rediss://".into()));
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError("redis_prefix: a non-empty word".into()));
        }
        if !self.map_tiles_url.is_empty() && !["{z}", "{x}", "{y}"].iter().all(|p| self.map_tiles_url.contains(p)) {
            return Err(ConfigError(
                "map_tiles_url: needs the {z}, {x} and {y} placeholders".into(),
            ));
        }
        Ok(())
    }

    /// The IVR flow directory in force (see `ivr_dir`), installing the shipped flows when needed.
    pub fn ivr_dir(&self) -> std::io::Result<PathBuf> {
        if let Some(d) = &self.ivr_dir {
            if !d.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("ivr_dir: {} is not a directory", d.display()),
                ));
            }
            return Ok(d.clone());
        }
        let checkout = PathBuf::from("ivr-scripts");
        if checkout.join("prompts").is_dir() {
            return Ok(checkout);
        }
        let installed = self.data_dir.join("ivr-scripts");
        if !installed.is_dir() {
            for (name, bytes) in voice::shipped() {
                let path = installed.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, bytes)?;
            }
            tracing::info!(dir = %installed.display(), "installed the shipped IVR flows and prompts");
        }
        Ok(installed)
    }

    /// The RTP port range as `(first, last)`, both even-aligned.
    pub fn rtp_range(&self) -> Result<(u16, u16), String> {
        let bad = || {
            format!(
                "{:?} is not FIRST-LAST with 1024 <= FIRST < LAST <= 65535",
                self.rtp_ports
            )
        };
        let (a, b) = self.rtp_ports.split_once('-').ok_or_else(bad)?;
        let a: u16 = a.trim().parse().map_err(|_| bad())?;
        let b: u16 = b.trim().parse().map_err(|_| bad())?;
        if a < 1024 || a >= b {
            return Err(bad());
        }
        Ok((a + a % 2, b))
    }

    /// The database URL in force: the configured one or a SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("aftercare.db").display()),
        }
    }
}

/// Name the key, and for a file its line, of a figment error.
fn describe(e: &figment::Error, file: Option<(&Path, &str)>) -> String {
    let key = e.path.join(".");
    let mut out = String::new();
    if let Some((path, text)) = file {
        let line = e
            .path
            .last()
            .and_then(|k| {
                text.lines().position(|l| {
                    let l = l.trim_start();
                    l.strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
            })
            .map(|i| i + 1);
        out.push_str(&path.display().to_string());
        if let Some(n) = line {
            out.push_str(&format!(":{n}"));
        }
        out.push_str(": ");
    }
    if !key.is_empty() {
        out.push_str(&format!("{key}: "));
    }
    out.push_str(&e.kind.to_string());
    out
}

/// A TOML syntax check that reports the 1-based line of the first error.
fn check_toml_syntax(text: &str) -> Result<(), (usize, String)> {
    text.parse::<toml::Table>().map(|_| ()).map_err(|e| {
        let line = e
            .span()
            .map(|sp| text[..sp.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        (line, e.message().to_string())
    })
}

/// `HH:MM-HH:MM` as minutes from midnight; the end may be `24:00`.
fn parse_hours(s: &str) -> Option<(u32, u32)> {
    let minutes = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (a, b) = s.split_once('-')?;
    let (a, b) = (minutes(a)?, minutes(b)?);
    (a < b).then_some((a, b))
}

/// Day names (`mon` … `sun`) as 1–7: a range `mon-sat` or a list `mon,wed,fri`.
fn parse_days(s: &str) -> Option<Vec<u8>> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| {
        NAMES
            .iter()
            .position(|n| *n == d.trim().to_lowercase())
            .map(|i| i as u8 + 1)
    };
    let mut out = vec![];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(day(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config file that is removed when dropped.
    struct TempFile(PathBuf);
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn file(text: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!(
            "aftercare-cfg-{}-{}.toml",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&p, text).unwrap();
        TempFile(p)
    }

    fn no_env() -> Env {
        Env::prefixed("AFTERCARE_TEST_NOTHING_").only(KEYS)
    }

    #[test]
    fn layers_apply_in_order() {
        let f = file("http = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n");
        let c = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env()).unwrap();
        assert_eq!(c.http.port(), 9000);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.session_ttl_hours, 12, "default kept");
        let o = Overrides {
            http: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::load_with_env(Some(&f.0), &o, no_env()).unwrap();
        assert_eq!(c.http.port(), 9100, "flag beats file");
        assert!(c.database_url().starts_with("sqlite://aftercare-data/"));
    }

    #[test]
    fn environment_beats_file() {
        let f = file("log_level = \"debug\"\n");
        // A prefix no other test uses, so setting it cannot disturb tests running beside this one.
        std::env::set_var("AFTERCARE_CFGTEST_LOG_LEVEL", "warn");
        let env = Env::prefixed("AFTERCARE_CFGTEST_").only(KEYS);
        let c = Config::load_with_env(Some(&f.0), &Overrides::default(), env).unwrap();
        std::env::remove_var("AFTERCARE_CFGTEST_LOG_LEVEL");
        assert_eq!(c.log_level, "warn");
    }

    #[test]
    fn errors_name_file_and_line() {
        let f = file("http = \"127.0.0.1:9000\"\nlog_level = \"info\"\nsession_ttl_hours = \"soon\"\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{}:3", f.0.display())), "{e}");
        assert!(e.contains("session_ttl_hours"), "{e}");

        let f = file("http = \"127.0.0.1:9000\"\nlog_level = = 1\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{}:2", f.0.display())), "{e}");

        let f = file("http = \"127.0.0.1:9000\"\nrtp_ports = \"30000-20000\"\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{}:2: rtp_ports", f.0.display())), "{e}");

        let f = file("sip_trusted = [\"10.0.0.0/33\"]\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: sip_trusted"), "{e}");

        let f = file("htp = \"127.0.0.1:9000\"\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("htp"), "unknown key named: {e}");

        let f = file("database_url = \"mysql://x\"\n");
        let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_url"), "{e}");
    }

    #[test]
    fn travel_bands_from_the_file() {
        let f = file("claim_travel_bands = \"20=0, 60=2000\"\n");
        let c = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env()).unwrap();
        let bands: Vec<(u32, i64)> = c
            .travel_bands()
            .unwrap()
            .iter()
            .map(|b| (b.up_to_km, b.allowance_minor))
            .collect();
        assert_eq!(bands, vec![(20, 0), (60, 2000)]);
        assert_eq!(
            Config::default().travel_bands().unwrap(),
            crm_core::claims::DEFAULT_TRAVEL_BANDS.to_vec(),
            "the default is the catalogue's"
        );
        for bad in ["60=2000,20=0", "20=-5", "20", "x=1", "20=1,40=0"] {
            let f = file(&format!("log_level = \"info\"\nclaim_travel_bands = \"{bad}\"\n"));
            let e = Config::load_with_env(Some(&f.0), &Overrides::default(), no_env())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("{}:2: claim_travel_bands", f.0.display())),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn debug_hides_password() {
        let c = Config {
            database_url: Some("postgres://u:hunter2@h/db".into()),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn callback_hours_and_days() {
        assert_eq!(parse_hours("09:00-20:00"), Some((540, 1200)));
        assert_eq!(parse_hours("00:00-24:00"), Some((0, 1440)));
        assert_eq!(parse_hours("20:00-09:00"), None);
        assert_eq!(parse_hours("9-17"), None);
        assert_eq!(parse_days("mon-sat"), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(parse_days("Mon,wed, fri"), Some(vec![1, 3, 5]));
        assert_eq!(parse_days("sat-mon"), None);
        assert_eq!(parse_days("someday"), None);
    }
}
