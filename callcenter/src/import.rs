//! `aftercare import customers|assets FILE.csv`: every row is parsed and checked first; any bad
//! row is reported (line, column, reason) and nothing is written. A clean file is written in one
//! transaction.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use crm_core::model::*;
use crm_core::types::*;
use crm_core::Store;
use indicatif::{ProgressBar, ProgressStyle};

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: usize,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.column, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {0}", file = .1)]
    Read(#[source] csv::Error, String),
    #[error("{0}: missing column {1:?}")]
    MissingColumn(String, String),
    #[error("{} row(s) refused; nothing was written", .0.len())]
    Rows(Vec<RowError>),
    #[error("writing failed; nothing was written: {0}")]
    Store(#[from] crm_core::StoreError),
}

struct Rows {
    header: HashMap<String, usize>,
    records: Vec<(usize, csv::StringRecord)>,
}

fn read(path: &Path, required: &[&str]) -> Result<Rows, ImportError> {
    let name = path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| ImportError::Read(e, name.clone()))?;
    let header: HashMap<String, usize> = rdr
        .headers()
        .map_err(|e| ImportError::Read(e, name.clone()))?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_ascii_lowercase(), i))
        .collect();
    for col in required {
        if !header.contains_key(*col) {
            return Err(ImportError::MissingColumn(name, col.to_string()));
        }
    }
    let mut records = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ImportError::Read(e, name.clone()))?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        records.push((line, rec));
    }
    Ok(Rows { header, records })
}

impl Rows {
    fn row<'a>(&'a self, line: usize, rec: &'a csv::StringRecord) -> Row<'a> {
        Row {
            line,
            header: &self.header,
            rec,
            error: None,
        }
    }
}

/// Field access for one row that collects the first error.
struct Row<'a> {
    line: usize,
    header: &'a HashMap<String, usize>,
    rec: &'a csv::StringRecord,
    error: Option<RowError>,
}

impl<'a> Row<'a> {
    fn raw(&self, col: &str) -> Option<&'a str> {
        self.header
            .get(col)
            .and_then(|i| self.rec.get(*i))
            .filter(|s| !s.is_empty())
    }
    fn fail(&mut self, col: &str, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(RowError {
                line: self.line,
                column: col.to_string(),
                message: message.into(),
            });
        }
    }
    fn req<T, E: std::fmt::Display>(&mut self, col: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        match self.raw(col) {
            None => {
                self.fail(col, "required");
                None
            }
            Some(v) => self.parse_value(col, v, parse),
        }
    }
    fn opt<T, E: std::fmt::Display>(&mut self, col: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        let v = self.raw(col)?;
        self.parse_value(col, v, parse)
    }
    fn parse_value<T, E: std::fmt::Display>(
        &mut self,
        col: &str,
        v: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(v) {
            Ok(x) => Some(x),
            Err(e) => {
                self.fail(col, e.to_string());
                None
            }
        }
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Ok(true),
        "0" | "false" | "no" | "n" => Ok(false),
        _ => Err(format!("not a yes/no value: {s:?}")),
    }
}

fn parse_f64(s: &str) -> Result<f64, String> {
    s.parse::<f64>().map_err(|_| format!("not a number: {s:?}"))
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    s.parse::<NaiveDate>()
        .map_err(|_| format!("not a date (YYYY-MM-DD): {s:?}"))
}

/// Progress through a long step: a bar on a terminal; when stderr is piped or a file, a line of
/// counts at each tenth, so a log still shows the import moving.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    total: usize,
    done: usize,
    reported: usize,
}

impl Progress {
    pub fn new(total: usize, what: &str) -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let pb = ProgressBar::new(total as u64);
            pb.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            pb.set_message(what.to_string());
            pb
        });
        Progress {
            bar,
            what: what.to_string(),
            total,
            done: 0,
            reported: 0,
        }
    }

    pub fn inc(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(pb) => pb.inc(1),
            None => {
                let tenth = self.done * 10 / self.total.max(1);
                if tenth > self.reported || self.done == self.total {
                    self.reported = tenth;
                    eprintln!("{}: {}/{} rows", self.what, self.done, self.total);
                }
            }
        }
    }

    fn finish(self) {
        if let Some(pb) = self.bar {
            pb.finish_and_clear();
        }
    }
}

/// Close the progress bar; all rows, or every refusal.
fn finish<T>(pb: Progress, rows: Vec<T>, errors: Vec<RowError>) -> Result<Vec<T>, ImportError> {
    pb.finish();
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Rows(errors))
    }
}

/// Columns: `name`, `phone` required; `kind`, `email`, `phone2`, `time_zone`, `street`,
/// `postal_code`, `city`, `country`, `lat`, `lon`, `birthday`, `do_not_call`, `marketing_consent`.
pub fn parse_customers(path: &Path, today: NaiveDate) -> Result<Vec<NewCustomer>, ImportError> {
    let rows = read(path, &["name", "phone"])?;
    let mut pb = Progress::new(rows.records.len(), "checking");
    let mut out = Vec::with_capacity(rows.records.len());
    let mut errors = vec![];
    let mut seen_phones: HashMap<PhoneNumber, usize> = HashMap::new();
    for (line, rec) in &rows.records {
        pb.inc();
        let mut r = rows.row(*line, rec);
        let name = r.req("name", Text::parse);
        let kind = r.opt("kind", CustomerKind::parse).unwrap_or(CustomerKind::Person);
        let email = r.opt("email", Email::parse);
        let mut phones = vec![];
        for col in ["phone", "phone2"] {
            let p = if col == "phone" {
                r.req(col, PhoneNumber::parse)
            } else {
                r.opt(col, PhoneNumber::parse)
            };
            if let Some(number) = p {
                if let Some(first) = seen_phones.insert(number.clone(), *line) {
                    r.fail(col, format!("number already given on line {first}"));
                }
                phones.push(Phone {
                    number,
                    label: if col == "phone" {
                        PhoneLabel::Home
                    } else {
                        PhoneLabel::Mobile
                    },
                });
            }
        }
        let time_zone = r.opt("time_zone", TimeZone::parse).unwrap_or_default();
        let mut addresses = vec![];
        if r.raw("street").is_some() {
            let line1 = r.req("street", Text::parse);
            let postal_code = r.req("postal_code", |s| Ok::<_, String>(s.to_string()));
            let city = r.req("city", Text::parse);
            let country = r.req("country", |s| Ok::<_, String>(s.to_ascii_uppercase()));
            let lat = r.opt("lat", parse_f64);
            let lon = r.opt("lon", parse_f64);
            let location = match (lat, lon) {
                (Some(a), Some(o)) => r.parse_value("lat", "", |_| GeoPoint::new(a, o)),
                (None, None) => None,
                _ => {
                    r.fail("lon", "give both lat and lon or neither");
                    None
                }
            };
            if let (Some(line1), Some(postal_code), Some(city), Some(country)) = (line1, postal_code, city, country) {
                addresses.push(Address {
                    label: "home".into(),
                    line1,
                    line2: None,
                    postal_code,
                    city,
                    country,
                    location,
                });
            }
        }
        let birthday = r.opt("birthday", parse_date);
        let do_not_call = r.opt("do_not_call", parse_bool).unwrap_or(false);
        let marketing_consent = r.opt("marketing_consent", parse_bool).unwrap_or(false);
        if let (None, Some(name)) = (&r.error, name) {
            let c = NewCustomer {
                kind,
                name,
                email,
                time_zone,
                do_not_call,
                marketing_consent,
                birthday,
                phones,
                addresses,
            };
            match c.validate(today) {
                Ok(()) => out.push(c),
                Err(e) => r.fail(&e.field, e.message),
            }
        }
        errors.extend(r.error);
    }
    finish(pb, out, errors)
}

/// Columns: `serial`, `customer_phone`, `model_code`, `purchase_date` required; `vin`, `dealer`,
/// `mileage_km`, `operating_hours`, `produced_on` (the serial plate's production date). The customer is found by phone, the model by code.
pub async fn parse_assets(path: &Path, store: &dyn Store, today: NaiveDate) -> Result<Vec<NewAsset>, ImportError> {
    let rows = read(path, &["serial", "customer_phone", "model_code", "purchase_date"])?;
    let models: HashMap<String, i64> = store.list_models().await?.into_iter().map(|m| (m.code, m.id)).collect();
    let mut pb = Progress::new(rows.records.len(), "checking");
    let mut out = Vec::with_capacity(rows.records.len());
    let mut errors = vec![];
    let mut seen: HashMap<SerialNumber, usize> = HashMap::new();
    for (line, rec) in &rows.records {
        pb.inc();
        let mut r = rows.row(*line, rec);
        let serial = r.req("serial", SerialNumber::parse);
        if let Some(s) = &serial {
            if let Some(first) = seen.insert(s.clone(), *line) {
                r.fail("serial", format!("serial already given on line {first}"));
            } else if store.find_asset_by_serial(s).await?.is_some() {
                r.fail("serial", "an asset with this serial exists");
            }
        }
        let phone = r.req("customer_phone", PhoneNumber::parse);
        let customer_id = match phone {
            Some(p) => {
                let id = store.find_customer_by_phone(&p).await?;
                if id.is_none() {
                    r.fail("customer_phone", "no customer has this number");
                }
                id
            }
            None => None,
        };
        let model_id = r.req("model_code", |s| {
            models
                .get(&s.to_ascii_uppercase())
                .copied()
                .ok_or_else(|| format!("unknown model {s:?}"))
        });
        let purchase_date = r.req("purchase_date", parse_date);
        let vin = r.opt("vin", Vin::parse);
        let dealer = r.raw("dealer").map(str::to_string);
        let mileage_km = r.opt("mileage_km", |s| {
            s.parse::<u32>().map_err(|_| format!("not a whole number: {s:?}"))
        });
        let operating_hours = r.opt("operating_hours", |s| {
            s.parse::<u32>().map_err(|_| format!("not a whole number: {s:?}"))
        });
        let produced_on = r.opt("produced_on", parse_date);
        if let (None, Some(serial), Some(customer_id), Some(model_id), Some(purchase_date)) =
            (&r.error, serial, customer_id, model_id, purchase_date)
        {
            let a = NewAsset {
                customer_id,
                model_id,
                serial,
                vin,
                purchase_date,
                dealer,
                mileage_km,
                operating_hours,
                produced_on,
            };
            match a.validate(today) {
                Ok(()) => out.push(a),
                Err(e) => r.fail(&e.field, e.message),
            }
        }
        errors.extend(r.error);
    }
    finish(pb, out, errors)
}

pub enum Kind {
    Customers,
    Assets,
}

/// What an import did with the file's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Written anew.
    pub created: usize,
    /// Customers who were there already, found by a phone number or the e-mail address; left as
    /// they were.
    pub matched_by_phone: usize,
    pub matched_by_email: usize,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} created", self.created)?;
        let matched = self.matched_by_phone + self.matched_by_email;
        if matched > 0 {
            write!(
                f,
                ", {matched} already there and left unchanged ({} matched by phone, {} by e-mail)",
                self.matched_by_phone, self.matched_by_email
            )?;
        }
        Ok(())
    }
}

/// Check the whole file, then write it in one transaction.
pub async fn run(kind: Kind, path: &Path, store: &dyn Store, today: NaiveDate) -> Result<Imported, ImportError> {
    let spinner = || {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            eprintln!("writing in one transaction");
            return ProgressBar::hidden();
        }
        let s = ProgressBar::new_spinner();
        s.set_message("writing in one transaction");
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    };
    match kind {
        Kind::Customers => {
            let rows = parse_customers(path, today)?;
            let s = spinner();
            let done = store.import_customers(Actor::SYSTEM, &rows).await?;
            s.finish_and_clear();
            let count = |m: ImportMatch| done.iter().filter(|c| c.matched == m).count();
            Ok(Imported {
                created: count(ImportMatch::Created),
                matched_by_phone: count(ImportMatch::Phone),
                matched_by_email: count(ImportMatch::Email),
            })
        }
        Kind::Assets => {
            let rows = parse_assets(path, store, today).await?;
            let s = spinner();
            let ids = store.import_assets(Actor::SYSTEM, &rows).await?;
            s.finish_and_clear();
            Ok(Imported {
                created: ids.len(),
                ..Imported::default()
            })
        }
    }
}
