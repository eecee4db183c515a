//! The whole audio chain (downmix, resample, gain, int16, chunking, timestamps) on one core:
//! 48 kHz stereo to 16 kHz mono in 10 ms blocks, drift correction off and on, beside a
//! libsoxr HQ chain doing the same work (feature `bench-soxr`, part of `bench-ref`).
//!
//! `/work/cargo-locked bench --bench audio_chain [--features bench-soxr]`
//!
//! Before timing, it prints each chain's delay and how far it rejects a 9 kHz tone.
//! Each timed iteration converts one second of audio: x real time = 1 s / time per iteration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use capdeck_capture::audio::AudioControl;
#[cfg(feature = "bench-soxr")]
use capdeck_capture::audio::convert::to_i16;
use capdeck_capture::audio::convert::{Converter, ConverterConfig};
use criterion::{Criterion, criterion_group};
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
#[inline(never)]
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

/// Least-squares fit of a sine at `f` (cycles per sample) to `x`: (THD+N dB, amplitude).
fn thd_n(x: &[f64], f: f64) -> (f64, f64) {
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (TAU * f * i as f64).sin_cos();
        ss += s * s;
        sc += s * c;
        cc += c * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut res, mut sig) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (TAU * f * i as f64).sin_cos();
        let fit = a * s + b * c;
        sig += fit * fit;
        res += (v - fit) * (v - fit);
    }
    (10.0 * (res / sig).log10(), (a * a + b * b).sqrt())
}

/// The drift stage alone at a relative ratio of 1.0002 (a device 200 ppm slow): THD+N of a
/// 1 kHz, a 6 kHz and a 7 kHz tone, and their levels, on its f32 output.
fn drift_stage_report() {
    use capdeck_capture::audio::drift::DriftResampler;
    let ratio = 1.0002;
    let mut line = String::new();
    for hz in [1000.0, 6000.0, 7000.0] {
        let mut st = DriftResampler::new();
        st.set_ratio(ratio);
        let f_in = hz / 16_000.0;
        let input: Vec<f32> = (0..16_000 * 3)
            .map(|i| (0.5 * (TAU * f_in * i as f64).sin()) as f32)
            .collect();
        let mut out = Vec::new();
        let mut o = Vec::new();
        for block in input.chunks(160) {
            st.process(&mut block.to_vec(), &mut o);
            out.extend(o.drain(..).map(|v| v as f64));
        }
        let (t, a) = thd_n(&out[16_000..40_000], f_in / ratio);
        line += &format!(
            " {hz} Hz: THD+N {t:.1} dB, level {:.2} dB;",
            20.0 * (a / 0.5).log10()
        );
    }
    eprintln!("drift stage alone at ratio {ratio}:{line}");
}

fn report() {
    drift_stage_report();
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
    {
        // the voice stage on top (--game-audio): the reference converted by a second chain
        // (its own pipeline, 10 ms chunks) and sent first, then the microphone's chunks
        // through echo cancellation and the VAD; the stage alone on 16 kHz chunks beside it
        use capdeck_capture::audio::voice::{self, GameAudioSpec, VoiceConfig};
        let cfg = VoiceConfig {
            game_audio: GameAudioSpec::Wav("reference".into()),
            noise_suppression: false,
        };
        let (mut stage, tx) = voice::stage(&cfg);
        let tx = tx.expect("reference sender");
        let (mic_ctl, ref_ctl) = (AudioControl::new(100), AudioControl::new(10));
        let (mut mic, mut refc) = (converter(true), converter(true));
        let (mut mic_frames, mut ref_frames) = (0u64, 0u64);
        g.bench_function("capdeck_drift_on_with_voice", |b| {
            b.iter(|| {
                for block in input.chunks(BLOCK * 2) {
                    ref_frames += (block.len() / 2) as u64;
                    let t = (ref_frames as f64 / (RATE as f64 * 1.0001) * 1e9) as u64;
                    refc.observe(ref_frames, t);
                    refc.push(block, &[], t, &ref_ctl, &mut |c| tx.send(c))
                        .expect("push");
                }
                let mut n = 0usize;
                for block in input.chunks(BLOCK * 2) {
                    mic_frames += (block.len() / 2) as u64;
                    let t = (mic_frames as f64 / (RATE as f64 * 1.0001) * 1e9) as u64;
                    mic.observe(mic_frames, t);
                    mic.push(block, &[], t, &mic_ctl, &mut |mut c| {
                        stage.process(&mut c);
                        n += c.samples.len();
                    })
                    .expect("push");
                }
                black_box(n)
            })
        });
        let mono16: Vec<i16> = (0..16_000)
            .map(|i| ((TAU * 440.0 * i as f64 / 16_000.0).sin() * 8000.0) as i16)
            .collect();
        g.bench_function("voice_stage_alone_16k", |b| {
            b.iter(|| {
                black_box(
                    voice::process_offline(&mono16, Some(&mono16), false)
                        .0
                        .len(),
                )
            })
        });
    }
    {
        // the floor: rubato Fft alone (the chain's stage 1) on the already downmixed signal
        use rubato::audioadapter_buffers::direct::InterleavedSlice;
        use rubato::{Fft, FixedSync, Resampler};
        let mono: Vec<f32> = input.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5).collect();
        let mut fft =
            Fft::<f32>::new(RATE as usize, 16_000, BLOCK, 1, FixedSync::Input).expect("fft");
        let mut buf = vec![0f32; fft.output_frames_max()];
        g.bench_function("rubato_fft_alone", |b| {
            b.iter(|| {
                let mut n = 0;
                for block in mono.chunks_exact(BLOCK) {
                    let inp = InterleavedSlice::new(block, 1, BLOCK).expect("in");
                    let len = buf.len();
                    let mut o = InterleavedSlice::new_mut(&mut buf, 1, len).expect("out");
                    n += fft.process_into_buffer(&inp, &mut o, None).expect("fft").1;
                }
                black_box(n)
            })
        });
    }
    #[cfg(feature = "bench-soxr")]
    {
        let mut chain = reference::SoxrChain::new();
        g.bench_function("libsoxr_hq", |b| {
            b.iter(|| black_box(run_chain_soxr(&mut chain, &input)))
        });
    }
    g.finish();
}

/// `--callgrind off|on|soxr [seconds]`: converts that many seconds (default 20) of the test
/// signal in one chain and exits, for `valgrind --tool=callgrind
/// --toggle-collect='*run_chain*'` (instruction counts per second of audio, free of the
/// contention that disturbs wall-clock timings on a shared machine).
fn callgrind_mode(args: &[String]) {
    let mode = args.first().map(String::as_str).unwrap_or("off");
    let secs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let input = test_signal(1.0);
    let control = AudioControl::new(100);
    let mut n = 0;
    match mode {
        "off" | "on" => {
            let mut conv = converter(mode == "on");
            let mut frames = 0u64;
            for _ in 0..secs {
                n += run_chain(&mut conv, &input, &control, &mut frames);
            }
        }
        #[cfg(feature = "bench-soxr")]
        "soxr" => {
            let mut chain = reference::SoxrChain::new();
            for _ in 0..secs {
                n += run_chain_soxr(&mut chain, &input);
            }
        }
        other => panic!("--callgrind: unknown mode {other:?} (off, on, soxr)"),
    }
    eprintln!("{mode}: {secs} s of audio converted, {n} output samples");
}

#[cfg(feature = "bench-soxr")]
#[inline(never)]
fn run_chain_soxr(chain: &mut reference::SoxrChain, input: &[f32]) -> usize {
    let mut n = 0;
    for block in input.chunks(BLOCK * 2) {
        chain.push(block, &mut |c| n += c.len());
    }
    n
}

/// `--latency [seconds]`: the real pipeline (ring, worker thread, conversion, sink) fed at
/// real-time pace in 10 ms blocks, as a device callback would, 100 ms chunks. For every chunk:
/// when its first and last samples entered the ring (the block that carried them) and when
/// the pipeline handed the chunk to its sink (where the sender puts it on the socket).
/// Reports the excess over the chunk length of the worst sample of each chunk (its first:
/// emit - first entry - chunk length, the measure) and emit - last entry.
fn latency_mode(args: &[String]) {
    use capdeck_capture::audio::feed::{FeedReader, MonoClock, feed};
    use capdeck_capture::audio::source::{BlockGen, NativeFormat, Pacer, Running, Source};
    use capdeck_capture::audio::{AudioError, AudioOptions, start_source};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(20);
    let base = Instant::now();
    type Stamps = Arc<Vec<AtomicU64>>;

    struct Gen {
        stamps: Stamps,
        block: usize,
        base: Instant,
        phase: f64,
    }
    impl BlockGen for Gen {
        fn fill(&mut self, buf: &mut [f32]) -> Result<usize, String> {
            for f in buf.chunks_exact_mut(2) {
                let v = (0.3 * self.phase.sin()) as f32;
                f.fill(v);
                self.phase += TAU * 440.0 / RATE as f64;
            }
            // the pacer pushes this block into the ring right after this returns
            if let Some(s) = self.stamps.get(self.block) {
                s.store(self.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            self.block += 1;
            Ok(buf.len())
        }
    }
    struct Paced {
        stamps: Stamps,
        base: Instant,
    }
    impl Source for Paced {
        fn describe(&self) -> String {
            "paced test source".into()
        }
        fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
            let format = NativeFormat {
                rate: RATE,
                channels: 2,
                format: "f32".into(),
            };
            let (f, r) = feed(RATE, 2, 2.0, clock);
            let generator = Gen {
                stamps: self.stamps.clone(),
                block: 0,
                base: self.base,
                phase: 0.0,
            };
            Ok((
                Box::new(Pacer::start("latency-pacer", format, generator, f)?),
                r,
            ))
        }
    }

    for drift in [false, true] {
        let blocks = (secs as usize + 2) * 100;
        let stamps: Stamps = Arc::new((0..blocks).map(|_| AtomicU64::new(0)).collect());
        let emitted: Arc<Mutex<Vec<(u64, usize, u64)>>> = Arc::new(Mutex::new(Vec::new()));
        let e2 = emitted.clone();
        let sink = Box::new(move |c: capdeck_capture::audio::AudioChunk| {
            let t = base.elapsed().as_nanos() as u64;
            if let Ok(mut v) = e2.lock() {
                v.push((c.seq, c.samples.len(), t));
            }
        });
        let control = AudioControl::new(100);
        let p = start_source(
            Box::new(Paced {
                stamps: stamps.clone(),
                base,
            }),
            control,
            sink,
            AudioOptions {
                drift_correction: drift,
            },
        )
        .expect("start");
        std::thread::sleep(Duration::from_secs(secs));
        let stats = p.stats();
        p.stop();
        let chunks = emitted.lock().expect("lock").clone();
        let entry = |out_index: u64| {
            // 16 kHz output sample j is 48 kHz input frame 3j; 480 frames per block
            let block = (out_index * 3 / BLOCK as u64) as usize;
            stamps
                .get(block)
                .map(|s| s.load(Ordering::Relaxed))
                .filter(|&t| t > 0)
        };
        let (mut first, mut last) = (Vec::new(), Vec::new());
        // the first chunks wait for the timeline's anchor to settle (100 ms): skipped
        for &(seq, len, t) in chunks.iter().skip(3) {
            let start = seq * len as u64;
            let (Some(e0), Some(e1)) = (entry(start), entry(start + len as u64 - 1)) else {
                continue;
            };
            let chunk_ns = len as u64 * 1_000_000_000 / 16_000;
            first.push((t as f64 - e0 as f64 - chunk_ns as f64) * 1e-6);
            last.push((t as f64 - e1 as f64) * 1e-6);
        }
        let q = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            format!(
                "median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                at(0.5),
                at(0.99),
                at(1.0)
            )
        };
        eprintln!(
            "latency, drift correction {}: {} chunks of 100 ms over {secs} s; overruns {}",
            if drift { "on " } else { "off" },
            first.len(),
            stats.overruns
        );
        eprintln!(
            "  worst sample (first of its chunk), excess over the chunk length: {}",
            q(&mut first)
        );
        eprintln!(
            "  last sample of the chunk entering -> chunk emitted: {}",
            q(&mut last)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--latency") {
        latency_mode(&args[i + 1..]);
        return;
    }
    if args.iter().any(|a| a == "--report") {
        report();
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        callgrind_mode(&args[i + 1..]);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
