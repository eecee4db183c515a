//! Smoke test of the real window under Xvfb (CAPDECK_TEST_DISPLAY=1, DISPLAY set):
//! `capdeck --fresh --exit-after 5` opens, renders live non-blank frames (screenshots of
//! the root window taken with ImageMagick's `import`), and exits with status 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::screen::{self, parse_ppm};

/// Fails the test without the test environment; else waits for this file's turn at the
/// desktop (support::desktop_turn), held until the returned value drops.
fn require_display() -> support::DesktopTurn {
    support::require_env(
        "CAPDECK_TEST_DISPLAY",
        "Xvfb (DISPLAY) with a window manager",
    );
    support::desktop_turn(module_path!())
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn real_window_renders_live_frames_and_exits_zero() {
    let _desktop = require_display();
    let err = run_window(&[]);
    assert!(
        !err.contains("running on OpenGL (glow)"),
        "wgpu starts here"
    );
    // the demo's retail frames were timed from socket arrival to the render pass
    let line = err
        .lines()
        .find(|l| l.contains("retail arrival to screen: "))
        .unwrap_or_else(|| panic!("no latency line; stderr:\n{err}"));
    let frames: u64 = line
        .split("retail arrival to screen: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 10, "frames drawn while following live: {line}");
    eprintln!("{line}");
}

/// When wgpu cannot start (here: asked for a backend Linux does not have), the app falls
/// back to OpenGL (glow), says so, and still renders live frames.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn without_wgpu_the_window_falls_back_to_glow() {
    let _desktop = require_display();
    let err = run_window(&[("WGPU_BACKEND", "dx12")]);
    assert!(
        err.contains("running on OpenGL (glow)"),
        "the fallback is reported; stderr:\n{err}"
    );
}

/// Runs `capdeck --fresh --exit-after 5` with `env`, checks that the window shows live,
/// non-blank frames and that the process exits 0 after 5 s; returns its stderr.
fn run_window(env: &[(&str, &str)]) -> String {
    run_window_with(&[], env)
}

/// [`run_window`] with extra arguments for the app.
fn run_window_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let runtime = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capdeck"));
    cmd.args(["--fresh", "--exit-after", "5"])
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("HOME", home.path())
        .envs(env.iter().copied());
    let w = screen::run_window(cmd, Duration::from_secs(5), Duration::from_secs(5), None);
    w.stderr
}

/// A producer whose STREAM_CONFIG says 12000x1000 (wider than the GPU's 8192-pixel
/// texture limit; 48 MB frames, under the 64 MiB cap): the window shows the frames
/// downscaled (drawn by the render pass, so the arrival-to-screen probe counts them),
/// says so, logs no GPU error and exits 0.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn frames_wider_than_the_gpu_limit_are_drawn_downscaled() {
    let _desktop = require_display();
    use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
    use capdeck_grimstream::transport::FeedAddr;
    use capdeck_wire::grimstream::{Frame, Hello, Message, PIXEL_FORMAT_RGBA8, StreamConfig};
    let (w, h) = (12000u32, 1000u32);
    let config = StreamConfig {
        width: w,
        height: h,
        pixel_format: PIXEL_FORMAT_RGBA8,
        stride_bytes: w * 4,
        nominal_fps: Some(4.0),
    };
    let any: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
    let server = ProducerServer::bind(
        &any,
        ServerOptions::retail(Hello::new("retail_capture", None), Some(config)),
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let stop = StopFlag::default();
    let stop2 = stop.clone();
    // two 48 MB frames (a left-to-right ramp, then its inverse), alternated at 4 fps
    let ramp: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let v = ((i % w) * 255 / w) as u8;
            [v, 255 - v, 128, 255]
        })
        .collect();
    let inverse: Vec<u8> = ramp.iter().map(|b| 255 - b).collect();
    let frames = [bytes::Bytes::from(ramp), bytes::Bytes::from(inverse)];
    let producer = std::thread::spawn(move || {
        let t0 = Instant::now();
        server
            .run(&stop2, |s| {
                let mut id = 0u64;
                while !s.stopped() {
                    s.send(&Message::Frame(Frame {
                        frame_id: id,
                        host_time_ns: t0.elapsed().as_nanos() as u64,
                        telemetry_time_ns: None,
                        data: frames[(id % 2) as usize].clone(),
                    }))?;
                    id += 1;
                    // paces the producer (4 fps); not waiting on anything
                    std::thread::sleep(Duration::from_millis(250));
                }
                Ok(())
            })
            .unwrap();
    });
    let err = run_window_with(&["--retail", &addr], &[]);
    stop.stop();
    producer.join().unwrap();
    assert!(
        !err.contains("running on OpenGL (glow)"),
        "wgpu starts here"
    );
    assert!(
        err.contains("retail 12000x1000 shown downscaled to 6000x500 (GPU texture limit 8192)"),
        "the downscale is said; stderr:\n{err}"
    );
    assert!(!err.contains("GPU error"), "no GPU error; stderr:\n{err}");
    let drawn: u64 = err
        .lines()
        .find_map(|l| l.split("retail arrival to screen: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        drawn >= 2,
        "wide frames reached the screen: {drawn}; stderr:\n{err}"
    );
}

#[test]
fn ppm_parser_reads_import_output_format() {
    let mut b = b"P6\n# comment\n2 1\n255\n".to_vec();
    b.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    let s = parse_ppm(&b).unwrap();
    assert_eq!((s.w, s.h, s.rgb.len()), (2, 1, 6));
    assert!(parse_ppm(b"P6\n2 1\n255\n\x01").is_err());
    assert!(parse_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
}

/// Polls a wgpu future to completion (wgpu's native futures are ready at once or soon).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(Instant::now() < end, "wgpu future never completed");
        std::thread::yield_now();
    }
}

/// The app's wgpu error handler on a real device: a texture over the device's limit is
/// a validation error that is counted and kept, where wgpu's default handler panics.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn gpu_validation_errors_are_caught_not_panics() {
    let _desktop = require_display();
    use capdeck::ui::gpu_errors::GpuErrors;
    use eframe::wgpu;
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("an adapter (lavapipe in the test environment)");
    let (device, _queue) =
        block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).expect("a device");
    let errors = GpuErrors::install(&device);
    let max = device.limits().max_texture_dimension_2d;
    let _tex = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("too wide"),
        size: wgpu::Extent3d {
            width: max + 1,
            height: 16,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8UnormSrgb,
        usage: wgpu::TextureUsages::TEXTURE_BINDING,
        view_formats: &[],
    });
    assert_eq!(errors.count(), 1);
    let last = errors.last().unwrap();
    assert!(
        last.contains(&format!("{}", max + 1)) && last.contains("exceeds the limit"),
        "{last}"
    );
}

/// One app per settings file: a second `capdeck` with the same settings asks the running
/// one to show its window and exits 0 at once; the first hears it and shows its window.
/// `--new-instance` runs beside it; another settings file is another app.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn a_second_launch_shows_the_first_and_exits() {
    use std::process::Stdio;
    let _desktop = require_display();
    let runtime = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join("settings.json");
    let app = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_capdeck"));
        c.arg("--settings")
            .arg(&settings)
            .args(["--log-file", "none", "--layout", "tabs"])
            .args(extra)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("HOME", home.path());
        c
    };
    let mut first = app(&["--exit-after", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = support::Lines::read(first.stderr.take().unwrap());
    log.expect(
        "single instance: listening as capdeck-",
        Duration::from_secs(30),
    );

    let t = std::time::Instant::now();
    let second = app(&["--exit-after", "30"]).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("capdeck is already running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(10), "handed over at once");
    log.expect(
        "showing the window: a second launch asked",
        Duration::from_secs(30),
    );

    // --new-instance runs beside it (and exits by itself)
    let beside = app(&["--new-instance", "--exit-after", "1"])
        .output()
        .unwrap();
    assert!(beside.status.success());
    assert!(!String::from_utf8_lossy(&beside.stderr).contains("already running"));

    let _ = first.kill();
    let _ = first.wait();
    // the first gone (killed: nothing cleaned up), a new launch is the app again
    let third = app(&["--exit-after", "1"]).output().unwrap();
    assert!(third.status.success());
    assert!(
        String::from_utf8_lossy(&third.stderr).contains("single instance: listening"),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

/// `capdeck autostart enable|status|disable`: the XDG autostart entry starts this program
/// minimised (its path quoted), `status` reads it back, `disable` removes it.
#[test]
fn autostart_writes_the_entry_and_removes_it() {
    let home = tempfile::tempdir().unwrap();
    let run = |action: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_capdeck"))
            .args(["autostart", action, "--json"])
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let entry = home.path().join(".config/autostart/capdeck.desktop");
    assert_eq!(run("status")["enabled"], false);
    assert_eq!(run("enable")["enabled"], true);
    let text = std::fs::read_to_string(&entry).unwrap();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_capdeck")).unwrap();
    assert!(
        text.contains(&format!("Exec=\"{}\" --minimized", exe.display())),
        "{text}"
    );
    assert_eq!(run("status")["enabled"], true);
    assert_eq!(run("disable")["enabled"], false);
    assert!(!entry.exists());
}

/// `capdeck --minimized` (what the autostart entry runs): the window manager shows the
/// window iconified (ICCCM WM_STATE IconicState; without the flag it is 1, normal).
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn minimized_starts_iconified() {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, Window};
    let _desktop = require_display();
    let runtime = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut app = Command::new(env!("CARGO_BIN_EXE_capdeck"))
        .args([
            "--fresh",
            "--minimized",
            "--exit-after",
            "20",
            "--layout",
            "tabs",
        ])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (conn, screen) = x11rb::connect(None).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let wm_state = conn
        .intern_atom(false, b"WM_STATE")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    // the client windows (under the window manager's frames) called "capdeck"
    let states = || -> Vec<u32> {
        let mut out = Vec::new();
        let mut todo: Vec<(Window, u32)> = vec![(root, 0)];
        while let Some((w, depth)) = todo.pop() {
            if let Ok(t) = conn.query_tree(w).unwrap().reply()
                && depth < 3
            {
                todo.extend(t.children.iter().map(|&c| (c, depth + 1)));
            }
            let name = conn
                .get_property(false, w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 64)
                .unwrap()
                .reply()
                .map(|r| r.value)
                .unwrap_or_default();
            if name == b"capdeck" {
                let s = conn
                    .get_property(false, w, wm_state, wm_state, 0, 2)
                    .unwrap()
                    .reply()
                    .ok()
                    .and_then(|r| r.value32().and_then(|mut v| v.next()));
                out.extend(s);
            }
        }
        out
    };
    let t = std::time::Instant::now();
    let mut seen = Vec::new();
    while t.elapsed() < Duration::from_secs(15) {
        seen = states();
        if seen.contains(&3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = app.kill();
    let _ = app.wait();
    assert!(
        seen.contains(&3),
        "WM_STATE of the capdeck window: {seen:?} (3 = iconic)"
    );
}

/// A session D-Bus of the test's own (`dbus-daemon --session`), stopped with the guard.
fn session_bus(dir: &std::path::Path) -> (support::ChildGuard, String) {
    let addr = format!("unix:path={}", dir.join("bus").display());
    let bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address={addr}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("dbus-daemon (Debian package dbus-daemon)");
    let bus = support::ChildGuard(bus);
    assert!(
        support::wait_for(Duration::from_secs(10), || dir.join("bus").exists()),
        "dbus-daemon never listened"
    );
    (bus, addr)
}

/// `capdeck --fresh --layout tabs` (plus `extra`) on the session bus at `addr`, its
/// runtime dir `runtime` and HOME `home`, closing by itself after 90 s; its log's lines.
fn app_on_bus(
    addr: &str,
    runtime: &std::path::Path,
    home: &std::path::Path,
    extra: &[&str],
) -> (support::ChildGuard, support::Lines) {
    let mut app = support::ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_capdeck"))
            .args(["--fresh", "--layout", "tabs", "--log-file", "none"])
            .args(["--exit-after", "90"])
            .args(extra)
            .env("DBUS_SESSION_BUS_ADDRESS", addr)
            .env("XDG_RUNTIME_DIR", runtime)
            .env("HOME", home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = support::Lines::read(app.0.stderr.take().unwrap());
    (app, log)
}

/// The X11 client window called "capdeck": whether it is mapped, and a close request to it
/// as a window manager's close button sends (WM_DELETE_WINDOW).
struct X11Window {
    conn: x11rb::rust_connection::RustConnection,
    root: u32,
}

impl X11Window {
    fn connect() -> Self {
        use x11rb::connection::Connection as _;
        let (conn, screen) = x11rb::connect(None).expect("connect to Xvfb");
        let root = conn.setup().roots[screen].root;
        Self { conn, root }
    }

    fn atom(&self, name: &[u8]) -> u32 {
        use x11rb::protocol::xproto::ConnectionExt as _;
        self.conn
            .intern_atom(false, name)
            .unwrap()
            .reply()
            .unwrap()
            .atom
    }

    /// The window of process `pid` (its _NET_WM_PID: tests run side by side).
    fn find(&self, pid: u32) -> Option<u32> {
        use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};
        let net_wm_pid = self.atom(b"_NET_WM_PID");
        let mut todo = vec![(self.root, 0)];
        while let Some((w, depth)) = todo.pop() {
            if let Ok(t) = self.conn.query_tree(w).unwrap().reply()
                && depth < 3
            {
                todo.extend(t.children.iter().map(|&c| (c, depth + 1)));
            }
            let name = self
                .conn
                .get_property(false, w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 64)
                .unwrap()
                .reply()
                .map(|r| r.value)
                .unwrap_or_default();
            let owner = self
                .conn
                .get_property(false, w, net_wm_pid, AtomEnum::CARDINAL, 0, 1)
                .unwrap()
                .reply()
                .ok()
                .and_then(|r| r.value32().and_then(|mut v| v.next()));
            if name == b"capdeck" && owner == Some(pid) {
                return Some(w);
            }
        }
        None
    }

    fn viewable(&self, w: u32) -> bool {
        use x11rb::protocol::xproto::{ConnectionExt as _, MapState};
        self.conn
            .get_window_attributes(w)
            .unwrap()
            .reply()
            .is_ok_and(|a| a.map_state == MapState::VIEWABLE)
    }

    fn close(&self, w: u32) {
        use x11rb::connection::Connection as _;
        use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt as _, EventMask};
        let ev = ClientMessageEvent::new(
            32,
            w,
            self.atom(b"WM_PROTOCOLS"),
            [self.atom(b"WM_DELETE_WINDOW"), 0, 0, 0, 0],
        );
        self.conn
            .send_event(false, w, EventMask::NO_EVENT, ev)
            .unwrap();
        self.conn.flush().unwrap();
    }
}

/// The tray on Linux, against a desktop's tray played by tests/peers/sni_watcher.py (a
/// StatusNotifierWatcher on a session D-Bus of the test's own): the icon registers with the
/// lights drawn in, its menu stops the audio channel (the app stops it, and the menu says
/// so), the window's close button hides the window to the tray, "Show capdeck" brings it
/// back, and "Quit" ends the app with status 0.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn the_tray_menu_drives_the_app() {
    use std::io::Write as _;
    use std::process::Stdio;
    let _desktop = require_display();
    let dir = tempfile::tempdir().unwrap();
    let (_bus, addr) = session_bus(dir.path());
    let mut watcher = support::ChildGuard(
        Command::new(support::python())
            .arg(support::peer("sni_watcher.py"))
            .env("DBUS_SESSION_BUS_ADDRESS", &addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut events = support::Lines::read(watcher.0.stdout.take().unwrap());
    let mut ask_in = watcher.0.stdin.take().unwrap();
    events.expect("\"watching\"", Duration::from_secs(20));
    let mut ask = |cmd: &str, events: &mut support::Lines| -> serde_json::Value {
        writeln!(ask_in, "{cmd}").unwrap();
        let l = events.expect("{", Duration::from_secs(15));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert!(v.get("error").is_none(), "{cmd}: {v}");
        v
    };

    let home = tempfile::tempdir().unwrap();
    let (mut app, mut log) = app_on_bus(&addr, dir.path(), home.path(), &["--audio", "tone:440"]);
    log.expect("tray: icon registered", Duration::from_secs(30));
    events.expect("\"registered\"", Duration::from_secs(10));

    let props = ask("props", &mut events);
    let p = &props["props"];
    assert_eq!(p["Id"], "capdeck", "{p}");
    assert_eq!(p["Status"], "Active", "{p}");
    let pixmap = &p["IconPixmap"][0];
    assert_eq!(
        (&pixmap[0], &pixmap[1], &pixmap[2]),
        (&32.into(), &32.into(), &4096.into()),
        "one 32x32 ARGB icon: {p}"
    );
    assert!(
        p["ToolTip"]["description"]
            .as_str()
            .unwrap()
            .contains("audio"),
        "{p}"
    );

    let entry =
        |label: &str,
         events: &mut support::Lines,
         ask: &mut dyn FnMut(&str, &mut support::Lines) -> serde_json::Value| {
            let v = ask("layout", events);
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["label"] == label)
                .cloned()
                .unwrap_or_else(|| panic!("no {label:?} in {v}"))
        };
    // the audio channel streams from the start: its entry is a ticked checkmark
    assert!(
        support::wait_for(Duration::from_secs(20), || {
            let e = entry("Stream audio", &mut events, &mut ask);
            e["toggle-type"] == "checkmark" && e["toggle-state"] == 1
        }),
        "Stream audio never ticked: {}",
        entry("Stream audio", &mut events, &mut ask)
    );
    for label in ["Stream video", "Mute microphone", "Show capdeck", "Quit"] {
        entry(label, &mut events, &mut ask);
    }

    // the menu stops the audio channel; the app says so, and so does the menu
    ask("click Stream audio", &mut events);
    log.expect("tray: SetStreaming(Audio, false)", Duration::from_secs(10));
    assert!(
        support::wait_for(Duration::from_secs(10), || {
            entry("Stream audio", &mut events, &mut ask)["toggle-state"] == 0
                && entry("Audio: stopped", &mut events, &mut ask)["enabled"] == false
        }),
        "the menu never showed audio stopped: {}",
        ask("layout", &mut events)
    );

    // the close button hides the window to the tray; the tray shows it again
    let x = X11Window::connect();
    let mut w = None;
    assert!(support::wait_for(Duration::from_secs(10), || {
        w = x.find(app.id()).filter(|&w| x.viewable(w));
        w.is_some()
    }));
    let w = w.unwrap();
    x.close(w);
    log.expect("window hidden to the tray", Duration::from_secs(10));
    assert!(
        support::wait_for(Duration::from_secs(10), || !x.viewable(w)),
        "the window stayed mapped"
    );
    ask("click Show capdeck", &mut events);
    log.expect(
        "showing the window: the tray asked",
        Duration::from_secs(10),
    );
    assert!(
        support::wait_for(Duration::from_secs(10), || x.viewable(w)),
        "the window never came back"
    );

    // Quit ends the app, status 0
    let t = Instant::now();
    ask("click Quit", &mut events);
    log.expect("quitting: the tray asked", Duration::from_secs(10));
    assert!(app.wait_success(), "{}", log.seen().join("\n"));
    assert!(t.elapsed() < Duration::from_secs(30));
}

/// A desktop with a session bus but no tray (no StatusNotifierWatcher): one log line, the
/// app runs on, and its close button closes it (nothing to hide into).
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn without_a_tray_the_app_runs_and_closes() {
    let _desktop = require_display();
    let dir = tempfile::tempdir().unwrap();
    let (_bus, addr) = session_bus(dir.path());
    let home = tempfile::tempdir().unwrap();
    let (mut app, mut log) = app_on_bus(&addr, dir.path(), home.path(), &[]);
    let line = log.expect("capdeck runs without a tray icon", Duration::from_secs(30));
    assert!(line.contains("no StatusNotifierWatcher"), "{line}");
    let x = X11Window::connect();
    let mut w = None;
    assert!(support::wait_for(Duration::from_secs(20), || {
        w = x.find(app.id()).filter(|&w| x.viewable(w));
        w.is_some()
    }));
    let t = Instant::now();
    x.close(w.unwrap());
    assert!(app.wait_success(), "{}", log.seen().join("\n"));
    assert!(t.elapsed() < Duration::from_secs(20), "closed at once");
}
