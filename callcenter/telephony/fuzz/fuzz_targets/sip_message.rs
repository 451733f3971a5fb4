//! Any bytes, as a datagram and as a stream message, through the parser, the UAS screen and a
//! whole user agent: nothing may panic, and what parses must survive a write/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony::sip::message::parse;
use telephony::sip::screen::Policy;
use telephony::sip::ua::{Peer, Transport, UaConfig, UserAgent};
use telephony::Time;

fuzz_target!(|data: &[u8]| {
    for datagram in [true, false] {
        if let Ok(m) = parse(data, datagram) {
            let again = parse(&m.to_bytes(), datagram).expect("our own output parses");
            assert_eq!(again.start, m.start);
            assert_eq!(again.body, m.body);
        }
    }
    let mut ua = UserAgent::new(UaConfig {
        advertised: "192.0.2.1:5060".parse().unwrap(),
        policy: Policy::default(),
        max_calls: 4,
        seed: 1,
    });
    let peer = Peer {
        transport: Transport::Udp,
        addr: "198.51.100.2:5060".parse().unwrap(),
    };
    let _ = ua.receive(Time(0), peer, data);
    let _ = ua.tick(Time(40_000));
});
