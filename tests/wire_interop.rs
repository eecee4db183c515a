//! The capture wire against an independent libzmq peer (pyzmq), through real TCP sockets
//! and the real `capdeck` binary: both framings, a late host, a host restart, a stalled
//! host, a host that never answers control, and a Python sender (with malformed messages)
//! against `capdeck receive`.
//!
//! Needs CAPDECK_PYTHON (a Python with pyzmq), set up by `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn send(ports: Ports, framing: &str, stats: &Path, extra: &[&str]) -> Command {
    let mut c = capdeck();
    c.arg("send")
        .args(["--host", "127.0.0.1"])
        .args(["--audio-port", &ports.audio.to_string()])
        .args(["--video-port", &ports.video.to_string()])
        .args(["--control-port", &ports.control.to_string()])
        .args(if framing.is_empty() {
            vec![]
        } else {
            vec!["--framing", framing]
        })
        .arg("--stats-json")
        .arg(stats)
        .args(extra);
    c
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("json file")).expect("valid JSON")
}

fn seqs(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["header"]["seq"].as_u64().unwrap())
        .collect()
}

fn assert_contiguous(s: &[u64], what: &str) {
    for w in s.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{what}: seq jumps from {} to {}",
            w[0],
            w[1]
        );
    }
}

fn end_to_end(framing: &str) {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let host = PyHost::start(&py, ports, framing, &dir.path().join("host"), &[]);
    let stats_path = dir.path().join("stats.json");
    let status = send(
        ports,
        framing,
        &stats_path,
        &[
            "--audio",
            "tone:440",
            "--video",
            "pattern",
            "--duration",
            "6",
        ],
    )
    .status()
    .unwrap();
    assert!(status.success());
    let s = host.finish();
    assert!(
        s["errors"].as_array().unwrap().is_empty(),
        "host errors: {}",
        s["errors"]
    );

    // Audio: 60 ± 1 chunks of exactly 3200 bytes, seq contiguous from 0, ts stepping 100 ms.
    let audio = s["audio"].as_array().unwrap();
    assert!(
        (59..=61).contains(&audio.len()),
        "{} audio chunks",
        audio.len()
    );
    let aseq = seqs(&s["audio"]);
    assert_eq!(aseq[0], 0);
    assert_contiguous(&aseq, "audio");
    let mut last_ts = None;
    for m in audio {
        assert_eq!(m["len"], 3200);
        assert_eq!(m["framing"], framing);
        let h = &m["header"];
        assert_eq!(h["type"], "audio");
        assert_eq!(h["sr"], 16000);
        assert_eq!(h["ch"], 1);
        assert_eq!(h["fmt"], "int16");
        assert_eq!(h.as_object().unwrap().len(), 6, "exact header fields: {h}");
        let ts = h["ts"].as_u64().unwrap();
        if let Some(prev) = last_ts {
            let step = ts as i64 - prev as i64;
            assert!((98..=102).contains(&step), "ts step {step} ms");
        }
        last_ts = Some(ts);
    }
    // A 440 Hz tone: every second of it crosses zero at 440 Hz (± 0.5 Hz), and a 1 kHz
    // probe finds nothing.
    let x = read_i16le(&dir.path().join("host/audio.raw"));
    let x = &x[1600..]; // skip the resampler's start-up
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    assert!(ms > 1e4, "signal too quiet: mean square {ms}");
    for second in x.chunks_exact(16000) {
        let f = zero_crossing_hz(second, 16000.0);
        assert!((f - 440.0).abs() < 0.5, "tone at {f:.3} Hz");
    }
    let p1k = tone_power(x, 16000.0, 1000.0);
    assert!(p1k / ms < 0.001, "1 kHz holds {:.5} of the power", p1k / ms);

    // Video: 30 ± 2 frames that decode as 640x480 JPEGs.
    let video = s["video"].as_array().unwrap();
    assert!(
        (28..=32).contains(&video.len()),
        "{} video frames",
        video.len()
    );
    let vseq = seqs(&s["video"]);
    assert_eq!(vseq[0], 0);
    assert_contiguous(&vseq, "video");
    for m in video {
        let h = &m["header"];
        assert_eq!((h["w"].as_u64(), h["h"].as_u64()), (Some(640), Some(480)));
        assert_eq!(h["fmt"], "jpeg");
        assert_eq!(h["quality"], 70);
        assert_eq!(h.as_object().unwrap().len(), 7, "exact header fields: {h}");
        let (w, hh, _) = decode_jpeg(
            &dir.path()
                .join(format!("host/video/{:06}.jpg", h["seq"].as_u64().unwrap())),
        );
        assert_eq!((w, hh), (640, 480));
    }

    // Control: a hello and at least one heartbeat.
    let reqs: Vec<Value> = s["control"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::from_str(c["request"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(reqs[0]["cmd"], "hello");
    assert_eq!(
        reqs[0]["capabilities"],
        serde_json::json!(["audio", "video"])
    );
    assert!(
        reqs.iter().any(|r| r["cmd"] == "heartbeat"),
        "no heartbeat in {reqs:?}"
    );

    let st = read_json(&stats_path);
    assert_eq!(
        st["audio"]["link"]["sent"].as_u64().unwrap(),
        audio.len() as u64
    );
    assert_eq!(st["audio"]["link"]["dropped"], 0);
    assert!(
        st["control"]["replies"].as_u64().unwrap() >= 2,
        "{}",
        st["control"]
    );
    assert_eq!(st["settings"]["chunk_ms"]["origin"], "host");
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn multipart_to_a_libzmq_host() {
    end_to_end("multipart");
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn framed_to_a_libzmq_host() {
    end_to_end("framed");
}

/// The first send, with no --framing flag, against a host that reads as the inference
/// host's code does (one part per message) and names no framing: everything parses,
/// and no warning.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn first_send_with_no_framing_flag_reaches_the_real_host_layout() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let host = PyHost::start(&py, ports, "framed", &dir.path().join("host"), &[]);
    let stats_path = dir.path().join("stats.json");
    let args = [
        "--audio",
        "tone:440",
        "--video",
        "pattern",
        "--duration",
        "3",
    ];
    assert!(
        send(ports, "", &stats_path, &args)
            .status()
            .unwrap()
            .success()
    );
    let s = host.finish();
    assert!(
        s["errors"].as_array().unwrap().is_empty(),
        "host errors: {}",
        s["errors"]
    );
    let audio = s["audio"].as_array().unwrap();
    assert!(audio.len() >= 28, "{} audio chunks parsed", audio.len());
    assert!(audio.iter().all(|m| m["framing"] == "framed"));
    assert!(s["video"].as_array().unwrap().len() >= 12);
    let st = read_json(&stats_path);
    assert_eq!(st["framing"], "framed");
    assert_eq!(st["framing_warning"], Value::Null, "{st}");
}

/// Multipart chosen for a host whose config reply names no framing: it is sent (this
/// host reads both), but the stats and status line carry a warning, not a green light.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn multipart_to_a_host_that_names_no_framing_is_warned() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let host = PyHost::start(&py, ports, "any", &dir.path().join("host"), &[]);
    let stats_path = dir.path().join("stats.json");
    let args = ["--audio", "tone:440", "--video", "none", "--duration", "2"];
    let out = send(ports, "multipart", &stats_path, &args)
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = host.finish();
    let st = read_json(&stats_path);
    assert!(
        st["control"]["replies"].as_u64().unwrap() >= 1,
        "{}",
        st["control"]
    );
    let w = st["framing_warning"].as_str().unwrap_or_default();
    assert!(w.contains("names no framing"), "warning: {w:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("names no framing"), "logged; stderr:\n{err}");
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn host_that_starts_two_seconds_late_gets_everything() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let stats = dir.path().join("stats.json");
    let mut sender = ChildGuard(
        send(
            ports,
            "framed",
            &stats,
            &[
                "--audio",
                "tone:440",
                "--video",
                "pattern",
                "--duration",
                "7",
            ],
        )
        .spawn()
        .unwrap(),
    );
    // The scenario itself: the host comes up two seconds after the sender.
    std::thread::sleep(Duration::from_secs(2));
    let host = PyHost::start(&py, ports, "framed", &dir.path().join("host"), &[]);
    assert!(sender.wait_success());
    let s = host.finish();
    let aseq = seqs(&s["audio"]);
    assert_eq!(
        aseq.first(),
        Some(&0),
        "the buffered start of the audio arrives"
    );
    assert_contiguous(&aseq, "audio");
    assert!(aseq.len() >= 68, "{} chunks", aseq.len());
    assert!(!s["video"].as_array().unwrap().is_empty());
    assert!(
        s["control"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["request"].as_str().unwrap().contains("hello"))
    );
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn host_killed_and_restarted_mid_run() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let stats = dir.path().join("stats.json");
    let log_a = dir.path().join("a.seqs");
    let host_a = PyHost::start(
        &py,
        ports,
        "multipart",
        &dir.path().join("a"),
        &["--seq-log", log_a.to_str().unwrap()],
    );
    let mut sender = ChildGuard(
        send(
            ports,
            "multipart",
            &stats,
            &[
                "--audio",
                "tone:440",
                "--video",
                "pattern",
                "--duration",
                "12",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let audio_lines = |p: &Path| -> Vec<u64> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("audio "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(10), || audio_lines(&log_a).len() >= 30),
        "host A got audio"
    );
    host_a.kill();
    let a_seqs = audio_lines(&log_a);
    // The outage: two seconds without a host, shorter than the 5 s audio buffer.
    std::thread::sleep(Duration::from_secs(2));
    let host_b = PyHost::start(&py, ports, "multipart", &dir.path().join("b"), &[]);
    assert!(sender.wait_success());
    let b = host_b.finish();

    let b_seqs = seqs(&b["audio"]);
    assert!(!b_seqs.is_empty(), "restarted host received nothing");
    assert_contiguous(&b_seqs, "audio after restart");
    // Nothing produced during the outage is lost: at most the few chunks that were inside
    // the dead host's socket when it was killed.
    let all: BTreeSet<u64> = a_seqs.iter().chain(&b_seqs).copied().collect();
    let last = *all.iter().next_back().unwrap();
    let missing: Vec<u64> = (0..=last).filter(|s| !all.contains(s)).collect();
    // Received again within about a second of the restart.
    let ready = b["ready_ms"].as_u64().unwrap();
    let first = b["audio"][0]["arrival_ms"].as_u64().unwrap();
    eprintln!(
        "restarted host: first chunk {} ms after it was ready; {} chunks lost {missing:?}; \
         host A's last seq {}, host B's first {}",
        first - ready,
        missing.len(),
        a_seqs.last().unwrap(),
        b_seqs[0]
    );
    // Measured (6 runs, 2 more under Wine): no chunk lost, host B's first seq right after
    // host A's last. A chunk that was inside the dead host's socket when it was killed is
    // lost with it: at most one (the kill follows a logged chunk by under 20 ms, and the
    // next is 100 ms away).
    assert!(
        missing.len() <= 1,
        "lost {} chunks: {missing:?}",
        missing.len()
    );
    assert!(
        b_seqs[0] <= *a_seqs.last().unwrap() + 2,
        "restart resumed at {} after {}",
        b_seqs[0],
        a_seqs.last().unwrap()
    );
    // The README: reconnects with backoff 250 ms doubling to 1 s, so the first retry after
    // the host is up comes within 1 s; 250 ms more for the connection and the first chunk.
    // Measured 715 to 721 ms (6 runs; capdeck.exe under Wine 725 and 727 ms): the retry
    // 2.75 s after the kill. With the backoff raised to 3 s it was 1,695 ms and failed.
    assert!(
        first - ready <= 1250,
        "first chunk {} ms after the restart (at most 1 s of backoff + 250 ms expected)",
        first - ready
    );
    let st = read_json(&stats);
    assert!(st["audio"]["link"]["reconnects"].as_u64().unwrap() >= 1);
    assert!(st["video"]["link"]["reconnects"].as_u64().unwrap() >= 1);
}

/// A host restarted between two heartbeats (the outage shorter than the 5 s beat) is a new
/// host: it must be greeted with a hello soon after the links come back, and the config it
/// offers (200 ms chunks) must be the one in force, not the old host's.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn a_host_restarted_between_heartbeats_is_greeted() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let stats = dir.path().join("stats.json");
    let host_a = PyHost::start(&py, ports, "framed", &dir.path().join("a"), &[]);
    let mut sender = ChildGuard(
        send(
            ports,
            "framed",
            &stats,
            &["--audio", "tone:440", "--video", "none", "--duration", "10"],
        )
        .spawn()
        .unwrap(),
    );
    // the hello is answered at once; kill the host a second later, 4 s before the next beat
    std::thread::sleep(Duration::from_millis(1500));
    host_a.kill();
    let host_b = PyHost::start(
        &py,
        ports,
        "framed",
        &dir.path().join("b"),
        &["--config", r#"{"audio_chunk_ms": 200}"#],
    );
    assert!(sender.wait_success());
    let b = host_b.finish();
    let control = b["control"].as_array().unwrap();
    let first_req = control
        .first()
        .expect("the new host heard nothing on control");
    assert!(
        first_req["request"].as_str().unwrap().contains("\"hello\""),
        "the new host's first request: {first_req}"
    );
    let hello_ms = first_req["arrival_ms"].as_u64().unwrap();
    let audio = b["audio"].as_array().unwrap();
    let first_data = audio[0]["arrival_ms"].as_u64().unwrap();
    eprintln!(
        "new host: first audio at +{} ms, hello {} ms after it",
        first_data - b["ready_ms"].as_u64().unwrap(),
        hello_ms as i64 - first_data as i64
    );
    // libzmq reconnects both within its reconnect interval; the link greets at once
    assert!(
        hello_ms <= first_data + 1500,
        "hello {} ms after the data link came back",
        hello_ms - first_data
    );
    // the new host's config is in force: its 200 ms chunks arrive after the hello
    let last = audio.last().unwrap();
    assert_eq!(last["len"], 6400, "last chunk {last}");
    let st = read_json(&stats);
    assert!(
        st["control"]["rehellos"].as_u64().unwrap() >= 1,
        "{}",
        st["control"]
    );
    assert!(st["control"]["last_hello_unix_ms"].as_u64().unwrap() >= hello_ms - 1000);
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn stalled_host_keeps_sender_memory_flat() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let stats = dir.path().join("stats.json");
    let host = PyHost::start(&py, ports, "multipart", &dir.path().join("host"), &[]);
    let mut sender = ChildGuard(
        send(
            ports,
            "multipart",
            &stats,
            &[
                "--audio",
                "tone:440",
                "--video",
                "pattern",
                "--video-size",
                "1920x1080",
                "--fps",
                "30",
                "--duration",
                "32",
            ],
        )
        .spawn()
        .unwrap(),
    );
    let pid = sender.id();
    // 6 s of normal streaming; "before" is the largest RSS seen in it, so buffers that are
    // still growing to their working size (slower when the other tests load the machine:
    // a single reading at 4 s gave 23 MB there against 29 MB alone) do not count as growth
    // during the stall.
    let warm_start = Instant::now();
    let mut before = 0;
    while warm_start.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(250));
        before = before.max(rss_kib(pid).unwrap_or(0));
    }
    assert!(before > 0, "sender RSS readable");
    // The host stops reading for 20 s (suspended: its libzmq I/O thread stops too).
    signal(host.pid(), "STOP");
    let stall_start = Instant::now();
    let mut peak = before;
    while stall_start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss_kib(pid).unwrap_or(0));
    }
    let resumed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    signal(host.pid(), "CONT");
    assert!(sender.wait_success());
    let s = host.finish();
    eprintln!(
        "sender RSS before the stall {before} KiB, peak during it {peak} KiB (+{} KiB)",
        peak.saturating_sub(before)
    );
    // What the queues hold: 3 video frames in the outbox and a few messages in libzmq (its
    // send high-water mark), 5 s of audio (160 KB). Measured growth of the Linux binary:
    // 6,656, 680 and 588 KiB alone; 668, 6,668 and 948 KiB beside the other tests of this
    // file; bound 16 MiB. With the video queue unbounded (the outbox cap raised to 100,000
    // frames) it grew 55,720 KiB. .ci/windows-wine.sh runs this test
    // against capdeck.exe under Wine (the pid is then the exe's own process, Wine's DLLs
    // included); there it measured 628, 12,780, 6,464, 6,720 and 3,296 KiB in 5 runs with a
    // single "before" reading at 4 s, 492 and 688 KiB with the warm-up maximum (Wine maps
    // DLLs and grows its heap lazily while running), so that run has its own bound,
    // 32 MiB, still under what the unbounded queue grows.
    let bound_kib = if foreign_exe() { 32 * 1024 } else { 16 * 1024 };
    assert!(
        peak.saturating_sub(before) < bound_kib,
        "RSS grew {} KiB during the stall ({bound_kib} KiB at most expected)",
        peak - before
    );
    let st = read_json(&stats);
    assert!(
        st["video"]["link"]["dropped"].as_u64().unwrap() > 0,
        "video drops counted"
    );
    // 20 s of audio (640 KB) fits the outbox and the kernel's socket buffers of its own
    // connection: none of it is lost while the video channel sheds frames.
    let aseq = seqs(&s["audio"]);
    assert_eq!(aseq.first(), Some(&0));
    assert_contiguous(&aseq, "audio through the stall");
    assert_eq!(st["audio"]["link"]["dropped"], 0);
    let after: Vec<&Value> = s["video"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["arrival_ms"].as_u64().unwrap() > resumed_ms + 1000)
        .collect();
    assert!(
        after.len() > 30,
        "streaming resumed: {} frames after the stall",
        after.len()
    );
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn host_that_never_answers_control() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let stats = dir.path().join("stats.json");
    let host = PyHost::start(
        &py,
        ports,
        "any",
        &dir.path().join("host"),
        &["--no-control-reply"],
    );
    let status = send(
        ports,
        "multipart",
        &stats,
        &[
            "--audio",
            "tone:440",
            "--video",
            "pattern",
            "--duration",
            "8",
        ],
    )
    .status()
    .unwrap();
    assert!(status.success());
    let s = host.finish();
    let aseq = seqs(&s["audio"]);
    assert!(aseq.len() >= 78, "streaming went on: {} chunks", aseq.len());
    assert_contiguous(&aseq, "audio");
    let hellos = s["control"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["request"].as_str().unwrap().contains("hello"))
        .count();
    assert!(hellos >= 2, "a fresh socket retried hello: {hellos}");
    let st = read_json(&stats);
    assert!(
        st["control"]["timeouts"].as_u64().unwrap() >= 2,
        "{}",
        st["control"]
    );
    assert_eq!(st["control"]["replies"], 0);
    assert_eq!(st["settings"]["chunk_ms"]["origin"], "default");
}

#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn python_sender_to_capdeck_receive() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free(true);
    let out = dir.path().join("out");
    let stats = dir.path().join("stats.json");
    let mut recv = ChildGuard(
        capdeck()
            .arg("receive")
            .args(["--bind", "127.0.0.1"])
            .args(["--audio-port", &ports.audio.to_string()])
            .args(["--video-port", &ports.video.to_string()])
            .args(["--control-port", &ports.control.to_string()])
            .arg("--out")
            .arg(&out)
            .arg("--stats-json")
            .arg(&stats)
            .spawn()
            .unwrap(),
    );
    // A tiny real JPEG from our own encoder, as the video payload.
    let jpeg = dir.path().join("x.jpg");
    let mut buf = Vec::new();
    jpeg_encoder::Encoder::new(&mut buf, 80)
        .encode(&[200u8; 16 * 8 * 3], 16, 8, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(&jpeg, &buf).unwrap();
    // Wait until the receiver is listening.
    assert!(wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", ports.control)).is_ok()
    }));
    let out_py = Command::new(&py)
        .arg(peer("push_sender.py"))
        .args(["--audio-port", &ports.audio.to_string()])
        .args(["--video-port", &ports.video.to_string()])
        .args(["--control-port", &ports.control.to_string()])
        .arg("--jpeg")
        .arg(&jpeg)
        .output()
        .unwrap();
    assert!(
        out_py.status.success(),
        "{}",
        String::from_utf8_lossy(&out_py.stderr)
    );
    let report: Value = serde_json::from_slice(&out_py.stdout).unwrap();
    let r = &report["replies"];
    assert_eq!(r["hello"]["status"], "ok");
    assert_eq!(r["hello"]["config"]["audio_chunk_ms"], 100);
    assert_eq!(
        r["hello"]["config"]["video_res"],
        serde_json::json!([640, 480])
    );
    assert_eq!(r["heartbeat"]["status"], "ok");
    assert!(r["heartbeat"]["ts"].as_u64().is_some());
    assert_eq!(r["get_config"]["config"]["video_quality"], 70);
    assert_eq!(r["unknown"]["error"], "unknown command: dance");
    assert_eq!(r["invalid"]["error"], "invalid JSON");

    // Everything sent has arrived once the live stats file (rewritten every second) and the
    // index add up; the WAV on disk is flushed every half second while running.
    let index = out.join("index.jsonl");
    let lines = || {
        std::fs::read_to_string(&index)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let live = || {
        std::fs::read_to_string(&stats)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    };
    let wav_len = || hound::WavReader::open(out.join("audio.wav")).map_or(0, |w| w.len());
    assert!(
        wait_for(Duration::from_secs(10), || {
            live().is_some_and(|st| {
                st["audio"]["messages"] == 25
                    && st["video"]["messages"] == 6
                    && st["control"]["invalid"] == 1
            }) && lines() >= 25 + 6 + 6 + 5
                && wav_len() == 25 * 1600
        }),
        "live stats {:?}, index.jsonl {} lines, wav {} samples",
        live(),
        lines(),
        wav_len()
    );
    if foreign_exe() {
        // Under Wine no Unix signal reaches a Windows program's Ctrl-C handler (SIGTERM ends
        // it at once; SIGINT is caught by Wine and dropped), so the run is judged on what
        // the running receiver wrote: the live stats and the flushed outputs.
        recv.0.kill().unwrap();
        recv.0.wait().unwrap();
    } else {
        signal(recv.id(), "TERM");
        assert!(recv.wait_success());
    }
    let st = read_json(&stats);
    assert_eq!(st["audio"]["messages"], 25);
    assert_eq!(st["audio"]["multipart"], 15);
    assert_eq!(st["audio"]["framed"], 10);
    assert_eq!(st["audio"]["missing"], 5, "the seq gap 20..24 is reported");
    assert_eq!(st["audio"]["gap_events"], 1);
    assert_eq!(st["video"]["messages"], 6);
    assert_eq!(st["audio"]["malformed"], 6);
    let kinds = st["malformed_by_kind"].as_object().unwrap();
    for k in [
        "short_frame",
        "length_mismatch",
        "bad_json",
        "unknown_type",
        "part_count",
        "audio_format",
    ] {
        assert_eq!(
            kinds.get(k).and_then(Value::as_u64),
            Some(1),
            "{k} in {kinds:?}"
        );
    }
    assert_eq!(st["control"]["hello"], 1);
    assert_eq!(st["control"]["unknown"], 1);
    assert_eq!(st["control"]["invalid"], 1);
    assert!(st["audio"]["latency"]["count"].as_u64().unwrap() == 25);
    // Outputs: a 16 kHz mono WAV with every sample, and one JPEG per frame.
    let wav = hound::WavReader::open(out.join("audio.wav")).unwrap();
    assert_eq!(wav.spec().sample_rate, 16000);
    assert_eq!(wav.spec().channels, 1);
    assert_eq!(wav.len(), 25 * 1600);
    for seq in 0..6 {
        assert_eq!(
            std::fs::read(out.join(format!("video/{seq:06}.jpg"))).unwrap(),
            buf
        );
    }
}
