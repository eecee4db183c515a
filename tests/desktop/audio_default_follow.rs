//! "Follow the system default" keeps following when the default input changes, through the
//! real path (cpal → ALSA's pulse plugin → PulseAudio, CAPDECK_TEST_PULSE=1): a second sine
//! source is added and made the default with `pactl`, and the captured tone must change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use crate::support::crossing_rate_hz;
use crate::support::require_env;

use capdeck_capture::audio::{AudioChunk, AudioControl, AudioSourceSpec, start};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn pactl(args: &[&str]) -> String {
    let out = Command::new("pactl")
        .args(args)
        .output()
        .expect("run pactl");
    assert!(
        out.status.success(),
        "pactl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Frequency of the last `n` chunks received.
fn recent_hz(got: &Mutex<Vec<AudioChunk>>, n: usize) -> Option<f64> {
    let g = got.lock().unwrap();
    if g.len() < n {
        return None;
    }
    let s: Vec<i16> = g[g.len() - n..]
        .iter()
        .flat_map(|c| c.samples.clone())
        .collect();
    Some(crossing_rate_hz(&s))
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn following_the_default_switches_to_the_new_default_source() {
    require_env(
        "CAPDECK_TEST_PULSE",
        "a PulseAudio server with a sine source",
    );
    let _desktop = crate::support::desktop_turn(module_path!());
    let got = Arc::new(Mutex::new(Vec::<AudioChunk>::new()));
    let g = got.clone();
    let p = start(
        &AudioSourceSpec::Default,
        AudioControl::new(100),
        Box::new(move |c| g.lock().unwrap().push(c)),
    )
    .unwrap();
    let wait_for_hz = |want: f64, timeout: Duration| {
        let t0 = Instant::now();
        loop {
            // 5 chunks = 0.5 s: a switch inside the window gives a frequency in between
            if let Some(hz) = recent_hz(&got, 5)
                && (hz - want).abs() < 3.0
            {
                return Some(t0.elapsed());
            }
            if t0.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(
        wait_for_hz(440.0, Duration::from_secs(10)).is_some(),
        "no 440 Hz from the default source: {:?}",
        p.stats()
    );
    let module = pactl(&[
        "load-module",
        "module-sine-source",
        "source_name=sine880",
        "rate=48000",
        "frequency=880",
    ]);
    pactl(&["set-default-source", "sine880"]);
    let switched = wait_for_hz(880.0, Duration::from_secs(10));
    let stats = p.stats();
    // put the environment back for the other tests
    pactl(&["set-default-source", "sine"]);
    let back = wait_for_hz(440.0, Duration::from_secs(10));
    let _ = Command::new("pactl")
        .args(["unload-module", &module])
        .status();
    let stats_end = p.stats();
    p.stop();
    eprintln!("switched after {switched:?} ({stats:?}); back after {back:?} ({stats_end:?})");
    assert!(switched.is_some(), "still not 880 Hz: {stats:?}");
    assert!(back.is_some(), "not back to 440 Hz: {stats_end:?}");
    assert!(stats_end.state == "running", "{stats_end:?}");
    // No chunk lost or repeated across the switches: seq goes up by exactly one from the
    // first chunk (a dropped chunk or a reopen would show as a gap), each a full 100 ms.
    let got = got.lock().unwrap();
    assert_eq!(got.first().map(|c| c.seq), Some(0), "first chunk is seq 0");
    for w in got.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq + 1,
            "seq {} then {}: a chunk lost or repeated",
            w[0].seq,
            w[1].seq
        );
        assert_eq!(w[1].samples.len(), 1600);
    }
    eprintln!(
        "{} chunks, seq 0 to {}, contiguous",
        got.len(),
        got.last().map_or(0, |c| c.seq)
    );
}
