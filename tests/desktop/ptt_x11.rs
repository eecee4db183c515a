//! Push-to-talk through its real parts on Linux: an X client window (not capdeck's) has
//! the focus under Xvfb, XTEST presses and releases the key, the `capdeck-ptt` poller sees
//! it through `QueryKeymap`, and the audio worker's gate switches the tone source's chunks
//! between silence and tone, with the pre-roll reaching back before the press.
//! Also checks the key is not swallowed: the focused window receives the press and release.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking
#![cfg(target_os = "linux")]

use crate::support::require_env;

use crate::support::wait_for;
use capdeck_capture::audio::{self, AudioChunk, AudioControl, AudioSourceSpec, PttMode, PttState};
use capdeck_capture::hotkey::x11::X11Probe;
use capdeck_capture::hotkey::{HotkeyStatus, PttHotkey, PttKey};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::*;
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::{COPY_DEPTH_FROM_PARENT, CURRENT_TIME};

const T: Duration = Duration::from_secs(10);
const PREROLL_MS: i64 = 200;

struct Game {
    conn: RustConnection,
    root: Window,
    win: Window,
}

impl Game {
    /// A plain X window standing in for a game, focused.
    fn open() -> Game {
        let (conn, n) = x11rb::connect(None).expect("connect to Xvfb");
        let screen = conn.setup().roots[n].clone();
        let win = conn.generate_id().unwrap();
        conn.create_window(
            COPY_DEPTH_FROM_PARENT,
            win,
            screen.root,
            50,
            50,
            320,
            240,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(screen.black_pixel)
                .event_mask(
                    EventMask::KEY_PRESS
                        | EventMask::KEY_RELEASE
                        | EventMask::STRUCTURE_NOTIFY
                        | EventMask::FOCUS_CHANGE,
                ),
        )
        .unwrap();
        conn.map_window(win).unwrap();
        conn.flush().unwrap();
        let g = Game {
            conn,
            root: screen.root,
            win,
        };
        let mut mapped = false;
        assert!(
            wait_for(T, || {
                while let Ok(Some(e)) = g.conn.poll_for_event() {
                    if matches!(e, Event::MapNotify(_)) {
                        mapped = true;
                    }
                }
                mapped
            }),
            "game window mapped"
        );
        assert!(
            wait_for(T, || {
                g.conn
                    .set_input_focus(InputFocus::PARENT, g.win, CURRENT_TIME)
                    .unwrap();
                g.conn.flush().unwrap();
                g.conn.get_input_focus().unwrap().reply().unwrap().focus == g.win
            }),
            "game window focused"
        );
        g
    }

    fn key(&self, code: u8, down: bool) {
        let t = if down {
            KEY_PRESS_EVENT
        } else {
            KEY_RELEASE_EVENT
        };
        self.conn
            .xtest_fake_input(t, code, CURRENT_TIME, self.root, 0, 0, 0)
            .unwrap();
        self.conn.flush().unwrap();
    }

    /// Waits until the focused window got a key event of this kind for `code`.
    fn saw_key(&self, code: u8, down: bool) -> bool {
        let mut seen = false;
        wait_for(T, || {
            while let Ok(Some(e)) = self.conn.poll_for_event() {
                match e {
                    Event::KeyPress(k) if down && k.detail == code && k.event == self.win => {
                        seen = true
                    }
                    Event::KeyRelease(k) if !down && k.detail == code && k.event == self.win => {
                        seen = true
                    }
                    _ => {}
                }
            }
            seen
        })
    }
}

fn next(rx: &Receiver<AudioChunk>) -> AudioChunk {
    rx.recv_timeout(T).expect("a chunk within 10 s")
}

fn silent(c: &AudioChunk) -> bool {
    c.samples.iter().all(|&v| v == 0)
}

/// Unix µs of sample `i` of `c`.
fn sample_us(c: &AudioChunk, i: usize) -> i64 {
    c.ts_ms as i64 * 1000 + i as i64 * 1_000_000 / 16_000
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn global_key_gates_the_tone_with_preroll_while_another_window_has_focus() {
    require_env("CAPDECK_TEST_DISPLAY", "Xvfb with a window manager");
    let _desktop = crate::support::desktop_turn(module_path!());
    let game = Game::open();
    let key = PttKey::F(8);
    let code = X11Probe::open(None).unwrap().keycodes(key).unwrap()[0];

    let state = Arc::new(PttState::default());
    state.set_enabled(true);
    state.set_mode(PttMode::SendSilence);
    state.set_preroll_ms(PREROLL_MS as u32);
    let hk = PttHotkey::start(state.clone(), key).unwrap();
    assert!(
        wait_for(T, || matches!(hk.status(), HotkeyStatus::Watching(_))),
        "poller watching: {:?}",
        hk.status()
    );

    let control = AudioControl::new(100);
    assert!(control.attach_ptt(&state));
    let (tx, rx) = sync_channel(1000);
    let pipe = audio::start(
        &AudioSourceSpec::Tone(440.0),
        control.clone(),
        Box::new(move |c| {
            let _ = tx.try_send(c);
        }),
    )
    .unwrap();

    // key up: silence, and chunks keep flowing with continuous seq
    let mut last_seq = None;
    let mut check_seq = |c: &AudioChunk| {
        if let Some(s) = last_seq {
            assert_eq!(c.seq, s + 1, "send-silence mode keeps seq continuous");
        }
        last_seq = Some(c.seq);
    };
    for _ in 0..5 {
        let c = next(&rx);
        check_seq(&c);
        assert!(silent(&c), "silence while the key is up (seq {})", c.seq);
    }

    // press in the game's window
    let mut cursor = state.edge_count();
    game.key(code, true);
    assert!(
        game.saw_key(code, true),
        "the focused window still got the press"
    );
    assert!(wait_for(T, || state.key_down()), "poller saw the press");
    let mut press_us = None;
    state.drain_edges(&mut cursor, |e| {
        if e.down {
            press_us = Some(e.at_us)
        }
    });
    let press_us = press_us.expect("press edge");

    // the first open sample is the pre-roll before the press, sample-exact
    let mut first_open = None;
    let mut loud = 0;
    let until = Instant::now() + T;
    while loud < 3 && Instant::now() < until {
        let c = next(&rx);
        check_seq(&c);
        if let Some(i) = c.samples.iter().position(|&v| v != 0) {
            first_open.get_or_insert(sample_us(&c, i));
            if sample_us(&c, 0) > press_us {
                assert!(
                    c.rms_dbfs > -30.0,
                    "tone while talking: {} dBFS",
                    c.rms_dbfs
                );
                loud += 1;
            }
        }
    }
    assert_eq!(loud, 3, "tone chunks while the key is held");
    let first = first_open.unwrap();
    let want = press_us - PREROLL_MS * 1000;
    // one sample (62.5 µs) of placement plus the tone's own zero crossings (< 2 samples)
    assert!(
        (first - want).abs() <= 200,
        "pre-roll reaches back to {want} µs, first open sample at {first} µs"
    );

    // release: silence again after the release time
    game.key(code, false);
    assert!(
        game.saw_key(code, false),
        "the focused window got the release"
    );
    assert!(wait_for(T, || !state.key_down()), "poller saw the release");
    let mut release_us = None;
    state.drain_edges(&mut cursor, |e| {
        if !e.down {
            release_us = Some(e.at_us)
        }
    });
    let release_us = release_us.expect("release edge");
    let mut silent_after = 0;
    let until = Instant::now() + T;
    while silent_after < 3 && Instant::now() < until {
        let c = next(&rx);
        check_seq(&c);
        if let Some(i) = c.samples.iter().rposition(|&v| v != 0) {
            assert!(
                sample_us(&c, i) < release_us,
                "nothing open after the release"
            );
        } else if sample_us(&c, 0) >= release_us {
            silent_after += 1;
        }
    }
    assert_eq!(silent_after, 3, "silence after the release");

    // stop-sending mode: nothing flows while up, pre-roll chunks come with the press
    state.set_mode(PttMode::StopSending);
    while rx.recv_timeout(Duration::from_millis(400)).is_ok() {}
    let before = pipe.stats().chunks;
    assert!(
        wait_for(T, || pipe.stats().chunks >= before + 5),
        "the pipeline keeps producing"
    );
    assert!(rx.try_recv().is_err(), "nothing sent while the key is up");
    let seq_before = pipe.stats().seq;
    game.key(code, true);
    assert!(wait_for(T, || state.key_down()));
    let mut press_us = None;
    state.drain_edges(&mut cursor, |e| {
        if e.down {
            press_us = Some(e.at_us)
        }
    });
    let press_us = press_us.unwrap();
    let first = next(&rx);
    assert!(
        first.seq >= seq_before.saturating_sub(3),
        "a pre-roll chunk"
    );
    let i = first
        .samples
        .iter()
        .position(|&v| v != 0)
        .expect("open samples");
    assert!(
        (sample_us(&first, i) - (press_us - PREROLL_MS * 1000)).abs() <= 200,
        "pre-roll starts {PREROLL_MS} ms before the press"
    );
    let mut prev = first.seq;
    for _ in 0..3 {
        let c = next(&rx);
        assert_eq!(c.seq, prev + 1, "continuous while talking");
        prev = c.seq;
    }
    game.key(code, false);
    assert!(wait_for(T, || !state.key_down()));
    pipe.stop();
    drop(hk);
}
