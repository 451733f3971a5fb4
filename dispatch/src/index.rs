//! An R-tree of service stations, searched nearest first with a skill filter.

use crm_core::model::Station;
use crm_core::types::{GeoPoint, Skill};
use rstar::primitives::GeomWithData;
use rstar::RTree;

/// A station's index at its point. Stations live on a plane of (lon·cos(lat₀), lat) degrees: at
/// the distances dispatch cares about (a region, not the globe) ordering by this metric matches
/// ordering by great-circle distance closely, and the R-tree needs a plane.
type Entry = GeomWithData<[f64; 2], usize>;

pub struct StationIndex {
    tree: RTree<Entry>,
    stations: Vec<Station>,
    cos_lat: f64,
}

impl StationIndex {
    pub fn new(stations: Vec<Station>) -> Self {
        let mean_lat = if stations.is_empty() {
            0.0
        } else {
            stations.iter().map(|s| s.location.lat).sum::<f64>() / stations.len() as f64
        };
        let cos_lat = mean_lat.to_radians().cos();
        let entries = stations
            .iter()
            .enumerate()
            .map(|(i, s)| Entry::new(project(s.location, cos_lat), i))
            .collect();
        StationIndex {
            tree: RTree::bulk_load(entries),
            stations,
            cos_lat,
        }
    }

    /// Up to `k` stations that hold every required skill at its level, nearest first.
    pub fn nearest_with_skills<'a>(&'a self, at: GeoPoint, required: &'a [Skill], k: usize) -> Vec<&'a Station> {
        self.tree
            .nearest_neighbor_iter(&project(at, self.cos_lat))
            .map(|e| &self.stations[e.data])
            .filter(|s| required.iter().all(|r| s.skills.iter().any(|have| have.satisfies(r))))
            .take(k)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.stations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }
}

fn project(p: GeoPoint, cos_lat: f64) -> [f64; 2] {
    [p.lon * cos_lat, p.lat]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::types::{SkillLevel, SkillName, TimeZone};

    fn skill(name: &str, level: u8) -> Skill {
        Skill {
            name: SkillName::parse(name).unwrap(),
            level: SkillLevel::new(level).unwrap(),
        }
    }

    fn station(id: i64, lat: f64, lon: f64, skills: Vec<Skill>) -> Station {
        Station {
            id,
            name: format!("S{id}"),
            city: "x".into(),
            status: crm_core::model::StationStatus::Approved,
            status_reason: None,
            region: None,
            partner: Default::default(),
            location: GeoPoint::new(lat, lon).unwrap(),
            time_zone: TimeZone::default(),
            skills,
            capacity_per_day: 10,
            opening_hours: vec![],
            rating: 0.0,
        }
    }

    #[test]
    fn nearest_first_with_skill_filter() {
        let idx = StationIndex::new(vec![
            station(1, 52.52, 13.40, vec![skill("washing_machines", 2)]), // Berlin
            station(2, 53.55, 9.99, vec![skill("washing_machines", 5)]),  // Hamburg
            station(3, 48.14, 11.58, vec![skill("heavy_trucks", 5)]),     // München
            station(
                4,
                51.34,
                12.37,
                vec![skill("washing_machines", 4), skill("dishwashers", 3)],
            ), // Leipzig
        ]);
        let potsdam = GeoPoint::new(52.39, 13.06).unwrap();
        let ids = |v: Vec<&Station>| v.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(idx.nearest_with_skills(potsdam, &[], 4)), vec![1, 4, 2, 3]);
        assert_eq!(
            ids(idx.nearest_with_skills(potsdam, &[skill("washing_machines", 3)], 5)),
            vec![4, 2]
        );
        assert_eq!(
            ids(idx.nearest_with_skills(potsdam, &[skill("washing_machines", 3), skill("dishwashers", 1)], 5)),
            vec![4]
        );
        assert!(idx.nearest_with_skills(potsdam, &[skill("scooters", 1)], 5).is_empty());
        assert_eq!(idx.len(), 4);
    }
}
