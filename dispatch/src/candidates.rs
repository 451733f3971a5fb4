//! Who can take a repair order: technicians near it with the skills at the levels it needs,
//! time left on the day, a shift that covers the visit inside the customer's window, and the
//! parts in stock at their station or transferable in time — ranked by travel, SLA risk and
//! rating. A core without IO or clock: the caller passes `now` and the data.
//!
//! The index is one R-tree of technicians per skill, so a search walks only technicians who
//! have the rarest skill the order needs, nearest first; locations, shifts, skills and the day's
//! remaining capacity can change one technician at a time.

use std::collections::HashMap;

use rstar::primitives::GeomWithData;
use rstar::RTree;

/// Minutes since an epoch the caller chooses (the same for every time here).
pub type Minute = i64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tech {
    pub id: i64,
    pub station: i64,
    /// Where the technician is now (or their station at the start of the day).
    pub at: Point,
    /// Skill name → level 1–5.
    pub skills: Vec<(String, u8)>,
    /// Working periods, sorted, not overlapping.
    pub shifts: Vec<(Minute, Minute)>,
    /// Minutes of work still free per day (day = minute / 1440).
    pub free_minutes: HashMap<i64, u32>,
    /// 0–5.
    pub rating: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StationStock {
    pub id: i64,
    pub at: Point,
    /// Part id → quantity on hand.
    pub parts: HashMap<i64, u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub at: Point,
    pub skills: Vec<(String, u8)>,
    pub minutes: u32,
    pub parts: Vec<(i64, u32)>,
    /// The visit must start within this window.
    pub window: (Minute, Minute),
    /// Finish by this time (the SLA).
    pub deadline: Minute,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub speed_kmh: f64,
    /// Roads are longer than the crow flies.
    pub detour: f64,
    /// Moving parts between stations: fixed handling time plus driving.
    pub transfer_handling_minutes: i64,
    /// Technicians examined at most per search (nearest first).
    pub max_examined: usize,
    /// Straight-line km from a technician's home station to the order beyond which they do not
    /// take it, unless they are of the order's station.
    pub reach_km: f64,
}

/// How far (straight line, km) technicians go from their home station for another station's
/// orders. Routes stay local: an order belongs to the nearest station with the skill, and a
/// neighbour's technician helps out only when their station is this close.
pub const REACH_KM: f64 = 80.0;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            speed_kmh: 50.0,
            detour: crate::travel::DETOUR,
            transfer_handling_minutes: 60,
            max_examined: 400,
            reach_km: REACH_KM,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parts {
    InStock,
    /// Brought from another station; ready at the technician's station then.
    Transfer {
        from: i64,
        ready: Minute,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub tech: i64,
    pub station: i64,
    pub travel_minutes: i64,
    pub start: Minute,
    /// Minutes to spare before the deadline (negative: late).
    pub slack: i64,
    pub parts: Parts,
    /// Lower is better.
    pub score: f64,
}

/// Why no technician can take an order: the furthest any technician got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Nobody in the search has the skill at the level.
    NoSkillMatch,
    /// Somebody has it, but no shift of theirs is left in the time asked about (the day is
    /// over for them, or they do not work then).
    NoShiftLeft,
    /// Somebody has it and works then, but neither at the order's station (the nearest one with
    /// the skill) nor within [`REACH_KM`] of it.
    OutOfReach,
    NoCapacity,
    WindowInfeasible,
    PartsMissing,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoSkillMatch => "no_skill_match",
            Reason::NoShiftLeft => "no_shift_left",
            Reason::OutOfReach => "out_of_reach",
            Reason::NoCapacity => "no_capacity",
            Reason::WindowInfeasible => "window_infeasible",
            Reason::PartsMissing => "parts_missing",
        }
    }
}

/// A technician's index at their point on the local plane.
type Entry = GeomWithData<[f64; 2], usize>;

/// Kilometres per degree of latitude.
const KM_PER_DEG: f64 = 111.195;

pub struct Index {
    settings: Settings,
    cos_lat: f64,
    techs: Vec<Tech>,
    slot: HashMap<i64, usize>,
    /// (skill, level) → the technicians who have the skill at that level or above, so a search
    /// walks only qualified technicians.
    by_skill: HashMap<(String, u8), RTree<Entry>>,
    stations: HashMap<i64, StationStock>,
}

impl Index {
    /// `reference_lat`: the region's latitude, for the local plane the trees use.
    pub fn new(settings: Settings, reference_lat: f64, stations: Vec<StationStock>) -> Index {
        Index {
            settings,
            cos_lat: reference_lat.to_radians().cos(),
            techs: vec![],
            slot: HashMap::new(),
            by_skill: HashMap::new(),
            stations: stations.into_iter().map(|s| (s.id, s)).collect(),
        }
    }

    fn xy(&self, p: Point) -> [f64; 2] {
        [p.lon * self.cos_lat, p.lat]
    }

    /// Road distance estimate in km.
    fn km(&self, a: Point, b: Point) -> f64 {
        let (pa, pb) = (self.xy(a), self.xy(b));
        ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2)).sqrt() * KM_PER_DEG * self.settings.detour
    }

    fn minutes(&self, a: Point, b: Point) -> i64 {
        (self.km(a, b) / self.settings.speed_kmh * 60.0).ceil() as i64
    }

    /// Build from many technicians at once (bulk-loaded trees).
    pub fn with_techs(mut self, techs: Vec<Tech>) -> Index {
        let mut per_skill: HashMap<(String, u8), Vec<Entry>> = HashMap::new();
        for (i, t) in techs.iter().enumerate() {
            self.slot.insert(t.id, i);
            for (s, level) in &t.skills {
                for l in 1..=*level {
                    per_skill
                        .entry((s.clone(), l))
                        .or_default()
                        .push(Entry::new(self.xy(t.at), i));
                }
            }
        }
        self.techs = techs;
        self.by_skill = per_skill.into_iter().map(|(s, e)| (s, RTree::bulk_load(e))).collect();
        self
    }

    /// Add a technician or replace one (new location, skills, shifts, capacity).
    pub fn upsert(&mut self, t: Tech) {
        let i = match self.slot.get(&t.id) {
            Some(&i) => {
                let old = self.techs[i].clone();
                let xy = self.xy(old.at);
                for (s, level) in &old.skills {
                    for l in 1..=*level {
                        if let Some(tree) = self.by_skill.get_mut(&(s.clone(), l)) {
                            tree.remove(&Entry::new(xy, i));
                        }
                    }
                }
                self.techs[i] = t;
                i
            }
            None => {
                self.techs.push(t);
                let i = self.techs.len() - 1;
                self.slot.insert(self.techs[i].id, i);
                i
            }
        };
        let xy = self.xy(self.techs[i].at);
        for (s, level) in self.techs[i].skills.clone() {
            for l in 1..=level {
                self.by_skill
                    .entry((s.clone(), l))
                    .or_default()
                    .insert(Entry::new(xy, i));
            }
        }
    }

    /// The technician's position changed (GPS).
    pub fn moved(&mut self, id: i64, at: Point) {
        if let Some(&i) = self.slot.get(&id) {
            let mut t = self.techs[i].clone();
            t.at = at;
            self.upsert(t);
        }
    }

    /// Book minutes of a day (an assignment); false when they are not free.
    pub fn book(&mut self, id: i64, day: i64, minutes: u32) -> bool {
        let Some(&i) = self.slot.get(&id) else { return false };
        match self.techs[i].free_minutes.get_mut(&day) {
            Some(free) if *free >= minutes => {
                *free -= minutes;
                true
            }
            _ => false,
        }
    }

    pub fn set_stock(&mut self, station: i64, part: i64, quantity: u32) {
        if let Some(s) = self.stations.get_mut(&station) {
            s.parts.insert(part, quantity);
        }
    }

    fn parts_for(&self, station: i64, order: &Order, now: Minute) -> Option<Parts> {
        if order.parts.is_empty() {
            return Some(Parts::InStock);
        }
        let here = self.stations.get(&station)?;
        let have = |s: &StationStock| order.parts.iter().all(|(p, q)| s.parts.get(p).is_some_and(|h| h >= q));
        if have(here) {
            return Some(Parts::InStock);
        }
        // The nearest other station that holds everything.
        self.stations
            .values()
            .filter(|s| s.id != station && have(s))
            .map(|s| (self.minutes(s.at, here.at), s.id))
            .min()
            .map(|(drive, from)| Parts::Transfer {
                from,
                ready: now + self.settings.transfer_handling_minutes + drive,
            })
    }

    /// Up to `k` technicians who can take the order, best first; or the reason nobody can.
    pub fn candidates(&self, order: &Order, now: Minute, k: usize) -> Result<Vec<Candidate>, Reason> {
        // Search the tree of the rarest required skill; the others are checked per technician.
        let mut rarest: Option<&RTree<Entry>> = None;
        for (s, l) in &order.skills {
            // Levels above 5 do not exist; below 1 mean 1.
            let Some(tree) = self.by_skill.get(&(s.clone(), (*l).clamp(1, 5))) else {
                return Err(Reason::NoSkillMatch);
            };
            if rarest.is_none_or(|r| tree.size() < r.size()) {
                rarest = Some(tree);
            }
        }
        let Some(tree) = rarest else {
            return Err(Reason::NoSkillMatch);
        };
        let mut furthest = Reason::NoSkillMatch;
        let mut out: Vec<Candidate> = vec![];
        let origin = self.xy(order.at);
        // The order's station: the nearest skilled technician's. Its technicians take it however
        // far; others only from within reach.
        let mut home: Option<i64> = None;
        for e in tree.nearest_neighbor_iter(&origin).take(self.settings.max_examined) {
            let t = &self.techs[e.data];
            let skilled = order.skills.len() == 1
                || order
                    .skills
                    .iter()
                    .all(|(s, l)| t.skills.iter().any(|(have, lvl)| have == s && lvl >= l));
            if !skilled {
                continue;
            }
            let home = *home.get_or_insert(t.station);
            let base = self.stations.get(&t.station).map_or(t.at, |s| s.at);
            if t.station != home && self.km(base, order.at) / self.settings.detour > self.settings.reach_km {
                furthest = furthest.max(Reason::OutOfReach);
                continue;
            }
            let from = order.window.0.max(now);
            if !t.shifts.iter().any(|&(s, end)| s < order.window.1 && end > from) {
                furthest = furthest.max(Reason::NoShiftLeft);
                continue;
            }
            let travel = self.minutes(t.at, order.at);
            let need = order.minutes + travel as u32;
            let day = order.window.0.div_euclid(1440);
            if t.free_minutes.get(&day).copied().unwrap_or(0) < need {
                furthest = furthest.max(Reason::NoCapacity);
                continue;
            }
            // The earliest start inside a shift and the window, with the travel before it.
            let earliest_from = |ready: Minute| {
                t.shifts.iter().find_map(|&(s, end)| {
                    let start = (s.max(ready) + travel).max(order.window.0);
                    (start <= order.window.1 && start + i64::from(order.minutes) <= end).then_some(start)
                })
            };
            let Some(first) = earliest_from(now) else {
                furthest = furthest.max(Reason::WindowInfeasible);
                continue;
            };
            let Some(parts) = self.parts_for(t.station, order, now) else {
                furthest = furthest.max(Reason::PartsMissing);
                continue;
            };
            let start = match parts {
                Parts::InStock => first,
                Parts::Transfer { ready, .. } => match earliest_from(ready) {
                    Some(s) => s,
                    None => {
                        furthest = furthest.max(Reason::PartsMissing);
                        continue;
                    }
                },
            };
            let slack = order.deadline - (start + i64::from(order.minutes));
            let late = (-slack).max(0) as f64;
            let score = travel as f64
                + 3.0 * late
                + 20.0 * (5.0 - t.rating.clamp(0.0, 5.0)) / 5.0
                + if matches!(parts, Parts::Transfer { .. }) {
                    15.0
                } else {
                    0.0
                };
            out.push(Candidate {
                tech: t.id,
                station: t.station,
                travel_minutes: travel,
                start,
                slack,
                parts,
                score,
            });
            // Nearest first: the k nearest feasible technicians, then ranked by score.
            if out.len() >= k {
                break;
            }
        }
        if out.is_empty() {
            return Err(furthest);
        }
        out.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.tech.cmp(&b.tech)));
        out.truncate(k);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Minute = 1440 * 20_000;

    fn tech(id: i64, station: i64, lat: f64, lon: f64, skills: &[(&str, u8)]) -> Tech {
        Tech {
            id,
            station,
            at: Point { lat, lon },
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            shifts: vec![(DAY + 8 * 60, DAY + 17 * 60)],
            free_minutes: HashMap::from([(DAY / 1440, 480)]),
            rating: 4.0,
        }
    }

    fn stations() -> Vec<StationStock> {
        vec![
            StationStock {
                id: 1,
                at: Point { lat: 52.52, lon: 13.40 },
                parts: HashMap::from([(100, 2)]),
            },
            StationStock {
                id: 2,
                at: Point { lat: 52.40, lon: 13.06 },
                parts: HashMap::from([(200, 1)]),
            },
        ]
    }

    fn order(skills: &[(&str, u8)], parts: &[(i64, u32)]) -> Order {
        Order {
            at: Point { lat: 52.50, lon: 13.35 },
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            minutes: 90,
            parts: parts.to_vec(),
            window: (DAY + 8 * 60, DAY + 16 * 60),
            deadline: DAY + 18 * 60,
        }
    }

    fn index() -> Index {
        Index::new(Settings::default(), 52.5, stations()).with_techs(vec![
            tech(1, 1, 52.51, 13.36, &[("appliance", 2)]),
            tech(2, 1, 52.60, 13.50, &[("appliance", 4), ("truck", 3)]),
            tech(3, 2, 52.40, 13.06, &[("truck", 5)]),
        ])
    }

    #[test]
    fn skill_level_distance_and_ranking() {
        let ix = index();
        let now = DAY + 7 * 60;
        let c = ix.candidates(&order(&[("appliance", 2)], &[]), now, 5).unwrap();
        assert_eq!(
            c.iter().map(|c| c.tech).collect::<Vec<_>>(),
            vec![1, 2],
            "nearest first"
        );
        assert!(c[0].travel_minutes < c[1].travel_minutes);
        let c = ix.candidates(&order(&[("appliance", 3)], &[]), now, 5).unwrap();
        assert_eq!(c.iter().map(|c| c.tech).collect::<Vec<_>>(), vec![2], "level 3 needed");
        assert_eq!(
            ix.candidates(&order(&[("boat", 1)], &[]), now, 5),
            Err(Reason::NoSkillMatch)
        );
    }

    #[test]
    fn parts_in_stock_or_transferred_in_time() {
        let mut ix = index();
        let now = DAY + 7 * 60;
        // Part 100 is at station 1 (technicians 1 and 2).
        let c = ix.candidates(&order(&[("appliance", 1)], &[(100, 1)]), now, 5).unwrap();
        assert!(c.iter().all(|c| c.parts == Parts::InStock));
        // Part 200 only at station 2: transferred, ready after handling and the drive.
        let c = ix.candidates(&order(&[("appliance", 1)], &[(200, 1)]), now, 5).unwrap();
        let Parts::Transfer { from, ready } = c[0].parts else {
            panic!("{c:?}")
        };
        assert_eq!(from, 2);
        assert!(ready > now + 60 && c[0].start >= ready);
        // Too late in the day for the transfer to arrive before the window closes.
        let late = DAY + 14 * 60 + 30;
        assert_eq!(
            ix.candidates(&order(&[("appliance", 1)], &[(200, 1)]), late, 5),
            Err(Reason::PartsMissing)
        );
        // Nowhere in stock.
        assert_eq!(
            ix.candidates(&order(&[("appliance", 1)], &[(300, 1)]), now, 5),
            Err(Reason::PartsMissing)
        );
        ix.set_stock(1, 300, 1);
        assert!(ix.candidates(&order(&[("appliance", 1)], &[(300, 1)]), now, 5).is_ok());
    }

    #[test]
    fn capacity_shifts_and_windows_give_their_reasons() {
        let mut ix = index();
        let now = DAY + 7 * 60;
        let o = order(&[("truck", 3)], &[]);
        assert_eq!(ix.candidates(&o, now, 5).unwrap().len(), 2);
        // Book both truck technicians' days full.
        assert!(ix.book(2, DAY / 1440, 450));
        assert!(ix.book(3, DAY / 1440, 480));
        assert!(!ix.book(3, DAY / 1440, 1), "nothing left to book");
        assert_eq!(ix.candidates(&o, now, 5), Err(Reason::NoCapacity));
        // A window that closes before any shift starts: nobody works then.
        let mut early = order(&[("appliance", 1)], &[]);
        early.window = (DAY + 5 * 60, DAY + 6 * 60);
        assert_eq!(ix.candidates(&early, now, 5), Err(Reason::NoShiftLeft));
        // 19:30: the day's shifts are over; a skill problem it is not.
        let evening = DAY + 19 * 60 + 30;
        let rest_of_day = Order {
            window: (evening, DAY + 1440),
            ..order(&[("appliance", 1)], &[])
        };
        assert_eq!(ix.candidates(&rest_of_day, evening, 5), Err(Reason::NoShiftLeft));
        // Inside the shift, but a 90-minute visit cannot start in a window that leaves no room.
        let mut tight = order(&[("appliance", 1)], &[]);
        tight.window = (DAY + 16 * 60 + 50, DAY + 17 * 60);
        assert_eq!(ix.candidates(&tight, now, 5), Err(Reason::WindowInfeasible));
    }

    #[test]
    fn moving_a_technician_changes_who_is_nearest() {
        let mut ix = index();
        let now = DAY + 7 * 60;
        let o = order(&[("appliance", 1)], &[]);
        assert_eq!(ix.candidates(&o, now, 1).unwrap()[0].tech, 1);
        ix.moved(1, Point { lat: 53.5, lon: 10.0 });
        ix.moved(
            2,
            Point {
                lat: 52.50,
                lon: 13.351,
            },
        );
        assert_eq!(ix.candidates(&o, now, 1).unwrap()[0].tech, 2);
        // Skills change too: technician 1 learns trucks.
        let mut t = tech(1, 1, 52.5, 13.35, &[("truck", 5)]);
        t.rating = 5.0;
        ix.upsert(t);
        let c = ix.candidates(&order(&[("truck", 5)], &[]), now, 5).unwrap();
        assert_eq!(c[0].tech, 1);
        assert!(ix
            .candidates(&order(&[("appliance", 4)], &[]), now, 5)
            .unwrap()
            .iter()
            .all(|c| c.tech != 1));
    }

    #[test]
    fn another_stations_technician_only_from_within_reach() {
        let now = DAY + 7 * 60;
        let o = order(&[("appliance", 1)], &[]);
        let make = |reach_km| {
            let mut ix = Index::new(
                Settings {
                    reach_km,
                    ..Settings::default()
                },
                52.0,
                stations(),
            )
            .with_techs(vec![
                tech(1, 1, 52.51, 13.36, &[("appliance", 2)]),
                // Leipzig, about 150 km from the order: another station's.
                tech(9, 3, 51.34, 12.37, &[("appliance", 2)]),
            ]);
            assert!(ix.book(1, DAY / 1440, 480), "Berlin's technician is booked full");
            ix
        };
        // Its own station is full; the helper who has room is too far to count.
        assert_eq!(make(REACH_KM).candidates(&o, now, 5), Err(Reason::NoCapacity));
        let far = make(f64::INFINITY).candidates(&o, now, 5).unwrap();
        assert_eq!(far.iter().map(|c| c.tech).collect::<Vec<_>>(), vec![9]);
        // The nearest skilled technician's station is the order's: theirs however far.
        let mut alone = Index::new(Settings::default(), 52.0, stations()).with_techs(vec![tech(
            9,
            3,
            51.34,
            12.37,
            &[("appliance", 2)],
        )]);
        assert_eq!(alone.candidates(&o, now, 5).unwrap()[0].tech, 9);
        alone.upsert(tech(9, 3, 51.34, 12.37, &[("truck", 2)]));
        assert_eq!(alone.candidates(&o, now, 5), Err(Reason::NoSkillMatch));
    }
}
