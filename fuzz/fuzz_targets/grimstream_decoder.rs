//! Fuzz the GrimStream stream decoder and payload decoder: no input may panic, hang, or
//! make the decoder hold more than its cap (plus one pushed chunk and a header).
#![no_main]

use libfuzzer_sys::fuzz_target;

use capdeck_wire::grimstream::decoder::{Decoder, DecoderConfig};
use capdeck_wire::grimstream::{HEADER_LEN, Kind, decode_payload};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // First bytes choose the cap and the read size, the rest is the stream.
    let cap = 1 + (u16::from_le_bytes([data[0], data[1]]) as u32) * 16;
    let chunk = 1 + data[2] as usize * 8;
    let stream = &data[3..];
    let mut d = Decoder::new(DecoderConfig { max_message_len: cap });
    let mut cursor = std::io::Cursor::new(stream);
    let mut pushed = 0usize;
    'outer: while pushed < stream.len() {
        let end = (pushed + chunk).min(stream.len());
        if data[2] & 1 == 0 {
            d.push(&stream[pushed..end]);
            pushed = end;
        } else {
            // The blocking-reader path (large payloads read in place).
            cursor.set_position(pushed as u64);
            let mut limited = std::io::Read::take(&mut cursor, (end - pushed) as u64);
            match d.read_from(&mut limited) {
                Ok(0) | Err(_) => break,
                Ok(n) => pushed += n,
            }
        }
        loop {
            match d.next_message() {
                Ok(Some(raw)) => {
                    assert!(raw.payload.len() <= cap as usize);
                    assert_eq!(raw.payload.len(), raw.header.length as usize);
                    let _ = raw.decode();
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
        assert!(d.buffered() <= HEADER_LEN + cap as usize + chunk.max(64 * 1024));
    }
    // Every kind's payload decoder on the raw bytes too.
    for k in 0u16..=11 {
        let _ = decode_payload(Kind::from_u16(k), bytes::Bytes::copy_from_slice(stream));
    }
});
