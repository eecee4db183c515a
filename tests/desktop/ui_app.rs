//! egui_kittest tests of the desktop app (no X server: Mesa lavapipe through wgpu).
//!
//! They build the real `CapdeckApp`, feed the live view from the deterministic demo
//! script, click and type like a user, and check what is shown. Snapshot images live in
//! `tests/snapshots/` (regenerate with `UPDATE_SNAPSHOTS=1` on the CI image).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use capdeck::ui::app::{AppOptions, CapdeckApp};
use capdeck::ui::capture::preview::{Preview, decode};
use capdeck::ui::capture::sources::SourceLister;
use capdeck::ui::capture::{
    AudioStatus, CaptureBackend, CaptureSnapshot, ConfigSource, ControlStatus, LinkLight,
    PushChannel, PushCounters, ReceiverSummary, VideoStatus,
};
use capdeck::ui::command::UiCommand;
use capdeck::ui::live::OverlayMode;
use capdeck::ui::log_ring::LogRing;
use capdeck::ui::settings::{Layout, Pane, Settings};
use capdeck_capture::audio::PttMode;
use capdeck_capture::video::pattern;
use capdeck_grimstream::demo::{DemoOptions, ScriptedFeeds};
use capdeck_grimstream::store::MarkKind;
use capdeck_grimstream::{
    FeedAddr, FeedRole, Frame, Header, Hello, Kind, Message, StateUpdate, StreamConfig,
};
use capdeck_timeline::{Command, PlayState, Selection, TickKind};
use capdeck_wire::grimstream::{PIXEL_FORMAT_RGBA8, encode};
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

const SIZE: egui::Vec2 = egui::vec2(1280.0, 760.0);

fn opts() -> AppOptions {
    AppOptions {
        fresh: true,
        no_autostart: true,
        ..Default::default()
    }
}

fn harness_with(opts: AppOptions) -> Harness<'static, CapdeckApp> {
    Harness::builder()
        .with_size(SIZE)
        .wgpu()
        .build_eframe(move |cc| CapdeckApp::new(cc, &opts, LogRing::new(), None))
}

const S: f64 = 1e9;

/// Feeds `secs` of the demo world (frames `w`x`h`, engine at 30 Hz) as bytes through the
/// core's decoder and store, with the viewer clock held at `secs`, and parks the cursor
/// at `at`, paused: what a user sees after watching the demo for `secs` and pausing.
fn feed_demo_sized(h: &mut Harness<'static, CapdeckApp>, w: u32, hgt: u32, secs: f64, at: f64) {
    let app = h.state_mut();
    let any = FeedAddr::Tcp("127.0.0.1:0".into());
    let mut o = DemoOptions::new(any.clone(), any);
    (o.width, o.height, o.engine_hz) = (w, hgt, 30.0);
    let mut feeds = ScriptedFeeds::new(&o);
    let now = (secs * S) as i64;
    app.live.core.clock().set_manual(Some(now));
    feeds
        .advance(&mut app.live.core, now)
        .expect("demo bytes decode");
    app.live.refresh(); // one frame's timeline tick at the held clock
    app.apply(UiCommand::Timeline(Command::Pause));
    app.apply(UiCommand::Timeline(Command::Seek {
        t_ns: (at * S) as i64,
    }));
}

fn feed_demo(h: &mut Harness<'static, CapdeckApp>, secs: f64, at: f64) {
    feed_demo_sized(h, 320, 180, secs, at);
}

fn cursor_s(h: &Harness<'_, CapdeckApp>) -> f64 {
    h.state().live.timeline().cursor_ns as f64 / S
}

/// The text of the first node whose label starts with `prefix`.
fn shown(h: &Harness<'_, CapdeckApp>, prefix: &str) -> String {
    let p = prefix.to_owned();
    match h
        .query_all_by(move |n| text(n).is_some_and(|l| l.starts_with(&p)))
        .next()
    {
        Some(node) => text(&node.accesskit_node()).unwrap_or_default(),
        None => panic!(
            "nothing shown starts with {prefix:?}; shown: {:?}",
            texts(h)
        ),
    }
}

/// Every text shown (for failure messages).
fn texts(h: &Harness<'_, CapdeckApp>) -> Vec<String> {
    h.query_all_by(|n| text(n).is_some())
        .filter_map(|n| text(&n.accesskit_node()))
        .collect()
}

/// A node's text: the label of a button, the value of a text label.
fn text(n: &egui_kittest::kittest::AccessKitNode<'_>) -> Option<String> {
    n.label().or_else(|| n.value())
}

/// Whether any node's label satisfies `pred`.
fn has(h: &Harness<'_, CapdeckApp>, pred: impl Fn(&str) -> bool + 'static) -> bool {
    h.query_all_by(move |n| text(n).is_some_and(|l| pred(&l)))
        .next()
        .is_some()
}

/// The retail frame id shown above the frame.
fn shown_frame_id(h: &Harness<'_, CapdeckApp>) -> u64 {
    let l = shown(h, "frame ");
    l.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no frame id in {l:?}"))
}

fn shown_engine_seq(h: &Harness<'_, CapdeckApp>) -> u64 {
    let l = shown(h, "seq ");
    l.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seq in {l:?}"))
}

#[test]
fn live_view_steps_seeks_and_follows() {
    let mut h = harness_with(opts());
    feed_demo(&mut h, 7.0, 5.0);
    h.run_steps(2);
    let id0 = shown_frame_id(&h);
    let seq0 = shown_engine_seq(&h);
    assert!(
        (140..=152).contains(&id0),
        "frame near 5 s at 30 fps, got {id0}"
    );

    h.key_press(Key::Period);
    h.run_steps(2);
    assert_eq!(shown_frame_id(&h), id0 + 1, "`.` steps one frame forward");

    h.get_by_label(">").click();
    h.run_steps(2);
    assert_eq!(
        shown_frame_id(&h),
        id0 + 2,
        "the step button steps one frame"
    );
    assert!(
        shown_engine_seq(&h) > seq0,
        "the engine state follows the cursor"
    );

    h.key_press(Key::Comma);
    h.key_press(Key::Comma);
    h.run_steps(2);
    assert_eq!(shown_frame_id(&h), id0, "`,` steps back");

    h.key_press(Key::ArrowLeft);
    h.run_steps(2);
    let back = shown_frame_id(&h);
    assert!(
        (id0 - 31..=id0 - 29).contains(&back),
        "left arrow seeks back 1 s: {id0} -> {back}"
    );

    // Home jumps to the oldest data held: the engine's first state (2 ms transport delay)
    // comes before retail's first frame (4 ms); one step forward shows frame 0
    h.key_press(Key::Home);
    h.run_steps(2);
    assert_eq!(
        h.state().live.timeline().cursor_ns,
        h.state().live.frame.range.0
    );
    assert_eq!(shown_engine_seq(&h), 0, "Home shows the first engine state");
    h.key_press(Key::Period);
    h.run_steps(2);
    assert_eq!(shown_frame_id(&h), 0, "then the first frame");

    // click on the timeline, 3/4 of the way along: the cursor lands near 3/4 of the range
    let (lo, hi) = h.state().live.frame.range;
    let tl = h.get_by_label("timeline").rect();
    let x = tl.left() + 56.0 + (tl.width() - 62.0) * 0.75;
    let p = egui::pos2(x, tl.center().y);
    h.drag_at(p);
    h.drop_at(p);
    h.run_steps(2);
    let want = (lo as f64 + 0.75 * (hi - lo) as f64) / S;
    let t = cursor_s(&h);
    assert!(
        (t - want).abs() < 0.3,
        "timeline click seeks to about {want:.2} s, got {t}"
    );
    assert_eq!(h.state().live.timeline().state, PlayState::Paused);

    // Space plays, F goes back to following live
    h.key_press(Key::Space);
    h.run_steps(1);
    assert_eq!(h.state().live.timeline().state, PlayState::Playing);
    h.key_press(Key::F);
    h.run_steps(2);
    let tl = h.state().live.timeline();
    assert_eq!(tl.state, PlayState::FollowLive);
    assert!(
        (tl.cursor_ns - (tl.live_edge_ns() - tl.live_delay_ns)).abs() < 1_000_000,
        "following live puts the cursor at the newest data less the delay"
    );
}

#[test]
fn lanes_show_stall_and_reconnect_and_hud_counts_them() {
    let mut h = harness_with(opts());
    feed_demo(&mut h, 20.0, 10.0);
    h.run_steps(2);
    // the HUD shows the engine reconnect of the demo script (at 18-19 s)
    assert_eq!(
        hud(&h, "reconnects "),
        [0, 1],
        "retail never reconnects, engine once"
    );
    // hovering the retail stall (8.0-8.8 s of the world, 4 ms transport delay) shows it
    let (lo, hi) = h.state().live.frame.range;
    let tl = h.get_by_label("timeline").rect();
    let f = (8.4 * S - lo as f64) / (hi - lo) as f64;
    let x = tl.left() + 56.0 + (tl.width() - 62.0) * f as f32;
    h.hover_at(egui::pos2(x, tl.top() + 14.0 + 9.0));
    h.run_steps(8);
    if !has(&h, |l| l.starts_with("retail Stall")) {
        let all: Vec<String> = h
            .query_all_by(|n| text(n).is_some())
            .map(|n| text(&n.accesskit_node()).unwrap_or_default())
            .collect();
        panic!("no stall tooltip at x={x}; texts: {all:?}");
    }
}

/// The numbers after `prefix` in the HUD, retail's first (one label per feed).
fn hud(h: &Harness<'_, CapdeckApp>, prefix: &'static str) -> Vec<u64> {
    h.query_all_by(|n| {
        n.role() == egui::accesskit::Role::Label && text(n).is_some_and(|l| l.starts_with(prefix))
    })
    .filter_map(|n| {
        let l = text(&n.accesskit_node())?;
        l[prefix.len()..].split_whitespace().next()?.parse().ok()
    })
    .collect()
}

/// A producer on a real TCP socket: accepts every connection, writes `bytes` to it and
/// holds it open until the test ends (so the feed sees the bytes, not a disconnect).
struct Producer {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl Producer {
    fn serve(bytes: Vec<u8>) -> Producer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::Builder::new()
            .name("test-producer".into())
            .spawn(move || {
                let mut held = Vec::new();
                while !s.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut c, _)) => {
                            c.set_nonblocking(false).unwrap();
                            let _ = c.write_all(&bytes);
                            held.push(c);
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                    }
                }
            })
            .unwrap();
        Producer { addr, stop }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn msg(m: &Message) -> Vec<u8> {
    encode(m).unwrap()
}

fn raw_msg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Header::new(Kind::from_u16(kind), payload.len() as u32)
        .to_bytes()
        .to_vec();
    v.extend_from_slice(payload);
    v
}

fn hello(name: &str) -> Vec<u8> {
    msg(&Message::Hello(Hello::new(name, None)))
}

fn state(seq: u64) -> Vec<u8> {
    msg(&Message::StateUpdate(StateUpdate {
        seq,
        host_time_ns: 1_000_000_000 + seq * 33_000_000,
        frame: Some(seq as u32),
        position: Some([1.0, 2.0, 0.0]),
        yaw: Some(90.0),
        active_setup: None,
        active_hotspot: None,
        coverage: None,
        events: None,
        active_movie: None,
    }))
}

fn connect(h: &mut Harness<'static, CapdeckApp>, role: FeedRole, addr: &str) {
    let app = h.state_mut();
    app.apply(UiCommand::SetFeedAddr(role, addr.into()));
    app.apply(UiCommand::ConnectFeed(role));
}

#[test]
fn hud_counts_skipped_kinds_and_refused_messages_from_real_sockets() {
    // engine: HELLO, a state, three messages of kinds this viewer does not know, a state
    let mut engine = hello("grim_engine");
    engine.extend(state(0));
    for k in [0x7001u16, 0x7002, 0x7003] {
        engine.extend(raw_msg(k, b"\x93\x01\x02\x03"));
    }
    engine.extend(state(1));
    // retail: HELLO, then a header announcing a 3 GiB payload
    let mut retail = hello("retail_capture");
    retail.extend(Header::new(Kind::Frame, 3 << 30).to_bytes());
    let (e, r) = (Producer::serve(engine), Producer::serve(retail));
    let mut h = harness_with(opts());
    connect(&mut h, FeedRole::Engine, &e.addr);
    connect(&mut h, FeedRole::Retail, &r.addr);
    assert!(
        wait_until(&mut h, 10.0, |h| {
            let (sk, rf) = (hud(h, "skipped "), hud(h, "refused "));
            sk.get(1) == Some(&3) && rf.first().is_some_and(|n| *n >= 1)
        }),
        "HUD: skipped {:?}, refused {:?}",
        hud(&h, "skipped "),
        hud(&h, "refused ")
    );
    assert_eq!(hud(&h, "skipped ")[0], 0, "retail skipped nothing");
    assert_eq!(hud(&h, "refused ")[1], 0, "engine refused nothing");
    assert!(
        wait_until(&mut h, 5.0, |h| shown_engine_seq(h) == 1),
        "the state after the unknown kinds is shown"
    );
}

/// The engine's hero walks on x/y (z up) with yaw in degrees (spec "Engine state: units
/// and axes"): a circle walked on x/y must draw as a circle, the arrow along the walk.
#[test]
fn a_circle_walked_on_x_y_draws_as_a_circle() {
    let mut h = harness_with(AppOptions {
        layout: Some(Layout::Tabs),
        ..opts()
    });
    h.state_mut()
        .set_capture_backend(Box::new(FixedCapture::new()));
    {
        let app = h.state_mut();
        app.apply(UiCommand::ShowPane(Pane::LiveView));
        let core = &mut app.live.core;
        core.clock().set_manual(Some(12 * S as i64));
        core.open_source(FeedRole::Engine, 11 * S as i64, 1 << 20);
        let mut bytes = hello("grim_engine");
        for seq in 0..=340u64 {
            let a = (seq as f32).to_radians(); // one degree of arc per state
            let st = StateUpdate {
                seq,
                host_time_ns: seq * 33_333_333,
                frame: Some(seq as u32),
                position: Some([4.0 * a.cos(), 4.0 * a.sin(), 1.5]),
                // walking counter-clockwise, the heading is (dx, dy) = (-sin a, cos a);
                // the engine's yaw = atan2(-dx, dy) in [0, 360) is then a itself
                yaw: Some(a.to_degrees().rem_euclid(360.0)),
                active_setup: None,
                active_hotspot: None,
                coverage: None,
                events: None,
                active_movie: None,
            };
            bytes.extend(msg(&Message::StateUpdate(st)));
        }
        core.ingest_bytes(FeedRole::Engine, 11 * S as i64, &bytes)
            .unwrap();
        app.live.refresh();
        app.apply(UiCommand::Timeline(Command::Pause));
    }
    h.run_steps(3);
    assert!(
        has(&h, |l| l == "340.0°"),
        "yaw shown in degrees: {:?}",
        texts(&h)
    );
    h.snapshot("engine_circle");
    // the raw state tree names the unit too
    h.get_by_label("raw state").click();
    h.run_steps(2);
    assert!(
        has(&h, |l| l == "yaw: 340.0 deg"),
        "the state tree says deg: {:?}",
        texts(&h)
    );
}

#[test]
fn a_silent_engine_is_named_as_such() {
    // what a used one-viewer engine does: the kernel accepts, nothing is ever sent
    let p = Producer::serve(Vec::new());
    let mut h = harness_with(opts());
    connect(&mut h, FeedRole::Engine, &p.addr);
    let words = "connected, no HELLO: the engine may need a restart";
    assert!(
        wait_until(&mut h, 15.0, |h| has(h, move |l| l == words)),
        "the silent connection is named: {:?}",
        texts(&h)
    );
    // the core's state, in the feeds bar (a label and its light), the HUD's light and the
    // status bar's light ("engine: ...")
    let shown = h
        .query_all_by(|n| text(n).is_some_and(|l| l.ends_with(words)))
        .count();
    assert!(shown >= 4, "shown {shown} times: {:?}", texts(&h));
    let st = h.state().live.core.status(FeedRole::Engine);
    assert_eq!(st.state.name(), "no_hello", "{st:?}");
    assert_eq!(st.silent_connections, 1);
    assert_eq!(
        hud(&h, "reconnects ")[1],
        0,
        "not hidden behind a retry loop"
    );
}

#[test]
fn engine_movies_are_answered_as_the_user_chose() {
    use capdeck_grimstream::MovieAction;
    // a real engine-side server: HELLO, waits for viewer_ready, then MOVIE_START and waits
    let MovieEngine {
        addr,
        stop,
        got,
        producer,
    } = movie_engine(None);
    let mut h = harness_with(opts());
    h.run_steps(2);
    h.get_by_label("skip").click();
    h.run_steps(2);
    assert_eq!(
        h.state().settings.movie_policy,
        capdeck_grimstream::feed::MoviePolicy::Skip
    );
    connect(&mut h, FeedRole::Engine, addr.trim_start_matches("tcp://"));
    assert!(
        wait_until(&mut h, 10.0, |_| got.lock().unwrap().is_some()),
        "the engine got an answer to MOVIE_START"
    );
    assert_eq!(
        got.lock().unwrap().as_ref().map(|m| m.action),
        Some(MovieAction::Skipped)
    );
    drop(h);
    stop.stop();
    producer.join().unwrap();
}

/// "ask me": the engine waits inside the movie, the engine pane and HUD say so, the skip
/// button answers `skipped`, and the answer with its time taken is in the HUD and on the
/// timeline.
#[test]
fn a_waiting_movie_is_shown_and_skipped_by_the_button() {
    use capdeck_grimstream::MovieAction;
    let MovieEngine {
        addr,
        stop,
        got,
        producer,
    } = movie_engine(Some("MoviesHD/logos.ogv"));
    let mut h = harness_with(opts());
    h.run_steps(2);
    h.get_by_label("ask me").click();
    h.run_steps(2);
    connect(&mut h, FeedRole::Engine, addr.trim_start_matches("tcp://"));
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            .starts_with("movie logos: waiting for an answer"))
            && h.query_by_label("Skip movie").is_some()),
        "the waiting movie and its skip button: {:?}",
        texts(&h)
    );
    assert!(got.lock().unwrap().is_none(), "nothing answered yet");
    h.get_by_label("Skip movie").click();
    h.run_steps(2);
    assert!(
        wait_until(&mut h, 10.0, |_| got.lock().unwrap().is_some()),
        "the engine got the skip"
    );
    assert_eq!(
        got.lock().unwrap().as_ref().map(|m| m.action),
        Some(MovieAction::Skipped)
    );
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            .starts_with("movie logos: skipped after ")
            && l.ends_with(" ms"))),
        "the answer and its time in the HUD: {:?}",
        texts(&h)
    );
    assert!(
        h.query_by_label("Skip movie").is_none(),
        "no skip button once answered"
    );
    let ticks = h.state().live.core.with_store(|s| {
        capdeck_timeline::lane(s, FeedRole::Engine, i64::MAX)
            .ticks
            .into_iter()
            .map(|t| t.kind)
            .collect::<Vec<_>>()
    });
    assert!(
        ticks
            .iter()
            .any(|k| matches!(k, TickKind::Movie(n) if n == "logos")),
        "{ticks:?}"
    );
    assert!(
        ticks.iter().any(|k| matches!(k,
            TickKind::MovieAnswer { name, answer, took_ns: Some(t) }
                if name == "logos" && answer == "skipped" && *t > 0)),
        "{ticks:?}"
    );
    drop(h);
    stop.stop();
    producer.join().unwrap();
}

/// A one-viewer engine never accepts this viewer again after a disconnect: the button asks
/// first and says so; "Keep connected" keeps the connection.
#[test]
fn disconnecting_the_engine_asks_first() {
    let mut bytes = hello("grim_engine");
    bytes.extend(state(0));
    let p = Producer::serve(bytes);
    // real producers (the buttons are off for the built-in demo)
    let mut h = harness_with(AppOptions {
        engine: Some(p.addr.clone()),
        ..opts()
    });
    assert!(!h.state().view.demo);
    connect(&mut h, FeedRole::Engine, &p.addr);
    assert!(
        wait_until(&mut h, 10.0, |h| h
            .state()
            .live
            .frame
            .status(FeedRole::Engine)
            .is_some_and(|s| s.producer.is_some())),
        "engine connected"
    );
    let warning = |l: &str| {
        l.starts_with("Disconnect the engine feed?")
            && l.contains("will not accept this viewer again")
    };
    assert!(!has(&h, warning));
    let engine_disconnect = |h: &Harness<'_, CapdeckApp>| {
        // retail has no source: the only Disconnect button is the engine's
        h.get_by_label("Disconnect").click();
    };
    engine_disconnect(&h);
    h.run_steps(2);
    assert!(has(&h, warning), "asks first: {:?}", texts(&h));
    assert!(
        h.state().live.core.has_source(FeedRole::Engine),
        "still connected while asking"
    );
    h.get_by_label("Keep connected").click();
    h.run_steps(2);
    assert!(!has(&h, warning));
    assert!(h.state().live.core.has_source(FeedRole::Engine));
    engine_disconnect(&h);
    h.run_steps(2);
    h.get_by_label("Disconnect anyway").click();
    h.run_steps(2);
    assert!(
        !h.state().live.core.has_source(FeedRole::Engine),
        "disconnected once confirmed"
    );
}

/// HELLO, STREAM_CONFIG and `n` frames of `w`x`hgt` RGBA.
fn retail_frames(w: u32, hgt: u32, n: u64) -> Vec<u8> {
    let mut out = hello("retail_capture");
    out.extend(msg(&Message::StreamConfig(StreamConfig {
        width: w,
        height: hgt,
        pixel_format: PIXEL_FORMAT_RGBA8,
        stride_bytes: w * 4,
        nominal_fps: Some(30.0),
    })));
    let px = bytes::Bytes::from(vec![128u8; (w * hgt * 4) as usize]);
    for i in 0..n {
        out.extend(msg(&Message::Frame(Frame {
            frame_id: i,
            host_time_ns: 1_000_000_000 + i * 33_333_333,
            telemetry_time_ns: None,
            data: px.clone(),
        })));
    }
    out
}

#[test]
fn lowering_the_budget_in_the_hud_drops_history_at_once() {
    // 24 frames of 1280x720 RGBA (3.7 MB each, 88 MB) over a real socket
    let p = Producer::serve(retail_frames(1280, 720, 24));
    let mut h = harness_with(opts());
    connect(&mut h, FeedRole::Retail, &p.addr);
    assert!(
        wait_until(&mut h, 20.0, |h| has(h, |l| l.starts_with("frame 23 "))),
        "all frames arrive under the default budget"
    );
    assert_eq!(hud(&h, "dropped ")[0], 0, "nothing dropped under 1 GiB");
    let mib = |h: &Harness<'_, CapdeckApp>| hud(h, "memory ")[0];
    assert!(mib(&h) >= 80, "memory shows the history: {} MiB", mib(&h));
    // the user lowers the budget to 16 MiB: the oldest frames go now, and the HUD says so
    h.state_mut().queue(UiCommand::SetMemoryBudgetMib(16));
    h.run_steps(3);
    let dropped = hud(&h, "dropped ")[0];
    assert!(
        dropped >= 20,
        "about 20 of 24 frames evicted, HUD says {dropped}"
    );
    assert!(
        mib(&h) <= 16,
        "memory within the new budget: {} MiB",
        mib(&h)
    );
    assert_eq!(
        h.state().settings.memory_budget_mib,
        16,
        "saved in the settings"
    );
    assert_eq!(shown_frame_id(&h), 23, "the newest frame is still shown");
}

#[test]
fn nudge_moves_the_engine_against_retail() {
    let mut h = harness_with(opts());
    feed_demo(&mut h, 6.0, 3.0);
    h.run_steps(2);
    let skew = |h: &Harness<'_, CapdeckApp>| {
        let l = shown(h, "skew retail");
        l.split_whitespace()
            .nth(2)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no skew in {l:?}"))
    };
    let (seq0, s0) = (shown_engine_seq(&h), skew(&h));
    h.state_mut()
        .queue(UiCommand::SetNudge(FeedRole::Engine, 250_000_000));
    h.run_steps(3);
    // the engine's states now show 250 ms later: the one at the cursor is ~7.5 states older
    let seq1 = shown_engine_seq(&h);
    assert!(
        (6..=9).contains(&(seq0 - seq1)),
        "a 250 ms nudge at 30 Hz shows a state 7-8 older: {seq0} -> {seq1}"
    );
    assert!(
        skew(&h).abs() < 40.0 && s0.abs() < 40.0,
        "the skew stays within a state period: {s0} -> {}",
        skew(&h)
    );
    let snap = h.state().live.frame.snap.as_ref().unwrap();
    assert_eq!(
        snap.engine_nudge_ns, 250_000_000,
        "the core holds the one nudge"
    );
}

/// Steps the UI until `pred` holds, for up to `secs` of real time (the capture side runs
/// on its own threads). Returns whether it held.
fn wait_until(
    h: &mut Harness<'static, CapdeckApp>,
    secs: f64,
    pred: impl Fn(&Harness<'static, CapdeckApp>) -> bool,
) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        h.run_steps(1);
        if pred(h) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// The number after `key` in the built-in receiver's line, e.g. "received audio 12 (seq 11)".
fn received(h: &Harness<'_, CapdeckApp>, key: &str) -> u64 {
    let l = shown(h, "received audio");
    let rest = &l[l.find(key).map_or(l.len(), |i| i + key.len())..];
    rest.split_whitespace()
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

#[test]
fn capture_start_stop_and_switch_source() {
    // the real capture backend: Sender (pipelines + PUSH links + control) into the
    // built-in receiver on 127.0.0.1; the default microphone, or the tone without one
    let mut h = harness_with(opts());
    h.run_steps(2);
    h.get_by_label("Start audio").click();
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l == "streaming")),
        "audio link goes green"
    );
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            .starts_with("received audio"))
            && received(h, "audio ") >= 3),
        "the built-in receiver counts audio chunks"
    );
    h.get_by_label("Stop audio").click();
    assert!(wait_until(&mut h, 5.0, |h| h
        .query_by_label("Start audio")
        .is_some()));
    // stopping and starting a channel continues its stream: the receiver sees the seq go
    // on from where it stopped (one chunk per seq, none reused)
    let before = received(&h, "audio ");
    h.get_by_label("Start audio").click();
    assert!(
        wait_until(&mut h, 10.0, |h| received(h, "audio ") >= before + 3),
        "audio flows again after a restart"
    );
    h.get_by_label("Stop audio").click();
    assert!(
        wait_until(&mut h, 5.0, |h| {
            let n = received(h, "audio ");
            n > before && received(h, "audio ") == received(h, "(seq ") + 1
        }),
        "seq continues across a channel restart: {}",
        shown(&h, "received audio")
    );

    h.get_by_label("Start video").click();
    assert!(
        h.query_by_label("Stop video").is_some()
            || wait_until(&mut h, 2.0, |h| h.query_by_label("Stop video").is_some())
    );
    // the preview of what was sent: size and KB of the last JPEG, and received frames
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l.starts_with("640x480")
            && l.contains(" KB")
            && !l.contains(" 0.0 KB"))
            && received(h, "video ") >= 2),
        "video frames sent, previewed and received"
    );

    // switch the video source through the picker (real listing): the session restarts
    let t = std::time::Instant::now();
    while h.state_mut().video_sources.poll().listing && t.elapsed().as_secs() < 20 {
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !h.state_mut().video_sources.poll().listing,
        "source listing finishes"
    );
    h.get_by_label("source").click();
    h.run_steps(2);
    if std::env::var("CAPDECK_TEST_DISPLAY").as_deref() == Ok("1") {
        h.get_by(|n| text(n).is_some_and(|l| l.starts_with("screen 0: ")))
            .click();
        h.run_steps(2);
        assert_eq!(h.state().settings.video_source, "screen:0");
    } else {
        assert!(has(&h, |l| l == "no screens found"
            || l.starts_with("! screens")));
        h.key_press(Key::Escape);
        h.run_steps(1);
    }
    h.get_by_label("source").click();
    h.run_steps(2);
    h.get_by_label("pattern (test pattern)").click();
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l == "streaming")),
        "back to the pattern, streaming"
    );

    // point capture at a host that is not there: the light leaves green, with retry
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut p = h.state().settings.host_profiles[0].clone();
    (p.audio_port, p.video_port, p.control_port) = (port, port, port);
    h.state_mut().queue(UiCommand::EditHostProfile(0, p));
    h.run_steps(1);
    h.get_by_label("inference host (framed)").click();
    assert!(
        wait_until(&mut h, 10.0, |h| !has(h, |l| l == "streaming")
            && has(h, |l| l.starts_with("connecting")
                || l.starts_with("disconnected:"))),
        "no host: yellow/red light"
    );
    assert!(h.query_all_by_label("Retry now").next().is_some());
    // The built-in receiver's stats go away once the session to the host has replaced it
    // (the switch happens on the capture worker, not within the click's frame).
    assert!(
        wait_until(&mut h, 10.0, |h| !has(h, |l| l
            .starts_with("received audio"))),
        "no built-in receiver stats when sending to a host"
    );
}

#[test]
fn layout_tabs_and_log_panel() {
    let mut h = harness_with(opts());
    h.run_steps(2);
    h.get_by_label("tabs").click();
    h.run_steps(2);
    assert_eq!(h.state().settings.layout, Layout::Tabs);
    h.get_by_label("Live view").click();
    h.run_steps(2);
    assert_eq!(h.state().settings.active_tab, Pane::LiveView);
    assert!(
        h.query_by_label("Start audio").is_none(),
        "capture pane hidden in the Live view tab"
    );
    // an error shows as a toast and in the log panel
    tracing::subscriber::with_default(
        {
            use tracing_subscriber::layer::SubscriberExt;
            tracing_subscriber::registry().with(h.state().log_ring().layer())
        },
        || tracing::error!("link exploded"),
    );
    h.run_steps(2);
    assert!(has(&h, |l| l == "error: link exploded"), "toast");
    h.get_by(|n| text(n).is_some_and(|l| l.starts_with("log: 1 errors")))
        .click();
    h.run_steps(2);
    assert!(
        has(&h, |l| l.ends_with("link exploded") && l.contains("ERROR")),
        "log panel line"
    );
}

fn count(img: &image_like::Img, f: impl Fn([u8; 4]) -> bool) -> usize {
    img.pixels.iter().filter(|p| f(**p)).count()
}

mod image_like {
    /// A rendered image as plain pixels.
    pub struct Img {
        pub pixels: Vec<[u8; 4]>,
    }
}

fn render(h: &mut Harness<'_, CapdeckApp>) -> image_like::Img {
    let img = h.render().expect("render");
    image_like::Img {
        pixels: img.pixels().map(|p| p.0).collect(),
    }
}

/// HELLO, a STREAM_CONFIG whose stride is 256 bytes wider than a row, and one frame
/// whose pixels are pure green and whose row padding is pure magenta.
fn green_frame_with_magenta_padding() -> Vec<u8> {
    let (w, hgt, stride) = (200u32, 120u32, 200 * 4 + 256);
    let mut px = vec![0u8; (stride * hgt) as usize];
    for y in 0..hgt as usize {
        let row = &mut px[y * stride as usize..(y + 1) * stride as usize];
        for (i, b) in row.chunks_exact_mut(4).enumerate() {
            b.copy_from_slice(if i < w as usize {
                &[0, 255, 0, 255]
            } else {
                &[255, 0, 255, 255]
            });
        }
    }
    let mut out = hello("retail_capture");
    out.extend(msg(&Message::StreamConfig(StreamConfig {
        width: w,
        height: hgt,
        pixel_format: PIXEL_FORMAT_RGBA8,
        stride_bytes: stride,
        nominal_fps: Some(30.0),
    })));
    out.extend(msg(&Message::Frame(Frame {
        frame_id: 0,
        host_time_ns: 1_000_000,
        telemetry_time_ns: None,
        data: bytes::Bytes::from(px),
    })));
    out
}

fn stride_check(gpu: bool) {
    let mut h = harness_with(AppOptions {
        layout: Some(Layout::Tabs),
        ..opts()
    });
    {
        let app = h.state_mut();
        if !gpu {
            app.live.gpu = None; // the glow-fallback path: egui texture from a row-by-row copy
        }
        app.apply(UiCommand::ShowPane(Pane::LiveView));
        let core = &mut app.live.core;
        core.clock().set_manual(Some(10_000_000));
        core.open_source(FeedRole::Retail, 0, 1 << 20);
        core.ingest_bytes(
            FeedRole::Retail,
            5_000_000,
            &green_frame_with_magenta_padding(),
        )
        .unwrap();
        app.apply(UiCommand::Timeline(Command::Pause));
        app.apply(UiCommand::SetPixelZoom(true));
    }
    h.run_steps(2);
    let img = render(&mut h);
    let green = count(&img, |p| p[0] < 10 && p[1] > 245 && p[2] < 10);
    let magenta = count(&img, |p| p[0] > 245 && p[1] < 10 && p[2] > 245);
    assert!(
        green >= 200 * 120 * 95 / 100,
        "the whole frame is drawn 1:1: {green} green pixels"
    );
    assert_eq!(magenta, 0, "row padding must never be shown");
}

#[test]
fn retail_view_honours_stride_on_gpu() {
    stride_check(true);
}

#[test]
fn retail_view_honours_stride_in_fallback() {
    stride_check(false);
}

#[test]
fn overlay_shaders_change_the_picture() {
    let mut h = harness_with(AppOptions {
        layout: Some(Layout::Tabs),
        ..opts()
    });
    feed_demo(&mut h, 4.0, 2.0);
    h.state_mut().apply(UiCommand::ShowPane(Pane::LiveView));
    h.run_steps(2);
    let plain = render(&mut h);
    let uploads_plain = h.state().live.gpu.as_ref().unwrap().get();
    assert!(uploads_plain >= 1, "the frame was uploaded as a texture");

    h.get_by_label("Pin reference").click();
    h.run_steps(2);
    h.state_mut()
        .apply(UiCommand::SetOverlay(OverlayMode::Difference));
    h.run_steps(2);
    let same = render(&mut h);
    // difference against itself: the frame area turns dark
    // (the demo scene is a dim gradient: count every pixel clearly above black)
    let bright =
        |img: &image_like::Img| count(img, |p| p[0] as u32 + p[1] as u32 + p[2] as u32 > 90);
    assert!(
        bright(&same) * 2 < bright(&plain),
        "difference vs itself is dark: {} vs {}",
        bright(&same),
        bright(&plain)
    );

    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    let moved = render(&mut h);
    let hot = |img: &image_like::Img| count(img, |p| p[0] > 180 && p[2] < 80);
    assert!(
        hot(&moved) > hot(&same) + 200,
        "moving 1 s away lights up the heat map: {} vs {}",
        hot(&moved),
        hot(&same)
    );

    // the demo scene is static but for the actor: wipe and onion change the picture
    // where the actor is (or was), against the plain frame at the same cursor
    let diff = |a: &image_like::Img, b: &image_like::Img| {
        let far =
            |a: &[u8; 4], b: &[u8; 4]| (0..3).map(|i| a[i].abs_diff(b[i]) as u32).sum::<u32>() > 24;
        a.pixels
            .iter()
            .zip(&b.pixels)
            .filter(|(a, b)| far(a, b))
            .count()
    };
    h.state_mut()
        .apply(UiCommand::SetOverlay(OverlayMode::Plain));
    h.run_steps(2);
    let now_plain = render(&mut h);
    h.state_mut()
        .apply(UiCommand::SetOverlay(OverlayMode::Wipe));
    h.run_steps(2);
    let wipe = render(&mut h);
    let (d_wipe, d_heat) = (diff(&wipe, &now_plain), diff(&wipe, &moved));
    assert!(
        d_wipe > 20_000 && d_heat > 100_000,
        "wipe shows the reference beside the frame: {d_wipe} pixels differ from plain, \
         {d_heat} from the heat map"
    );
    h.state_mut()
        .apply(UiCommand::SetOverlay(OverlayMode::Onion));
    h.run_steps(2);
    let onion = render(&mut h);
    let (o_plain, o_wipe) = (diff(&onion, &now_plain), diff(&onion, &wipe));
    assert!(
        o_plain > 20_000 && o_wipe > 1_000,
        "onion blends the reference over the frame: {o_plain} pixels differ from plain, \
         {o_wipe} from the wipe"
    );
    // stepping re-uses cached textures: one new upload per new frame at most
    let before = h.state().live.gpu.as_ref().unwrap().get();
    h.key_press(Key::Period);
    h.run_steps(1);
    let _ = render(&mut h);
    let after = h.state().live.gpu.as_ref().unwrap().get();
    assert!(
        after - before <= 1,
        "one upload per step, got {}",
        after - before
    );
}

#[test]
fn settings_persist_and_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let o = AppOptions {
        settings_path: Some(path.clone()),
        no_autostart: true,
        ..Default::default()
    };
    let mut h = harness_with(o.clone());
    h.run_steps(1);
    {
        let app = h.state_mut();
        app.apply(UiCommand::SetLayout(Layout::Tabs));
        app.apply(UiCommand::SetVideoFps(12.0));
        app.apply(UiCommand::SetFeedAddr(
            FeedRole::Retail,
            "10.0.0.5:17400".into(),
        ));
        app.apply(UiCommand::UseHostProfile(1));
        app.save_settings();
    }
    drop(h);
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded.layout, Layout::Tabs);
    assert_eq!(loaded.video_fps, 12.0);
    assert_eq!(loaded.retail_addr, "10.0.0.5:17400");
    // a second run reads them; flags win
    let h = harness_with(AppOptions {
        layout: Some(Layout::SideBySide),
        engine: Some("10.0.0.6:17500".into()),
        ..o
    });
    let s = &h.state().settings;
    assert_eq!(s.video_fps, 12.0);
    assert_eq!(s.layout, Layout::SideBySide, "--layout overrides the file");
    assert_eq!(s.engine_addr, "10.0.0.6:17500");
    // fresh runs ignore the file
    let h = harness_with(opts());
    let mut s = h.state().settings.clone();
    s.capture_width = Settings::default().capture_width; // the panel sizes itself to its contents
    assert_eq!(s, Settings::default());
}

/// A capture backend with fixed contents, for reproducible snapshots.
struct FixedCapture {
    preview: Preview,
}

impl FixedCapture {
    fn new() -> Self {
        let jpeg = pattern::jpeg(3, 640, 480, 70).unwrap();
        let image = decode(&jpeg).unwrap();
        Self {
            preview: Preview {
                seq: 41,
                image: Arc::new(image),
                jpeg_bytes: jpeg.len(),
            },
        }
    }
}

impl CaptureBackend for FixedCapture {
    fn apply(&mut self, _cmd: &UiCommand, _settings: &Settings) {}
    fn snapshot(&mut self) -> CaptureSnapshot {
        let streaming = |sent, bytes| PushCounters {
            light: LinkLight::Streaming,
            sent,
            bytes,
            seq: Some(sent - 1),
            dropped: 0,
            reconnects: 0,
        };
        CaptureSnapshot {
            audio: AudioStatus {
                source_label: "default input".into(),
                devices: vec![(
                    "device:pulse:sine".into(),
                    "Sine source at 440 Hz (default)".into(),
                )],
                peak_dbfs: -9.5,
                rms_dbfs: -14.0,
                clipped: 0,
                overruns: 0,
                muted: false,
                voice: None,
            },
            video: VideoStatus {
                source_label: "pattern".into(),
                last_jpeg_bytes: self.preview.jpeg_bytes,
                bitrate_kbps: 412.0,
                fps: 5.0,
                size: [640, 480],
            },
            channels: [streaming(120, 384_000), streaming(42, 1_100_000)],
            control: ControlStatus {
                light: LinkLight::Streaming,
                last_reply_s: Some(1.2),
                last_hello: None,
                config: vec![
                    ("audio_chunk_ms".into(), "100".into(), ConfigSource::Host),
                    ("video_fps".into(), "5".into(), ConfigSource::Host),
                    ("video_quality".into(), "85".into(), ConfigSource::Pinned),
                ],
            },
            receiver: Some(ReceiverSummary {
                endpoint: "tcp://127.0.0.1:40001".into(),
                ports: Some((40001, 40002)),
                audio_msgs: 120,
                video_msgs: 42,
                bytes: 1_484_000,
                last_audio_seq: Some(119),
                last_video_seq: Some(41),
                malformed: 0,
            }),
            target_label: "built-in receiver".into(),
            unavailable: None,
        }
    }
    fn preview(&self) -> Option<Preview> {
        Some(self.preview.clone())
    }
    fn is_live(&self) -> bool {
        false
    }
}

fn snapshot_harness(layout: Layout) -> Harness<'static, CapdeckApp> {
    let mut h = harness_with(AppOptions {
        layout: Some(layout),
        ..opts()
    });
    h.state_mut()
        .set_capture_backend(Box::new(FixedCapture::new()));
    feed_demo_sized(&mut h, 640, 360, 12.0, 6.0);
    h
}

#[test]
fn snapshots_of_both_panes() {
    let mut results = egui_kittest::SnapshotResults::new();
    let mut h = snapshot_harness(Layout::SideBySide);
    h.run_steps(3);
    results.add(h.try_snapshot("side_by_side"));

    let mut h = snapshot_harness(Layout::Tabs);
    h.run_steps(2);
    results.add(h.try_snapshot("capture_tab"));
    h.state_mut().apply(UiCommand::ShowPane(Pane::LiveView));
    h.run_steps(3);
    results.add(h.try_snapshot("live_view_tab"));
    h.get_by_label("Pin reference").click();
    h.run_steps(1);
    h.state_mut()
        .apply(UiCommand::SetOverlay(OverlayMode::Difference));
    let t = h.state().live.timeline().cursor_ns + 500_000_000;
    h.state_mut()
        .apply(UiCommand::Timeline(Command::Seek { t_ns: t }));
    h.run_steps(3);
    results.add(h.try_snapshot("live_view_difference"));
    results.unwrap();
}

#[test]
fn video_picker_lists_off_the_ui_thread_and_explains_failures() {
    let mut h = harness_with(opts());
    // a listing that blocks until released, then fails: frames keep running meanwhile
    let (go, wait) = std::sync::mpsc::sync_channel::<()>(1);
    let wait = std::sync::Mutex::new(wait);
    h.state_mut().video_sources = SourceLister::with_fn(
        Arc::new(move || {
            let _ = wait.lock().unwrap().recv();
            panic!("cannot reach the window manager");
        }),
        None,
    );
    h.run_steps(5);
    h.get_by_label("source").click();
    h.run_steps(2);
    assert!(
        has(&h, |l| l == "listing sources…"),
        "listing shown, UI not blocked"
    );
    assert!(
        has(&h, |l| l == "pattern (test pattern)"),
        "pattern meanwhile"
    );
    go.send(()).unwrap();
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            == "! listing sources failed: cannot reach the window manager")),
        "the failure is explained in the menu"
    );
    assert!(has(&h, |l| l == "no cameras found"));
    assert!(has(&h, |l| l == "no windows found"));
    // refresh lists again, with a working lister this time
    h.state_mut().video_sources = SourceLister::with_fn(
        Arc::new(|| capdeck_capture::video::VideoSources {
            screens: vec![capdeck_capture::video::screen::ScreenInfo {
                index: 0,
                name: "Xvfb".into(),
                width: 1280,
                height: 800,
                primary: true,
            }],
            synthetic: vec!["pattern".into()],
            ..Default::default()
        }),
        None,
    );
    h.key_press(Key::Escape);
    h.run_steps(1);
    h.get_by_label("refresh").click();
    h.run_steps(1);
    h.get_by_label("source").click();
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            == "screen 0: Xvfb 1280x800 (primary)")),
        "listed screen shown"
    );
    h.get_by_label("screen 0: Xvfb 1280x800 (primary)").click();
    h.run_steps(2);
    assert_eq!(h.state().settings.video_source, "screen:0");
}

#[test]
fn push_to_talk_row_settings_and_talking_indicator() {
    let mut h = harness_with(opts());
    h.run_steps(2);
    assert!(!has(&h, |l| l == "not talking"), "no PTT row while off");
    h.get_by_label("push-to-talk").click();
    h.run_steps(3);
    assert!(h.state().settings.push_to_talk);
    assert!(h.state().ptt.state().enabled(), "the audio gate sees it on");
    assert!(
        has(&h, |l| l == "not talking"),
        "indicator while the key is up"
    );
    // the window's own key counts too (the global poller ORs it in)
    h.key_down(Key::F8);
    assert!(
        wait_until(&mut h, 5.0, |h| has(h, |l| l.trim() == "TALKING")),
        "TALKING while F8 is held"
    );
    assert!(h.state().ptt.state().key_down());
    h.key_up(Key::F8);
    assert!(
        wait_until(&mut h, 5.0, |h| has(h, |l| l == "not talking")),
        "not talking after release"
    );
    // key, pre-roll and mode reach the settings and the gate's state
    let app = h.state_mut();
    app.apply(UiCommand::SetPttKey("CapsLock".into()));
    app.apply(UiCommand::SetPttKey("NoSuchKey".into()));
    app.apply(UiCommand::SetPttPreroll(350));
    app.apply(UiCommand::SetPttMode(PttMode::StopSending));
    assert_eq!(app.settings.ptt_key, "CapsLock");
    assert_eq!(app.settings.ptt_preroll_ms, 350);
    assert_eq!(app.settings.ptt_mode, PttMode::StopSending);
    let st = app.ptt.state().clone();
    assert_eq!(st.preroll_ms(), 350);
    assert_eq!(st.mode(), PttMode::StopSending);
    app.apply(UiCommand::SetPttPreroll(99_999));
    assert_eq!(app.settings.ptt_preroll_ms, 1000, "clamped");
    h.get_by_label("push-to-talk").click();
    h.run_steps(2);
    assert!(!h.state().ptt.state().enabled(), "off again");
}

/// The game data folder: typed in the live pane, it enables "play"; the engine's movie is
/// then looked up there and answered from the core (this build: `error`, no decoder), the
/// HUD shows the answer; the folder persists, and `--game-data` overrides it.
#[test]
fn the_game_data_folder_is_a_setting_and_play_answers_from_it() {
    use capdeck_grimstream::MovieAction;
    use capdeck_grimstream::feed::MoviePolicy;
    let game = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(game.path().join("MoviesHD")).unwrap();
    std::fs::write(game.path().join("MoviesHD/logos.ogv"), b"OggS").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let o = AppOptions {
        settings_path: Some(path.clone()),
        no_autostart: true,
        ..Default::default()
    };
    let MovieEngine {
        addr,
        stop,
        got,
        producer,
    } = movie_engine(Some("MoviesHD/logos.ogv"));
    let mut h = harness_with(o.clone());
    h.run_steps(2);
    assert!(
        h.get_by_label("play from game data")
            .accesskit_node()
            .is_disabled(),
        "no folder, no play"
    );
    let folder = game.path().display().to_string();
    h.get_by_label("game data folder").focus();
    h.run_steps(1);
    h.get_by_label("game data folder").type_text(&folder);
    h.run_steps(2);
    assert_eq!(
        h.state().settings.game_data_dir.as_deref(),
        Some(game.path())
    );
    h.get_by_label("play from game data").click();
    h.run_steps(2);
    assert_eq!(
        h.state().settings.movie_policy,
        MoviePolicy::Play {
            game_data: game.path().into()
        }
    );
    connect(&mut h, FeedRole::Engine, addr.trim_start_matches("tcp://"));
    assert!(
        wait_until(&mut h, 10.0, |_| got.lock().unwrap().is_some()),
        "the engine got an answer to MOVIE_START"
    );
    let answer = got.lock().unwrap().clone().unwrap();
    assert_eq!(answer.action, MovieAction::Error);
    let msg = answer.message.unwrap();
    assert!(
        msg.starts_with("no decoder for ogv movies")
            && msg.contains(&*game.path().join("MoviesHD/logos.ogv").to_string_lossy()),
        "found under the folder, answered with the reason: {msg}"
    );
    assert!(
        wait_until(&mut h, 10.0, |h| has(h, |l| l
            .starts_with("movie logos: error (no decoder for ogv movies")
            && l.ends_with(" ms"))),
        "the answer in the HUD: {:?}",
        texts(&h)
    );
    h.state().save_settings();
    drop(h);
    stop.stop();
    producer.join().unwrap();
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded.game_data_dir.as_deref(), Some(game.path()));
    assert!(matches!(loaded.movie_policy, MoviePolicy::Play { .. }));
    // the next run shows the saved folder; --game-data overrides it (and plays from it)
    let h = harness_with(o.clone());
    assert_eq!(h.state().view.game_data, folder);
    let other = tempfile::tempdir().unwrap();
    let h = harness_with(AppOptions {
        game_data: Some(other.path().into()),
        ..o
    });
    assert_eq!(
        h.state().settings.game_data_dir.as_deref(),
        Some(other.path())
    );
    assert_eq!(
        h.state().settings.movie_policy,
        MoviePolicy::Play {
            game_data: other.path().into()
        }
    );
}

/// A real engine-side server that says HELLO, sends MOVIE_START for "logos" (at
/// `relative_path`) and keeps the last MOVIE_CONTROL it gets, until stopped.
struct MovieEngine {
    addr: String,
    stop: capdeck_grimstream::server::StopFlag,
    got: Arc<std::sync::Mutex<Option<capdeck_grimstream::MovieControl>>>,
    producer: std::thread::JoinHandle<()>,
}

fn movie_engine(relative_path: Option<&str>) -> MovieEngine {
    use capdeck_grimstream::MovieStart;
    use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
    let any: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
    let server =
        ProducerServer::bind(&any, ServerOptions::engine(Hello::new("grim_engine", None))).unwrap();
    let addr = server.local_addr().to_string();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    let got = Arc::new(std::sync::Mutex::new(None));
    let got2 = got.clone();
    let relative_path = relative_path.map(str::to_owned);
    let producer = std::thread::spawn(move || {
        server
            .run(&stop2, |s| {
                s.send(&Message::MovieStart(MovieStart {
                    name: "logos".into(),
                    relative_path: relative_path.clone(),
                }))?;
                while !s.stopped() && !s.peer_closed() {
                    if let Some(Message::MovieControl(m)) =
                        s.recv_timeout(std::time::Duration::from_millis(10))
                    {
                        *got2.lock().unwrap() = Some(m);
                    }
                }
                Ok(())
            })
            .unwrap();
    });
    MovieEngine {
        addr,
        stop,
        got,
        producer,
    }
}

/// Steps the app (real time passes: the demo producers and the recorder run on their
/// own threads) until `done` holds, failing after `secs`.
fn step_until(
    h: &mut Harness<'static, CapdeckApp>,
    secs: f64,
    what: &str,
    done: impl Fn(&CapdeckApp) -> bool,
) {
    let t = std::time::Instant::now();
    while !done(h.state()) {
        assert!(
            t.elapsed().as_secs_f64() < secs,
            "{what}: not within {secs} s; shown: {:?}",
            texts(h)
        );
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Steps until the frame at the cursor is `seen` with its pixels (read back from disk).
fn step_until_read_back(
    h: &mut Harness<'static, CapdeckApp>,
    seen: &capdeck_grimstream::store::StoredFrame,
    what: &str,
) {
    step_until(h, 10.0, what, |a| {
        a.live
            .frame
            .at
            .frame
            .as_ref()
            .is_some_and(|f| f.frame_id == seen.frame_id && !f.paged_out)
    });
}

/// Seconds the app's recording has run (0 when not recording).
fn recorded_secs(a: &CapdeckApp) -> f64 {
    a.recorder
        .as_ref()
        .map_or(0.0, |r| r.status().elapsed.as_secs_f64())
}

/// The app recording into a fresh folder, the built-in demo running (1280x720 at 30 fps)
/// with a 16 MiB memory budget: 4 frames, so everything older is paged out.
fn demo_with_small_budget() -> (tempfile::TempDir, Harness<'static, CapdeckApp>) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with(AppOptions {
        recordings_dir: Some(dir.path().to_owned()),
        ..opts()
    });
    h.state_mut().apply(UiCommand::SetMemoryBudgetMib(16));
    h.state_mut().apply(UiCommand::UseDemoFeeds(true));
    step_until(&mut h, 20.0, "demo frames", |a| {
        a.live
            .frame
            .at
            .frame
            .as_ref()
            .is_some_and(|f| f.frame_id > 0)
    });
    (dir, h)
}

/// One click records the embedded demo (real producers over TCP, 1280x720 at 30 fps);
/// the recording opens in the live view, where frames beyond the memory budget are read
/// back from the file: a frame seen live, paged out of memory in the replay, comes back
/// byte for byte; the whole extent is on the timeline; back to live restarts the demo.
#[test]
fn record_the_demo_then_open_it_and_scrub_frames_back_from_disk() {
    let (dir, mut h) = demo_with_small_budget();
    h.get_by_label("Record").click();
    step_until(&mut h, 10.0, "recording starts", |a| a.recorder.is_some());
    // a frame as the live view had it, while recording
    step_until(&mut h, 10.0, "frames recorded", |a| {
        a.recorder
            .as_ref()
            .is_some_and(|r| r.status().elapsed.as_secs_f64() > 1.0)
    });
    let seen = h.state().live.frame.at.frame.clone().unwrap();
    h.step();
    assert!(has(&h, |l| l == "REC"));
    assert!(shown(&h, "00:00:0").contains("dropped"));
    step_until(&mut h, 20.0, "two seconds recorded", |a| {
        a.recorder
            .as_ref()
            .is_some_and(|r| r.status().elapsed.as_secs_f64() > 2.0)
    });
    h.get_by_label("Stop").click();
    step_until(&mut h, 10.0, "recording stops", |a| a.recorder.is_none());
    let sessions: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(sessions.len(), 1, "one session folder");
    let session = sessions[0].path();
    let report = capdeck_record::reader::verify(&session).unwrap();
    assert!(report.ok(), "{report:?}");

    // the pointer leaves the status bar (a tooltip shown under it would take the click)
    h.get_by_label("Live view").hover();
    h.run_steps(2);
    h.get_by_label("Open recording…").click();
    h.run_steps(3); // the click, then the new window's sizing pass, then the window
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    let n2 = name.clone();
    assert!(
        has(&h, move |l| l == n2),
        "{name} is listed: {:?}",
        texts(&h)
    );
    // the row's Open (the first Open is the typed path's)
    h.query_all_by_label("Open").last().unwrap().click();
    step_until(&mut h, 60.0, "the recording opens", |a| {
        a.live.recording.is_some()
    });
    assert!(
        !h.state().live.demo_running(),
        "the demo stopped for the replay"
    );
    assert!(shown(&h, "Replaying").starts_with("Replaying"));
    let (frames, paged, end) = {
        let app = h.state();
        let end = app.live.timeline().end_ns.expect("a recording has an end");
        app.live.core.with_store(|s| {
            let f = &s.feed(FeedRole::Retail).frames;
            (f.len(), f.iter().filter(|x| x.paged_out).count(), end)
        })
    };
    assert!(frames > 45, "{frames} frames listed (>= 2 s at 30 fps)");
    assert!(paged + 5 >= frames, "{paged} of {frames} frames paged out");
    let range = h.state().live.frame.range;
    assert!(
        range.1 == end && range.1 - range.0 > 1_500_000_000,
        "{range:?}"
    );
    // the frame seen live: paged out now, read back from the file byte for byte
    let t = h.state().live.core.with_store(|s| {
        let f = s
            .feed(FeedRole::Retail)
            .frames
            .iter()
            .find(|x| x.frame_id == seen.frame_id && x.host_time_ns == seen.host_time_ns)
            .expect("the frame seen live is in the recording");
        assert!(f.paged_out, "paged out of memory");
        f.t_ns
    });
    h.state_mut()
        .apply(UiCommand::Timeline(Command::Seek { t_ns: t }));
    // read on the loader thread: the UI goes on drawing until it is there
    step_until_read_back(&mut h, &seen, "the frame is read back");
    h.step();
    let shown_frame = h.state().live.frame.at.frame.clone().unwrap();
    assert_eq!(shown_frame.frame_id, seen.frame_id);
    assert!(!shown_frame.paged_out);
    assert!(
        shown_frame.data == seen.data,
        "the pixels read back are the ones seen live"
    );
    assert_eq!(shown_frame_id(&h), seen.frame_id);
    let loads = h.state().live.recording.as_ref().unwrap().pager.loads;
    assert!(loads >= 1);
    // scrub to the start: another frame, read back too
    h.state_mut()
        .apply(UiCommand::Timeline(Command::JumpToStart));
    h.state_mut()
        .apply(UiCommand::Timeline(Command::StepFrame { forward: true }));
    step_until(&mut h, 10.0, "the first frame is read back", |a| {
        let cursor = a.live.frame.at.frame.as_ref();
        let listed = a.live.core.with_store(|s| {
            s.feed(FeedRole::Retail)
                .frame_at(a.live.timeline().cursor_ns)
                .map(|f| f.frame_id)
        });
        cursor.is_some_and(|f| !f.paged_out && Some(f.frame_id) == listed)
    });
    let first = h.state().live.frame.at.frame.clone().unwrap();
    assert!(
        first.frame_id < seen.frame_id && first.rgba_geometry().is_ok(),
        "first {} {:?} (paged {}, {} bytes), seen {}",
        first.frame_id,
        first.rgba_geometry(),
        first.paged_out,
        first.data.len(),
        seen.frame_id
    );
    assert!(h.state().live.recording.as_ref().unwrap().pager.loads > loads);
    // play to the end: the cursor stops at the recording's end
    h.state_mut()
        .apply(UiCommand::Timeline(Command::SetSpeed(8.0)));
    h.state_mut().apply(UiCommand::Timeline(Command::Play));
    step_until(&mut h, 10.0, "playback reaches the end", |a| {
        a.live.timeline().cursor_ns == end
    });

    // a selection of the replay exported as a clip, off the UI thread: the button, then
    // the job's outcome in the banner; its frames are the ones listed in the range
    let (a, b) = (end / 4, end / 2);
    h.state_mut()
        .apply(UiCommand::Timeline(Command::SetSelection(Some(
            Selection {
                start_ns: a,
                end_ns: b,
            },
        ))));
    h.run_steps(2);
    h.get_by_label("Export selection as a clip").click();
    step_until(&mut h, 60.0, "the clip is written", |app| {
        app.live
            .recording
            .as_ref()
            .and_then(|r| r.job.as_ref())
            .is_some_and(|j| j.outcome.is_some())
    });
    let outcome = h
        .state()
        .live
        .recording
        .as_ref()
        .unwrap()
        .job
        .as_ref()
        .unwrap()
        .outcome
        .clone();
    let text = outcome.unwrap().expect("the clip succeeds");
    let in_range = h.state().live.core.with_store(|s| {
        s.feed(FeedRole::Retail)
            .frames
            .iter()
            .filter(|f| f.t_ns >= a && f.t_ns <= b)
            .count()
    });
    assert!(
        text.starts_with("clip written to ") && text.contains(&format!(": {in_range} frames")),
        "{text} ({in_range} frames in the range)"
    );
    assert!(
        has(&h, |l| l.starts_with("clip written to ")),
        "shown in the banner"
    );

    h.get_by_label("Back to live").click();
    step_until(&mut h, 20.0, "live again", |a| {
        a.live.recording.is_none() && a.live.demo_running() && a.live.frame.at.frame.is_some()
    });
}

/// A recording with the capture side on (a -6 dBFS tone and the pattern, sent to the
/// built-in receiver), an operator mark and a gain change: in the replay the capture pane
/// shows what was sent at the cursor (the JPEG read back from the file and decoded, the
/// audio chunk's level before and after the gain change, the waveform, the counters), the
/// mark is on the timeline, the setting change is in the recording; then the recording is
/// deleted from the recent list.
#[test]
fn a_replay_shows_what_the_capture_side_sent_at_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with(AppOptions {
        recordings_dir: Some(dir.path().to_owned()),
        ..opts()
    });
    {
        let app = h.state_mut();
        app.apply(UiCommand::UseEmbeddedHost);
        app.apply(UiCommand::SetAudioSource("tone:440".into()));
        app.apply(UiCommand::SetVideoSource("pattern".into()));
        app.apply(UiCommand::StartChannel(PushChannel::Audio));
        app.apply(UiCommand::StartChannel(PushChannel::Video));
    }
    step_until(&mut h, 20.0, "audio and video sent", |a| {
        a.capture_snap.channels.iter().all(|c| c.sent >= 3)
    });
    h.state_mut().apply(UiCommand::StartRecording);
    step_until(&mut h, 10.0, "1.5 s recorded", |a| recorded_secs(a) > 1.5);
    // the M key marks the cursor; then the gain goes down 6 dB
    h.key_press(Key::M);
    h.step();
    // its note, edited, then recorded: a replay keeps the last state of mark 1
    h.state_mut().apply(UiCommand::EditMarkNote {
        id: 1,
        note: "a bug here".into(),
    });
    h.state_mut().apply(UiCommand::SetMarkKind {
        id: 1,
        kind: MarkKind::Bug,
    });
    h.state_mut().apply(UiCommand::RecordMark(1));
    h.state_mut().apply(UiCommand::SetGain(-6.0));
    step_until(&mut h, 10.0, "3.5 s recorded", |a| recorded_secs(a) > 3.5);
    h.state_mut().apply(UiCommand::StopRecording);
    for ch in PushChannel::ALL {
        h.state_mut().apply(UiCommand::StopChannel(ch));
    }
    let session = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .next()
        .expect("a session folder")
        .path();
    h.state_mut()
        .apply(UiCommand::OpenRecording(session.clone()));
    step_until(&mut h, 30.0, "the recording opens", |a| {
        a.live.recording.is_some()
    });

    let (end, audio, video, settings, marks) = {
        let app = h.state();
        let rec = app.live.recording.as_ref().unwrap();
        let c = &rec.capture;
        (
            app.live.timeline().end_ns.expect("an end"),
            c.audio.clone(),
            c.video.clone(),
            c.settings.clone(),
            app.live.core.with_store(|s| s.operator_marks().to_vec()),
        )
    };
    // 100 ms chunks for about 3.5 s (the first may be cut by the start)
    assert!(audio.len() >= 30, "{} audio chunks", audio.len());
    assert!(video.len() >= 5, "{} video frames", video.len());
    assert!(
        audio.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "every chunk, in order"
    );
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0].label, "mark 1");
    assert_eq!(
        (marks[0].note.as_str(), marks[0].kind),
        ("a bug here", MarkKind::Bug)
    );
    assert!(
        marks[0].t_ns > 0 && marks[0].t_ns < end,
        "{marks:?} end {end}"
    );
    assert!(
        settings[0].1.starts_with(r#"{"settings":"#),
        "the settings in force first: {settings:?}"
    );
    let gain = settings
        .iter()
        .find(|(_, j)| j.contains(r#""gain_db":-6.0"#))
        .unwrap_or_else(|| panic!("the gain change is recorded: {settings:?}"));
    // the tone's level as sent: -6 dBFS before the change, -12 after (a chunk already in
    // the pipeline when it changed may be between)
    let before: Vec<f32> = audio
        .iter()
        .filter(|a| a.t_ns < gain.0 - 300_000_000)
        .map(|a| a.peak_dbfs)
        .collect();
    let after: Vec<f32> = audio
        .iter()
        .filter(|a| a.t_ns > gain.0 + 500_000_000)
        .map(|a| a.peak_dbfs)
        .collect();
    assert!(
        before.len() >= 5 && after.len() >= 5,
        "{before:?} {after:?}"
    );
    assert!(before.iter().all(|p| (p + 6.0).abs() < 0.5), "{before:?}");
    assert!(after.iter().all(|p| (p + 12.0).abs() < 0.5), "{after:?}");

    // the cursor on the third video frame: its JPEG is read back and decoded
    let v = video[2];
    h.state_mut()
        .apply(UiCommand::Timeline(Command::Seek { t_ns: v.t_ns }));
    step_until(&mut h, 10.0, "the sent JPEG is read back", |a| {
        a.live
            .recording
            .as_ref()
            .and_then(|r| r.jpeg.as_ref())
            .is_some_and(|p| p.seq == v.seq)
    });
    h.step();
    {
        let app = h.state();
        let p = app.live.recording.as_ref().unwrap().jpeg.clone().unwrap();
        assert_eq!(
            p.image.size,
            [v.size[0] as usize, v.size[1] as usize],
            "decoded at the size sent"
        );
        assert_eq!(p.jpeg_bytes, v.jpeg_bytes as usize);
    }
    assert!(has(&h, |l| l == "Sent at the cursor (recording)"));
    let n_audio = audio.iter().filter(|a| a.t_ns <= v.t_ns).count();
    let line = shown(&h, "audio ");
    assert!(
        line.starts_with(&format!("audio {n_audio} of {} chunks", audio.len())),
        "{line}"
    );
    let line = shown(&h, "video ");
    assert!(
        line.starts_with(&format!(
            "video 3 of {} frames (seq {}, {}x{}",
            video.len(),
            v.seq,
            v.size[0],
            v.size[1]
        )),
        "{line}"
    );
    // the waveform of the two seconds before the cursor has the tone in it
    let wave = h.state().live.recording.as_ref().unwrap().capture.waveform(
        v.t_ns - 2_000_000_000,
        v.t_ns,
        200,
    );
    let loud = wave
        .iter()
        .flatten()
        .filter(|(lo, hi)| *hi > 0.45 && *lo < -0.45)
        .count();
    assert!(loud > 20, "{loud} columns with the tone in them: {wave:?}");
    // the mark is on the timeline, at its time
    assert!(
        h.state()
            .live
            .frame
            .marks
            .iter()
            .any(|m| m.label == "mark 1"),
        "the mark is drawn"
    );

    // its capture side sent again to the built-in receiver, paced as recorded
    let rx = |a: &CapdeckApp| {
        a.capture_snap
            .receiver
            .as_ref()
            .map_or((0, 0), |r| (r.audio_msgs, r.video_msgs))
    };
    let before = rx(h.state());
    h.get_by_label("Send capture to host").click();
    let job_done = |a: &CapdeckApp| {
        a.live
            .recording
            .as_ref()
            .and_then(|r| r.job.as_ref())
            .and_then(|j| j.outcome.clone())
    };
    step_until(&mut h, 20.0, "the send ends", |a| job_done(a).is_some());
    let said = job_done(h.state()).unwrap().expect("sent");
    assert!(
        said.starts_with(&format!(
            "sent {} audio and {} video messages",
            audio.len(),
            video.len()
        )),
        "{said}"
    );
    step_until(&mut h, 10.0, "the receiver has them all", |a| {
        let now = rx(a);
        now.0 >= before.0 + audio.len() as u64 && now.1 >= before.1 + video.len() as u64
    });
    // and exported for Foxglove, beside the folder: the marks and settings are in it
    h.get_by_label("Export for Foxglove").click();
    step_until(&mut h, 20.0, "the export ends", |a| {
        let export = a.live.recording.as_ref().and_then(|r| r.job.as_ref());
        export.is_some_and(|j| j.what.starts_with("exporting") && j.outcome.is_some())
    });
    let said = job_done(h.state()).unwrap().expect("exported");
    let out = dir.path().join(format!(
        "{}.foxglove.mcap",
        session.file_name().unwrap().to_string_lossy()
    ));
    assert!(said.contains(&out.display().to_string()), "{said}");
    let per_topic = capdeck_record::reader::Recording::open(&out)
        .unwrap()
        .per_topic();
    // mark 1 made, its kind set, its note recorded: three records, the last state wins
    assert_eq!(per_topic.get("/marks"), Some(&3), "{per_topic:?}");
    assert_eq!(
        per_topic.get("/settings").copied(),
        Some(settings.len() as u64),
        "{per_topic:?}"
    );

    // back to live, then delete the recording from the recent list
    h.state_mut().apply(UiCommand::CloseRecording);
    h.state_mut().apply(UiCommand::ShowOpenRecording(true));
    h.run_steps(3);
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    let n2 = name.clone();
    assert!(has(&h, move |l| l == n2), "{name} listed: {:?}", texts(&h));
    h.get_by_label("Delete").click();
    h.run_steps(2);
    assert!(!session.exists(), "the folder is gone");
    assert!(!has(&h, move |l| l == name), "and no longer listed");
}

/// While recording live, history is bounded by the disk: with a 16 MiB budget (4 frames of
/// 1280x720) a frame seen a second into the recording is soon paged out of memory, still
/// listed, and going back to it reads it from the session being written, byte for byte,
/// while the recording goes on.
#[test]
fn while_recording_scrubbing_back_past_the_budget_reads_from_the_recording() {
    let (_dir, mut h) = demo_with_small_budget();
    h.state_mut().apply(UiCommand::StartRecording);
    step_until(&mut h, 10.0, "a second recorded", |a| {
        recorded_secs(a) > 1.0
    });
    let seen = h.state().live.frame.at.frame.clone().unwrap();
    assert!(!seen.paged_out);
    step_until(&mut h, 20.0, "the frame seen is paged out", |a| {
        a.live.core.with_store(|s| {
            s.feed(FeedRole::Retail)
                .frames
                .iter()
                .any(|f| f.frame_id == seen.frame_id && f.paged_out)
        })
    });
    let t = h.state().live.core.with_store(|s| {
        s.feed(FeedRole::Retail)
            .frames
            .iter()
            .find(|f| f.frame_id == seen.frame_id)
            .unwrap()
            .t_ns
    });
    h.state_mut().apply(UiCommand::Timeline(Command::Pause));
    h.state_mut()
        .apply(UiCommand::Timeline(Command::Seek { t_ns: t }));
    step_until_read_back(&mut h, &seen, "the frame is read back from the recording");
    let back = h.state().live.frame.at.frame.clone().unwrap();
    assert!(
        back.data == seen.data,
        "the pixels read back are the ones seen live"
    );
    assert!(h.state().live.live_pager.as_ref().unwrap().loads >= 1);
    let st = h
        .state()
        .recorder
        .as_ref()
        .expect("still recording")
        .status();
    assert!(
        matches!(st.state, capdeck_record::recorder::RecorderState::Recording),
        "{:?}",
        st.state
    );
    assert_eq!(st.dropped, 0);
    h.state_mut().apply(UiCommand::StopRecording);
}

/// Opening something that is not a recording says why and leaves the live view as it was.
#[test]
fn opening_a_folder_that_is_not_a_recording_is_an_error_not_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with(opts());
    h.state_mut()
        .apply(UiCommand::OpenRecording(dir.path().join("nothing-here")));
    let sub = {
        use tracing_subscriber::layer::SubscriberExt;
        tracing_subscriber::registry().with(h.state().log_ring().layer())
    };
    tracing::subscriber::with_default(sub, || {
        step_until(&mut h, 10.0, "the open fails", |a| a.live.opening.is_none())
    });
    assert!(h.state().live.recording.is_none());
    let errors: Vec<String> = h
        .state()
        .log_ring()
        .since(0)
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert!(
        errors
            .iter()
            .any(|m| m.contains("cannot open") && m.contains("nothing-here")),
        "{errors:?}"
    );
}

/// The game's telemetry and the engine's events, fed through the core's decoder on the
/// held clock (the scenario of tests/live/compare.rs): the engine skips the intro cut scene,
/// is 2 s late with the dialog line and plays a movie the game did not. The divergence
/// lane draws three ticks, the HUD counts them, the list has a row each, D jumps to them
/// and a row's click seeks to it.
#[test]
fn divergences_show_in_the_lane_the_hud_and_the_list() {
    use capdeck_wire::grimstream::Telemetry;
    let mut h = harness_with(opts());
    let app = h.state_mut();
    let core = &mut app.live.core;
    core.clock().set_manual(Some(0));
    core.open_source(FeedRole::Retail, 0, 1 << 20);
    core.open_source(FeedRole::Engine, 0, 1 << 20);
    core.ingest_bytes(FeedRole::Retail, 0, &hello("retail_capture"))
        .unwrap();
    core.ingest_bytes(FeedRole::Engine, 0, &hello("grim_engine"))
        .unwrap();
    let game = [
        (0.5, "movie.logos.start"),
        (1.5, "movie.logos.end"),
        (2.5, "cut_scene.intro.begin"),
        (3.5, "dialog.manny.intma39"),
        (4.0, "movie.intro.start"),
    ];
    let engine = [
        (0.5, "cut_scene.fullscreen.start logos.snm"),
        (1.5, "cut_scene.fullscreen.end logos.snm"),
        (3.0, "movie.start mo_ts.snm"),
        (4.0, "event=cutscene phase=start movie=intro.snm"),
        (5.5, "dialog.begin manny /intma39/"),
    ];
    let (mut g, mut e) = (0, 0);
    for k in 0..=120u64 {
        let t = k as f64 * 0.05;
        let at = (t * S) as i64;
        core.clock().set_manual(Some(at));
        while g < game.len() && game[g].0 <= t + 1e-9 {
            let m = Message::Telemetry(Telemetry {
                seq: g as u64,
                label: "intro.timeline".into(),
                timestamp: None,
                data: rmpv::Value::Map(vec![("event".into(), game[g].1.into())]),
            });
            core.ingest_bytes(FeedRole::Retail, at, &msg(&m)).unwrap();
            g += 1;
        }
        let mut events = Vec::new();
        while e < engine.len() && engine[e].0 <= t + 1e-9 {
            events.push(engine[e].1.to_owned());
            e += 1;
        }
        let s = Message::StateUpdate(StateUpdate {
            seq: k,
            host_time_ns: at as u64,
            events: (!events.is_empty()).then_some(events),
            ..Default::default()
        });
        core.ingest_bytes(FeedRole::Engine, at, &msg(&s)).unwrap();
    }
    app.live.refresh();
    app.apply(UiCommand::Timeline(Command::Pause));
    app.apply(UiCommand::Timeline(Command::JumpToStart));
    h.run_steps(3);

    assert_eq!(
        shown(&h, "divergences "),
        "divergences 3 (game only 1, engine only 1, late 1, order 0)"
    );
    let ticks = h.get_by_label("timeline").accesskit_node().numeric_value();
    assert_eq!(ticks, Some(3.0), "three ticks on the divergence lane");
    for row in [
        "only in the game cut_scene.intro.begin at 2.500 s",
        "only in the engine movie.mo_ts.start at 3.000 s",
        "late dialog.manny.intma39 at 3.500 s (engine +2000 ms)",
    ] {
        assert!(has(&h, move |l| l == row), "{row:?} not in {:?}", texts(&h));
    }
    // D: the next divergence, twice; Shift+D back
    h.key_press(Key::D);
    h.run_steps(2);
    assert!((cursor_s(&h) - 2.5).abs() < 0.01, "{}", cursor_s(&h));
    h.key_press(Key::D);
    h.run_steps(2);
    assert!((cursor_s(&h) - 3.0).abs() < 0.01, "{}", cursor_s(&h));
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::D);
    h.run_steps(2);
    assert!((cursor_s(&h) - 2.5).abs() < 0.01, "{}", cursor_s(&h));
    // a row's click seeks to it
    h.get_by_label("late dialog.manny.intma39 at 3.500 s (engine +2000 ms)")
        .click();
    h.run_steps(2);
    assert!((cursor_s(&h) - 3.5).abs() < 0.01, "{}", cursor_s(&h));

    // bookmark the late one from its row: a divergence bookmark with its description
    let marks = |h: &Harness<'_, CapdeckApp>| {
        h.state()
            .live
            .core
            .with_store(|s| s.operator_marks().to_vec())
    };
    h.get_all_by_label("bookmark").nth(2).unwrap().click();
    h.run_steps(2);
    let m = marks(&h);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (m[0].label.as_str(), m[0].kind, m[0].t_ns),
        (
            "dialog.manny.intma39",
            MarkKind::Divergence,
            (3.5 * S) as i64
        )
    );
    assert_eq!(
        m[0].note,
        "late dialog.manny.intma39 at 3.500 s (engine +2000 ms)"
    );
    // B from the start jumps to it; a note typed in the list is kept; remove removes
    h.key_press(Key::Home);
    h.run_steps(2);
    h.key_press(Key::B);
    h.run_steps(2);
    assert!((cursor_s(&h) - 3.5).abs() < 0.01, "{}", cursor_s(&h));
    h.get_by_label("Bookmarks (1)").click();
    h.run_steps(2);
    h.state_mut().apply(UiCommand::EditMarkNote {
        id: m[0].id,
        note: "the engine waits for the line's audio".into(),
    });
    h.run_steps(2);
    assert!(
        has(&h, |l| l == "the engine waits for the line's audio"),
        "{:?}",
        texts(&h)
    );
    h.get_by_label("remove").click();
    h.run_steps(2);
    assert!(marks(&h).is_empty());
}

/// The live view costs nothing until it is shown: with the capture tab in front, no demo
/// feeds run (and no history fills); showing the live view starts them.
#[test]
fn the_demo_starts_when_the_live_view_is_first_shown() {
    let mut h = harness_with(AppOptions {
        fresh: true,
        no_autostart: false,
        layout: Some(Layout::Tabs),
        ..Default::default()
    });
    h.run_steps(3);
    assert_eq!(h.state().settings.active_tab, Pane::Capture);
    assert!(
        !h.state().live.demo_running(),
        "no demo behind the capture tab"
    );
    let used = h.state().live.core.snapshot().usage.used_bytes;
    assert_eq!(used, 0, "no history");
    h.get_by_label("Live view").click();
    h.run_steps(3);
    assert!(
        h.state().live.demo_running(),
        "the demo runs once the live view is shown"
    );
}
