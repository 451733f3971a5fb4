//! Any bytes as an SDP offer: parse, negotiate and answer without panicking; an answer we write
//! must parse again and agree on the same codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony::media::sdp::{negotiate, parse, write};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = parse(data) else { return };
    let Ok(agreed) = negotiate(&offer) else { return };
    let answer = write("192.0.2.1:20000".parse().unwrap(), Some(&agreed), Some(&offer), 1);
    let back = parse(&answer).expect("our answer parses");
    assert_eq!(back.media.len(), offer.media.len(), "one answer line per offer line");
});
