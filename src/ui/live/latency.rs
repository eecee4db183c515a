//! Arrival-to-screen latency of retail frames: from the moment a FRAME's last byte was
//! read off the socket (its `arrival_ns`, viewer clock) to the moment the render pass
//! that draws it runs (the wgpu paint callback, after the texture upload, right before
//! the submit that presents). Recorded once per frame, only while following live (a
//! paused or scrubbing cursor shows old frames on purpose).

use std::sync::{Arc, Mutex};

use capdeck_grimstream::feed::ViewClock;
use capdeck_util::lock;

/// Samples kept for the summary (about 8 s at 30 fps).
const WINDOW: usize = 256;

#[derive(Debug)]
struct Window {
    last_key: Option<(u64, u64, usize)>,
    samples: [i64; WINDOW],
    len: usize,
    next: usize,
    total: u64,
}

/// The recorder, shared between the UI pass and the paint callback.
#[derive(Clone, Debug)]
pub struct PresentLatency(Arc<Mutex<Window>>);

impl Default for PresentLatency {
    fn default() -> Self {
        PresentLatency(Arc::new(Mutex::new(Window {
            last_key: None,
            samples: [0; WINDOW],
            len: 0,
            next: 0,
            total: 0,
        })))
    }
}

/// Summary of the recent samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    /// Frames measured since the start.
    pub frames: u64,
    /// The newest sample, ms.
    pub last_ms: f32,
    /// Median of the window, ms.
    pub p50_ms: f32,
    /// 99th percentile of the window, ms.
    pub p99_ms: f32,
    /// Largest in the window, ms.
    pub max_ms: f32,
}

impl PresentLatency {
    /// Records the latency of frame `key` unless that frame was already recorded.
    pub fn record(&self, key: (u64, u64, usize), latency_ns: i64) {
        let mut w = lock(&self.0);
        if w.last_key == Some(key) {
            return;
        }
        w.last_key = Some(key);
        let i = w.next;
        w.samples[i] = latency_ns.max(0);
        w.next = (i + 1) % WINDOW;
        w.len = (w.len + 1).min(WINDOW);
        w.total += 1;
    }

    /// Summary of the window, if anything was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        let w = lock(&self.0);
        if w.len == 0 {
            return None;
        }
        let last = w.samples[(w.next + WINDOW - 1) % WINDOW];
        let mut s = [0i64; WINDOW];
        s[..w.len].copy_from_slice(&w.samples[..w.len]);
        let s = &mut s[..w.len];
        s.sort_unstable();
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize] as f32 / 1e6;
        Some(LatencySummary {
            frames: w.total,
            last_ms: last as f32 / 1e6,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

/// What the paint callback needs to record a frame's latency when it draws it.
#[derive(Clone, Debug)]
pub struct PresentProbe {
    /// Where to record.
    pub latency: PresentLatency,
    /// The viewer clock (the arrival times' clock).
    pub clock: Arc<ViewClock>,
    /// The frame drawn.
    pub key: (u64, u64, usize),
    /// Its arrival, viewer clock.
    pub arrival_ns: i64,
}

impl PresentProbe {
    /// The frame is being drawn now.
    pub fn presented(&self) {
        self.latency
            .record(self.key, self.clock.now_ns() - self.arrival_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_frame_and_percentiles() {
        let l = PresentLatency::default();
        assert_eq!(l.summary(), None);
        for i in 0..100u64 {
            l.record((1, i, 0), (i as i64 + 1) * 1_000_000);
            l.record((1, i, 0), 999_000_000); // the same frame drawn again: not a sample
        }
        let s = l.summary().unwrap();
        assert_eq!(s.frames, 100);
        assert_eq!(s.last_ms, 100.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(s.p50_ms, 51.0);
        assert_eq!(s.p99_ms, 99.0);
        // the window keeps the newest WINDOW samples
        for i in 100..(100 + WINDOW as u64) {
            l.record((1, i, 0), 2_000_000);
        }
        assert_eq!(l.summary().unwrap().max_ms, 2.0);
    }
}
