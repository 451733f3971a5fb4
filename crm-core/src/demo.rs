//! Realistic demo data, generated from a seed: product lines with warranty policies, service
//! stations in real cities, technicians with skills and shifts, customers with phones, addresses and
//! assets, and a history of tickets and calls.
//!
//! The generator is pure (the caller gives `today` and the seed); writing it to storage is
//! [`seed`], which goes through the ordinary [`Store`] API so demo data obeys every rule real data does.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::error::StoreResult;
use crate::model::*;
use crate::store::Store;
use crate::types::*;
use crate::warranty::WarrantyPolicy;

/// A city the demo places customers and stations in.
pub struct City {
    pub name: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub tz: &'static str,
    pub country: &'static str,
    pub dial: &'static str,
    pub postal: &'static str,
}

pub const CITIES: &[City] = &[
    City {
        name: "Berlin",
        lat: 52.520,
        lon: 13.405,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "4930",
        postal: "10",
    },
    City {
        name: "Hamburg",
        lat: 53.551,
        lon: 9.993,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "4940",
        postal: "20",
    },
    City {
        name: "München",
        lat: 48.137,
        lon: 11.575,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "4989",
        postal: "80",
    },
    City {
        name: "Köln",
        lat: 50.937,
        lon: 6.960,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49221",
        postal: "50",
    },
    City {
        name: "Frankfurt am Main",
        lat: 50.110,
        lon: 8.682,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "4969",
        postal: "60",
    },
    City {
        name: "Stuttgart",
        lat: 48.775,
        lon: 9.182,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49711",
        postal: "70",
    },
    City {
        name: "Düsseldorf",
        lat: 51.227,
        lon: 6.773,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49211",
        postal: "40",
    },
    City {
        name: "Leipzig",
        lat: 51.339,
        lon: 12.373,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49341",
        postal: "04",
    },
    City {
        name: "Dresden",
        lat: 51.050,
        lon: 13.737,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49351",
        postal: "01",
    },
    City {
        name: "Hannover",
        lat: 52.375,
        lon: 9.732,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49511",
        postal: "30",
    },
    City {
        name: "Nürnberg",
        lat: 49.452,
        lon: 11.076,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49911",
        postal: "90",
    },
    City {
        name: "Bremen",
        lat: 53.079,
        lon: 8.801,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49421",
        postal: "28",
    },
    City {
        name: "Dortmund",
        lat: 51.513,
        lon: 7.465,
        tz: "Europe/Berlin",
        country: "DE",
        dial: "49231",
        postal: "44",
    },
    City {
        name: "Wien",
        lat: 48.208,
        lon: 16.373,
        tz: "Europe/Vienna",
        country: "AT",
        dial: "431",
        postal: "10",
    },
    City {
        name: "Graz",
        lat: 47.070,
        lon: 15.439,
        tz: "Europe/Vienna",
        country: "AT",
        dial: "43316",
        postal: "80",
    },
    City {
        name: "Zürich",
        lat: 47.376,
        lon: 8.541,
        tz: "Europe/Zurich",
        country: "CH",
        dial: "4144",
        postal: "80",
    },
    City {
        name: "Basel",
        lat: 47.559,
        lon: 7.588,
        tz: "Europe/Zurich",
        country: "CH",
        dial: "4161",
        postal: "40",
    },
    City {
        name: "Amsterdam",
        lat: 52.367,
        lon: 4.904,
        tz: "Europe/Amsterdam",
        country: "NL",
        dial: "3120",
        postal: "10",
    },
    City {
        name: "Rotterdam",
        lat: 51.924,
        lon: 4.478,
        tz: "Europe/Amsterdam",
        country: "NL",
        dial: "3110",
        postal: "30",
    },
];

const FIRST: &[&str] = &[
    "Anna",
    "Lukas",
    "Sophie",
    "Leon",
    "Marie",
    "Finn",
    "Emilia",
    "Paul",
    "Lena",
    "Jonas",
    "Mia",
    "Felix",
    "Hannah",
    "Elias",
    "Lea",
    "Noah",
    "Clara",
    "Ben",
    "Laura",
    "Moritz",
    "Johanna",
    "David",
    "Sarah",
    "Jan",
    "Katharina",
    "Tobias",
    "Julia",
    "Stefan",
    "Sabine",
    "Thomas",
    "Andrea",
    "Michael",
    "Petra",
    "Markus",
    "Daan",
    "Sanne",
    "Levi",
    "Femke",
    "Matteo",
    "Nina",
];
const LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Gruber",
    "Huber",
    "Steiner",
    "Moser",
    "Keller",
    "Brunner",
];
const STREETS: &[&str] = &[
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenweg",
    "Schulstraße",
    "Lindenallee",
    "Bergstraße",
    "Kirchplatz",
    "Rosenweg",
    "Marktstraße",
    "Am Sportplatz",
    "Waldstraße",
    "Mühlenweg",
];
const COMPANY_SUFFIX: &[&str] = &["GmbH", "Logistik GmbH", "& Söhne KG", "Transporte AG", "Hotel GmbH"];
const DEALERS: &[&str] = &[
    "ElektroMarkt Zentrum",
    "Haushalt & Technik Schulz",
    "MotoWelt",
    "Zweirad Keller",
    "TruckCenter Nord",
    "Nutzfahrzeuge Süd",
    "Küchenstudio Meyer",
    "Online-Shop",
];

struct ModelSpec {
    code: &'static str,
    name: &'static str,
    category: ProductCategory,
    line: &'static str,
    parts: u16,
    labor: u16,
    km: Option<u32>,
    hours: Option<u32>,
    faults: &'static [(&'static str, &'static str)],
}

const WASHER_FAULTS: &[(&str, &str)] = &[
    ("E01", "Door lock does not engage"),
    ("E10", "Water inlet too slow"),
    ("E21", "Drain pump blocked"),
    ("E40", "Motor tachometer fault"),
];
const DISHWASHER_FAULTS: &[(&str, &str)] = &[
    ("E15", "Water in base pan (leak protection)"),
    ("E24", "Drain hose kinked or blocked"),
    ("E09", "Heating element fault"),
];
const FRIDGE_FAULTS: &[(&str, &str)] = &[
    ("F1", "Compressor does not start"),
    ("F3", "Defrost heater fault"),
    ("F7", "Temperature sensor out of range"),
];
const BIKE_FAULTS: &[(&str, &str)] = &[
    ("P0335", "Crankshaft position sensor"),
    ("C1101", "ABS wheel speed sensor front"),
    ("B0020", "Dashboard communication lost"),
];
const TRUCK_FAULTS: &[(&str, &str)] = &[
    ("P20EE", "SCR NOx catalyst efficiency below threshold"),
    ("P0401", "EGR flow insufficient"),
    ("U0100", "Lost communication with engine control module"),
    ("C0040", "Brake pressure sensor"),
];

const MODELS: &[ModelSpec] = &[
    ModelSpec {
        code: "WM-7000",
        name: "AquaPro 7 kg washing machine",
        category: ProductCategory::Appliance,
        line: "washing_machines",
        parts: 24,
        labor: 24,
        km: None,
        hours: None,
        faults: WASHER_FAULTS,
    },
    ModelSpec {
        code: "WM-9000X",
        name: "AquaPro 9 kg steam washer",
        category: ProductCategory::Appliance,
        line: "washing_machines",
        parts: 36,
        labor: 24,
        km: None,
        hours: None,
        faults: WASHER_FAULTS,
    },
    ModelSpec {
        code: "DW-4500",
        name: "CleanLine 45 cm dishwasher",
        category: ProductCategory::Appliance,
        line: "dishwashers",
        parts: 24,
        labor: 24,
        km: None,
        hours: None,
        faults: DISHWASHER_FAULTS,
    },
    ModelSpec {
        code: "DW-6000",
        name: "CleanLine 60 cm dishwasher",
        category: ProductCategory::Appliance,
        line: "dishwashers",
        parts: 24,
        labor: 24,
        km: None,
        hours: None,
        faults: DISHWASHER_FAULTS,
    },
    ModelSpec {
        code: "RF-350",
        name: "FrostFree 350 l fridge-freezer",
        category: ProductCategory::Appliance,
        line: "refrigerators",
        parts: 60,
        labor: 24,
        km: None,
        hours: None,
        faults: FRIDGE_FAULTS,
    },
    ModelSpec {
        code: "RF-600SBS",
        name: "FrostFree side-by-side",
        category: ProductCategory::Appliance,
        line: "refrigerators",
        parts: 60,
        labor: 24,
        km: None,
        hours: None,
        faults: FRIDGE_FAULTS,
    },
    ModelSpec {
        code: "MC-T900",
        name: "Tourer 900 motorcycle",
        category: ProductCategory::Motorcycle,
        line: "touring_bikes",
        parts: 24,
        labor: 24,
        km: Some(50_000),
        hours: None,
        faults: BIKE_FAULTS,
    },
    ModelSpec {
        code: "MC-S125",
        name: "Urban 125 scooter",
        category: ProductCategory::Motorcycle,
        line: "scooters",
        parts: 24,
        labor: 24,
        km: Some(30_000),
        hours: None,
        faults: BIKE_FAULTS,
    },
    ModelSpec {
        code: "TR-H18",
        name: "Hauler 18 t distribution truck",
        category: ProductCategory::Truck,
        line: "heavy_trucks",
        parts: 24,
        labor: 12,
        km: Some(200_000),
        hours: None,
        faults: TRUCK_FAULTS,
    },
    ModelSpec {
        code: "TR-H40",
        name: "Hauler 40 t tractor unit",
        category: ProductCategory::Truck,
        line: "heavy_trucks",
        parts: 24,
        labor: 12,
        km: Some(300_000),
        hours: None,
        faults: TRUCK_FAULTS,
    },
    ModelSpec {
        code: "TR-R7",
        name: "Reefer unit 7 for trailers",
        category: ProductCategory::Truck,
        line: "transport_refrigeration",
        parts: 24,
        labor: 24,
        km: None,
        hours: Some(10_000),
        faults: FRIDGE_FAULTS,
    },
];

const PARTS: &[(&str, &str, i64, &str)] = &[
    ("DRP-100", "Drain pump", 4_590, "washing_machines"),
    ("DLK-200", "Door lock assembly", 2_990, "washing_machines"),
    ("MTR-300", "Drive motor", 18_900, "washing_machines"),
    ("HTR-410", "Heating element 2 kW", 5_400, "dishwashers"),
    ("HOS-420", "Drain hose", 1_250, "dishwashers"),
    ("CMP-500", "Compressor", 21_500, "refrigerators"),
    ("SNS-510", "NTC temperature sensor", 1_890, "refrigerators"),
    ("ABS-600", "ABS wheel speed sensor", 8_900, "touring_bikes"),
    ("CKP-610", "Crankshaft position sensor", 6_400, "scooters"),
    ("NOX-700", "NOx sensor", 39_000, "heavy_trucks"),
    ("EGR-710", "EGR valve", 64_000, "heavy_trucks"),
    ("BPS-720", "Brake pressure sensor", 12_800, "heavy_trucks"),
];

const KB: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("Washer shows E01: door lock", "Check that nothing is caught in the door seal. Switch off for 2 minutes and restart. If E01 remains, the door lock assembly (DLK-200) needs replacing; this is covered under warranty.", Some("washing_machines"), Some("E01")),
    ("Washer shows E21: drain pump blocked", "Ask the customer to clean the drain filter behind the lower flap (towel ready, water will come out). If the pump hums but does not drain after cleaning, schedule a technician for the drain pump (DRP-100).", Some("washing_machines"), Some("E21")),
    ("Washer drum does not turn (E40)", "Motor tachometer fault. Not customer-fixable. Create a repair order with skill washing_machines level 3 or higher.", Some("washing_machines"), Some("E40")),
    ("Dishwasher E15: water in base pan", "The leak protection has tripped. Tilt the machine gently backwards to drain the base pan, then check the hoses for leaks. Repeated E15 means a technician visit.", Some("dishwashers"), Some("E15")),
    ("Dishwasher does not heat (E09)", "Heating element fault; needs HTR-410. Labour covered within 24 months of purchase.", Some("dishwashers"), Some("E09")),
    ("Fridge not cooling, compressor silent (F1)", "Check that the plug and fuse are fine and the thermostat is not at 0. Compressors carry 60 months of parts warranty: labour is charged after 24 months.", Some("refrigerators"), Some("F1")),
    ("Fridge icing up at the back wall (F3)", "Defrost heater fault. Ask the customer to defrost manually as a workaround; schedule a technician.", Some("refrigerators"), Some("F3")),
    ("Motorcycle ABS warning light", "Fault C1101 usually means a dirty or damaged front wheel speed sensor. Safe to ride with care to the nearest station; ABS is inactive.", Some("touring_bikes"), Some("C1101")),
    ("Scooter will not start, P0335", "Crankshaft position sensor. The scooter must be collected or brought in; offer roadside pick-up within warranty.", Some("scooters"), Some("P0335")),
    ("Truck derate: NOx catalyst efficiency (P20EE)", "Check AdBlue quality and level first. If the code returns, book a workshop slot within 48 hours to avoid a torque derate. Warranty limited to 200,000 km.", Some("heavy_trucks"), Some("P20EE")),
    ("Truck EGR flow insufficient (P0401)", "Usually a sooted EGR valve (EGR-710). Plan 3 hours of labour.", Some("heavy_trucks"), Some("P0401")),
    ("How warranty is decided", "Parts and labour run separately from the purchase date. Vehicles lose factory warranty past the mileage limit. Extended service contracts add coverage from their start date. The screen pop names the rule that decided.", None, None),
    ("Proof of purchase", "Customers without a receipt: the production date on the serial plate plus 6 months counts as the purchase date.", None, None),
    ("Booking a technician visit", "Create a service request from the call, then a repair order. Dispatch picks the station and technician by skill, distance and parts in stock.", None, None),
    ("Reefer unit alarm codes", "Transport refrigeration units report hours since commissioning; warranty ends at 10,000 operating hours.", Some("transport_refrigeration"), None),
];

pub struct DemoTechnician {
    pub station: usize,
    pub technician: NewTechnician,
}

pub struct DemoAsset {
    pub customer: usize,
    pub model: usize,
    pub serial: SerialNumber,
    pub vin: Option<Vin>,
    pub purchase_date: NaiveDate,
    pub dealer: String,
    pub mileage_km: Option<u32>,
    pub operating_hours: Option<u32>,
}

pub struct DemoTicket {
    pub asset: usize,
    pub subject: String,
    pub status: TicketStatus,
    /// The repair: (station, technician, status). The station is the nearest one with a
    /// technician who has the product line's skill, and the technician one of those.
    pub repair: Option<(usize, usize, RepairStatus)>,
    /// Hours before the start of `today` the call came in (finished repairs: days to months
    /// ago; open ones: within the last two days).
    pub age_hours: u32,
}

/// A visit on today's route of a demo technician.
pub struct DemoVisit {
    pub technician: usize,
    pub asset: usize,
    pub start: DateTime<Utc>,
}

pub struct DemoData {
    /// The day the data is made for: history lies before it.
    pub today: NaiveDate,
    pub visits: Vec<DemoVisit>,
    pub models: Vec<NewProductModel>,
    pub parts: Vec<NewPart>,
    pub stations: Vec<NewStation>,
    pub technicians: Vec<DemoTechnician>,
    pub customers: Vec<NewCustomer>,
    pub assets: Vec<DemoAsset>,
    pub tickets: Vec<DemoTicket>,
    pub interactions: Vec<(usize, NewInteraction)>,
    pub articles: Vec<NewKbArticle>,
}

#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub customers: usize,
    pub stations: usize,
    pub technicians_per_station: usize,
}

impl Default for DemoSize {
    fn default() -> Self {
        DemoSize {
            customers: 3000,
            stations: 30,
            technicians_per_station: 5,
        }
    }
}

fn t(s: &str) -> Text {
    Text::parse(s).expect("demo text is valid")
}
fn time(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour")
}

fn weekdays(days: std::ops::RangeInclusive<u8>, from: u32, to: u32) -> Vec<OpeningHours> {
    days.map(|weekday| OpeningHours {
        weekday,
        opens: time(from),
        closes: time(to),
    })
    .collect()
}

fn skill(line: &str, level: u8) -> Skill {
    Skill {
        name: SkillName::parse(line).expect("demo skill"),
        level: SkillLevel::new(level).expect("demo level"),
    }
}

fn jitter(rng: &mut StdRng, base: f64, spread: f64) -> f64 {
    base + rng.gen_range(-spread..spread)
}

/// Generate the demo data set for `today` from `seed`.
pub fn generate(seed: u64, today: NaiveDate, size: DemoSize) -> DemoData {
    let mut rng = StdRng::seed_from_u64(seed);

    let models = MODELS
        .iter()
        .map(|m| NewProductModel {
            code: SerialNumber::parse(m.code).expect("demo model code"),
            name: t(m.name),
            category: m.category,
            product_line: SkillName::parse(m.line).expect("demo line"),
            fault_codes: m
                .faults
                .iter()
                .map(|(c, d)| FaultCode {
                    code: (*c).into(),
                    description: (*d).into(),
                })
                .collect(),
            warranty: Some(WarrantyPolicy {
                parts_months: m.parts,
                labor_months: m.labor,
                max_mileage_km: m.km,
                max_hours: m.hours,
            }),
            // Trucks are serviced twice a year, motorcycles yearly, appliances every two years.
            maintenance_months: Some(match m.category {
                ProductCategory::Truck => 6,
                ProductCategory::Motorcycle => 12,
                ProductCategory::Appliance => 24,
            }),
        })
        .collect();

    let parts = PARTS
        .iter()
        .map(|(sku, name, price, line)| NewPart {
            sku: SerialNumber::parse(sku).expect("demo sku"),
            name: t(name),
            price: Money {
                minor: *price,
                currency: Currency::parse("EUR").expect("EUR"),
            },
            product_line: Some(SkillName::parse(line).expect("demo line")),
            safety_stock: 2,
        })
        .collect();

    let mut stations = Vec::new();
    for i in 0..size.stations {
        let city = &CITIES[i % CITIES.len()];
        let nth = i / CITIES.len() + 1;
        // Every station repairs appliances; a city's only station, and every second one in a
        // city with more, is also a workshop for motorcycles and trucks.
        let in_city = (size.stations - i % CITIES.len()).div_ceil(CITIES.len());
        let workshop = in_city == 1 || nth.is_multiple_of(2);
        let station_lines: Vec<&str> = MODELS
            .iter()
            .filter(|m| m.category == ProductCategory::Appliance || workshop)
            .map(|m| m.line)
            .fold(vec![], |mut v, l| {
                if !v.contains(&l) {
                    v.push(l);
                }
                v
            });
        stations.push(NewStation {
            name: t(&format!("Aftercare Service {} {}", city.name, nth)),
            city: t(city.name),
            location: GeoPoint::new(jitter(&mut rng, city.lat, 0.05), jitter(&mut rng, city.lon, 0.08))
                .expect("demo coordinates"),
            time_zone: TimeZone::parse(city.tz).expect("demo tz"),
            skills: station_lines.iter().map(|l| skill(l, rng.gen_range(3..=5))).collect(),
            capacity_per_day: rng.gen_range(8..=30),
            opening_hours: {
                let mut h = weekdays(1..=5, 8, 18);
                if rng.gen_bool(0.5) {
                    h.extend(weekdays(6..=6, 9, 13));
                }
                h
            },
        });
    }

    let mut technicians = Vec::new();
    for (si, st) in stations.iter().enumerate() {
        for k in 0..size.technicians_per_station {
            let first = FIRST.choose(&mut rng).expect("names");
            let last = LAST.choose(&mut rng).expect("names");
            let mut skills = Vec::new();
            for s in &st.skills {
                if rng.gen_bool(0.8) {
                    skills.push(skill(s.name.as_str(), rng.gen_range(1..=s.level.get())));
                }
            }
            let skills = if skills.is_empty() {
                vec![skill(st.skills[0].name.as_str(), 2)]
            } else {
                skills
            };
            let early = k % 2 == 0;
            technicians.push(DemoTechnician {
                station: si,
                technician: NewTechnician {
                    station_id: 0,
                    name: t(&format!("{first} {last}")),
                    skills,
                    shifts: if early {
                        weekdays(1..=5, 7, 16)
                    } else {
                        weekdays(1..=5, 10, 19)
                    },
                    location: Some(st.location),
                },
            });
        }
    }

    let mut customers = Vec::with_capacity(size.customers);
    let mut assets = Vec::new();
    let mut used_phones = std::collections::HashSet::new();
    // Customers live where the network has stations (a station serves its city and around).
    let served: Vec<usize> = if stations.is_empty() {
        (0..CITIES.len()).collect()
    } else {
        let mut c: Vec<usize> = (0..stations.len()).map(|i| i % CITIES.len()).collect();
        c.dedup();
        c
    };
    for ci in 0..size.customers {
        let city = &CITIES[served[rng.gen_range(0..served.len())]];
        let company = rng.gen_bool(0.12);
        let last = LAST.choose(&mut rng).expect("names");
        let name = if company {
            format!("{last} {}", COMPANY_SUFFIX.choose(&mut rng).expect("suffix"))
        } else {
            format!("{} {last}", FIRST.choose(&mut rng).expect("names"))
        };
        let mut phones = Vec::new();
        for label in [PhoneLabel::Home, PhoneLabel::Mobile] {
            if label == PhoneLabel::Mobile && !rng.gen_bool(0.6) {
                continue;
            }
            let number = loop {
                let raw = if label == PhoneLabel::Mobile {
                    let cc = &city.dial[..2];
                    format!("+{cc}15{:08}", rng.gen_range(0..100_000_000u32))
                } else {
                    format!("+{}{:07}", city.dial, rng.gen_range(1_000_000..10_000_000u32))
                };
                if used_phones.insert(raw.clone()) {
                    break PhoneNumber::parse(&raw).expect("demo phone");
                }
            };
            phones.push(Phone { number, label });
        }
        let email_name: String = name
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'ä' => 'a',
                'ö' => 'o',
                'ü' => 'u',
                'ß' => 's',
                c if c.is_ascii_alphanumeric() => c,
                _ => '.',
            })
            .collect();
        customers.push(NewCustomer {
            kind: if company {
                CustomerKind::Company
            } else {
                CustomerKind::Person
            },
            name: t(&name),
            email: Email::parse(&format!("{email_name}.{ci}@example.com")).ok(),
            time_zone: TimeZone::parse(city.tz).expect("demo tz"),
            do_not_call: rng.gen_bool(0.05),
            marketing_consent: rng.gen_bool(0.6),
            birthday: (!company && rng.gen_bool(0.7)).then(|| {
                NaiveDate::from_ymd_opt(rng.gen_range(1945..2004), rng.gen_range(1..=12), rng.gen_range(1..=28))
                    .expect("valid date")
            }),
            phones,
            addresses: vec![Address {
                label: "home".into(),
                line1: t(&format!(
                    "{} {}",
                    STREETS.choose(&mut rng).expect("streets"),
                    rng.gen_range(1..180)
                )),
                line2: None,
                postal_code: format!("{}{:03}", city.postal, rng.gen_range(0..1000)),
                city: t(city.name),
                country: city.country.into(),
                location: GeoPoint::new(jitter(&mut rng, city.lat, 0.08), jitter(&mut rng, city.lon, 0.12)).ok(),
            }],
        });

        let n_assets = if company {
            rng.gen_range(1..=6)
        } else {
            rng.gen_range(1..=3)
        };
        for _ in 0..n_assets {
            let mi = if company {
                rng.gen_range(8..MODELS.len())
            } else {
                rng.gen_range(0..8)
            };
            let m = &MODELS[mi];
            let age_days = rng.gen_range(10..(365 * 5));
            let purchase_date = today - Duration::days(age_days);
            let serial = SerialNumber::parse(&format!(
                "{}-{}-{:06}",
                m.code.split('-').next().expect("code prefix"),
                purchase_date.format("%y%m"),
                assets.len()
            ))
            .expect("demo serial");
            let vin = (m.category != ProductCategory::Appliance).then(|| {
                Vin::parse(&format!(
                    "WAC{}{:012}",
                    if m.category == ProductCategory::Truck {
                        "T1"
                    } else {
                        "M1"
                    },
                    assets.len()
                ))
                .expect("demo vin")
            });
            let yearly_km = match m.category {
                ProductCategory::Truck => 120_000.0,
                ProductCategory::Motorcycle => 9_000.0,
                ProductCategory::Appliance => 0.0,
            };
            assets.push(DemoAsset {
                customer: ci,
                model: mi,
                serial,
                vin,
                purchase_date,
                dealer: DEALERS.choose(&mut rng).expect("dealers").to_string(),
                mileage_km: m
                    .km
                    .map(|_| (yearly_km * age_days as f64 / 365.0 * rng.gen_range(0.5..1.5)) as u32),
                operating_hours: m.hours.map(|_| (age_days as f64 * rng.gen_range(4.0..12.0)) as u32),
            });
        }
    }

    // Who repairs an asset: the technicians with its product line's skill at the nearest
    // station that has any, taking turns.
    let squared = |a: GeoPoint, b: GeoPoint| (a.lat - b.lat).powi(2) + ((a.lon - b.lon) * 0.63).powi(2);
    let mut turn = 0usize;
    let mut repairer = |line: &str, at: Option<GeoPoint>| -> Option<(usize, usize)> {
        let skilled: Vec<usize> = (0..technicians.len())
            .filter(|&i| technicians[i].technician.skills.iter().any(|s| s.name.as_str() == line))
            .collect();
        let at = at?;
        let station = skilled
            .iter()
            .map(|&i| technicians[i].station)
            .min_by(|&x, &y| squared(stations[x].location, at).total_cmp(&squared(stations[y].location, at)))?;
        let here: Vec<usize> = skilled
            .into_iter()
            .filter(|&i| technicians[i].station == station)
            .collect();
        turn += 1;
        Some((station, here[turn % here.len()]))
    };
    let mut tickets = Vec::new();
    for (ai, a) in assets.iter().enumerate() {
        if !rng.gen_bool(0.25) {
            continue;
        }
        let m = &MODELS[a.model];
        let (code, what) = m.faults.choose(&mut rng).expect("faults");
        let status = *[
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
            TicketStatus::Closed,
        ]
        .choose(&mut rng)
        .expect("statuses");
        let repair = (status != TicketStatus::Open || rng.gen_bool(0.3)).then(|| match status {
            TicketStatus::Resolved | TicketStatus::Closed => RepairStatus::Completed,
            _ => *[RepairStatus::New, RepairStatus::Assigned, RepairStatus::InProgress]
                .choose(&mut rng)
                .expect("statuses"),
        });
        let at = customers[a.customer].addresses.first().and_then(|x| x.location);
        let repair = repair.and_then(|rs| repairer(m.line, at).map(|(st, tech)| (st, tech, rs)));
        let done = matches!(repair, Some((_, _, RepairStatus::Completed)));
        let age_hours = if done {
            rng.gen_range(72..2160)
        } else {
            rng.gen_range(2..40)
        };
        tickets.push(DemoTicket {
            asset: ai,
            subject: format!("{code}: {what}"),
            status,
            repair,
            age_hours,
        });
        // One finished repair in ten comes back within days: a repeat repair.
        if done && age_hours > 600 && rng.gen_bool(0.1) {
            tickets.push(DemoTicket {
                asset: ai,
                subject: format!("{code}: {what} (again)"),
                status: TicketStatus::Closed,
                repair,
                age_hours: age_hours - rng.gen_range(72..480),
            });
        }
    }

    let mut interactions = Vec::new();
    let base: DateTime<Utc> = Utc.from_utc_datetime(&today.and_hms_opt(12, 0, 0).expect("noon"));
    for ci in 0..customers.len() {
        for _ in 0..rng.gen_range(0..4) {
            let kind = *[
                InteractionKind::Call,
                InteractionKind::Call,
                InteractionKind::Note,
                InteractionKind::Email,
            ]
            .choose(&mut rng)
            .expect("kinds");
            let summary = match kind {
                InteractionKind::Call => "Caller asked about warranty and repair status",
                InteractionKind::Note => "Customer prefers appointments in the morning",
                InteractionKind::Email => "Sent repair confirmation and invoice",
            };
            interactions.push((
                ci,
                NewInteraction {
                    kind,
                    direction: if kind == InteractionKind::Note {
                        Direction::Internal
                    } else {
                        Direction::Inbound
                    },
                    summary: t(summary),
                    at: Some(base - Duration::minutes(rng.gen_range(60..(60 * 24 * 400)))),
                },
            ));
        }
    }

    let articles = KB
        .iter()
        .map(|(title, body, line, code)| NewKbArticle {
            title: t(title),
            body: t(body),
            product_line: line.map(|l| SkillName::parse(l).expect("demo line")),
            fault_code: code.map(str::to_string),
            tags: code
                .iter()
                .map(|c| c.to_string())
                .chain(line.map(str::to_string))
                .collect(),
        })
        .collect();

    // Every technician has three visits today, at the customers nearest their station that no
    // other visit took, inside their shift.
    let mut visits = Vec::new();
    let mut taken = vec![false; assets.len()];
    let asset_at: Vec<Option<GeoPoint>> = assets
        .iter()
        .map(|a| customers[a.customer].addresses.first().and_then(|x| x.location))
        .collect();
    for (ti, dt) in technicians.iter().enumerate() {
        let home = stations[dt.station].location;
        let can = |i: usize| {
            let line = MODELS[assets[i].model].line;
            dt.technician.skills.iter().any(|s| s.name.as_str() == line)
        };
        let mut near: Vec<(f64, usize)> = asset_at
            .iter()
            .enumerate()
            // Local visits only: within about 60 km of the station.
            .filter(|(i, at)| {
                !taken[*i]
                    && can(*i)
                    && at.is_some_and(|p| (p.lat - home.lat).powi(2) + ((p.lon - home.lon) * 0.63).powi(2) < 0.3)
            })
            .map(|(i, at)| {
                let at = at.expect("filtered");
                ((at.lat - home.lat).powi(2) + (at.lon - home.lon).powi(2), i)
            })
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let early = dt
            .technician
            .shifts
            .first()
            .is_some_and(|s| s.opens.format("%H").to_string() == "07");
        let hours: [(u32, u32); 3] = if early {
            [(8, 0), (10, 30), (13, 30)]
        } else {
            [(11, 0), (13, 30), (16, 0)]
        };
        for (&(_, asset), (h, m)) in near.iter().zip(hours) {
            taken[asset] = true;
            visits.push(DemoVisit {
                technician: ti,
                asset,
                start: Utc.from_utc_datetime(&today.and_hms_opt(h, m, 0).expect("valid time")),
            });
        }
    }

    DemoData {
        today,
        visits,
        models,
        parts,
        stations,
        technicians,
        customers,
        assets,
        tickets,
        interactions,
        articles,
    }
}

/// What [`seed`] created, for linking logins to records.
pub struct Seeded {
    pub technician_ids: Vec<i64>,
    pub customers: usize,
    pub assets: usize,
}

/// Write demo data through the ordinary store API.
/// Told how seeding goes: the step's name, how many of its items are done, and how many there
/// are (called at each step's start and end and at every tenth of the long ones).
pub type Progress<'a> = &'a mut (dyn FnMut(&'static str, usize, usize) + Send);

/// Calls `progress` at each tenth of `total` items done (and at the end).
fn tenth(progress: &mut (dyn FnMut(&'static str, usize, usize) + Send), step: &'static str, done: usize, total: usize) {
    if done == total || (total >= 10 && done.is_multiple_of(total / 10)) {
        progress(step, done, total);
    }
}

/// Sets the time the store records (`Some`), or lets it follow the wall clock again (`None`):
/// the service history is written at the times it happened, so reports show real response
/// times. A store on the wall clock only can ignore it (history then happens now).
pub type SetClock<'a> = &'a mut (dyn FnMut(Option<DateTime<Utc>>) + Send);

pub async fn seed(
    store: &(impl Store + ?Sized),
    data: &DemoData,
    progress: Progress<'_>,
    at: SetClock<'_>,
) -> StoreResult<Seeded> {
    let actor = Actor::SYSTEM;
    progress("catalogue", 0, data.models.len() + data.parts.len());
    let mut model_ids = Vec::new();
    for m in &data.models {
        model_ids.push(store.create_model(actor, m).await?.id);
    }
    let mut part_ids = Vec::new();
    for p in &data.parts {
        part_ids.push(store.create_part(actor, p).await?.id);
    }
    progress("stations", 0, data.stations.len());
    let mut station_ids = Vec::new();
    for s in &data.stations {
        let st = store.create_station(actor, s).await?;
        for (pi, _) in data
            .parts
            .iter()
            .enumerate()
            .filter(|(i, _)| !(st.id as usize + i).is_multiple_of(3))
        {
            store
                .record_stock_movement(
                    actor,
                    st.id,
                    &NewStockMovement {
                        part_id: part_ids[pi],
                        delta: 2 + ((st.id as usize * 7 + pi) % 9) as i64,
                        reason: StockReason::Receipt,
                        reference: t("delivery:initial-stock"),
                    },
                )
                .await?;
        }
        station_ids.push(st.id);
    }
    let mut technician_ids = Vec::new();
    for dt in &data.technicians {
        let mut t = dt.technician.clone();
        t.station_id = station_ids[dt.station];
        technician_ids.push(store.create_technician(actor, &t).await?.id);
    }
    progress("customers", 0, data.customers.len());
    let customer_ids: Vec<i64> = store
        .import_customers(actor, &data.customers)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let new_assets: Vec<NewAsset> = data
        .assets
        .iter()
        .map(|a| NewAsset {
            customer_id: customer_ids[a.customer],
            model_id: model_ids[a.model],
            serial: a.serial.clone(),
            vin: a.vin.clone(),
            purchase_date: a.purchase_date,
            dealer: Some(a.dealer.clone()),
            mileage_km: a.mileage_km,
            operating_hours: a.operating_hours,
        })
        .collect();
    progress("assets", 0, new_assets.len());
    let asset_ids = store.import_assets(actor, &new_assets).await?;
    let day0: DateTime<Utc> = Utc.from_utc_datetime(&data.today.and_hms_opt(0, 0, 0).expect("midnight"));
    for (i, dt) in data.tickets.iter().enumerate() {
        tenth(progress, "service history", i + 1, data.tickets.len());
        let a = &new_assets[dt.asset];
        // Called in at t0; assigned an hour later; on site after 2 to 30 hours (sooner for
        // open orders); done after the labour.
        let t0 = day0 - Duration::hours(i64::from(dt.age_hours));
        let respond = Duration::minutes(((i * 97) % (if dt.age_hours > 48 { 28 * 60 } else { 60 })) as i64 + 120);
        at(Some(t0));
        let ticket = store
            .create_ticket(
                actor,
                &NewTicket {
                    customer_id: a.customer_id,
                    asset_id: Some(asset_ids[dt.asset]),
                    subject: t(&dt.subject),
                    description: "Reported by phone.".into(),
                    priority: if i % 7 == 0 { Priority::High } else { Priority::Normal },
                },
            )
            .await?;
        if let Some((station, technician, rs)) = dt.repair {
            let station_id = station_ids[station];
            let tech = technician_ids[technician];
            let ro = store
                .create_repair_order(
                    actor,
                    &NewRepairOrder {
                        ticket_id: ticket.id,
                        asset_id: None,
                        station_id: Some(station_id),
                        technician_id: None,
                        fault_code: dt.subject.split(':').next().map(str::to_string),
                        description: dt.subject.clone(),
                        scheduled_for: None,
                        appointment: None,
                        duration_minutes: None,
                        parts: vec![],
                    },
                )
                .await?;
            let path: &[RepairStatus] = match rs {
                RepairStatus::New => &[],
                RepairStatus::Assigned => &[RepairStatus::Assigned],
                // On site and completed through the technician's own flow below.
                _ => &[RepairStatus::Assigned],
            };
            at(Some(t0 + Duration::hours(1)));
            for step in path {
                store
                    .update_repair_order(
                        actor,
                        ro.id,
                        &RepairOrderPatch {
                            status: Some(*step),
                            technician_id: Some(tech),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            let completed = !matches!(
                rs,
                RepairStatus::New | RepairStatus::Assigned | RepairStatus::InProgress
            );
            if completed || rs == RepairStatus::InProgress {
                let site = data.customers[data.assets[dt.asset].customer]
                    .addresses
                    .first()
                    .and_then(|a| a.location)
                    .or(Some(data.stations[station].location));
                let step = |action, location| {
                    crate::field::TaskWrite::Step(crate::field::TaskStep {
                        action,
                        location,
                        reason: None,
                    })
                };
                use crate::field::TaskAction as A;
                let report = crate::field::TaskWrite::Report(crate::field::TaskReport {
                    fault_code: None,
                    diagnosis: Some(t("Confirmed the reported fault on site.")),
                    work_done: Some(t("Repaired and tested with the customer.")),
                    // Half an hour to three hours, by order.
                    labour_hours: Some(0.5 + (ro.id % 11) as f64 * 0.25),
                });
                let on_site = [step(A::Accept, None), step(A::Depart, None), step(A::CheckIn, site)];
                let done = [report, step(A::Complete, None)];
                at(Some((t0 + respond).min(day0 - Duration::minutes(30))));
                for w in &on_site {
                    store.task_write(actor, tech, ro.id, None, w).await?;
                }
                if completed {
                    let labour = Duration::minutes(30 + (ro.id % 11) as i64 * 15);
                    at(Some((t0 + respond + labour).min(day0 - Duration::minutes(1))));
                    for w in &done {
                        store.task_write(actor, tech, ro.id, None, w).await?;
                    }
                }
            }
            // Past repairs were surveyed when they were done: their callbacks are over, and the
            // stations and technicians have scores (varying by station).
            if completed {
                let job = store.callback_for_order(ro.id).await?;
                let spread = (station + ro.id as usize) % 4;
                store
                    .record_survey(
                        actor,
                        &crate::callback::NewSurvey {
                            repair_order_id: ro.id,
                            job_id: job.map(|j| j.id),
                            repair_score: 5 - spread as u8,
                            technician_score: 5 - (ro.id % 3) as u8,
                            fixed_first_time: spread < 3,
                            comment_path: None,
                        },
                        chrono::Utc::now(),
                    )
                    .await?;
            }
        }
        let path: &[TicketStatus] = match dt.status {
            TicketStatus::Open => &[],
            TicketStatus::InProgress => &[TicketStatus::InProgress],
            TicketStatus::Resolved => &[TicketStatus::InProgress, TicketStatus::Resolved],
            _ => &[TicketStatus::InProgress, TicketStatus::Resolved, TicketStatus::Closed],
        };
        for step in path {
            store
                .update_ticket(
                    actor,
                    ticket.id,
                    &TicketPatch {
                        status: Some(*step),
                        ..Default::default()
                    },
                )
                .await?;
        }
    }
    at(None);
    for (seq, v) in data.visits.iter().enumerate() {
        tenth(progress, "today's visits", seq + 1, data.visits.len());
        let a = &new_assets[v.asset];
        let ticket = store
            .create_ticket(
                actor,
                &NewTicket {
                    customer_id: a.customer_id,
                    asset_id: Some(asset_ids[v.asset]),
                    subject: t("Appointment: inspection and repair"),
                    description: "Booked by phone for today.".into(),
                    priority: Priority::Normal,
                },
            )
            .await?;
        let ro = store
            .create_repair_order(
                actor,
                &NewRepairOrder {
                    ticket_id: ticket.id,
                    asset_id: None,
                    station_id: None,
                    technician_id: None,
                    fault_code: None,
                    description: "Customer reports a fault; inspect and repair on site.".into(),
                    scheduled_for: None,
                    appointment: None,
                    duration_minutes: Some(90),
                    parts: vec![],
                },
            )
            .await?;
        let dt = &data.technicians[v.technician];
        store
            .set_dispatch(
                actor,
                ro.id,
                &crate::field::DispatchDecision::Assign {
                    station_id: station_ids[dt.station],
                    technician_id: technician_ids[v.technician],
                    scheduled_for: v.start,
                    route_seq: Some(seq as u32 % 3 + 1),
                    appointment: None,
                    override_reason: None,
                },
            )
            .await?;
    }
    for (ci, i) in &data.interactions {
        store.add_interaction(actor, customer_ids[*ci], i).await?;
    }
    progress("knowledge base", 0, data.articles.len());
    for a in &data.articles {
        store.create_article(actor, a).await?;
    }
    Ok(Seeded {
        technician_ids,
        customers: customer_ids.len(),
        assets: asset_ids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_deterministic_and_valid() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let size = DemoSize {
            customers: 300,
            stations: 30,
            technicians_per_station: 5,
        };
        let a = generate(7, today, size);
        let b = generate(7, today, size);
        assert_eq!(a.customers, b.customers);
        assert_eq!(a.technicians.len(), 150);
        assert_eq!(a.stations.len(), 30);
        for c in &a.customers {
            c.validate(today).unwrap();
            assert!(!c.phones.is_empty());
        }
        for s in &a.stations {
            s.validate().unwrap();
        }
        for t in &a.technicians {
            t.technician.validate().unwrap();
        }
        let serials: std::collections::HashSet<_> = a.assets.iter().map(|x| x.serial.clone()).collect();
        assert_eq!(serials.len(), a.assets.len(), "serials are unique");
        assert!(a.assets.len() >= 300);
        assert!(a.tickets.iter().any(|t| t.repair.is_some()));
        // Up to three visits today for every technician, near their station (most get three),
        // on distinct assets, in the day's order.
        let mut by_tech: std::collections::BTreeMap<usize, Vec<&DemoVisit>> = Default::default();
        for v in &a.visits {
            by_tech.entry(v.technician).or_default().push(v);
        }
        assert!(by_tech
            .values()
            .all(|v| v.len() <= 3 && v.windows(2).all(|w| w[0].start < w[1].start)));
        assert!(
            by_tech.len() * 10 >= a.technicians.len() * 8,
            "{} of {} have visits",
            by_tech.len(),
            a.technicians.len()
        );
        let assets: std::collections::HashSet<_> = a.visits.iter().map(|v| v.asset).collect();
        assert_eq!(assets.len(), a.visits.len());
        assert!(a.visits.iter().all(|v| v.start.date_naive() == today));
        // Every repair and visit is with a technician who has the product's skill; a repair
        // sits at the nearest station that has such a technician.
        let can = |tech: usize, asset: usize| {
            let line = MODELS[a.assets[asset].model].line;
            a.technicians[tech]
                .technician
                .skills
                .iter()
                .any(|s| s.name.as_str() == line)
        };
        let km = |p: GeoPoint, q: GeoPoint| {
            let (dy, dx) = (p.lat - q.lat, (p.lon - q.lon) * (p.lat.to_radians().cos()));
            111.2 * (dy * dy + dx * dx).sqrt()
        };
        assert!(a.visits.iter().all(|v| can(v.technician, v.asset)));
        for v in &a.visits {
            let home = a.stations[a.technicians[v.technician].station].location;
            let at = a.customers[a.assets[v.asset].customer].addresses[0].location.unwrap();
            assert!(km(home, at) < 70.0, "a visit {} km from the station", km(home, at));
        }
        let mut far = 0;
        let repairs: Vec<_> = a
            .tickets
            .iter()
            .filter_map(|t| t.repair.map(|r| (t.asset, r)))
            .collect();
        for &(asset, (station, tech, _)) in &repairs {
            assert!(can(tech, asset) && a.technicians[tech].station == station);
            let at = a.customers[a.assets[asset].customer].addresses[0].location.unwrap();
            let nearest = (0..a.technicians.len())
                .filter(|&t| can(t, asset))
                .map(|t| km(a.stations[a.technicians[t].station].location, at))
                .fold(f64::MAX, f64::min);
            assert!((km(a.stations[station].location, at) - nearest).abs() < 1.0);
            far += usize::from(nearest > 100.0);
        }
        assert!(
            far * 20 < repairs.len(),
            "{far} of {} repairs over 100 km away",
            repairs.len()
        );
    }
}
