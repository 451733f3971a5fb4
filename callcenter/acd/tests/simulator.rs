//! The simulator against Erlang C (M/M/N, no abandonment): within ±3 %.

use acd::erlang;
use acd::simulate::{run, Params};

fn check(per_30_min: f64, aht: f64, agents: u32, want_p: f64, want_asa: f64) {
    let per_hour = per_30_min * 2.0;
    let traffic = per_hour * aht / 3600.0;
    assert!((erlang::p_wait(traffic, agents) - want_p).abs() < 0.0006);
    // Several seeds, to show the agreement is not luck.
    for seed in [1, 2] {
        let r = run(Params {
            arrivals_per_hour: per_hour,
            aht_seconds: aht,
            agents,
            calls: 8_000_000,
            seed,
            sl_seconds: 20.0,
        })
        .unwrap();
        let dp = (r.p_wait - want_p) / want_p;
        let da = (r.asa_seconds - want_asa) / want_asa;
        eprintln!(
            "{per_30_min}/30 min, AHT {aht} s, {agents} agents, seed {seed}: {r:?} (P(wait) {:+.1} %, ASA {:+.1} %)",
            dp * 100.0,
            da * 100.0
        );
        assert!(dp.abs() <= 0.03, "P(wait) {} vs Erlang C {want_p}", r.p_wait);
        assert!(da.abs() <= 0.03, "ASA {} vs Erlang C {want_asa}", r.asa_seconds);
        let sl = erlang::service_level(traffic, agents, aht, 20.0);
        assert!(
            (r.service_level - sl).abs() <= 0.03 * sl,
            "SL {} vs {sl}",
            r.service_level
        );
        let occupancy = traffic / agents as f64;
        assert!(
            (r.occupancy - occupancy).abs() <= 0.03 * occupancy,
            "occupancy {} vs {occupancy}",
            r.occupancy
        );
    }
}

#[test]
fn ten_erlangs_on_fourteen_agents() {
    check(100.0, 180.0, 14, 0.174, 7.84);
}

#[test]
fn forty_eight_erlangs_on_fifty_five_agents() {
    check(360.0, 240.0, 55, 0.2387, 8.18);
}

#[test]
fn refuses_nonsense() {
    assert!(run(Params {
        arrivals_per_hour: 0.0,
        aht_seconds: 1.0,
        agents: 1,
        calls: 1,
        seed: 1,
        sl_seconds: 20.0
    })
    .is_err());
}
