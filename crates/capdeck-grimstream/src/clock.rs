//! Per-feed clock alignment: estimate the offset (and drift) from a producer's
//! `host_time_ns` (which counts from the producer's own start) to the viewer's clock.
//!
//! Estimator: every message with a send time gives `delta = arrival - send`, which is the
//! true offset plus a non-negative transport/scheduling delay. The smallest deltas are the
//! best evidence, so the estimator keeps the minimum delta per bucket of viewer time
//! (default 1 s) over a sliding window of buckets (default 30), fits a slope through those
//! bucket minima (Theil-Sen, the median of pairwise slopes: the drift) and places the line
//! at the lowest bucket minimum (the lower envelope: delay spikes only raise deltas, so
//! they cannot pull the estimate).
//! The spread is how far typical deltas sit above that envelope (median of bucket
//! medians' excess), a measure of how uncertain the alignment is.
//!
//! Pure code: times are plain nanosecond integers supplied by the caller.

use std::collections::VecDeque;

/// Estimator settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockConfig {
    /// Bucket width in viewer ns.
    pub bucket_ns: i64,
    /// Buckets kept.
    pub buckets: usize,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            bucket_ns: 1_000_000_000,
            buckets: 30,
        }
    }
}

/// The current estimate.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ClockEstimate {
    /// viewer_ns = host_ns + offset_ns (at the latest sample time; see `drift_ppm`).
    pub offset_ns: i64,
    /// Drift of the producer's clock against the viewer's, parts per million (positive:
    /// the offset grows, i.e. the producer's clock runs slow).
    pub drift_ppm: f64,
    /// Typical delay above the lower envelope (uncertainty of the alignment), ns.
    pub spread_ns: i64,
    /// Samples seen.
    pub samples: u64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    start: i64,
    min_delta: i64,
    /// arrival of the minimum sample
    min_at: i64,
    /// running mean of deltas in the bucket (cheap stand-in for the median)
    sum: i128,
    n: u64,
}

/// The estimator. See the module docs.
#[derive(Clone, Debug)]
pub struct ClockEstimator {
    cfg: ClockConfig,
    buckets: VecDeque<Bucket>,
    samples: u64,
    est: Option<ClockEstimate>,
    /// (slope ns/ns, intercept at reference time ref_t)
    line: (f64, f64, i64),
    /// Reused buffers: observing a sample does not allocate.
    scratch_f: Vec<f64>,
    scratch_i: Vec<i64>,
}

impl Default for ClockEstimator {
    fn default() -> Self {
        ClockEstimator::new(ClockConfig::default())
    }
}

impl ClockEstimator {
    /// An estimator with no samples.
    pub fn new(cfg: ClockConfig) -> ClockEstimator {
        ClockEstimator {
            cfg: ClockConfig {
                bucket_ns: cfg.bucket_ns.max(1),
                buckets: cfg.buckets.max(1),
            },
            buckets: VecDeque::new(),
            samples: 0,
            est: None,
            line: (0.0, 0.0, 0),
            scratch_f: Vec::new(),
            scratch_i: Vec::new(),
        }
    }

    /// Forget everything (the producer restarted: its clock starts again).
    pub fn reset(&mut self) {
        *self = ClockEstimator::new(self.cfg);
    }

    /// Record one message sent at `host_ns` (producer clock) that arrived at `arrival_ns`
    /// (viewer clock).
    pub fn observe(&mut self, arrival_ns: i64, host_ns: u64) {
        let host = i64::try_from(host_ns).unwrap_or(i64::MAX);
        let delta = arrival_ns.saturating_sub(host);
        self.samples += 1;
        let start = arrival_ns.div_euclid(self.cfg.bucket_ns) * self.cfg.bucket_ns;
        match self.buckets.back_mut() {
            Some(b) if b.start == start => {
                if delta < b.min_delta {
                    b.min_delta = delta;
                    b.min_at = arrival_ns;
                }
                b.sum += delta as i128;
                b.n += 1;
            }
            Some(b) if start < b.start => {
                // Viewer clock went backwards (should not happen with a monotonic clock):
                // fold the sample into the latest bucket.
                if delta < b.min_delta {
                    b.min_delta = delta;
                }
                b.sum += delta as i128;
                b.n += 1;
            }
            _ => {
                self.buckets.push_back(Bucket {
                    start,
                    min_delta: delta,
                    min_at: arrival_ns,
                    sum: delta as i128,
                    n: 1,
                });
                while self.buckets.len() > self.cfg.buckets {
                    self.buckets.pop_front();
                }
            }
        }
        self.refit(arrival_ns);
    }

    fn refit(&mut self, now: i64) {
        let n = self.buckets.len();
        let ref_t = now;
        // Drift: Theil-Sen (median of pairwise slopes) through the bucket minima, robust
        // to a few buckets whose every sample was late.
        let slope = if n >= 5 {
            let b = &self.buckets;
            let slopes = &mut self.scratch_f;
            slopes.clear();
            for i in 0..n {
                for j in i + 1..n {
                    let dt = (b[j].min_at - b[i].min_at) as f64;
                    if dt > 0.0 {
                        slopes.push((b[j].min_delta - b[i].min_delta) as f64 / dt);
                    }
                }
            }
            slopes.sort_unstable_by(f64::total_cmp);
            slopes.get(slopes.len() / 2).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        let mut icpt = self
            .buckets
            .iter()
            .map(|b| b.min_delta as f64 - slope * (b.min_at - ref_t) as f64)
            .fold(f64::INFINITY, f64::min);
        if !icpt.is_finite() {
            icpt = 0.0;
        }
        // Spread: median over buckets of (mean delta - line).
        let ex = &mut self.scratch_i;
        ex.clear();
        ex.extend(self.buckets.iter().map(|b| {
            let mean = (b.sum / b.n.max(1) as i128) as f64;
            let line = icpt + slope * (b.min_at - ref_t) as f64;
            (mean - line).max(0.0) as i64
        }));
        ex.sort_unstable();
        let spread = ex.get(ex.len() / 2).copied().unwrap_or(0);
        self.line = (slope, icpt, ref_t);
        self.est = Some(ClockEstimate {
            offset_ns: icpt.round() as i64,
            drift_ppm: slope * 1e6,
            spread_ns: spread,
            samples: self.samples,
        });
    }

    /// The estimate, once there is at least one sample.
    pub fn estimate(&self) -> Option<ClockEstimate> {
        self.est
    }

    /// Offset to use at viewer time `at_ns` (extrapolates the drift).
    pub fn offset_at(&self, at_ns: i64) -> Option<i64> {
        self.est?;
        let (slope, icpt, ref_t) = self.line;
        Some((icpt + slope * (at_ns - ref_t) as f64).round() as i64)
    }

    /// Map a producer time to the viewer clock using the estimate at `arrival_ns`.
    pub fn to_viewer(&self, host_ns: u64, arrival_ns: i64) -> Option<i64> {
        let off = self.offset_at(arrival_ns)?;
        Some(
            i64::try_from(host_ns)
                .unwrap_or(i64::MAX)
                .saturating_add(off),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random delays: mostly small, some large spikes.
    fn delay(i: u64) -> i64 {
        let x = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33;
        let base = 50_000 + (x % 400_000) as i64; // 50..450 us
        if x.is_multiple_of(17) {
            base + 30_000_000
        } else {
            base
        }
    }

    #[test]
    fn constant_offset_with_jitter_and_spikes() {
        let mut c = ClockEstimator::default();
        let true_off = 5_000_000_000i64; // producer started 5 s after the viewer
        for i in 0..3000u64 {
            let host = i * 10_000_000; // 100 Hz for 30 s
            let arrival = host as i64 + true_off + delay(i);
            c.observe(arrival, host);
        }
        let e = c.estimate().unwrap();
        assert!(
            (e.offset_ns - true_off - 50_000).abs() < 200_000,
            "offset {} vs {}",
            e.offset_ns,
            true_off
        );
        assert!(e.drift_ppm.abs() < 20.0, "drift {}", e.drift_ppm);
        assert!(
            e.spread_ns > 0 && e.spread_ns < 5_000_000,
            "spread {}",
            e.spread_ns
        );
        assert_eq!(e.samples, 3000);
    }

    #[test]
    fn drift_is_measured() {
        let mut c = ClockEstimator::default();
        // Producer clock runs 200 ppm slow: offset grows by 200 us per second.
        for i in 0..2000u64 {
            let t = i as i64 * 10_000_000; // viewer time, 20 s
            let host = (t as f64 * (1.0 - 200e-6)) as u64;
            c.observe(t + 1_000 + delay(i), host);
        }
        let e = c.estimate().unwrap();
        assert!((e.drift_ppm - 200.0).abs() < 30.0, "drift {}", e.drift_ppm);
        // Mapping a fresh sample lands within the jitter of the truth.
        let t = 20_000_000_000i64;
        let host = (t as f64 * (1.0 - 200e-6)) as u64;
        let mapped = c.to_viewer(host, t).unwrap();
        assert!((mapped - t).abs() < 600_000, "mapped {mapped} vs {t}");
    }

    #[test]
    fn reset_forgets_the_old_producer() {
        let mut c = ClockEstimator::default();
        c.observe(10_000, 0);
        assert_eq!(c.estimate().unwrap().offset_ns, 10_000);
        c.reset();
        assert!(c.estimate().is_none());
        c.observe(99_000, 1_000);
        assert_eq!(c.estimate().unwrap().offset_ns, 98_000);
    }

    #[test]
    fn a_single_late_burst_does_not_move_the_estimate() {
        let mut c = ClockEstimator::default();
        for i in 0..500u64 {
            c.observe(i as i64 * 10_000_000 + 1_000, i * 10_000_000);
        }
        // A 2 s freeze: everything arrives late.
        for i in 500..520u64 {
            c.observe(i as i64 * 10_000_000 + 2_000_000_000, i * 10_000_000);
        }
        let e = c.estimate().unwrap();
        assert!((e.offset_ns - 1_000).abs() < 50_000_000, "{e:?}");
    }
}
