//! Property tests: encode then decode is identity for every kind, in any split; arbitrary
//! bytes never panic the decoder nor make it hold more than the cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use bytes::Bytes;
use capdeck_grimstream::{
    Control, CoverageEntry, Frame, Hello, Message, MovieAction, MovieControl, MovieStart,
    StateUpdate, StreamConfig, Telemetry, TimelineMark,
};
use capdeck_grimstream::{Decoder, DecoderConfig};
use capdeck_wire::grimstream::{HEADER_LEN, Header, Kind, decode_payload, encode};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = rmpv::Value> {
    let leaf = prop_oneof![
        Just(rmpv::Value::Nil),
        any::<bool>().prop_map(rmpv::Value::Boolean),
        any::<i64>().prop_map(rmpv::Value::from),
        any::<u64>().prop_map(rmpv::Value::from),
        (-1e9f64..1e9).prop_map(rmpv::Value::F64),
        ".{0,12}".prop_map(rmpv::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(rmpv::Value::Array),
            prop::collection::vec(("[a-z]{1,6}".prop_map(rmpv::Value::from), inner), 0..4)
                .prop_map(rmpv::Value::Map),
        ]
    })
}

fn opt_s() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{0,16}")
}

fn finite32() -> impl Strategy<Value = f32> {
    -1e6f32..1e6
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (".{0,20}", opt_s()).prop_map(|(p, b)| Message::Hello(Hello::new(p, b))),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
            prop::option::of(finite32())
        )
            .prop_map(|(w, h, pf, s, f)| Message::StreamConfig(StreamConfig {
                width: w,
                height: h,
                pixel_format: pf,
                stride_bytes: s,
                nominal_fps: f,
            })),
        (
            any::<u64>(),
            any::<u64>(),
            prop::option::of(any::<u64>()),
            prop::collection::vec(any::<u8>(), 0..3000)
        )
            .prop_map(|(id, t, tt, d)| Message::Frame(Frame {
                frame_id: id,
                host_time_ns: t,
                telemetry_time_ns: tt,
                data: Bytes::from(d),
            })),
        (
            any::<u64>(),
            ".{0,20}",
            prop::option::of(any::<u64>()),
            value()
        )
            .prop_map(|(seq, label, ts, data)| Message::Telemetry(Telemetry {
                seq,
                label,
                timestamp: ts,
                data,
            })),
        (
            (any::<u64>(), any::<u64>(), prop::option::of(any::<u32>())),
            prop::option::of([finite32(), finite32(), finite32()]),
            prop::option::of(finite32()),
            (opt_s(), opt_s(), opt_s()),
            prop::option::of(prop::collection::vec(
                ("[a-z]{0,8}", any::<u64>()).prop_map(|(key, value)| CoverageEntry { key, value }),
                0..4
            )),
            prop::option::of(prop::collection::vec(".{0,8}", 0..4)),
        )
            .prop_map(|((seq, t, fr), pos, yaw, (a, b, c), cov, ev)| {
                Message::StateUpdate(StateUpdate {
                    seq,
                    host_time_ns: t,
                    frame: fr,
                    position: pos,
                    yaw,
                    active_setup: a,
                    active_hotspot: b,
                    coverage: cov,
                    events: ev,
                    active_movie: c,
                })
            }),
        (any::<u64>(), any::<u64>(), ".{0,20}", value()).prop_map(|(seq, t, label, data)| {
            Message::TimelineMark(TimelineMark {
                seq,
                host_time_ns: t,
                label,
                data,
            })
        }),
        (
            any::<u16>(),
            prop::option::of(prop::collection::vec(".{0,8}", 0..3))
        )
            .prop_map(|(p, f)| Message::Control(Control::ViewerReady {
                protocol: p,
                features: f,
            })),
        Just(Message::Heartbeat),
        (".{0,20}", opt_s()).prop_map(|(n, r)| Message::MovieStart(MovieStart {
            name: n,
            relative_path: r,
        })),
        (
            ".{0,20}",
            prop_oneof![
                Just(MovieAction::Finished),
                Just(MovieAction::Skipped),
                Just(MovieAction::Error),
                Just(MovieAction::Ack)
            ],
            opt_s()
        )
            .prop_map(|(n, a, m)| Message::MovieControl(MovieControl {
                name: n,
                action: a,
                message: m,
            })),
        (11u16..u16::MAX, prop::collection::vec(any::<u8>(), 0..100)).prop_map(|(k, p)| {
            Message::Unknown {
                kind: k,
                payload: Bytes::from(p),
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_is_identity(msg in message()) {
        let bytes = encode(&msg).unwrap();
        let h = Header::parse(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        prop_assert_eq!(h.length as usize, bytes.len() - HEADER_LEN);
        prop_assert_eq!(h.kind, msg.kind());
        let back = decode_payload(h.kind, Bytes::copy_from_slice(&bytes[HEADER_LEN..])).unwrap();
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn a_stream_in_any_split_gives_the_same_messages(
        msgs in prop::collection::vec(message(), 1..8),
        cuts in prop::collection::vec(1usize..5000, 1..20),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend(encode(m).unwrap());
        }
        let mut d = Decoder::default();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            i += 1;
            for raw in d.decode_all(&rest[..n]).unwrap() {
                got.push(raw.decode().unwrap());
            }
            rest = &rest[n..];
        }
        prop_assert_eq!(got, msgs);
        prop_assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_exceed_the_cap(
        prefix in prop::collection::vec(message(), 0..3),
        junk in prop::collection::vec(any::<u8>(), 0..2000),
        valid_magic in any::<bool>(),
    ) {
        let cap = 1024u32;
        let mut d = Decoder::new(DecoderConfig { max_message_len: cap });
        let mut stream = Vec::new();
        for m in &prefix {
            stream.extend(encode(m).unwrap());
        }
        if valid_magic {
            stream.extend_from_slice(b"GRIM");
        }
        stream.extend(&junk);
        for chunk in stream.chunks(37) {
            d.push(chunk);
            loop {
                match d.next_message() {
                    Ok(Some(raw)) => {
                        prop_assert!(raw.payload.len() <= cap as usize);
                        let _ = raw.decode();
                    }
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
            // Held bytes: at most one chunk beyond a capped message.
            prop_assert!(d.buffered() <= HEADER_LEN + cap as usize + 37);
        }
    }

    #[test]
    fn arbitrary_payloads_of_every_kind_never_panic(
        kind in 0u16..12,
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = decode_payload(Kind::from_u16(kind), Bytes::from(payload));
    }
}
