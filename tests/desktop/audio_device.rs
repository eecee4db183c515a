//! Devices: loss and return with a fake device behind the `Source` trait, the real cpal
//! path through PulseAudio (CAPDECK_TEST_PULSE=1), listing and selection errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use crate::support::require_env;
use crate::support::{crossing_rate_hz, wait_for as wait_until};

use capdeck_capture::audio::feed::{FeedReader, MonoClock, feed};
use capdeck_capture::audio::source::{BlockGen, NativeFormat, Pacer, Running, Source};
use capdeck_capture::audio::{
    AudioChunk, AudioControl, AudioError, AudioOptions, AudioPipeline, AudioSourceSpec,
    list_devices, start, start_source,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Received = Arc<Mutex<Vec<AudioChunk>>>;

fn collect_sink() -> (Received, Box<dyn FnMut(AudioChunk) + Send>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    (got, Box::new(move |c| g.lock().unwrap().push(c)))
}

/// Starts a pipeline on `src` (100 ms chunks) collecting every chunk, and waits until `n`
/// chunks arrived.
fn start_collecting(src: Box<dyn Source>, n: usize) -> (Received, AudioPipeline) {
    let (got, sink) = collect_sink();
    let p = start_source(src, AudioControl::new(100), sink, AudioOptions::default()).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || got.lock().unwrap().len() >= n),
        "{n} chunks within 5 s"
    );
    (got, p)
}

/// A fake 44.1 kHz stereo i16-like device that can be unplugged and replugged.
struct FakeDevice {
    present: Arc<AtomicBool>,
    opens: Arc<Mutex<Vec<(Instant, bool)>>>,
}

struct FakeGen {
    present: Arc<AtomicBool>,
    phase: f64,
}

impl BlockGen for FakeGen {
    fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String> {
        if !self.present.load(Ordering::Relaxed) {
            return Err("fake device unplugged".into());
        }
        for f in buf.chunks_exact_mut(2) {
            f.fill(0.3 * self.phase.sin() as f32);
            self.phase += std::f64::consts::TAU * 700.0 / 44_100.0;
        }
        Ok(buf.len())
    }
}

impl Source for FakeDevice {
    fn describe(&self) -> String {
        "fake device".into()
    }
    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        let present = self.present.load(Ordering::Relaxed);
        self.opens.lock().unwrap().push((Instant::now(), present));
        if !present {
            return Err(AudioError::Device("fake device: not present".into()));
        }
        let format = NativeFormat {
            rate: 44_100,
            channels: 2,
            format: "i16".into(),
        };
        let (f, r) = feed(44_100, 2, 2.0, clock);
        let generator = FakeGen {
            present: self.present.clone(),
            phase: 0.0,
        };
        let p = Pacer::start("fake-device", format, generator, f)?;
        Ok((Box::new(p), r))
    }
}

/// Unplug: the status says so, opening is retried every second, nothing hangs or panics;
/// replug: capture resumes and the seq jumps by the number of chunks the outage held.
#[test]
fn device_loss_is_reported_retried_and_resumed_with_a_seq_gap() {
    let present = Arc::new(AtomicBool::new(true));
    let opens = Arc::new(Mutex::new(Vec::new()));
    let src = FakeDevice {
        present: present.clone(),
        opens: opens.clone(),
    };
    let (got, p) = start_collecting(Box::new(src), 5);

    present.store(false, Ordering::Relaxed);
    let unplugged = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || p
            .stats()
            .state
            .starts_with("device lost")),
        "state: {}",
        p.stats().state
    );
    let state = p.stats().state;
    assert!(state.contains("retrying"), "{state}");
    let before = got.lock().unwrap().clone();
    // the simulated outage lasts 2.5 s
    while unplugged.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            got.lock().unwrap().len(),
            before.len(),
            "nothing sent while lost"
        );
    }
    present.store(true, Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(4), || got
        .lock()
        .unwrap()
        .len()
        >= before.len() + 5));
    let stats = p.stats();
    p.stop();
    assert_eq!(stats.state, "running");
    assert_eq!(stats.losses, 1);

    // retried about every second while it was gone
    let opens = opens.lock().unwrap();
    let failed: Vec<Instant> = opens.iter().filter(|o| !o.1).map(|o| o.0).collect();
    assert!(failed.len() >= 2, "{} failed attempts", failed.len());
    for w in failed.windows(2) {
        let d = w[1] - w[0];
        assert!(
            d >= Duration::from_millis(900) && d <= Duration::from_millis(1500),
            "{d:?}"
        );
    }

    let got = got.lock().unwrap();
    for c in got.iter() {
        assert_eq!(
            c.samples.len(),
            1600,
            "even the chunk cut by the loss is full length"
        );
    }
    let last = &before[before.len() - 1];
    let first = &got[before.len()];
    assert!(
        first.ts_ms >= last.ts_ms + 2000,
        "{} {}",
        first.ts_ms,
        last.ts_ms
    );
    let gap_chunks = (first.ts_ms as f64 - (last.ts_ms + 100) as f64) / 100.0;
    let jump = first.seq - last.seq - 1;
    assert!(
        (jump as f64 - gap_chunks).abs() <= 1.0,
        "seq jumped by {jump}, gap is {gap_chunks} chunks"
    );
    assert!(jump >= 15, "{jump}");
    // within each segment, seq +1 and ts +100 ms
    for w in got[before.len()..].windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert_eq!(w[1].ts_ms, w[0].ts_ms + 100);
    }
}

/// Devices that do not exist fail at once with a clear error; listing never panics.
#[test]
fn unknown_device_fails_clearly_and_listing_never_panics() {
    let devices = list_devices();
    for d in &devices {
        assert!(!d.id.is_empty());
        serde_json::to_string(d).unwrap();
    }
    let (_, sink) = collect_sink();
    let e = start(
        &"device:no-such-microphone-xyz".parse().unwrap(),
        AudioControl::new(100),
        sink,
    )
    .err()
    .expect("an unknown device must fail");
    let msg = e.to_string();
    assert!(msg.contains("no-such-microphone-xyz"), "{msg}");
}

/// The real capture path: cpal's ALSA `default` device, which is PulseAudio's sine source
/// (440 Hz, 48 kHz) when CAPDECK_TEST_PULSE=1.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn pulse_default_device_delivers_the_tone() {
    require_env(
        "CAPDECK_TEST_PULSE",
        "a PulseAudio server with a sine source",
    );
    let _desktop = crate::support::desktop_turn(module_path!());
    let devices = list_devices();
    eprintln!("{}", serde_json::to_string_pretty(&devices).unwrap());
    assert!(!devices.is_empty(), "no input devices listed");
    assert!(devices.iter().any(|d| d.is_default), "{devices:?}");

    for spec in [
        AudioSourceSpec::Default,
        AudioSourceSpec::Device("default".into()),
    ] {
        let (got, sink) = collect_sink();
        let p = start(&spec, AudioControl::new(100), sink).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || got.lock().unwrap().len() >= 15),
            "state {}",
            p.stats().state
        );
        let stats = p.stats();
        p.stop();
        let native = stats.native.clone().unwrap();
        assert_eq!(native.rate, 48_000, "{stats:?}");
        assert_eq!(stats.state, "running");
        let got = got.lock().unwrap();
        for (i, c) in got.iter().enumerate() {
            assert_eq!(c.seq, i as u64);
            assert_eq!(c.samples.len(), 1600);
            assert_eq!(c.ts_ms, got[0].ts_ms + 100 * i as u64);
        }
        let tail: Vec<i16> = got[5..].iter().flat_map(|c| c.samples.clone()).collect();
        let hz = crossing_rate_hz(&tail);
        assert!((hz - 440.0).abs() < 3.0, "{hz} Hz");
        assert!(got[10].rms_dbfs > -40.0, "tone level {}", got[10].rms_dbfs);
    }
}

/// The list shows the inputs of the PulseAudio server by their descriptions (the one list
/// `capdeck devices --json` and the app's picker show): the sine source is there as
/// "Sine source at 440 Hz" and marked default, the null sink's monitor is marked a monitor,
/// no ALSA plugin PCM appears; choosing the sine source by its id captures 440 Hz.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn pulse_sources_are_listed_by_description_and_one_is_captured_by_id() {
    require_env(
        "CAPDECK_TEST_PULSE",
        "a PulseAudio server with a sine source",
    );
    let _desktop = crate::support::desktop_turn(module_path!());
    let devices = list_devices();
    eprintln!("{}", capdeck_capture::audio::format_devices(&devices));
    let sine = devices
        .iter()
        .find(|d| d.id == "pulse:sine")
        .unwrap_or_else(|| panic!("no pulse:sine in {devices:?}"));
    assert_eq!(sine.name, "Sine source at 440 Hz");
    assert!(sine.is_default && !sine.is_monitor, "{sine:?}");
    assert_eq!(devices.iter().filter(|d| d.is_default).count(), 1);
    let monitor = devices
        .iter()
        .find(|d| d.id == "pulse:nullsink.monitor")
        .unwrap_or_else(|| panic!("no monitor of the null sink in {devices:?}"));
    assert!(monitor.is_monitor && !monitor.is_default, "{monitor:?}");
    assert!(monitor.name.starts_with("Monitor of"), "{monitor:?}");
    for d in &devices {
        assert!(d.id.starts_with("pulse:"), "not a PulseAudio source: {d:?}");
        for plugin in ["Rate Converter", "JACK", "Open Sound System", "Discard all"] {
            assert!(!d.name.contains(plugin), "plugin listed: {d:?}");
        }
    }

    // by id, and by the id without its prefix: the same source, captured at its 440 Hz
    for want in ["pulse:sine", "sine"] {
        let (got, sink) = collect_sink();
        let p = start(
            &AudioSourceSpec::Device(want.into()),
            AudioControl::new(100),
            sink,
        )
        .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || got.lock().unwrap().len() >= 15),
            "state {}",
            p.stats().state
        );
        let stats = p.stats();
        p.stop();
        assert_eq!(stats.state, "running");
        assert_eq!(
            stats.source,
            "device pulse:sine (Sine source at 440 Hz)".replace("pulse:sine", want)
        );
        let got = got.lock().unwrap();
        for (i, c) in got.iter().enumerate() {
            assert_eq!(c.seq, i as u64);
            assert_eq!(c.samples.len(), 1600);
        }
        let tail: Vec<i16> = got[5..].iter().flat_map(|c| c.samples.clone()).collect();
        let hz = crossing_rate_hz(&tail);
        assert!((hz - 440.0).abs() < 3.0, "{want}: {hz} Hz");
        assert!(got[10].rms_dbfs > -40.0, "tone level {}", got[10].rms_dbfs);
    }
}

/// The decision behind "follow the system default" (the cpal device layer asks the host for
/// the default id about every second and calls this): a chosen device stays chosen, a
/// followed default is reopened when the default id changes.
#[test]
fn a_chosen_device_stays_chosen_and_the_default_is_followed() {
    use capdeck_capture::audio::{DeviceSelector, default_change};
    let chosen = DeviceSelector::IdOrName("wasapi:{mic-a}".into());
    assert_eq!(
        default_change(&chosen, Some("wasapi:{mic-a}"), Some("wasapi:{mic-b}")),
        None
    );
    let follow = DeviceSelector::Default;
    assert_eq!(
        default_change(&follow, Some("wasapi:{mic-a}"), Some("wasapi:{mic-a}")),
        None
    );
    assert_eq!(default_change(&follow, Some("wasapi:{mic-a}"), None), None);
    let why = default_change(&follow, Some("wasapi:{mic-a}"), Some("wasapi:{mic-b}"))
        .expect("a new default must be followed");
    assert!(why.contains("wasapi:{mic-b}"), "{why}");
}

/// A fake "system default" behind the `Source` trait whose default switches from a 700 Hz
/// device to a 1000 Hz one: the pipeline notices within its one-second check, reopens, says
/// so in the status (a loss with the reason), and the tone changes; the seq keeps counting.
#[test]
fn a_changed_default_is_reopened_with_the_status_saying_so() {
    struct Switching {
        default_is_b: Arc<AtomicBool>,
        open_b: bool,
        opens: Arc<Mutex<Vec<bool>>>,
    }
    struct Tone {
        hz: f64,
        phase: f64,
    }
    impl BlockGen for Tone {
        fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String> {
            for f in buf.chunks_exact_mut(2) {
                f.fill(0.3 * self.phase.sin() as f32);
                self.phase += std::f64::consts::TAU * self.hz / 48_000.0;
            }
            Ok(buf.len())
        }
    }
    impl Source for Switching {
        fn describe(&self) -> String {
            format!("default input ({})", if self.open_b { "B" } else { "A" })
        }
        fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
            self.open_b = self.default_is_b.load(Ordering::Relaxed);
            self.opens.lock().unwrap().push(self.open_b);
            let format = NativeFormat {
                rate: 48_000,
                channels: 2,
                format: "f32".into(),
            };
            let (f, r) = feed(48_000, 2, 2.0, clock);
            let hz = if self.open_b { 1000.0 } else { 700.0 };
            let p = Pacer::start("fake-default", format, Tone { hz, phase: 0.0 }, f)?;
            Ok((Box::new(p), r))
        }
        fn changed(&mut self) -> Option<String> {
            let now_b = self.default_is_b.load(Ordering::Relaxed);
            (now_b != self.open_b).then(|| "default input changed to B".to_string())
        }
    }
    let default_is_b = Arc::new(AtomicBool::new(false));
    let opens = Arc::new(Mutex::new(Vec::new()));
    let src = Switching {
        default_is_b: default_is_b.clone(),
        open_b: false,
        opens: opens.clone(),
    };
    let (got, p) = start_collecting(Box::new(src), 8);
    default_is_b.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || opens.lock().unwrap().len() == 2),
        "not reopened: {:?}",
        p.stats()
    );
    let reopen_after = t0.elapsed();
    let n = got.lock().unwrap().len();
    assert!(wait_until(Duration::from_secs(5), || got
        .lock()
        .unwrap()
        .len()
        >= n + 8));
    let stats = p.stats();
    p.stop();
    eprintln!("reopened after {reopen_after:?}; {stats:?}");
    assert!(
        reopen_after < Duration::from_millis(1500),
        "{reopen_after:?}"
    );
    assert_eq!(*opens.lock().unwrap(), vec![false, true]);
    assert_eq!(
        stats.losses, 1,
        "the switch is reported as a loss: {stats:?}"
    );
    assert_eq!(stats.state, "running");
    assert_eq!(stats.source, "default input (B)");
    let got = got.lock().unwrap();
    let hz = |c: &[AudioChunk]| {
        let s: Vec<i16> = c.iter().flat_map(|c| c.samples.clone()).collect();
        crossing_rate_hz(&s)
    };
    assert!((hz(&got[2..6]) - 700.0).abs() < 3.0, "{}", hz(&got[2..6]));
    let tail = &got[got.len() - 4..];
    assert!((hz(tail) - 1000.0).abs() < 3.0, "{}", hz(tail));
    for w in got.windows(2) {
        assert!(w[1].seq > w[0].seq);
    }
}
