//! Dispatch engine: where service stations and technicians are, and how long it takes to get
//! anywhere. A core without IO or clock: callers pass in the data and the time.
//!
//! - [`travel`]: the travel-time model behind a trait (straight line at a configurable speed now;
//!   a road network can replace it).
//! - [`index`]: an R-tree of stations for nearest-first search with a skill filter.
//! - [`booking`]: whether a visit window may be booked (future, within a year, inside a shift).
//! - [`candidates`]: who can take a repair order (skills, capacity, shifts, parts), ranked.
//! - [`vrptw`]: routes with time windows: instance, checker, and the ruin-and-recreate solver.

pub mod booking;
pub mod candidates;
pub mod dayplan;
pub mod index;
pub mod travel;
pub mod vrptw;
