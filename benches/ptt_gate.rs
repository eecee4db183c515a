//! Cost of the push-to-talk gate per 100 ms chunk (1600 samples) on the audio worker:
//! send-silence mode with a 200 ms pre-roll (chunks held and gated) and stop-sending mode,
//! with the key pressed and released every second. Chunks are recycled: nothing allocates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use capdeck_capture::audio::AudioChunk;
use capdeck_capture::audio::PttMode;
use capdeck_capture::audio::gate::{Gate, GateConfig, KeyEdge};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn run(c: &mut Criterion, name: &str, mode: PttMode) {
    let cfg = GateConfig {
        enabled: true,
        mode,
        preroll_us: 200_000,
    };
    let mut gate = Gate::new();
    let mut spare: Vec<AudioChunk> = (0..8)
        .map(|_| AudioChunk {
            seq: 0,
            ts_ms: 0,
            samples: vec![1000; 1600],
            peak_dbfs: 0.0,
            rms_dbfs: 0.0,
            clipped: 0,
            voice: None,
        })
        .collect();
    let mut i: u64 = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut ch = spare.pop().expect("recycled chunk");
            ch.seq = i;
            ch.ts_ms = 1_000_000 + i * 100;
            ch.samples.fill(1000);
            if i % 10 == 3 || i % 10 == 7 {
                gate.key(KeyEdge {
                    at_us: (ch.ts_ms as i64 + 50) * 1000,
                    down: i % 10 == 3,
                });
            }
            i += 1;
            gate.push(ch, cfg, &mut |c| spare.push(black_box(c)));
            // stop-sending drops closed chunks; top the pool up outside the gate's work
            while spare.len() + gate.held() < 8 {
                spare.push(AudioChunk {
                    seq: 0,
                    ts_ms: 0,
                    samples: vec![0; 1600],
                    peak_dbfs: 0.0,
                    rms_dbfs: 0.0,
                    clipped: 0,
                    voice: None,
                });
            }
        })
    });
}

fn gate(c: &mut Criterion) {
    run(c, "ptt_gate/send_silence_100ms_chunk", PttMode::SendSilence);
    run(c, "ptt_gate/stop_sending_100ms_chunk", PttMode::StopSending);
}

criterion_group!(benches, gate);
criterion_main!(benches);
