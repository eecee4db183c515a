//! The drift-correction stage: a short polyphase windowed-sinc interpolator that resamples
//! the 16 kHz signal by a relative ratio within a fraction of a percent.
//!
//! Why not rubato's `Async` here: rubato does the heavy part (48k → 16k in `Fft`), and its
//! adjustable-ratio sinc resampler was measured (benches/audio_chain.rs, callgrind) to cost
//! three times the whole `Fft` stage on this job, almost all of it per-sample bookkeeping
//! that does not shrink with a shorter filter; it also works in fixed input blocks, which
//! adds up to a block of latency. This stage only bends a band-limited 16 kHz signal by a
//! few hundred ppm, so it can be much simpler: a 64-tap Kaiser-windowed sinc (about 90 dB
//! stopband, flat to 7 kHz) evaluated at 256 phases with linear interpolation between them,
//! consuming whatever input is available. Its only delay is the 32-sample (2 ms) look-ahead
//! of the filter; it shifts nothing (output `n` is input position `n / ratio`).

/// Filter length in taps (input samples per output sample).
pub const TAPS: usize = 64;
/// Look-ahead: input samples needed after the output position.
pub const HALF: usize = TAPS / 2;
/// Phases of the coefficient table (interpolated linearly between neighbours).
const PHASES: usize = 256;
/// Cutoff relative to the Nyquist frequency.
const CUTOFF: f64 = 0.97;
/// Kaiser window shape: about 90 dB of stopband and passband ripple near 3e-5.
const BETA: f64 = 9.0;
/// Lane count of the dot product (the compiler maps the lanes to SIMD registers).
const LANES: usize = 8;

/// An adjustable-ratio resampler for ratios near 1 (16 kHz in, 16 kHz × ratio out), mono.
pub struct DriftResampler {
    /// (PHASES + 1) rows of TAPS coefficients; row p is the filter for fraction p / PHASES.
    table: Vec<f32>,
    /// Input history: the first sample is at position 0.
    hist: Vec<f32>,
    /// Position of the next output sample, counted from the first history sample of the
    /// segment. Kept absolute (history dropped is counted in `dropped`) so that the sums
    /// round the same way however the input is split into blocks.
    pos: f64,
    /// History samples dropped from the front of `hist` in this segment.
    dropped: u64,
    /// Input samples per output sample (1 / relative ratio).
    step: f64,
    /// The CPU has AVX (run-time detection).
    #[cfg(target_arch = "x86_64")]
    avx: bool,
}

impl Default for DriftResampler {
    fn default() -> Self {
        Self::new()
    }
}

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    let q = x * x / 4.0;
    while term > sum * 1e-17 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

impl DriftResampler {
    /// A resampler at ratio 1 with an empty history.
    pub fn new() -> Self {
        let mut table = vec![0f32; (PHASES + 1) * TAPS];
        let i0b = bessel_i0(BETA);
        for (p, row) in table.chunks_exact_mut(TAPS).enumerate() {
            let frac = p as f64 / PHASES as f64;
            let mut coefs = [0f64; TAPS];
            for (k, c) in coefs.iter_mut().enumerate() {
                // tap k reads input i - HALF + 1 + k for an output at i + frac
                let t = k as f64 - (HALF as f64 - 1.0) - frac;
                let x = std::f64::consts::PI * CUTOFF * t;
                let sinc = if x == 0.0 { 1.0 } else { x.sin() / x };
                let u = t / HALF as f64;
                let w = if u.abs() >= 1.0 {
                    0.0
                } else {
                    bessel_i0(BETA * (1.0 - u * u).sqrt()) / i0b
                };
                *c = sinc * w;
            }
            // unity gain at DC for every phase: no level ripple as the phase sweeps
            let sum: f64 = coefs.iter().sum();
            for (r, c) in row.iter_mut().zip(coefs) {
                *r = (c / sum) as f32;
            }
        }
        let mut r = Self {
            table,
            hist: Vec::with_capacity(4096),
            pos: 0.0,
            dropped: 0,
            step: 1.0,
            #[cfg(target_arch = "x86_64")]
            avx: std::arch::is_x86_feature_detected!("avx"),
        };
        r.reset();
        r
    }

    /// Forgets the history (a new segment starts); keeps the ratio.
    pub fn reset(&mut self) {
        self.hist.clear();
        // silence before the first sample, so the first output is at input 0
        self.hist.resize(HALF - 1, 0.0);
        self.pos = (HALF - 1) as f64;
        self.dropped = 0;
    }

    /// The next output's position in `hist` (exact: an integer subtracted from an f64 that
    /// is larger).
    fn local_pos(&self) -> f64 {
        self.pos - self.dropped as f64
    }

    /// Sets the relative ratio (output rate / input rate), e.g. 0.9998 for a device whose
    /// clock runs 200 ppm fast. Takes effect from the next output sample, with no jump.
    pub fn set_ratio(&mut self, ratio: f64) {
        if ratio.is_finite() && ratio > 0.5 && ratio < 2.0 {
            self.step = 1.0 / ratio;
        }
    }

    /// Input samples received but not yet passed by the output position (the look-ahead and
    /// the fraction): where the consumed input ends, in input samples after the next output.
    pub fn pending(&self) -> f64 {
        self.hist.len() as f64 - self.local_pos()
    }

    /// Consumes all of `input` (cleared) and appends every output sample it makes possible.
    pub fn process(&mut self, input: &mut Vec<f32>, out: &mut Vec<f32>) {
        self.hist.extend_from_slice(input);
        input.clear();
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: the CPU has AVX (checked in `new`).
            unsafe { self.run_avx(out) };
        } else {
            self.run(out);
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.run(out);
        // drop the history no later output can reach
        let keep_from = (self.local_pos() as usize + 1).saturating_sub(HALF);
        if keep_from > 0 {
            self.hist.drain(..keep_from);
            self.dropped += keep_from as u64;
        }
    }

    /// The same code compiled for AVX (8-lane registers); identical results, as the lanes
    /// are explicit in [`interpolate`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn run_avx(&mut self, out: &mut Vec<f32>) {
        self.run(out);
    }

    /// Makes every output sample the history allows.
    #[inline(always)]
    fn run(&mut self, out: &mut Vec<f32>) {
        let len = self.hist.len();
        let dropped = self.dropped as f64;
        loop {
            let local = self.pos - dropped;
            let i = local as usize; // local >= HALF - 1 > 0: truncation is floor
            if i + HALF >= len {
                break;
            }
            let scaled = (local - i as f64) * PHASES as f64;
            let p = (scaled as usize).min(PHASES - 1);
            let a = (scaled - p as f64) as f32;
            let x = &self.hist[i + 1 - HALF..i + 1 + HALF];
            let rows = &self.table[p * TAPS..(p + 2) * TAPS];
            out.push(interpolate(x, rows, a));
            self.pos += self.step;
        }
    }
}

/// The output for history window `x` (TAPS samples) between the coefficient rows `rows`
/// (two rows of TAPS) at fraction `a` of the way to the second: two dot products in LANES
/// independent lanes, blended per lane, then summed as a tree.
#[inline(always)]
fn interpolate(x: &[f32], rows: &[f32], a: f32) -> f32 {
    let mut a0 = [0f32; LANES];
    let mut a1 = [0f32; LANES];
    let (r0, r1) = rows.split_at(TAPS);
    let (xs, _) = x.as_chunks::<LANES>();
    let (c0, _) = r0.as_chunks::<LANES>();
    let (c1, _) = r1.as_chunks::<LANES>();
    for ((xv, c0v), c1v) in xs.iter().zip(c0).zip(c1) {
        for l in 0..LANES {
            a0[l] += xv[l] * c0v[l];
            a1[l] += xv[l] * c1v[l];
        }
    }
    let mut v = [0f32; LANES];
    for l in 0..LANES {
        v[l] = a0[l] + a * (a1[l] - a0[l]);
    }
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            v[l] += v[l + w];
        }
        w /= 2;
    }
    v[0]
}
