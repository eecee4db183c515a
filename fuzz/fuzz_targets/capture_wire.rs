//! Fuzz the capture wire decoder (what `capdeck receive` and the in-process receiver parse
//! from any peer) and the control-channel parsers (host replies, host requests): no input
//! may panic, and every message that decodes re-encodes to one that decodes the same.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

use capdeck_wire::capture;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Control parsers see the whole input.
    let _ = capture::ControlReply::parse(rest);
    let reply = capture::host_reply(rest, &capture::HostConfig::reference(), 1);
    assert!(capture::ControlReply::parse(&reply).is_ok(), "host replies parse");
    // Split the rest into 1 to 3 parts at positions taken from the selector.
    let n = 1 + (sel % 3) as usize;
    let whole = Bytes::copy_from_slice(rest);
    let mut parts = Vec::with_capacity(n);
    let mut at = 0;
    for i in 1..n {
        let cut = if rest.is_empty() {
            0
        } else {
            (at + (sel as usize >> (2 * i)) * 7 % (rest.len() + 1)).min(rest.len())
        };
        parts.push(whole.slice(at..cut));
        at = cut;
    }
    parts.push(whole.slice(at..));
    if let Ok(d) = capture::decode(&parts) {
        let again = capture::encode(&d.header, d.payload.clone(), d.framing);
        let d2 = capture::decode(&again.parts).expect("a re-encoded message decodes");
        assert_eq!(d2, d, "round trip");
    }
});
