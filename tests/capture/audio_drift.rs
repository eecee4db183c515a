//! Drift: a simulated device whose clock runs 200 ppm fast for a simulated hour (the clock is
//! injected as timing observations, so the hour runs in seconds). Chunk stamps must stay
//! within ±6 ms of the wall-clock time of their samples (measured 4.4 ms), with no gap or overlap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use capdeck_capture::audio::convert::{Converter, ConverterConfig};
use capdeck_capture::audio::{AudioChunk, AudioControl};

const RATE: u32 = 48_000;
const BLOCK: usize = 480;
const OFFSET_NS: i128 = 1_700_000_000_000_000_000;
/// An impulse every this many device frames (10 s).
const MARK_EVERY: u64 = RATE as u64 * 10;

struct Outcome {
    /// (true wall ms of the mark, stamped ms of the output peak)
    marks: Vec<(f64, f64)>,
    chunks: Vec<(u64, u64, usize)>,
    drift_ppm: f64,
}

/// Simulates `secs` of wall time of a device running `ppm` fast, with callbacks up to
/// `jitter_ms` late, through the converter.
fn simulate(secs: f64, ppm: f64, jitter_ms: f64, drift_correction: bool) -> Outcome {
    let mut conv = Converter::new(ConverterConfig {
        in_rate: RATE,
        channels: 1,
        drift_correction,
        unix_offset_ns: OFFSET_NS,
    })
    .unwrap();
    let control = AudioControl::new(100);
    let dev_rate = RATE as f64 * (1.0 + ppm * 1e-6);
    let total = (secs * dev_rate) as u64;
    let mut block = vec![0f32; BLOCK];
    let mut frames = 0u64;
    let mut rng: u32 = 99;
    // output peaks: track the largest sample of each 10 s window
    let mut out_index = 0u64;
    let mut best: Vec<(i16, u64, u64)> = Vec::new(); // (value, chunk ts ms, index in chunk)
    let mut chunks = Vec::new();
    let mut sink = |c: AudioChunk| {
        for (i, &s) in c.samples.iter().enumerate() {
            let w = (out_index / (16_000 * 10)) as usize;
            if best.len() <= w {
                best.resize(w + 1, (0, 0, 0));
            }
            if s > best[w].0 {
                best[w] = (s, c.ts_ms, i as u64);
            }
            out_index += 1;
        }
        chunks.push((c.seq, c.ts_ms, c.samples.len()));
    };
    while frames < total {
        block.fill(0.0);
        for (i, v) in block.iter_mut().enumerate() {
            let f = frames + i as u64;
            // a mark 5 s into each 10 s window of device frames
            if f % MARK_EVERY == MARK_EVERY / 2 {
                *v = 0.9;
            }
        }
        frames += BLOCK as u64;
        // wall time of the callback: when its last frame was captured, plus jitter
        rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let jitter = (rng >> 8) as f64 / (1u64 << 24) as f64 * jitter_ms * 1e-3;
        let t = frames as f64 / dev_rate + jitter + 5.0; // monotonic clock starts 5 s before
        let t_ns = (t * 1e9) as u64;
        conv.observe(frames, t_ns);
        conv.push(&block, &[], t_ns, &control, &mut sink).unwrap();
    }
    let drift_ppm = conv.stats().drift_ppm;
    let mut marks = Vec::new();
    for (w, &(v, ts, i)) in best.iter().enumerate() {
        if v < 3_000 {
            continue; // window without a complete mark (end of the run)
        }
        let mark_frame = w as u64 * MARK_EVERY + MARK_EVERY / 2;
        let true_ms = (mark_frame as f64 / dev_rate + 5.0) * 1e3 + (OFFSET_NS / 1_000_000) as f64;
        let stamped_ms = ts as f64 + i as f64 / 16.0;
        marks.push((true_ms, stamped_ms));
    }
    Outcome {
        marks,
        chunks,
        drift_ppm,
    }
}

fn check_continuity(chunks: &[(u64, u64, usize)]) {
    for (i, w) in chunks.windows(2).enumerate() {
        assert_eq!(w[1].0, w[0].0 + 1, "seq at chunk {i}");
        assert_eq!(w[1].1, w[0].1 + 100, "ts at chunk {i}: gap or overlap");
        assert_eq!(w[0].2, 1600);
    }
}

#[test]
fn two_hundred_ppm_fast_for_an_hour_stays_within_6_ms() {
    let o = simulate(3600.0, 200.0, 4.0, true);
    assert!(o.marks.len() >= 355, "{} marks found", o.marks.len());
    assert!(o.chunks.len() >= 35_990, "{} chunks", o.chunks.len());
    check_continuity(&o.chunks);
    let mut worst: f64 = 0.0;
    for (k, &(t, s)) in o.marks.iter().enumerate() {
        if k % 12 == 0 || k < 12 {
            eprintln!("  mark {k}: {:+.2} ms", s - t);
        }
        worst = worst.max((s - t).abs());
    }
    let last = o.marks.last().unwrap();
    eprintln!(
        "200 ppm fast, 1 h: worst |ts error| {worst:.2} ms, at the end {:.2} ms, measured drift {:.1} ppm",
        last.1 - last.0,
        o.drift_ppm
    );
    // measured 4.44 ms worst (the first minutes, before the drift estimate settles)
    assert!(worst <= 6.0, "ts off by {worst:.1} ms");
    assert!(
        (last.1 - last.0).abs() < 2.0,
        "steady-state error {:.2} ms",
        last.1 - last.0
    );
    assert!(
        (o.drift_ppm - 200.0).abs() < 10.0,
        "drift {} ppm",
        o.drift_ppm
    );
}

/// The same device without correction drifts away (the test above can fail), and its drift
/// is still measured and shown.
#[test]
fn without_correction_the_same_device_drifts_away() {
    let o = simulate(600.0, 200.0, 4.0, false);
    assert!(o.marks.len() >= 55, "{} marks", o.marks.len());
    check_continuity(&o.chunks);
    let last = o.marks.last().unwrap();
    let err = last.1 - last.0;
    eprintln!(
        "uncorrected after 10 min: {err:.1} ms, measured drift {:.1} ppm",
        o.drift_ppm
    );
    assert!(err > 100.0, "{err}");
    assert!(
        (o.drift_ppm - 200.0).abs() < 20.0,
        "drift {} ppm",
        o.drift_ppm
    );
}

/// A slow device (-150 ppm) is corrected as well.
#[test]
fn slow_device_is_corrected_too() {
    let o = simulate(1200.0, -150.0, 2.0, true);
    assert!(o.marks.len() >= 115, "{} marks", o.marks.len());
    check_continuity(&o.chunks);
    let worst = o
        .marks
        .iter()
        .map(|(t, s)| (s - t).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "-150 ppm, 20 min: worst {worst:.2} ms, drift {:.1} ppm",
        o.drift_ppm
    );
    // measured 3.63 ms worst
    assert!(worst <= 5.0, "{worst}");
    assert!(
        (o.drift_ppm + 150.0).abs() < 15.0,
        "drift {} ppm",
        o.drift_ppm
    );
}
