//! The real-time boundary: ring writes, native format conversion, overrun counting, and the
//! worker keeping the timeline when it fell behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use capdeck_capture::audio::feed::{MonoClock, NativeSample, feed};
use capdeck_capture::audio::{AudioChunk, AudioControl, start};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[test]
fn native_formats_convert_to_full_scale_floats() {
    assert_eq!(i16::MIN.to_f32(), -1.0);
    assert_eq!(0i16.to_f32(), 0.0);
    assert!((i16::MAX.to_f32() - 0.99997).abs() < 1e-5);
    assert_eq!(0u16.to_f32(), -1.0);
    assert_eq!(32768u16.to_f32(), 0.0);
    assert_eq!(i32::MIN.to_f32(), -1.0);
    assert!((i32::MAX.to_f32() - 1.0).abs() < 1e-6);
    assert_eq!(128u8.to_f32(), 0.0);
    assert_eq!(i8::MIN.to_f32(), -1.0);
    assert_eq!(0.25f32.to_f32(), 0.25);
}

/// Whole frames only; what does not fit is dropped and counted, and timing records count
/// every delivered frame (dropped ones too).
#[test]
fn full_ring_drops_and_counts_whole_frames() {
    let (mut f, mut r) = feed(1000, 2, 0.001, MonoClock::new()); // 1024 frames minimum
    let block: Vec<i16> = (0..2000).map(|i| i as i16).collect();
    f.push(&block); // 1000 frames
    f.push(&block[..201]); // 100 frames and a stray sample: 24 fit, 76 dropped
    assert_eq!(r.cons.slots(), 1024 * 2);
    assert_eq!(r.shared.overrun_frames.load(Ordering::Relaxed), 76);
    assert_eq!(r.shared.overrun_events.load(Ordering::Relaxed), 1);
    assert_eq!(r.timing.pop().unwrap().0, 1000);
    assert_eq!(r.timing.pop().unwrap().0, 1100);
    let chunk = r.cons.read_chunk(2048).unwrap();
    let (a, b) = chunk.as_slices();
    let all: Vec<f32> = a.iter().chain(b).copied().collect();
    assert_eq!(all[0], 0.0);
    assert_eq!(
        all[2047],
        47.0 / 32768.0,
        "the 24 frames that fit came from the second block"
    );
    assert_eq!(all[2000], 0.0);
}

/// A sink that blocks for 3 s makes the worker fall behind a 2 s ring: the overrun is
/// counted and shown, the lost frames become silence so seq and ts stay continuous and
/// the stamps stay on the wall clock afterwards.
#[test]
fn worker_stall_is_counted_and_the_timeline_kept() {
    let got: Arc<Mutex<Vec<(AudioChunk, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let sink = Box::new(move |c: AudioChunk| {
        let stall = c.seq == 3;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        g.lock().unwrap().push((c, now));
        if stall {
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let p = start(&"tone:440".parse().unwrap(), AudioControl::new(100), sink).unwrap();
    let t0 = Instant::now();
    while got.lock().unwrap().len() < 50 && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = p.stats();
    p.stop();
    assert!(stats.overruns > 0, "{stats:?}");
    assert!(stats.overrun_events > 0);
    let got = got.lock().unwrap();
    assert!(got.len() >= 50);
    for w in got.windows(2) {
        assert_eq!(w[1].0.seq, w[0].0.seq + 1);
        assert_eq!(w[1].0.ts_ms, w[0].0.ts_ms + 100);
    }
    // some chunks carry the inserted silence
    assert!(got.iter().any(|(c, _)| c.samples.iter().all(|&s| s == 0)));
    // once caught up, chunks arrive right after their end again
    let (c, received) = &got[got.len() - 1];
    let lag = *received as i64 - (c.ts_ms as i64 + 100);
    assert!((-5..300).contains(&lag), "lag {lag} ms");
}
