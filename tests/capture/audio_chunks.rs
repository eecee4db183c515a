//! Chunk exactness and the synthetic / WAV sources through the real pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use crate::support::crossing_rate_hz;

use capdeck_capture::audio::convert::{Converter, ConverterConfig, to_i16};
use capdeck_capture::audio::{
    AudioChunk, AudioControl, AudioError, AudioOptions, AudioSourceSpec, start, start_with,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A deterministic test signal: two tones plus pseudo-random noise, per channel.
fn signal(rate: u32, channels: usize, frames: usize) -> Vec<f32> {
    let mut x: u32 = 12345;
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        let t = i as f64 / rate as f64;
        for c in 0..channels {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (x >> 8) as f32 / (1 << 24) as f32 - 0.5;
            let v = 0.4 * (std::f64::consts::TAU * 440.0 * t).sin() as f32
                + 0.2 * (std::f64::consts::TAU * (1000.0 + 300.0 * c as f64) * t).sin() as f32
                + 0.1 * noise;
            out.push(v);
        }
    }
    out
}

fn converter(rate: u32, channels: u16, drift: bool) -> Converter {
    Converter::new(ConverterConfig {
        in_rate: rate,
        channels,
        drift_correction: drift,
        unix_offset_ns: 1_700_000_000_000_000_000,
    })
    .unwrap()
}

/// Feeds `input` in the given block sizes (cycled), changing the chunk length as given
/// (at sample counts of input), and returns the chunks.
fn run_blocks(
    conv: &mut Converter,
    input: &[f32],
    channels: usize,
    blocks: &[usize],
    chunk_changes: &[(usize, u32)],
    control: &AudioControl,
) -> Vec<AudioChunk> {
    let mut chunks = Vec::new();
    let mut pos = 0;
    let mut bi = 0;
    while pos < input.len() {
        for &(at, ms) in chunk_changes {
            if at >= pos && at < pos + blocks[bi % blocks.len()] * channels {
                control.set_chunk_ms(ms);
            }
        }
        let n = (blocks[bi % blocks.len()] * channels).min(input.len() - pos);
        // split each block in two slices, as a ring buffer does at its wrap point
        let split = (n / channels / 3) * channels;
        conv.push(
            &input[pos..pos + split],
            &input[pos + split..pos + n],
            0,
            control,
            &mut |c| chunks.push(c),
        )
        .unwrap();
        pos += n;
        bi += 1;
    }
    conv.end_segment(0, control, &mut |c| chunks.push(c))
        .unwrap();
    chunks
}

fn concat(chunks: &[AudioChunk]) -> Vec<i16> {
    chunks
        .iter()
        .flat_map(|c| c.samples.iter().copied())
        .collect()
}

/// Chunks concatenated equal the whole signal resampled in one go, whatever the callback
/// block sizes and chunk lengths (changed mid-stream), for every rate and channel count.
#[test]
fn chunks_concatenate_to_the_one_go_conversion() {
    for &(rate, ch) in &[
        (48_000u32, 2usize),
        (44_100, 2),
        (96_000, 1),
        (16_000, 1),
        (22_050, 6),
    ] {
        for drift in [false, true] {
            let frames = rate as usize * 3 + 123;
            let input = signal(rate, ch, frames);
            // reference: one push of everything, one-second chunks
            let c1 = AudioControl::new(1000);
            let mut conv = converter(rate, ch as u16, drift);
            let whole = run_blocks(&mut conv, &input, ch, &[frames], &[], &c1);
            let whole = concat(&whole);
            // odd callback sizes, chunk length changed twice
            let c2 = AudioControl::new(100);
            let mut conv = converter(rate, ch as u16, drift);
            let parts = run_blocks(
                &mut conv,
                &input,
                ch,
                &[1, 7, 480, 441, 1024, 13, 4096],
                &[(frames * ch / 3, 30), (frames * ch * 2 / 3, 250)],
                &c2,
            );
            let lens: Vec<usize> = parts.iter().map(|c| c.samples.len()).collect();
            assert!(lens.contains(&1600) && lens.contains(&480) && lens.contains(&4000));
            for (i, c) in parts.iter().enumerate() {
                assert_eq!(c.seq, i as u64, "seq from 0, +1 per chunk");
                assert!([1600, 480, 4000].contains(&c.samples.len()));
            }
            let parts = concat(&parts);
            let expected = (frames as f64 * 16_000.0 / rate as f64).round() as usize;
            // both padded to a whole chunk at the end; the signal itself is identical
            assert!(whole.len() >= expected && parts.len() >= expected);
            assert_eq!(
                whole[..expected],
                parts[..expected],
                "rate {rate} ch {ch} drift {drift}"
            );
            assert!(whole[expected..].iter().all(|&s| s == 0));
            assert!(parts[expected..].iter().all(|&s| s == 0));
        }
    }
}

/// With drift correction off, the chain equals rubato's own whole-clip conversion of the
/// downmixed signal, rounded to int16: no sample lost, repeated or shifted.
#[test]
fn chain_equals_rubato_process_all() {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let rate = 48_000;
    let frames = 48_000 * 2;
    let input = signal(rate, 2, frames);
    let mono: Vec<f32> = input.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5).collect();
    let mut r = Fft::<f32>::new(48_000, 16_000, 480, 1, FixedSync::Input).unwrap();
    let adapter = InterleavedSlice::new(&mono, 1, frames).unwrap();
    let reference = r.process_all(&adapter, frames, None).unwrap().take_data();
    let reference: Vec<i16> = reference.iter().map(|&x| to_i16(x * 32768.0).0).collect();
    assert_eq!(reference.len(), 32_000);

    let control = AudioControl::new(100);
    let mut conv = converter(rate, 2, false);
    let chunks = run_blocks(&mut conv, &input, 2, &[256, 333], &[], &control);
    let got = concat(&chunks);
    assert_eq!(got.len(), 32_000);
    assert_eq!(got, reference);
}

/// Mute sends silence by default, and nothing (but seq still advances) when asked.
#[test]
fn mute_sends_silence_or_nothing() {
    let input = signal(48_000, 2, 48_000);
    let control = AudioControl::new(100);
    control.set_muted(true);
    let mut conv = converter(48_000, 2, false);
    let chunks = run_blocks(&mut conv, &input, 2, &[480], &[], &control);
    assert_eq!(chunks.len(), 10);
    assert!(chunks.iter().all(|c| c.samples.iter().all(|&s| s == 0)));

    let control = AudioControl::new(100);
    let mut conv = converter(48_000, 2, false);
    let mut got = Vec::new();
    let block = &input[..9600 * 2];
    conv.push(block, &[], 0, &control, &mut |c| got.push(c))
        .unwrap();
    control.set_muted(true);
    control.set_send_while_muted(false);
    conv.push(&input[9600 * 2..28800 * 2], &[], 0, &control, &mut |c| {
        got.push(c)
    })
    .unwrap();
    control.set_muted(false);
    conv.push(&input[28800 * 2..], &[], 0, &control, &mut |c| got.push(c))
        .unwrap();
    let seqs: Vec<u64> = got.iter().map(|c| c.seq).collect();
    // some chunks were not sent, and the seq gap shows it
    assert!(seqs.len() < 9, "{seqs:?}");
    assert!(seqs.windows(2).any(|w| w[1] > w[0] + 1), "{seqs:?}");
    assert!(got.iter().all(|c| c.samples.iter().any(|&s| s != 0)));
}

type Received = Arc<Mutex<Vec<(AudioChunk, u64)>>>;

fn collect_sink() -> (Received, Box<dyn FnMut(AudioChunk) + Send>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    (
        got,
        Box::new(move |c| g.lock().unwrap().push((c, now_ms()))),
    )
}

/// `tone:440` through the real pipeline: exact 1600-sample chunks at 100 ms, seq from 0,
/// ts stepping 100 ms and close to the wall clock, carrying 440 Hz.
#[test]
fn tone_source_delivers_exact_chunks_in_real_time() {
    let (got, sink) = collect_sink();
    let control = AudioControl::new(100);
    let started = now_ms();
    let p = start(&"tone:440".parse().unwrap(), control, sink).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 12 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = p.stats();
    p.stop();
    let got = got.lock().unwrap();
    assert!(got.len() >= 12, "only {} chunks", got.len());
    for (i, (c, received)) in got.iter().enumerate() {
        assert_eq!(c.seq, i as u64);
        assert_eq!(c.samples.len(), 1600);
        assert_eq!(c.ts_ms, got[0].0.ts_ms + 100 * i as u64, "ts steps 100 ms");
        // stamped at its first sample: received after its last one, not long after
        assert!(
            *received >= c.ts_ms + 100 - 5,
            "chunk {i} arrived before it ended"
        );
        assert!(*received <= c.ts_ms + 100 + 300, "chunk {i} arrived late");
    }
    assert!(got[0].0.ts_ms + 50 >= started && got[0].0.ts_ms <= started + 500);
    let all: Vec<i16> = got
        .iter()
        .skip(1)
        .flat_map(|(c, _)| c.samples.clone())
        .collect();
    let hz = crossing_rate_hz(&all);
    assert!((hz - 440.0).abs() < 2.0, "{hz} Hz");
    // -6 dBFS tone
    let (_, last) = &got[got.len() - 1];
    let _ = last;
    let c = &got[5].0;
    assert!((c.peak_dbfs + 6.0).abs() < 0.2, "peak {}", c.peak_dbfs);
    assert!((c.rms_dbfs + 9.0).abs() < 0.2, "rms {}", c.rms_dbfs);
    assert_eq!(stats.state, "running");
    assert_eq!(stats.native.as_ref().unwrap().rate, 48_000);
    assert!(stats.chunks >= 12);
    assert_eq!(stats.overruns, 0);
}

fn write_wav_i16(path: &std::path::Path, rate: u32, channels: u16, frames: usize, hz: f64) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let v = (0.5 * (std::f64::consts::TAU * hz * i as f64 / rate as f64).sin() * 32767.0)
            .round() as i16;
        for _ in 0..channels {
            w.write_sample(v).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// `wav:` through the real pipeline: paced by the real clock, flushed at the end, the last
/// chunk padded to full length, then finished; equal to the offline conversion.
#[test]
fn wav_source_is_converted_exactly_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    // 1.05 s at 44.1 kHz stereo: 16800 output samples = 10.5 chunks
    let frames = 46_305;
    write_wav_i16(&path, 44_100, 2, frames, 1000.0);
    let (got, sink) = collect_sink();
    let control = AudioControl::new(100);
    let t0 = Instant::now();
    let spec = AudioSourceSpec::Wav(path.clone());
    let p = start_with(
        &spec,
        control.clone(),
        sink,
        AudioOptions {
            drift_correction: false,
        },
    )
    .unwrap();
    while !p.finished() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(p.finished());
    // paced by the real clock, not read as fast as possible
    assert!(t0.elapsed() >= Duration::from_millis(900));
    assert_eq!(p.stats().state, "finished");
    p.stop();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 11);
    let samples: Vec<i16> = got.iter().flat_map(|(c, _)| c.samples.clone()).collect();
    assert_eq!(samples.len(), 17_600);
    assert!(
        samples[16_800..].iter().all(|&s| s == 0),
        "padded with silence"
    );

    // the same file converted offline by the same chain in one go
    let mut r = hound::WavReader::open(&path).unwrap();
    let input: Vec<f32> = r
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let mut conv = converter(44_100, 2, false);
    let c1 = AudioControl::new(1000);
    let offline = concat(&run_blocks(&mut conv, &input, 2, &[frames], &[], &c1));
    assert_eq!(samples[..16_800], offline[..16_800]);
    assert!((crossing_rate_hz(&samples[1600..16_000]) - 1000.0).abs() < 2.0);
}

/// Unreadable or unsupported files fail at once with a clear error naming the file.
#[test]
fn wav_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let (_, sink) = collect_sink();
    let e = start(&AudioSourceSpec::Wav(missing), AudioControl::new(100), sink).err();
    let msg = e.expect("missing file must fail").to_string();
    assert!(msg.contains("missing.wav"), "{msg}");

    let garbage = dir.path().join("garbage.wav");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let (_, sink) = collect_sink();
    let e = start(&AudioSourceSpec::Wav(garbage), AudioControl::new(100), sink).err();
    assert!(matches!(e, Some(AudioError::Wav { .. })), "{e:?}");

    let (_, sink) = collect_sink();
    assert!(matches!(
        start(&AudioSourceSpec::None, AudioControl::new(100), sink).err(),
        Some(AudioError::NoSource)
    ));
}
