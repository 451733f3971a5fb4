//! Travel time between two points, behind a trait so that a road-network model can replace the
//! straight-line one without touching the planners.

use crate::candidates::Point;

/// Minutes from one point to another. Any `Fn(Point, Point) -> f64` is one, so a test or a
/// benchmark can pass a closure; a road network implements it over its own graph.
pub trait TravelModel: Sync {
    fn minutes(&self, from: Point, to: Point) -> f64;
}

impl<F: Fn(Point, Point) -> f64 + Sync> TravelModel for F {
    fn minutes(&self, from: Point, to: Point) -> f64 {
        self(from, to)
    }
}

/// Straight-line distance on a local plane (equirectangular around a reference latitude), times
/// a detour factor (roads are longer than the crow flies; 1.3 is a common rule for towns), at a
/// constant speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StraightLine {
    pub speed_kmh: f64,
    pub detour: f64,
    cos_lat: f64,
}

/// How much longer the road is than the straight line, on average: the one detour factor the
/// service plans with ([`StraightLine::roads`]).
pub const DETOUR: f64 = 1.3;

/// Kilometres per degree of latitude.
const KM_PER_DEG: f64 = 111.195;

impl StraightLine {
    pub fn new(speed_kmh: f64, detour: f64, reference_lat: f64) -> StraightLine {
        StraightLine {
            speed_kmh,
            detour,
            cos_lat: reference_lat.to_radians().cos(),
        }
    }

    /// The travel model the service plans with everywhere: the straight line times [`DETOUR`],
    /// at `speed_kmh`.
    pub fn roads(speed_kmh: f64, reference_lat: f64) -> StraightLine {
        StraightLine::new(speed_kmh, DETOUR, reference_lat)
    }

    pub fn km(&self, a: Point, b: Point) -> f64 {
        let dx = (a.lon - b.lon) * self.cos_lat;
        let dy = a.lat - b.lat;
        (dx * dx + dy * dy).sqrt() * KM_PER_DEG * self.detour
    }
}

impl TravelModel for StraightLine {
    fn minutes(&self, from: Point, to: Point) -> f64 {
        self.km(from, to) / self.speed_kmh * 60.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn across_berlin() {
        let alex = Point {
            lat: 52.5219,
            lon: 13.4132,
        };
        let zoo = Point {
            lat: 52.5079,
            lon: 13.3377,
        };
        let crow = StraightLine::new(60.0, 1.0, 52.5);
        let km = crow.km(alex, zoo);
        assert!((5.0..5.5).contains(&km), "{km}");
        assert!((crow.minutes(alex, zoo) - km).abs() < 1e-9, "60 km/h: a minute per km");
        let roads = StraightLine::new(30.0, 1.3, 52.5);
        assert!((roads.minutes(alex, zoo) - km * 1.3 * 2.0).abs() < 1e-9);
        let closure = |_: Point, _: Point| 7.0;
        let model: &dyn TravelModel = &closure;
        assert_eq!(model.minutes(alex, zoo), 7.0);
    }
}
