//! The whole audio chain (downmix, resample, gain, int16, chunking, timestamps) on one core:
//! 48 kHz stereo to 16 kHz mono in 10 ms blocks, drift correction off and on, beside a
//! libsoxr HQ chain doing the same work (feature `bench-soxr`, part of `bench-ref`).
//!
//! `/work/cargo-locked bench --bench audio_chain [--features bench-soxr]`
//!
//! Before timing, it prints each chain's delay and how far it rejects a 9 kHz tone.
//! Each timed iteration converts one second of audio: x real time = 1 s / time per iteration.

use capdeck::capture::audio::AudioControl;
#[cfg(feature = "bench-soxr")]
use capdeck::capture::audio::convert::to_i16;
use capdeck::capture::audio::convert::{Converter, ConverterConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use std::f64::consts::TAU;
use std::hint::black_box;
use std::sync::Arc;

const RATE: u32 = 48_000;
const BLOCK: usize = 480; // 10 ms

fn test_signal(secs: f64) -> Vec<f32> {
    let frames = (RATE as f64 * secs) as usize;
    let mut x: u32 = 1;
    let mut v = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f64 / RATE as f64;
        for c in 0..2 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = ((x >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.05;
            v.push((0.3 * (TAU * (440.0 + 220.0 * c as f64) * t).sin()) as f32 + n);
        }
    }
    v
}

fn sine(secs: f64, hz: f64, amp: f64) -> Vec<f32> {
    let frames = (RATE as f64 * secs) as usize;
    (0..frames)
        .flat_map(|i| {
            let v = (amp * (TAU * hz * i as f64 / RATE as f64).sin()) as f32;
            [v, v]
        })
        .collect()
}

fn converter(drift: bool) -> Converter {
    Converter::new(ConverterConfig {
        in_rate: RATE,
        channels: 2,
        drift_correction: drift,
        unix_offset_ns: 0,
    })
    .expect("converter")
}

/// Runs `input` through the chain in 10 ms blocks with timing observations of a device
/// running 100 ppm fast (so the drift stage really moves its ratio), returning output samples.
/// `frames` counts the device frames delivered so far (continues across calls).
fn run_chain(
    conv: &mut Converter,
    input: &[f32],
    control: &AudioControl,
    frames: &mut u64,
) -> usize {
    let mut n = 0usize;
    for block in input.chunks(BLOCK * 2) {
        *frames += (block.len() / 2) as u64;
        let t = (*frames as f64 / (RATE as f64 * 1.0001) * 1e9) as u64;
        conv.observe(*frames, t);
        conv.push(block, &[], t, control, &mut |c| n += c.samples.len())
            .expect("push");
    }
    n
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// Rejection of a -1 dBFS 9 kHz tone by the chain, measured on its int16 output with +40 dB
/// of gain (so the int16 floor sits 140 dB down).
fn chain_rejection_db(drift: bool) -> f64 {
    let input = sine(3.0, 9000.0, 0.9);
    let control = AudioControl::new(100);
    control.set_gain_db(40.0);
    let mut conv = converter(drift);
    let mut out = Vec::new();
    for block in input.chunks(BLOCK * 2) {
        conv.push(block, &[], 0, &control, &mut |c| {
            out.extend(c.samples.iter().map(|&s| s as f64 / 32768.0))
        })
        .expect("push");
    }
    let steady = &out[16_000..40_000];
    20.0 * (rms(steady) / 100.0 / (0.9 / 2f64.sqrt())).log10()
}

#[cfg(feature = "bench-soxr")]
mod reference {
    //! The same chain with libsoxr (HQ) as the resampler.
    use super::*;
    use soxr::Soxr;
    use soxr::format::Mono;

    pub struct SoxrChain {
        soxr: Soxr<Mono<f32>>,
        mono: Vec<f32>,
        out: Vec<f32>,
        chunk: Vec<i16>,
    }

    impl SoxrChain {
        pub fn new() -> Self {
            Self {
                soxr: Soxr::new(RATE as f64, 16_000.0).expect("soxr"),
                mono: vec![0.0; BLOCK],
                out: vec![0.0; BLOCK],
                chunk: Vec::with_capacity(1600),
            }
        }

        /// One 10 ms block: downmix, resample, int16, chunk. Returns samples emitted.
        pub fn push(&mut self, block: &[f32], emit: &mut dyn FnMut(&[i16])) {
            let frames = block.len() / 2;
            for (m, f) in self.mono[..frames].iter_mut().zip(block.chunks_exact(2)) {
                *m = (f[0] + f[1]) * 0.5;
            }
            let p = self
                .soxr
                .process(&self.mono[..frames], &mut self.out)
                .expect("soxr process");
            for &x in &self.out[..p.output_frames] {
                self.chunk.push(to_i16(x * 32768.0).0);
                if self.chunk.len() == 1600 {
                    emit(&self.chunk);
                    self.chunk.clear();
                }
            }
        }

        pub fn raw(&mut self, input: &[f32]) -> Vec<f32> {
            let mut all = Vec::new();
            for block in input.chunks(BLOCK * 2) {
                let frames = block.len() / 2;
                for (m, f) in self.mono[..frames].iter_mut().zip(block.chunks_exact(2)) {
                    *m = (f[0] + f[1]) * 0.5;
                }
                let p = self
                    .soxr
                    .process(&self.mono[..frames], &mut self.out)
                    .expect("soxr");
                all.extend_from_slice(&self.out[..p.output_frames]);
            }
            all
        }
    }

    pub fn report() {
        let input = sine(3.0, 9000.0, 0.9);
        let out: Vec<f64> = SoxrChain::new()
            .raw(&input)
            .iter()
            .map(|&x| x as f64)
            .collect();
        let r = 20.0 * (rms(&out[16_000..40_000]) / (0.9 / 2f64.sqrt())).log10();
        // delay: position of an impulse
        let mut imp = vec![0f32; 48_000 * 2];
        imp[2 * 4800] = 1.0;
        imp[2 * 4800 + 1] = 1.0;
        let out = SoxrChain::new().raw(&imp);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let delay_ms = (peak as f64 - 1600.0) / 16.0;
        eprintln!(
            "libsoxr HQ chain: delay {delay_ms:.1} ms, 9 kHz rejected by {:.1} dB",
            -r
        );
    }
}

fn report() {
    for drift in [false, true] {
        let c = converter(drift);
        eprintln!(
            "capdeck chain, drift correction {}: delay {:.1} ms (trimmed from the stamps), 9 kHz rejected by {:.1} dB",
            if drift { "on " } else { "off" },
            c.delay_samples() as f64 / 16.0,
            -chain_rejection_db(drift)
        );
    }
    #[cfg(feature = "bench-soxr")]
    reference::report();
}

fn bench(c: &mut Criterion) {
    report();
    let input = Arc::new(test_signal(1.0));
    let mut g = c.benchmark_group("audio_chain_1s_48k_stereo_to_16k_mono_10ms_blocks");
    for drift in [false, true] {
        let control = AudioControl::new(100);
        let mut conv = converter(drift);
        let mut frames = 0u64;
        let name = if drift {
            "capdeck_drift_on"
        } else {
            "capdeck_drift_off"
        };
        g.bench_function(name, |b| {
            b.iter(|| black_box(run_chain(&mut conv, &input, &control, &mut frames)))
        });
        if drift {
            eprintln!(
                "(drift stage ratio after the run: {:.6}, measured drift {:.1} ppm)",
                conv.ratio_rel(),
                conv.stats().drift_ppm
            );
        }
    }
    #[cfg(feature = "bench-soxr")]
    {
        let mut chain = reference::SoxrChain::new();
        g.bench_function("libsoxr_hq", |b| {
            b.iter(|| {
                let mut n = 0;
                for block in input.chunks(BLOCK * 2) {
                    chain.push(block, &mut |c| n += c.len());
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
