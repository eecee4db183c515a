//! Feed connections through real sockets against producers that behave like the real ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use capdeck_grimstream::feed::{FeedOptions, FeedState, MessageTap, MoviePolicy, TapEvent};
use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
use capdeck_grimstream::store::{EventKind, GapReason};
use capdeck_grimstream::{
    FeedAddr, FeedRole, Frame, Hello, LiveOptions, LiveView, Message, MovieAction, MovieControl,
    StreamConfig,
};
use capdeck_wire::grimstream::{Header, Kind};

/// Wait for a condition with a deadline (no fixed sleeps hiding races).
fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn raw_msg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Header::new(Kind::from_u16(kind), payload.len() as u32)
        .to_bytes()
        .to_vec();
    v.extend_from_slice(payload);
    v
}

fn mp(v: &rmpv::Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).unwrap();
    out
}

fn tcp0() -> FeedAddr {
    "tcp://127.0.0.1:0".parse().unwrap()
}

fn frame(id: u64, host: u64, data: Vec<u8>) -> Message {
    Message::Frame(Frame {
        frame_id: id,
        host_time_ns: host,
        telemetry_time_ns: None,
        data: Bytes::from(data),
    })
}

fn fast_feed(role: FeedRole, addr: FeedAddr) -> FeedOptions {
    let mut o = FeedOptions::new(role, addr);
    o.backoff_min = Duration::from_millis(20);
    o.backoff_max = Duration::from_millis(200);
    o
}

fn live(retail: Option<FeedOptions>, engine: Option<FeedOptions>) -> LiveView {
    let mut o = LiveOptions::new(None, None);
    o.retail = retail;
    o.engine = engine;
    LiveView::start(o).unwrap()
}

/// Counts what passes the recording seam.
#[derive(Default)]
struct CountingTap {
    incoming: AtomicU64,
    outgoing: AtomicU64,
    kinds: Mutex<Vec<Kind>>,
}

impl MessageTap for CountingTap {
    fn incoming(&self, ev: &TapEvent<'_>) {
        self.incoming.fetch_add(1, Ordering::SeqCst);
        self.kinds.lock().unwrap().push(ev.raw.header.kind);
        assert_eq!(ev.raw.payload.len(), ev.raw.header.length as usize);
    }
    fn outgoing(&self, _role: FeedRole, _generation: u64, _at_ns: i64, _bytes: &[u8]) {
        self.outgoing.fetch_add(1, Ordering::SeqCst);
    }
}

/// Retail producer over TCP, sending at once without reading: split writes, a stride wider
/// than width*4, an unknown kind, a heartbeat, telemetry. The connection is kept.
#[test]
fn retail_tcp_split_writes_unknown_kind_heartbeat_wide_stride() {
    let (w, h, stride) = (100u32, 50u32, 480u32);
    let cfg = StreamConfig {
        width: w,
        height: h,
        pixel_format: 1,
        stride_bytes: stride,
        nominal_fps: Some(30.0),
    };
    let server = ProducerServer::bind(
        &tcp0(),
        ServerOptions::retail(Hello::new("retail_capture", None), Some(cfg)),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let producer = thread::spawn(move || {
        server
            .run(&stop2, |s| {
                for id in 0..5u64 {
                    let mut bytes = capdeck_wire::grimstream::encode(&frame(
                        id,
                        id * 33_000_000,
                        vec![id as u8; (stride * h) as usize],
                    ))
                    .unwrap();
                    if id == 2 {
                        bytes.extend(raw_msg(0x0777, b"future payload"));
                        bytes.extend(raw_msg(0x0008, b""));
                    }
                    // Split writes: odd-sized pieces straddle headers and payloads.
                    for chunk in bytes.chunks(997) {
                        s.send_raw(chunk)?;
                    }
                }
                while !s.stopped() {
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .unwrap();
    });
    let tap = Arc::new(CountingTap::default());
    let mut o = LiveOptions::new(Some(addr), None);
    o.tap = Some(tap.clone());
    let view = LiveView::start(o).unwrap();
    wait_until("5 frames", 10, || view.status(FeedRole::Retail).frames == 5);
    let st = view.status(FeedRole::Retail);
    assert_eq!(st.producer.as_deref(), Some("retail_capture"));
    assert_eq!(st.unknown_skipped, 1);
    assert_eq!(st.messages.get("HEARTBEAT"), Some(&1));
    assert_eq!(st.messages.get("UNKNOWN"), Some(&1));
    assert_eq!(st.messages.get("STREAM_CONFIG"), Some(&1));
    assert_eq!(st.decode_errors, 0);
    assert_eq!(st.reconnects, 0);
    assert_eq!(st.generation, 1);
    assert_eq!(st.config.unwrap().stride_bytes, stride);
    assert_eq!(st.viewer_ready_sent, 0, "retail is never answered");
    view.with_store(|s| {
        let f = s.feed(FeedRole::Retail);
        assert_eq!(f.frames.len(), 5);
        let last = f.frames.back().unwrap();
        assert_eq!(last.data.len(), (stride * h) as usize);
        assert_eq!(last.config.unwrap().stride_bytes, stride);
        assert!(last.data.iter().all(|b| *b == 4));
        assert_eq!(f.gaps, 0);
    });
    // Every message passed the tap: HELLO, STREAM_CONFIG, 5 FRAME, UNKNOWN, HEARTBEAT.
    assert_eq!(tap.incoming.load(Ordering::SeqCst), 9);
    assert!(tap.kinds.lock().unwrap().contains(&Kind::Unknown(0x0777)));
    stop.stop();
    producer.join().unwrap();
}

/// An engine after MOVIE_START: waits for the viewer's MOVIE_CONTROL (the real engine has
/// no timeout; the test gives up at 10 s), then holds the connection until the end.
fn answer_then_hold(
    s: &mut capdeck_grimstream::server::Session<'_>,
    on_answer: impl FnOnce(MovieControl),
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !s.stopped() {
        if let Some(Message::MovieControl(m)) = s.recv_timeout(Duration::from_millis(10)) {
            on_answer(m);
            break;
        }
    }
    while !s.stopped() && !s.peer_closed() {
        thread::sleep(Duration::from_millis(5));
    }
}

/// An engine over TCP sends MOVIE_START and waits, as the real one does: the core answers
/// by its policy (error with the reason by default, or skipped), at once, and says so on
/// the timeline.
#[test]
fn movie_start_is_answered_by_the_policy() {
    // a game data folder holding the movie, and one without it
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("MoviesHD")).unwrap();
    std::fs::write(data.path().join("MoviesHD/logos.ogv"), b"OggS").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let found = format!(
        "no decoder for ogv movies in this viewer ({})",
        data.path().join("MoviesHD/logos.ogv").display()
    );
    let missing = format!(
        "file missing: {}",
        empty.path().join("MoviesHD/logos.ogv").display()
    );
    for (policy, want, why) in [
        (
            MoviePolicy::default(),
            MovieAction::Error,
            Some("this viewer does not play movies".to_owned()),
        ),
        (MoviePolicy::Skip, MovieAction::Skipped, None),
        (
            MoviePolicy::Play {
                game_data: data.path().into(),
            },
            MovieAction::Error,
            Some(found.clone()),
        ),
        (
            MoviePolicy::Play {
                game_data: empty.path().into(),
            },
            MovieAction::Error,
            Some(missing.clone()),
        ),
    ] {
        let server = ProducerServer::bind(
            &tcp0(),
            ServerOptions::engine(Hello::new("grim_engine", None)),
        )
        .unwrap();
        let addr = server.local_addr().clone();
        let stop = StopFlag::default();
        let stop2 = stop.clone();
        let got = Arc::new(Mutex::new(None));
        let got2 = got.clone();
        let producer = thread::spawn(move || {
            server
                .run(&stop2, |s| {
                    s.send(&Message::MovieStart(capdeck_grimstream::MovieStart {
                        name: "logos".into(),
                        relative_path: Some("MoviesHD/logos.ogv".into()),
                    }))?;
                    let sent = Instant::now();
                    answer_then_hold(s, |m| *got2.lock().unwrap() = Some((m, sent.elapsed())));
                    Ok(())
                })
                .unwrap();
        });
        let mut e = fast_feed(FeedRole::Engine, addr);
        e.movies = policy.clone();
        let view = live(None, Some(e));
        wait_until("the engine got an answer", 10, || {
            got.lock().unwrap().is_some()
        });
        let (m, took) = got.lock().unwrap().clone().unwrap();
        eprintln!("{policy:?}: answered {:?} after {took:?}", m.action);
        assert_eq!(m.name, "logos");
        assert_eq!(m.action, want);
        assert_eq!(m.message, why);
        // the engine waits with no timeout; the existing viewer answers within 0.5 s
        assert!(took < Duration::from_millis(500), "answered after {took:?}");
        wait_until("the answer is in the status", 10, || {
            view.status(FeedRole::Engine).movie_controls_sent == 1
        });
        let progress = view.status(FeedRole::Engine).movie.unwrap();
        assert_eq!(progress.name, "logos");
        assert_eq!(progress.answer.as_ref(), Some(&m));
        let t = progress.took_ns().unwrap();
        assert!((0..500_000_000).contains(&t), "took {t} ns");
        view.with_store(|s| {
            let ev = &s.feed(FeedRole::Engine).events;
            assert!(
                ev.iter()
                    .any(|e| matches!(&e.kind, EventKind::MovieStart(_)))
            );
            assert!(
                ev.iter()
                    .any(|e| matches!(&e.kind, EventKind::MovieControlSent(c) if c.action == want))
            );
        });
        drop(view);
        stop.stop();
        producer.join().unwrap();
    }
}

/// Engine producer over a Unix socket: waits for viewer_ready; float64 positions and extra
/// keys written by hand (as Python would); MOVIE_CONTROL from the viewer reaches it.
#[cfg(unix)]
#[test]
fn engine_unix_waits_for_viewer_ready_and_reads_movie_control() {
    let dir = tempfile::tempdir().unwrap();
    let addr: FeedAddr = format!("unix:{}", dir.path().join("engine.sock").display())
        .parse()
        .unwrap();
    let server = ProducerServer::bind(
        &addr,
        ServerOptions::engine(Hello::new("grim_engine", Some("0.1.0".into()))),
    )
    .unwrap();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let got_control = Arc::new(Mutex::new(None));
    let got2 = got_control.clone();
    let producer = thread::spawn(move || {
        server
            .run(&stop2, |s| {
                // Only reached after viewer_ready.
                for seq in 0..3u64 {
                    let v = rmpv::Value::Map(vec![
                        ("seq".into(), rmpv::Value::from(seq)),
                        (
                            "host_time_ns".into(),
                            rmpv::Value::from(seq * 16_000_000 + 7),
                        ),
                        (
                            "position".into(),
                            rmpv::Value::Array(vec![
                                rmpv::Value::F64(1.5),
                                rmpv::Value::F64(-2.25),
                                rmpv::Value::F64(1e-3),
                            ]),
                        ),
                        ("yaw".into(), rmpv::Value::F64(0.5)),
                        ("active_hotspot".into(), "door".into()),
                        ("some_future_key".into(), rmpv::Value::Boolean(true)),
                    ]);
                    s.send_raw(&raw_msg(0x0005, &mp(&v)))?;
                }
                s.send(&Message::MovieStart(capdeck_grimstream::MovieStart {
                    name: "logos".into(),
                    relative_path: None,
                }))?;
                answer_then_hold(s, |m| *got2.lock().unwrap() = Some(m));
                Ok(())
            })
            .unwrap();
    });
    // the caller answers movies here (the core's own answer is tested below)
    let mut e = fast_feed(FeedRole::Engine, addr);
    e.movies = MoviePolicy::Manual;
    let view = live(None, Some(e));
    wait_until("3 state updates", 10, || {
        view.status(FeedRole::Engine)
            .messages
            .get("STATE_UPDATE")
            .copied()
            == Some(3)
    });
    wait_until("MOVIE_START", 10, || {
        view.status(FeedRole::Engine)
            .messages
            .contains_key("MOVIE_START")
    });
    let st = view.status(FeedRole::Engine);
    assert_eq!(st.viewer_ready_sent, 1);
    assert_eq!(st.last_position, Some([1.5, -2.25, 1e-3]));
    assert_eq!(st.decode_errors, 0);
    view.with_store(|s| {
        let f = s.feed(FeedRole::Engine);
        assert_eq!(f.states.len(), 3);
        assert_eq!(f.states[2].state.active_hotspot.as_deref(), Some("door"));
        assert_eq!(f.states[2].state.yaw, Some(0.5));
        assert!(
            f.events
                .iter()
                .any(|e| matches!(&e.kind, EventKind::MovieStart(m) if m.name == "logos"))
        );
    });
    let mc = MovieControl {
        name: "logos".into(),
        action: MovieAction::Finished,
        message: None,
    };
    view.send_movie_control(mc.clone()).unwrap();
    wait_until("producer got MOVIE_CONTROL", 10, || {
        got_control.lock().unwrap().is_some()
    });
    assert_eq!(got_control.lock().unwrap().clone(), Some(mc));
    assert_eq!(view.status(FeedRole::Engine).movie_controls_sent, 1);
    drop(view);
    stop.stop();
    producer.join().unwrap();
}

/// A producer that restarts: the feed reconnects, records a reconnect gap, counts it, ids
/// restart, viewer_ready is sent once per connection.
#[test]
fn engine_restart_reconnects_with_new_generation() {
    let listen = tcp0();
    let server = ProducerServer::bind(
        &listen,
        ServerOptions::engine(Hello::new("grim_engine", None)),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let run_engine = |server: ProducerServer, n: u64| {
        let stop = StopFlag::default();
        let stop2 = stop.clone();
        let t = thread::spawn(move || {
            server
                .run(&stop2, |s| {
                    for seq in 0..n {
                        s.send(&Message::StateUpdate(capdeck_grimstream::StateUpdate {
                            seq,
                            host_time_ns: seq * 10_000_000,
                            position: Some([seq as f32, 0.0, 0.0]),
                            ..Default::default()
                        }))?;
                    }
                    while !s.stopped() && !s.peer_closed() {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Ok(())
                })
                .unwrap();
        });
        (stop, t)
    };
    let (stop1, t1) = run_engine(server, 4);
    let view = live(None, Some(fast_feed(FeedRole::Engine, addr.clone())));
    wait_until("first run", 10, || {
        view.status(FeedRole::Engine).last_position == Some([3.0, 0.0, 0.0])
    });
    // Producer goes away (listener closed) ...
    stop1.stop();
    t1.join().unwrap();
    wait_until("disconnected", 10, || {
        matches!(
            view.status(FeedRole::Engine).state,
            FeedState::Disconnected { .. } | FeedState::Connecting { .. }
        )
    });
    // ... and comes back on the same port.
    let server = ProducerServer::bind(
        &addr,
        ServerOptions::engine(Hello::new("grim_engine", None)),
    )
    .unwrap();
    let (stop2, t2) = run_engine(server, 2);
    wait_until("second run", 10, || {
        let st = view.status(FeedRole::Engine);
        st.generation >= 2 && st.last_position == Some([1.0, 0.0, 0.0])
    });
    let st = view.status(FeedRole::Engine);
    assert!(st.reconnects >= 1, "{st:?}");
    assert_eq!(st.viewer_ready_sent, st.generation, "once per connection");
    view.with_store(|s| {
        let f = s.feed(FeedRole::Engine);
        let gaps: Vec<_> = f
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Gap(g) => Some(g.clone()),
                _ => None,
            })
            .collect();
        assert!(gaps.contains(&GapReason::Reconnect), "{gaps:?}");
        assert!(
            !gaps.iter().any(|g| matches!(g, GapReason::SeqJump { .. })),
            "seq restart after reconnect is not a jump: {gaps:?}"
        );
        assert_eq!(f.states.len(), 6);
    });
    drop(view);
    stop2.stop();
    t2.join().unwrap();
}

/// Garbage bytes and an over-cap header: clear errors, reconnect, and the next (good)
/// connection works. No panic, no huge allocation.
#[test]
fn garbage_and_over_cap_messages_reconnect_cleanly() {
    let server = ProducerServer::bind(
        &tcp0(),
        ServerOptions::retail(Hello::new("retail_capture", None), None),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let producer = thread::spawn(move || {
        server
            .run(&stop2, |s| {
                match s.connection {
                    1 => s.send_raw(b"\x00\xffthis is not GrimStream at all\r\n")?,
                    2 => s.send_raw(&Header::new(Kind::Frame, 3_000_000_000).to_bytes())?,
                    3 => {
                        // Framing is fine but the payload is not MessagePack of a FRAME:
                        // a per-message decode error, the stream stays.
                        s.send_raw(&raw_msg(0x0003, &[0xc1, 0xc1, 0xc1]))?;
                        s.send(&frame(0, 0, vec![1, 2, 3, 4]))?;
                    }
                    _ => {}
                }
                while !s.stopped() && s.connection < 3 {
                    // Keep the socket open until the viewer drops it (writes then fail).
                    thread::sleep(Duration::from_millis(5));
                    if s.send(&Message::Heartbeat).is_err() {
                        break;
                    }
                }
                while !s.stopped() && s.connection >= 3 {
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .unwrap();
    });
    let mut o = fast_feed(FeedRole::Retail, addr);
    o.decoder.max_message_len = 16 * 1024 * 1024;
    let view = live(Some(o), None);
    wait_until("third connection delivers a frame", 15, || {
        view.status(FeedRole::Retail).frames == 1
    });
    let st = view.status(FeedRole::Retail);
    assert_eq!(st.generation, 3);
    assert_eq!(st.reconnects, 2);
    // bad magic + over cap + bad payload
    assert_eq!(st.decode_errors, 3, "{st:?}");
    let errors: Vec<String> = view.with_store(|s| {
        s.feed(FeedRole::Retail)
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Disconnected { reason } => Some(reason.clone()),
                EventKind::DecodeError(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    });
    assert!(errors.iter().any(|e| e.contains("bad magic")), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exceeds the 16777216-byte cap")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("malformed FRAME")),
        "{errors:?}"
    );
    drop(view);
    stop.stop();
    producer.join().unwrap();
}

/// Stall detection: silence longer than the limit is a stall; data ends it.
#[test]
fn silence_is_a_stall_and_data_ends_it() {
    let server = ProducerServer::bind(
        &tcp0(),
        ServerOptions::retail(Hello::new("retail_capture", None), None),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let resume = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resume2 = resume.clone();
    let producer = thread::spawn(move || {
        server
            .run(&stop2, |s| {
                s.send(&frame(0, 0, vec![0; 16]))?;
                while !resume2.load(Ordering::SeqCst) && !s.stopped() {
                    thread::sleep(Duration::from_millis(5));
                }
                s.send(&frame(1, 33_000_000, vec![0; 16]))?;
                while !s.stopped() {
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .unwrap();
    });
    let mut o = fast_feed(FeedRole::Retail, addr);
    o.stall_after = Some(Duration::from_millis(150));
    let view = live(Some(o), None);
    wait_until("stalled", 10, || {
        matches!(
            view.status(FeedRole::Retail).state,
            FeedState::Stalled { .. }
        )
    });
    assert_eq!(view.status(FeedRole::Retail).stalls, 1);
    resume.store(true, Ordering::SeqCst);
    wait_until("live again", 10, || {
        let st = view.status(FeedRole::Retail);
        st.state == FeedState::Live && st.frames == 2
    });
    view.with_store(|s| {
        let f = s.feed(FeedRole::Retail);
        // the stall starts when the silence passes the limit and ends with the data
        let first = f.frames.front().map(|fr| fr.arrival_ns).unwrap();
        let started = f
            .events
            .iter()
            .find(|e| e.kind == EventKind::StallStarted)
            .unwrap();
        assert!(
            started.t_ns - first >= 150_000_000,
            "stall noticed {} ms after the last frame, limit 150 ms",
            (started.t_ns - first) / 1_000_000
        );
        let ended = f
            .events
            .iter()
            .find_map(|e| match e.kind {
                EventKind::StallEnded { stalled_ns } => Some((e.t_ns, stalled_ns)),
                _ => None,
            })
            .unwrap();
        assert_eq!(ended.1, ended.0 - started.t_ns, "stalled from start to end");
        assert!(ended.1 > 0);
    });
    assert_eq!(
        view.status(FeedRole::Retail).reconnects,
        0,
        "a stall keeps the connection"
    );
    drop(view);
    stop.stop();
    producer.join().unwrap();
}

/// A slow viewer side (the UI holds the store lock for long stretches) while a producer
/// floods frames as fast as the socket takes them: the store stays within its budget,
/// the oldest frames go first, the newest are there.
#[test]
fn flood_with_slow_reader_stays_within_budget() {
    const FRAME: usize = 512 * 1024;
    const BUDGET: usize = 8 * 1024 * 1024;
    let server = ProducerServer::bind(
        &tcp0(),
        ServerOptions::retail(Hello::new("retail_capture", None), None),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let sent = Arc::new(AtomicU64::new(0));
    let sent2 = sent.clone();
    let producer = thread::spawn(move || {
        let data = vec![9u8; FRAME];
        server
            .run(&stop2, |s| {
                let mut id = 0u64;
                while !s.stopped() {
                    s.send(&frame(id, id * 1_000_000, data.clone()))?;
                    id += 1;
                    sent2.store(id, Ordering::SeqCst);
                }
                Ok(())
            })
            .unwrap();
    });
    let mut o = LiveOptions::new(Some(addr), None);
    o.budget_bytes = BUDGET;
    let view = LiveView::start(o).unwrap();
    let mut max_used = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while view.status(FeedRole::Retail).frames < 200 {
        assert!(Instant::now() < deadline, "flood too slow");
        // The slow UI: holds the lock for 30 ms at a time.
        view.with_store(|s| {
            thread::sleep(Duration::from_millis(30));
            max_used = max_used.max(s.usage().used_bytes);
        });
        thread::sleep(Duration::from_millis(1));
    }
    let usage = view.with_store(|s| s.usage());
    assert!(max_used <= BUDGET, "{max_used} > {BUDGET}");
    assert!(usage.used_bytes <= BUDGET);
    assert!(usage.evicted_bytes > 0);
    let (n, first, last) = view.with_store(|s| {
        let f = s.feed(FeedRole::Retail);
        (
            f.frames.len(),
            f.frames.front().unwrap().frame_id,
            f.frames.back().unwrap().frame_id,
        )
    });
    assert!(n <= BUDGET / FRAME, "{n} frames held");
    assert!(first > 0, "oldest evicted first");
    assert_eq!(
        last - first + 1,
        n as u64,
        "a contiguous run of the newest frames"
    );
    assert!(sent.load(Ordering::SeqCst) >= 200);
    drop(view);
    stop.stop();
    producer.join().unwrap();
}

/// Retail marks carry the seq of the telemetry event they came from, so they jump (spec
/// "Engine state: units and axes"): over a real socket, jumping marks and telemetry are no
/// gap, a dropped frame still is one.
#[test]
fn jumping_mark_seqs_are_no_gap_but_a_dropped_frame_is() {
    use capdeck_wire::grimstream::{Telemetry, TimelineMark};
    let server = ProducerServer::bind(
        &tcp0(),
        ServerOptions::retail(Hello::new("retail_capture", None), None),
    )
    .unwrap();
    let addr = server.local_addr().clone();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let producer = thread::spawn(move || {
        server
            .run(&stop2, |s| {
                let mut tel_seq = 0u64;
                // frames 0..=9 then 11..=14 (frame 10 dropped); after each frame a few
                // telemetry events, one of them an intro.timeline mark
                for id in (0..=9u64).chain(11..=14) {
                    s.send(&frame(id, id * 33_000_000, vec![0; 16]))?;
                    for k in 0..3u64 {
                        tel_seq += 1;
                        let label = if k == 1 { "intro.timeline" } else { "tick" };
                        s.send(&Message::Telemetry(Telemetry {
                            seq: tel_seq,
                            label: label.into(),
                            timestamp: None,
                            data: rmpv::Value::Nil,
                        }))?;
                        if k == 1 {
                            s.send(&Message::TimelineMark(TimelineMark {
                                seq: tel_seq,
                                host_time_ns: id * 33_000_000 + 1,
                                label: label.into(),
                                data: rmpv::Value::Nil,
                            }))?;
                        }
                    }
                }
                while !s.stopped() {
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .unwrap();
    });
    let view = live(Some(fast_feed(FeedRole::Retail, addr)), None);
    wait_until("14 frames and 14 marks", 10, || {
        view.with_store(|s| {
            let f = s.feed(FeedRole::Retail);
            f.frames.len() == 14 && f.marks.len() == 14
        })
    });
    view.with_store(|s| {
        let f = s.feed(FeedRole::Retail);
        let gaps: Vec<_> = f
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Gap(g) => Some(g.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(f.gaps, 1, "only the dropped frame: {gaps:?}");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(
            gaps[0]
                == GapReason::FrameIdJump {
                    expected: 10,
                    got: 11
                },
            "the gap is the frame: {gaps:?}"
        );
    });
    drop(view);
    stop.stop();
    producer.join().unwrap();
}

/// The engine's reader skips an unknown kind without reading its payload, so the viewer
/// must send it nothing but CONTROL and MOVIE_CONTROL: a raw TCP engine reads every byte
/// the viewer writes during a session with a movie and a skip from the caller.
#[test]
fn the_viewer_sends_an_engine_only_control_and_movie_control() {
    use capdeck_wire::grimstream::decoder::Decoder;
    use capdeck_wire::grimstream::{MovieStart, encode};
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: FeedAddr = format!("tcp://{}", l.local_addr().unwrap())
        .parse()
        .unwrap();
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let kinds2 = kinds.clone();
    let engine = thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        c.write_all(&encode(&Message::Hello(Hello::new("grim_engine", None))).unwrap())
            .unwrap();
        let mut dec = Decoder::default();
        let mut sent_movies = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match dec.read_from(&mut c) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
            while let Ok(Some(raw)) = dec.next_message() {
                let k = raw.header.kind;
                kinds2.lock().unwrap().push(k);
                // after viewer_ready, and after each answer, one more movie (two in all)
                if matches!(k, Kind::Control | Kind::MovieControl) && sent_movies < 2 {
                    sent_movies += 1;
                    let m = Message::MovieStart(MovieStart {
                        name: format!("movie{sent_movies}"),
                        relative_path: None,
                    });
                    c.write_all(&encode(&m).unwrap()).unwrap();
                }
            }
        }
    });
    let mut e = fast_feed(FeedRole::Engine, addr);
    e.movies = MoviePolicy::Manual;
    let view = live(None, Some(e));
    for n in 1..=2 {
        wait_until("a movie", 10, || {
            view.status(FeedRole::Engine)
                .movie
                .is_some_and(|m| m.name == format!("movie{n}"))
        });
        let m = view.status(FeedRole::Engine).movie.unwrap();
        view.send_movie_control(m.skipped()).unwrap();
        wait_until("the answer went out", 10, || {
            view.status(FeedRole::Engine).movie_controls_sent == n
        });
    }
    wait_until("the engine read both answers", 10, || {
        kinds.lock().unwrap().len() >= 3
    });
    drop(view);
    engine.join().unwrap();
    let kinds = kinds.lock().unwrap().clone();
    assert_eq!(
        kinds,
        vec![Kind::Control, Kind::MovieControl, Kind::MovieControl],
        "the viewer wrote only CONTROL and MOVIE_CONTROL"
    );
}

/// A one-viewer engine after its viewer left: the kernel accepts, nothing is ever written.
/// The feed names that state (not "stalled", not a retry loop), keeps the one connection,
/// and when the engine restarts (the silent connection ends) it connects again by itself.
#[test]
fn a_silent_engine_is_its_own_state_and_not_retried() {
    use capdeck_grimstream::feed::no_hello_text;
    use capdeck_wire::grimstream::encode;
    use std::io::{Read, Write};
    use std::sync::mpsc::channel;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: FeedAddr = format!("tcp://{}", l.local_addr().unwrap())
        .parse()
        .unwrap();
    let accepts = Arc::new(AtomicU64::new(0));
    let accepts2 = accepts.clone();
    let (restart_tx, restart_rx) = channel::<()>();
    let engine = thread::spawn(move || {
        // the used engine: accepted, silent, until the test "restarts" it
        let (silent, _) = l.accept().unwrap();
        accepts2.fetch_add(1, Ordering::SeqCst);
        restart_rx.recv().unwrap();
        drop(silent);
        // the restarted engine: HELLO at once, then it reads until the viewer goes
        let (mut c, _) = l.accept().unwrap();
        accepts2.fetch_add(1, Ordering::SeqCst);
        c.write_all(&encode(&Message::Hello(Hello::new("grim_engine", None))).unwrap())
            .unwrap();
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    });
    let mut e = fast_feed(FeedRole::Engine, addr);
    e.hello_timeout = Duration::from_millis(300);
    let view = live(None, Some(e));
    wait_until("the silent state", 10, || {
        matches!(
            view.status(FeedRole::Engine).state,
            FeedState::NoHello { .. }
        )
    });
    let st = view.status(FeedRole::Engine);
    assert_eq!(st.state.name(), "no_hello");
    assert_eq!(
        st.state.text(FeedRole::Engine),
        "connected, no HELLO: the engine may need a restart"
    );
    assert_eq!(
        st.state.text(FeedRole::Engine),
        no_hello_text(FeedRole::Engine)
    );
    assert_eq!(st.silent_connections, 1);
    // it stays so, on the one connection: ten times the retry cap (200 ms) passes with
    // no new connection, no reconnect and nothing sent (no HELLO, so no viewer_ready)
    wait_until("2 s of silence", 10, || {
        matches!(view.status(FeedRole::Engine).state,
            FeedState::NoHello { silent_ms } if silent_ms >= 2_000)
    });
    let st = view.status(FeedRole::Engine);
    assert_eq!(accepts.load(Ordering::SeqCst), 1, "not retried: {st:?}");
    assert_eq!(st.reconnects, 0, "{st:?}");
    assert_eq!(st.silent_connections, 1, "{st:?}");
    assert_eq!(st.viewer_ready_sent, 0, "{st:?}");
    assert_eq!(st.generation, 1, "{st:?}");
    // the engine restarts: the silent connection ends, the feed connects again and is live
    restart_tx.send(()).unwrap();
    wait_until("live on the restarted engine", 10, || {
        let st = view.status(FeedRole::Engine);
        st.state == FeedState::Live && st.viewer_ready_sent == 1
    });
    let st = view.status(FeedRole::Engine);
    assert_eq!(st.producer.as_deref(), Some("grim_engine"));
    assert_eq!(st.reconnects, 1, "{st:?}");
    assert_eq!(st.silent_connections, 1, "{st:?}");
    assert_eq!(accepts.load(Ordering::SeqCst), 2);
    drop(view);
    engine.join().unwrap();
}
