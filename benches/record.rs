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
//!   ([`capdeck_session::replay::load_frame`]): ms per seek. Segments are 2 s here, so the
//!   60-ish segments of a one-hour recording (60 s segments) are matched in count.
//!
//! `cargo bench --bench record` (`SECS` env var, default 30).
//!
//! `SYNTH_SECS=3600 cargo bench --bench record` runs instead the synthetic mode ([`synthetic`]):
//! `SYNTH_SECS` seconds of the same messages, stamped on the session clock as if they came
//! in real time, written through the real recorder with its default options (60 s
//! segments, 8 MiB chunks, lz4) as fast as the writer takes them (the producer waits while
//! half the recorder's queue is in flight, so nothing is dropped; the chunks are the same as
//! in real time: 8 MiB fill in 76 ms of session, well before the 1 s flush that would close
//! one early); then the folder opened
//! and 200 random frames read back through the chunk index, then opened into a live view
//! with a 256 MiB budget. The folder is made under `TMPDIR` (an hour is about 5 GB) and
//! removed at the end. `DROP_CACHES=1` (root) drops the page cache before opening, so the
//! first pass of seeks is cold; `SYNTH_VIEW_SEGMENTS=N` opens only the first N segments
//! into the view (the rest of the run still uses all of them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code states expectations by panicking

use std::time::{Duration, Instant};

use bytes::Bytes;
use capdeck_grimstream::FeedRole;
use capdeck_grimstream::demo::{SceneRenderer, pose_at};
use capdeck_grimstream::live::LiveView;
use capdeck_grimstream::store::StoredFrame;
use capdeck_record::reader::Recording;
use capdeck_record::recorder::{Recorder, RecorderOptions, RecorderState};
use capdeck_record::writer::WriterOptions;
use capdeck_record::{Entry, Payload, Topic};
use capdeck_wire::grimstream::{
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

/// A point of a percentile of sorted `v` (nearest rank).
fn pct(v: &[f64], p: f64) -> f64 {
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Bytes of the files in `dir`: (lengths, allocated blocks).
fn dir_bytes(dir: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| m.is_file())
        .fold((0, 0), |(l, b), m| (l + m.len(), b + m.blocks() * 512))
}

/// Session time of tick `i` (of 60 a second) since the recording's first message.
fn tick_ns(i: u64) -> u64 {
    i * 1_000_000_000 / 60
}

/// The synthetic mode: `secs` of session written as fast as the recorder takes it, then
/// opened, seeked and replayed into a view (see the module docs).
fn synthetic(script: Script, secs: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("synthetic");
    println!(
        "synthetic {secs} s of session into {} (TMPDIR), recorder defaults",
        dir.display()
    );

    // ---- write: session-clock stamps spaced as in real time, paced by the writer
    let opts = RecorderOptions::default();
    let max_in_flight_msgs = (opts.queue_messages / 2) as u64;
    let max_in_flight_bytes = (opts.queue_bytes / 2) as u64;
    let rec = Recorder::start(&dir, opts).unwrap();
    let sink = rec.sink();
    let base = sink.now_ns();
    let t0 = Instant::now();
    let (mut sent, mut sent_bytes, mut waits) = (0u64, 0u64, 0u64);
    for i in 0..secs * 60 {
        // back-pressure: wait while half the queue (messages or bytes) is not yet written
        loop {
            let st = rec.status();
            assert_eq!(st.state, RecorderState::Recording, "{st:?}");
            if sent - st.messages < max_in_flight_msgs
                && sent_bytes - st.bytes_in < max_in_flight_bytes
            {
                break;
            }
            waits += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        script.tick(i, base + tick_ns(i), |e| {
            sent += 1;
            sent_bytes += e.payload.len() as u64;
            assert!(sink.record(e), "queue full: the pacing let a message drop");
        });
        if i > 0 && i % (600 * 60) == 0 {
            println!(
                "  {} min of session written in {:.0} s",
                i / 3600,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let dropped = rec.status().dropped;
    let manifest = rec.stop().expect("sealed");
    let write_s = t0.elapsed().as_secs_f64();
    let on_disk: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
    let (files, blocks) = dir_bytes(&dir);
    println!(
        "write: {sent} messages, {:.1} GB in, in {write_s:.1} s ({:.1}x real time, {:.0} MB/s in), \
         {waits} waits of 1 ms for the writer, dropped {}; {} segments, {:.2} GB on disk \
         (segments {on_disk} B, folder {files} B, {blocks} B allocated), lz4 {:.1}x, \
         {:.2} GB per hour of session",
        sent_bytes as f64 / 1e9,
        secs as f64 / write_s,
        sent_bytes as f64 / write_s / 1e6,
        dropped + manifest.dropped,
        manifest.segments.len(),
        files as f64 / 1e9,
        sent_bytes as f64 / on_disk.max(1) as f64,
        blocks as f64 / 1e9 * 3600.0 / secs as f64,
    );
    assert_eq!(dropped + manifest.dropped, 0, "nothing dropped");

    // ---- open (cold when the page cache was dropped)
    let cold = std::env::var("DROP_CACHES").is_ok_and(|v| v == "1");
    if cold {
        assert!(
            std::process::Command::new("sync")
                .status()
                .unwrap()
                .success()
        );
        std::fs::write("/proc/sys/vm/drop_caches", "3\n")
            .expect("DROP_CACHES=1 needs root (writes /proc/sys/vm/drop_caches)");
    }
    let cache = if cold { "cold" } else { "warm" };
    let t = Instant::now();
    let recording = Recording::open(&dir).unwrap();
    let open_s = t.elapsed().as_secs_f64();
    assert!(recording.problems.is_empty(), "{:?}", recording.problems);
    let t = Instant::now();
    let again = Recording::open(&dir).unwrap();
    let reopen_s = t.elapsed().as_secs_f64();
    drop(again);
    println!(
        "Recording::open: {:.0} ms ({cache} page cache), {:.0} ms again (warm); {} segments",
        open_s * 1000.0,
        reopen_s * 1000.0,
        recording.segments.len()
    );

    // ---- seek: 200 random frames over the whole session. The StoredFrames are made from
    // what the script wrote (frame k: tick 2k, host time = log time, arrival = log time -
    // the first message's), not from a replay of the whole session; the view below checks
    // that its frames agree.
    let frames_total = secs * 30;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let points: Vec<u64> = (0..200)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % frames_total
        })
        .collect();
    let stored = |k: u64| StoredFrame {
        generation: 0,
        frame_id: k,
        host_time_ns: base + tick_ns(2 * k),
        telemetry_time_ns: None,
        arrival_ns: tick_ns(2 * k) as i64,
        t_ns: tick_ns(2 * k) as i64,
        config: None,
        data: Bytes::new(),
        paged_out: true,
    };
    assert_eq!(
        recording.time_range().unwrap().0,
        base,
        "t0 is the first message"
    );
    for pass in [cache, "warm"] {
        let mut ms = Vec::new();
        for &k in &points {
            let t = Instant::now();
            let data = capdeck_session::replay::load_frame(&recording, &stored(k))
                .unwrap()
                .expect("the frame is in the recording");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(data, script.frames[(k % 90) as usize], "frame {k}");
        }
        let slowest = (0..ms.len())
            .max_by(|&a, &b| ms[a].total_cmp(&ms[b]))
            .unwrap();
        let first = ms[0];
        ms.sort_by(|a, b| a.total_cmp(b));
        println!(
            "seek ({pass} page cache) over {} frames: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
             over {} (the slowest was seek {slowest}, frame {}; the first took {first:.1} ms)",
            frames_total,
            pct(&ms, 0.5),
            pct(&ms, 0.99),
            ms[ms.len() - 1],
            ms.len(),
            points[slowest],
        );
    }
    drop(script);

    // ---- open into a live view with a 256 MiB budget, paging
    let mut recording = recording;
    if let Some(n) = std::env::var("SYNTH_VIEW_SEGMENTS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        recording.segments.truncate(n);
    }
    let view_secs = recording
        .time_range()
        .map_or(0.0, |(a, b)| (b - a) as f64 / 1e9);
    let rss0 = rss_mb();
    let mut view = LiveView::new(256 * 1024 * 1024);
    view.set_paging(true);
    let progress = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let t = Instant::now();
    let fed = std::thread::scope(|s| {
        s.spawn(|| {
            let mut next = Duration::from_secs(30);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if t.elapsed() >= next {
                    println!(
                        "  into_view {:.0} s: {:.1} % of the time range, RSS +{:.0} MB",
                        t.elapsed().as_secs_f64(),
                        progress.load(std::sync::atomic::Ordering::Relaxed) as f64 / 10.0,
                        rss_mb() - rss0
                    );
                    next += Duration::from_secs(30);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let fed = capdeck_session::replay::into_view_with_progress(
            &recording,
            &mut view,
            64 * 1024 * 1024,
            &progress,
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        fed.unwrap()
    });
    let view_s = t.elapsed().as_secs_f64();
    let rss_after = rss_mb() - rss0;
    let (listed, paged, mismatched) = view.with_store(|s| {
        let f = &s.feed(FeedRole::Retail).frames;
        let mismatched = f
            .iter()
            .filter(|g| {
                let want = stored(g.frame_id);
                g.host_time_ns != want.host_time_ns || g.arrival_ns != want.arrival_ns
            })
            .count();
        (
            f.len(),
            f.iter().filter(|g| g.paged_out).count(),
            mismatched,
        )
    });
    println!(
        "into_view: {:.0} s of session ({} segments), {} messages in {view_s:.1} s \
         ({:.1}x real time), RSS +{rss_after:.0} MB with a 256 MiB budget (paging); \
         {listed} frames listed, {paged} paged out, {mismatched} differing from the seek's \
         StoredFrames; gaps {}, refused {}",
        view_secs,
        recording.segments.len(),
        fed.messages,
        view_secs / view_s,
        fed.gaps.len(),
        fed.refused,
    );
    drop(view);
    drop(recording);
    let t = Instant::now();
    tmp.close().unwrap();
    println!(
        "removed the recording in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    if let Some(secs) = std::env::var("SYNTH_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        synthetic(Script::new(), secs);
        return;
    }
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
    let fed = capdeck_session::replay::into_view(&recording, &mut view, 64 * 1024 * 1024).unwrap();
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
        let data = capdeck_session::replay::load_frame(&recording, f)
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
