//! Travel time between two points, behind a trait so that a road-network model can replace the
//! straight-line one without touching the planner.

use crm_core::types::GeoPoint;
use geo::{Distance, Haversine, Point};

pub trait TravelModel {
    /// Road distance estimate in metres.
    fn distance_m(&self, from: GeoPoint, to: GeoPoint) -> f64;
    /// Travel time estimate in seconds.
    fn seconds(&self, from: GeoPoint, to: GeoPoint) -> f64;
}

/// Great-circle distance times a detour factor, driven at a constant speed.
#[derive(Debug, Clone, Copy)]
pub struct StraightLine {
    pub speed_kmh: f64,
    /// Roads are longer than the crow flies; 1.3 is a common rule of thumb for towns.
    pub detour_factor: f64,
}

impl Default for StraightLine {
    fn default() -> Self {
        StraightLine {
            speed_kmh: 40.0,
            detour_factor: 1.3,
        }
    }
}

pub fn point(p: GeoPoint) -> Point<f64> {
    Point::new(p.lon, p.lat)
}

impl TravelModel for StraightLine {
    fn distance_m(&self, from: GeoPoint, to: GeoPoint) -> f64 {
        Haversine::distance(point(from), point(to)) * self.detour_factor
    }
    fn seconds(&self, from: GeoPoint, to: GeoPoint) -> f64 {
        self.distance_m(from, to) / (self.speed_kmh * 1000.0 / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_to_hamburg() {
        let berlin = GeoPoint::new(52.520, 13.405).unwrap();
        let hamburg = GeoPoint::new(53.551, 9.993).unwrap();
        let crow = StraightLine {
            speed_kmh: 60.0,
            detour_factor: 1.0,
        };
        let km = crow.distance_m(berlin, hamburg) / 1000.0;
        assert!((250.0..260.0).contains(&km), "{km}");
        let hours = crow.seconds(berlin, hamburg) / 3600.0;
        assert!((km / 60.0 - hours).abs() < 1e-9);
        assert!(StraightLine::default().distance_m(berlin, hamburg) > crow.distance_m(berlin, hamburg));
        assert_eq!(crow.distance_m(berlin, berlin), 0.0);
    }
}
