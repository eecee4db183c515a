//! Screen and window capture through the real pipeline, on a real X server.
//!
//! Needs CAPDECK_TEST_DISPLAY=1 with DISPLAY pointing at Xvfb (1280x800x24) running a
//! window manager (openbox). The test opens its own X11 window of four known colours,
//! captures it by screen and by window title, and checks the decoded JPEGs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking
#![cfg(target_os = "linux")]

use crate::support;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use capdeck_capture::video::{
    self, ScaleMode, VideoControl, VideoError, VideoFrame, VideoSourceSpec, VideoState,
};
use xcb::x;

/// The shared X server, one test at a time (X reuses a closed client's window ids, and a
/// window manager still tearing down the old window would confuse the next test's window
/// with it): a turn at the desktop that no other file's test shares, and this lock within
/// the file. Fails the test when there is none (these tests are ignored by a plain
/// `cargo test`; `make test` runs them under Xvfb).
static X_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn display_env() -> (support::DesktopTurn, std::sync::MutexGuard<'static, ()>) {
    support::require_env("CAPDECK_TEST_DISPLAY", "Xvfb with openbox");
    let turn = support::desktop_turn(module_path!());
    let x = X_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (turn, x)
}

/// Waits until the window manager lists (or no longer lists) a window title.
fn wait_listed(title: &str, listed: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = video::list_sources();
        if s.windows.iter().any(|w| w.title == title) == listed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "window {title:?} listed should be {listed}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];
/// Quadrant colours: top-left, top-right, bottom-left, bottom-right.
const QUADS: [[u8; 3]; 4] = [RED, GREEN, BLUE, WHITE];

/// An X11 window of four coloured quadrants (painted by the server: no drawing code).
struct ColourWindow {
    conn: xcb::Connection,
    root: x::Window,
    win: x::Window,
}

impl ColourWindow {
    fn open(title: &str, w: u16, h: u16) -> Self {
        Self::open_with(title, w, h, 0x000000, true)
    }

    /// A window of one colour, painted by the server as the window's own background.
    fn open_solid(title: &str, w: u16, h: u16, c: [u8; 3]) -> Self {
        let pixel = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        Self::open_with(title, w, h, pixel, false)
    }

    fn open_with(title: &str, w: u16, h: u16, back: u32, quadrants: bool) -> Self {
        let (conn, screen_num) = xcb::Connection::connect(None).expect("X connection");
        let screen = conn
            .get_setup()
            .roots()
            .nth(screen_num as usize)
            .expect("screen");
        let (root, visual) = (screen.root(), screen.root_visual());
        let win: x::Window = conn.generate_id();
        conn.send_request(&x::CreateWindow {
            depth: x::COPY_FROM_PARENT as u8,
            wid: win,
            parent: root,
            x: 100,
            y: 100,
            width: w,
            height: h,
            border_width: 0,
            class: x::WindowClass::InputOutput,
            visual,
            value_list: &[x::Cw::BackPixel(back)],
        });
        for (i, c) in QUADS.iter().enumerate().filter(|_| quadrants) {
            let child: x::Window = conn.generate_id();
            let pixel = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            conn.send_request(&x::CreateWindow {
                depth: x::COPY_FROM_PARENT as u8,
                wid: child,
                parent: win,
                x: if i % 2 == 0 { 0 } else { (w / 2) as i16 },
                y: if i < 2 { 0 } else { (h / 2) as i16 },
                width: w / 2,
                height: h / 2,
                border_width: 0,
                class: x::WindowClass::InputOutput,
                visual,
                value_list: &[x::Cw::BackPixel(pixel)],
            });
        }
        let atom = |name: &[u8]| {
            let c = conn.send_request(&x::InternAtom {
                only_if_exists: false,
                name,
            });
            conn.wait_for_reply(c).expect("atom").atom()
        };
        let (net_wm_name, utf8) = (atom(b"_NET_WM_NAME"), atom(b"UTF8_STRING"));
        conn.send_request(&x::ChangeProperty {
            mode: x::PropMode::Replace,
            window: win,
            property: net_wm_name,
            r#type: utf8,
            data: title.as_bytes(),
        });
        conn.send_request(&x::ChangeProperty {
            mode: x::PropMode::Replace,
            window: win,
            property: x::ATOM_WM_NAME,
            r#type: x::ATOM_STRING,
            data: title.as_bytes(),
        });
        conn.send_request(&x::MapSubwindows { window: win });
        conn.send_request(&x::MapWindow { window: win });
        conn.flush().expect("flush");
        Self { conn, root, win }
    }

    /// Puts the window above every other window (whatever else is on the display).
    fn raise(&self) {
        self.conn.send_request(&x::ConfigureWindow {
            window: self.win,
            value_list: &[x::ConfigWindow::StackMode(x::StackMode::Above)],
        });
        let _ = self.conn.flush();
    }

    /// Size on screen (the window manager may not grant the size asked for).
    fn size(&self) -> (u16, u16) {
        let c = self.conn.send_request(&x::GetGeometry {
            drawable: x::Drawable::Window(self.win),
        });
        let r = self.conn.wait_for_reply(c).expect("geometry");
        (r.width(), r.height())
    }

    /// Top-left corner on the root window (after the window manager placed it).
    fn origin(&self) -> (i32, i32) {
        let c = self.conn.send_request(&x::TranslateCoordinates {
            src_window: self.win,
            dst_window: self.root,
            src_x: 0,
            src_y: 0,
        });
        let r = self.conn.wait_for_reply(c).expect("translate");
        (i32::from(r.dst_x()), i32::from(r.dst_y()))
    }

    /// Destroys the window and waits until the window manager has let go of it.
    fn close(self, title: &str) {
        self.conn
            .send_request(&x::DestroyWindow { window: self.win });
        self.conn.flush().expect("flush");
        wait_listed(title, false);
    }
}

fn decode(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut dec = jpeg_decoder::Decoder::new(jpeg);
    let px = dec.decode().expect("JPEG decodes");
    let info = dec.info().unwrap();
    (u32::from(info.width), u32::from(info.height), px)
}

fn pixel(rgb: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * w + x) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

fn close_to(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, y)| (i32::from(x) - i32::from(y)).abs() <= 24)
}

/// Runs a pipeline until `check` accepts a frame (the window manager may still be
/// mapping the window for the first frames) or the deadline passes.
fn capture_until(
    spec: &VideoSourceSpec,
    control: Arc<VideoControl>,
    mut check: impl FnMut(&VideoFrame) -> Result<(), String>,
) -> (video::VideoPipeline, VideoFrame) {
    let (tx, rx) = mpsc::channel();
    let p = video::start(
        spec,
        control,
        Box::new(move |f| {
            let _ = tx.send(f);
        }),
    )
    .unwrap_or_else(|e| panic!("{spec} starts: {e}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        let Ok(f) = rx.recv_timeout(Duration::from_secs(2)) else {
            last = format!("no frame; stats {:?}", p.stats());
            continue;
        };
        match check(&f) {
            Ok(()) => return (p, f),
            Err(e) => last = e,
        }
    }
    panic!(
        "{spec}: never got the expected frame: {last}; stats {:?}",
        p.stats()
    );
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn window_by_title_shows_its_colours_at_the_requested_size() {
    let _x = display_env();
    let title = format!("capdeck colour test {}", std::process::id());
    let win = ColourWindow::open(&title, 400, 300);
    wait_listed(&title, true);
    // 400x300 into a 200x200 box, keeping aspect: 200x150.
    let control = VideoControl::new(200, 200, 10.0, 85);
    // Part of the title, in another case, picks the window.
    let query = title.to_uppercase().replace("CAPDECK ", "");
    let (p, f) = capture_until(&VideoSourceSpec::Window(query), control, |f| {
        let (w, h, rgb) = decode(&f.jpeg);
        if (w, h) != (200, 150) || (f.width, f.height) != (200, 150) {
            return Err(format!("size {w}x{h} (frame {}x{})", f.width, f.height));
        }
        for (i, want) in QUADS.iter().enumerate() {
            let (x, y) = (50 + 100 * (i as u32 % 2), 37 + 75 * (i as u32 / 2));
            let got = pixel(&rgb, w, x, y);
            if !close_to(got, *want) {
                return Err(format!("quadrant {i} at {x},{y}: {got:?} != {want:?}"));
            }
        }
        Ok(())
    });
    let s = p.stats();
    assert_eq!(s.state, VideoState::Running);
    assert!(s.source.contains(&title), "{}", s.source);
    assert_eq!(s.source_size, Some((400, 300)));
    // BGRA from the X11 fast path, or RGBA where it fell back to xcap (e.g. a window
    // that was not viewable yet when the first frame was asked for).
    assert!(
        matches!(
            s.source_format,
            Some(video::PixelFormat::Bgra | video::PixelFormat::Rgba)
        ),
        "{s:?}"
    );
    assert!(f.seq < 100);

    // Closing the window turns into a clear stalled status, not a crash or silence.
    win.close(&title);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = p.stats();
        if let VideoState::Stalled(reason) = &s.state {
            assert!(
                reason.contains("closed") || reason.contains("waiting for a window"),
                "{reason}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no stalled status: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The window coming back (same title) is picked up again.
    let win2 = ColourWindow::open(&title, 400, 300);
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.stats().state != VideoState::Running {
        assert!(Instant::now() < deadline, "not recovered: {:?}", p.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    p.stop();
    win2.close(&title);
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn screen_shows_the_window_colours_where_it_is() {
    let _x = display_env();
    let title = format!("capdeck screen test {}", std::process::id());
    let win = ColourWindow::open_solid(&title, 320, 240, GREEN);
    wait_listed(&title, true);
    // 1280x800 screen into 640x480 exactly: half width, 0.6 height.
    let control = VideoControl::new(640, 480, 10.0, 85);
    control.set_scale_mode(ScaleMode::Exact);
    let (p, _) = capture_until(&VideoSourceSpec::Screen(None), control, |f| {
        let (w, h, rgb) = decode(&f.jpeg);
        if (w, h) != (640, 480) {
            return Err(format!("size {w}x{h}"));
        }
        // The window's colour covers its area in the scaled screen frame (counted, so the
        // check does not depend on where the window manager placed the window).
        win.raise();
        let (ox, oy) = win.origin();
        let (ww, wh) = win.size();
        let expected = (f32::from(ww) * 0.5) * (f32::from(wh) * 0.6);
        let count = rgb
            .chunks_exact(3)
            .filter(|p| close_to([p[0], p[1], p[2]], GREEN))
            .count();
        if (count as f32) < expected * 0.8 {
            return Err(format!(
                "green: {count} pixels, expected about {expected:.0} (window at {ox},{oy})"
            ));
        }
        Ok(())
    });
    let s = p.stats();
    assert_eq!(s.source_size, Some((1280, 800)), "{s:?}");
    // BGRA from the X11 fast path, or RGBA where it fell back to xcap (e.g. a window
    // that was not viewable yet when the first frame was asked for).
    assert!(
        matches!(
            s.source_format,
            Some(video::PixelFormat::Bgra | video::PixelFormat::Rgba)
        ),
        "{s:?}"
    );
    assert!(s.source.starts_with("screen 0"), "{}", s.source);
    p.stop();
    win.close(&title);
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn missing_window_and_screen_are_clear_errors() {
    let _x = display_env();
    let c = VideoControl::new(640, 480, 5.0, 70);
    let e = video::start(
        &VideoSourceSpec::Window("no such window 7f3a".into()),
        c.clone(),
        Box::new(|_| {}),
    )
    .unwrap_err();
    assert!(
        matches!(&e, VideoError::NotFound(m) if m.contains("no such window 7f3a")),
        "{e}"
    );
    let e = video::start(&VideoSourceSpec::Screen(Some(9)), c, Box::new(|_| {})).unwrap_err();
    assert!(
        matches!(&e, VideoError::NotFound(m) if m.contains("no screen 9")),
        "{e}"
    );
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn lists_screens_and_windows() {
    let _x = display_env();
    let title = format!("capdeck list test {}", std::process::id());
    let win = ColourWindow::open(&title, 200, 100);
    wait_listed(&title, true);
    let s = video::list_sources();
    assert_eq!(s.screens.len(), 1, "{s:?}");
    assert_eq!((s.screens[0].width, s.screens[0].height), (1280, 800));
    let w = s.windows.iter().find(|w| w.title == title).unwrap();
    assert_eq!((w.width, w.height), (200, 100));
    assert_eq!(s.synthetic, vec!["pattern".to_string()]);
    assert_eq!(s.screen_backend, "xcap");
    win.close(&title);
}
