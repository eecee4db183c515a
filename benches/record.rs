//! Recording benchmark: the real recorder (writer thread behind its bounded queue, lz4
//! MCAP chunks, sealed segments) fed what a live session sends it, then the recording
//! opened the way the app opens it and frames read back at random points.
//!
//! - `realtime`: 1280x720 RGBA retail frames at 30 fps (the demo world's pictures), the
//!   engine's states at 60 Hz, 100 ms audio chunks and 5 fps 640x480 JPEG-sized video
//!   (incompressible bytes), paced in real time for `SECS` seconds: MB/s in and on disk,
//!   drops, CPU share of the process, disk per hour.
//! - `as fast as it takes`: the same messages with no pacing until the queue drops: the
//!   writer's ceiling in MB/s.
//! - `seek`: the recording opened through the live view's ingest path with a 256 MiB budget
//!   (frames paged out), then 50 random paged-out frames read back through the chunk index
//!   ([`capdeck::session::replay::load_frame`]): ms per seek. Segments are 2 s here, so the
//!   60-ish segments of a one-hour recording (60 s segments) are matched in count.
//!
//! `cargo bench --bench record` (`SECS` env var, default 30).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code states expectations by panicking

use std::time::{Duration, Instant};

use bytes::Bytes;
use capdeck::grimstream::FeedRole;
use capdeck::grimstream::demo::{SceneRenderer, pose_at};
use capdeck::grimstream::live::LiveView;
use capdeck::record::reader::Recording;
use capdeck::record::recorder::{Recorder, RecorderOptions};
use capdeck::record::writer::WriterOptions;
use capdeck::record::{Entry, Payload, Topic};
use capdeck::wire::grimstream::{
    Frame, Hello, Message, PIXEL_FORMAT_RGBA8, StateUpdate, StreamConfig, encode,
};

const W: u32 = 1280;
const H: u32 = 720;

fn cpu_seconds() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 Hz on Linux)
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn grim(m: &Message) -> Payload {
    let b = encode(m).unwrap();
    let (head, payload) = b.split_first_chunk::<12>().unwrap();
    Payload::GrimStream {
        header: *head,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Messages of one second of a session, in order, with their offsets in ns.
struct Script {
    frames: Vec<Bytes>,
    jpeg: Bytes,
    audio: Bytes,
}

impl Script {
    fn new() -> Script {
        let r = SceneRenderer::new(W, H);
        // 3 s of distinct pictures, cycled (rendering is not what is measured)
        let frames = (0..90)
            .map(|i| Bytes::from(r.render(pose_at(i as f64 / 30.0))))
            .collect();
        let mut x = 0x2545_f491_u32;
        let jpeg: Vec<u8> = (0..12_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        Script {
            frames,
            jpeg: Bytes::from(jpeg),
            audio: Bytes::from(vec![7u8; 6400 + 120]),
        }
    }

    /// The entries due at tick `i` (of 60 a second), session time `t_ns`.
    fn tick(&self, i: u64, t_ns: u64, mut f: impl FnMut(Entry)) {
        let e = |topic, payload| Entry {
            topic,
            log_time_ns: t_ns,
            publish_time_ns: t_ns,
            sequence: 1,
            payload,
        };
        if i == 0 {
            f(e(
                Topic::RetailIn,
                grim(&Message::Hello(Hello::new("retail_capture", None))),
            ));
            f(e(
                Topic::RetailIn,
                grim(&Message::StreamConfig(StreamConfig {
                    width: W,
                    height: H,
                    pixel_format: PIXEL_FORMAT_RGBA8,
                    stride_bytes: W * 4,
                    nominal_fps: Some(30.0),
                })),
            ));
            f(e(
                Topic::EngineIn,
                grim(&Message::Hello(Hello::new("grim_engine", None))),
            ));
        }
        if i.is_multiple_of(2) {
            let id = i / 2;
            let frame = Message::Frame(Frame {
                frame_id: id,
                host_time_ns: t_ns,
                telemetry_time_ns: None,
                data: self.frames[(id % 90) as usize].clone(),
            });
            f(e(Topic::RetailIn, grim(&frame)));
        }
        let p = pose_at(t_ns as f64 / 1e9);
        let state = Message::StateUpdate(StateUpdate {
            seq: i,
            host_time_ns: t_ns,
            position: Some([p.x, p.y, 0.0]),
            yaw: Some(p.yaw_deg),
            ..Default::default()
        });
        f(e(Topic::EngineIn, grim(&state)));
        if i.is_multiple_of(6) {
            f(e(
                Topic::CaptureAudio,
                Payload::Parts(vec![self.audio.clone()]),
            ));
        }
        if i.is_multiple_of(12) {
            f(e(
                Topic::CaptureVideo,
                Payload::Parts(vec![self.jpeg.clone()]),
            ));
        }
    }
}

fn options(dir_segment_secs: u64) -> RecorderOptions {
    RecorderOptions {
        writer: WriterOptions {
            segment_max_ns: dir_segment_secs * 1_000_000_000,
            min_free_bytes: 64 * 1024 * 1024,
            ..WriterOptions::default()
        },
        ..RecorderOptions::default()
    }
}

fn main() {
    let secs: u64 = std::env::var("SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let script = Script::new();
    let tmp = tempfile::tempdir().unwrap();

    // ---- real time
    let dir = tmp.path().join("realtime");
    let rec = Recorder::start(&dir, options(2)).unwrap();
    let sink = rec.sink();
    let t0 = Instant::now();
    let base = sink.now_ns();
    let cpu0 = cpu_seconds();
    let mut bytes_in = 0u64;
    for i in 0..secs * 60 {
        let due = Duration::from_nanos(i * 1_000_000_000 / 60);
        if let Some(w) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(w);
        }
        script.tick(i, base + due.as_nanos() as u64, |e| {
            bytes_in += e.payload.len() as u64;
            sink.record(e);
        });
    }
    let st = rec.status();
    let manifest = rec.stop().expect("sealed");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let on_disk: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
    println!(
        "realtime {secs} s: in {:.1} MB/s, on disk {:.1} MB/s (lz4 {:.1}x), dropped {}, \
         CPU {:.0}% of one core, {} segments, disk per hour {:.1} GB",
        bytes_in as f64 / wall / 1e6,
        on_disk as f64 / wall / 1e6,
        bytes_in as f64 / on_disk.max(1) as f64,
        manifest.dropped + st.dropped,
        cpu / wall * 100.0,
        manifest.segments.len(),
        on_disk as f64 / wall * 3600.0 / 1e9,
    );

    // ---- as fast as it takes
    let dir2 = tmp.path().join("fast");
    let rec2 = Recorder::start(&dir2, options(60)).unwrap();
    let sink2 = rec2.sink();
    let t1 = Instant::now();
    let base2 = sink2.now_ns();
    let mut in2 = 0u64;
    let mut i = 0u64;
    while t1.elapsed() < Duration::from_secs(5) {
        script.tick(i, base2 + i * 1_000_000_000 / 60, |e| {
            in2 += e.payload.len() as u64;
            sink2.record(e);
        });
        i += 1;
    }
    let dropped2 = rec2.status().dropped;
    let m2 = rec2.stop().expect("sealed");
    let wall2 = t1.elapsed().as_secs_f64();
    let written: u64 = m2.segments.iter().map(|s| s.messages).sum();
    // a second of the session is 105 messages (30 frames, 60 states, 10 audio, 5 video)
    println!(
        "as fast as it takes: offered {:.0} MB/s ({:.1}x real time) for {wall2:.1} s; \
         {dropped2} messages dropped (queue full, newest first), {written} written: \
         the writer kept up with {:.1}x real time",
        in2 as f64 / wall2 / 1e6,
        i as f64 / 60.0 / wall2,
        written as f64 / 105.0 / wall2,
    );

    // ---- open and seek
    let rss0 = rss_mb();
    let t2 = Instant::now();
    let recording = Recording::open(&dir).unwrap();
    let mut view = LiveView::new(256 * 1024 * 1024);
    view.set_paging(true);
    let fed = capdeck::session::replay::into_view(&recording, &mut view, 64 * 1024 * 1024).unwrap();
    let open_s = t2.elapsed().as_secs_f64();
    let frames: Vec<_> = view.with_store(|s| {
        s.feed(FeedRole::Retail)
            .frames
            .iter()
            .filter(|f| f.paged_out)
            .cloned()
            .collect()
    });
    assert!(!frames.is_empty(), "frames paged out");
    let mut x = 12345u64;
    let mut ms = Vec::new();
    for _ in 0..50 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let f = &frames[(x >> 33) as usize % frames.len()];
        let t = Instant::now();
        let data = capdeck::session::replay::load_frame(&recording, f)
            .unwrap()
            .expect("the frame is in the recording");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(data.len(), (W * H * 4) as usize);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "open: {} messages in {:.2} s ({} segments), RSS +{:.0} MB with a 256 MiB budget; \
         seek to a paged-out frame: p50 {:.1} ms, max {:.1} ms over 50",
        fed.messages,
        open_s,
        recording.segments.len(),
        rss_mb() - rss0,
        ms[ms.len() / 2],
        ms[ms.len() - 1],
    );
}
