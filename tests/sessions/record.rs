//! Session recording through real parts: the demo producers over loopback TCP, the
//! headless `probe --record` and `send --record`, a pyzmq host, `kill -9`, a flipped byte,
//! a disk budget, `replay --to-host`, the Foxglove export read back by Foxglove's own
//! Python reader.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;
use serde_json::Value;

/// A fresh folder for one test, removed when the returned value drops (pass or fail).
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("capdeck-rec-{name}-"))
        .tempdir()
        .unwrap()
}

/// Demo producers on free ports for `secs`, small frames (320x240 at 30 fps).
fn demo(secs: u32) -> (ChildGuard, String, String) {
    let (r, e) = (free_port(), free_port());
    let (ra, ea) = (format!("127.0.0.1:{r}"), format!("127.0.0.1:{e}"));
    let child = capdeck()
        .args(["demo-feeds", "--retail-bind", &ra, "--engine-bind", &ea])
        .args([
            "--duration",
            &secs.to_string(),
            "--width",
            "320",
            "--height",
            "240",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = ChildGuard(child);
    assert!(
        wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(&ra).is_ok()
        }),
        "demo feeds did not listen"
    );
    (g, ra, ea)
}

fn probe_record(ra: &str, ea: &str, secs: f64, dir: &Path, extra: &[&str]) -> Value {
    let out = capdeck()
        .args(["probe", "--retail", ra, "--engine", ea, "--json"])
        .args(["--duration", &secs.to_string(), "--record"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn replay_json(dir: &Path) -> Value {
    let out = capdeck()
        .arg("replay")
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verify(dir: &Path) -> (bool, String) {
    let out = capdeck().arg("verify").arg(dir).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mcap"))
        .collect();
    v.sort();
    v
}

fn py_read(py: &Path, files: &[PathBuf]) -> Value {
    let out = Command::new(py)
        .arg(peer("read_mcap.py"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python mcap reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A probe's recording replays through the live view's decoders to the very same counts the
/// live probe reported (every message kind, frames, gaps), rotates into sealed segments
/// that verify, and an independent reader (Python `mcap`) reads the same messages.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn probe_recording_replays_to_the_live_counts() {
    let (_demo, ra, ea) = demo(20);
    let tmp_dir = tmp("probe");
    let dir = tmp_dir.path().join("session");
    // 2 s segments: a 5 s run seals at least two.
    let live = probe_record(&ra, &ea, 5.0, &dir, &["--segment-secs", "2"]);
    let rep = replay_json(&dir);
    for feed in ["retail", "engine"] {
        assert_eq!(
            rep["feeds"][feed]["messages"], live[feed]["messages"],
            "{feed}: replayed message kinds differ from the live ones"
        );
        for k in [
            "frames",
            "gaps",
            "missing_frames",
            "missing_updates",
            "width",
            "height",
            "producer",
        ] {
            assert_eq!(rep["feeds"][feed][k], live[feed][k], "{feed}.{k}");
        }
    }
    // The same report as the probe's: the engine's last yaw and what the viewer sent.
    for k in [
        "yaw",
        "position",
        "viewer_ready_sent",
        "movie_answers",
        "last_movie_answer",
    ] {
        assert_eq!(rep["feeds"]["engine"][k], live["engine"][k], "engine.{k}");
    }
    assert!(live["engine"]["yaw"].is_number(), "{}", live["engine"]);
    assert_eq!(live["engine"]["viewer_ready_sent"], 1, "{}", live["engine"]);
    assert!(live["retail"]["frames"].as_u64().unwrap() >= 100);
    assert_eq!(rep["gaps"].as_array().unwrap().len(), 0);
    assert_eq!(rep["problems"].as_array().unwrap().len(), 0, "{rep}");
    let segs = rep["segments"].as_array().unwrap();
    assert!(segs.len() >= 2, "expected rotation: {segs:?}");
    assert!(
        segs.iter()
            .all(|s| s["sealed"] == true && s["recovered"] == false)
    );
    // The viewer's own messages (CONTROL viewer_ready, MOVIE_CONTROL) are recorded too.
    assert!(rep["channels"]["/grimstream/engine/sent"].as_u64().unwrap() >= 2);
    // The recording says why it ended: the run's --duration, not the user.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["stopped"], "the --duration of 5 s ended",
        "{manifest}"
    );
    let (ok, text) = verify(&dir);
    assert!(ok, "{text}");
    assert_eq!(text.matches(": ok").count(), segs.len(), "{text}");

    let py = python();
    let indep = py_read(&py, &segments(&dir));
    let total: u64 = rep["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(indep["messages"].as_u64().unwrap(), total);
    let retail = &indep["topics"]["/grimstream/retail"];
    assert_eq!(retail["message_encoding"], "grimstream.v1");
    // Untouched wire bytes: the GrimStream magic opens every recorded message.
    assert!(
        retail["first"].as_str().unwrap().starts_with("4752494d"),
        "{retail}"
    );
    assert_eq!(retail["ordered"], true);
}

/// `kill -9` in the middle of a recording: everything up to the last flush (≤ 1 s) opens
/// without any repair step, and verify passes (the unfinished segment is unsealed, not
/// damaged). A flipped byte in a sealed segment is then named by verify, and replay shows a
/// gap there instead of failing.
#[test]
fn killed_recording_recovers_and_a_flipped_byte_is_named() {
    let (_demo, ra, ea) = demo(30);
    let tmp_dir = tmp("kill");
    let dir = tmp_dir.path().join("session");
    let mut child = ChildGuard(
        capdeck()
            .args([
                "probe",
                "--retail",
                &ra,
                "--engine",
                &ea,
                "--duration",
                "60",
            ])
            .args(["--segment-secs", "2", "--record"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for one sealed segment and an open one with flushed messages.
    let flushed = |d: &Path| -> Option<(usize, u64)> {
        let m: Value =
            serde_json::from_slice(&std::fs::read(d.join("manifest.json")).ok()?).ok()?;
        Some((
            m["segments"].as_array()?.len(),
            m["open"]["messages"].as_u64().unwrap_or(0),
        ))
    };
    assert!(
        wait_for(Duration::from_secs(20), || flushed(&dir)
            .is_some_and(|(s, o)| s >= 1 && o >= 30)),
        "no sealed segment and flushed head in time"
    );
    let (sealed, head) = flushed(&dir).unwrap();
    signal(child.id(), "KILL");
    let _ = child.0.wait();
    let rep = replay_json(&dir);
    let segs = rep["segments"].as_array().unwrap();
    assert!(segs.len() > sealed, "{segs:?}");
    let last = segs.last().unwrap();
    assert_eq!(last["recovered"], true, "{last}");
    assert!(
        last["messages"].as_u64().unwrap() >= head,
        "recovered {} messages, the manifest had {head} flushed",
        last["messages"]
    );
    assert!(rep["feeds"]["retail"]["frames"].as_u64().unwrap() > 30);
    assert!(
        rep["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("recovered")),
        "{rep}"
    );
    let (ok, text) = verify(&dir);
    assert!(ok, "{text}");
    assert!(text.contains("not sealed"), "{text}");

    // Flip one byte in the middle of the first chunk of the first sealed segment (walking
    // MCAP records: opcode u8, length u64 LE; a chunk is opcode 0x06).
    let first = dir.join(segs[0]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&first).unwrap();
    let mut at = 8;
    let mid = loop {
        let len = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
        if bytes[at] == 0x06 {
            break at + 9 + len / 2;
        }
        at += 9 + len;
    };
    bytes[mid] ^= 0x5a;
    std::fs::write(&first, &bytes).unwrap();
    let (ok, text) = verify(&dir);
    assert!(!ok, "verify passed a damaged segment: {text}");
    let name = segs[0]["file"].as_str().unwrap();
    assert!(text.contains(&format!("{name}: DAMAGED")), "{text}");
    let after = replay_json(&dir);
    assert!(
        !after["gaps"].as_array().unwrap().is_empty(),
        "no gap shown for the damaged chunk: {after}"
    );
    assert!(
        after["feeds"]["retail"]["frames"].as_u64().unwrap()
            < rep["feeds"]["retail"]["frames"].as_u64().unwrap()
    );
}

/// A disk budget stops the recording cleanly with a message while the live side goes on;
/// the files stay within the budget and what was written replays.
#[test]
fn disk_budget_stops_the_recording_not_the_view() {
    let (_demo, ra, ea) = demo(20);
    let tmp_dir = tmp("budget");
    let dir = tmp_dir.path().join("session");
    let live = probe_record(&ra, &ea, 4.0, &dir, &["--record-budget-mib", "2"]);
    let on_disk: u64 = segments(&dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk <= 2 * 1024 * 1024, "{on_disk} bytes on disk");
    let rep = replay_json(&dir);
    assert!(
        rep["stopped"]
            .as_str()
            .unwrap()
            .contains("disk budget of 2 MiB"),
        "{rep}"
    );
    let recorded = rep["feeds"]["retail"]["frames"].as_u64().unwrap();
    let seen = live["retail"]["frames"].as_u64().unwrap();
    // 2 MiB holds a part of the run, never all of it.
    assert!(
        recorded > 0 && recorded < seen,
        "recorded {recorded} of {seen}"
    );
    let (ok, text) = verify(&dir);
    assert!(ok, "{text}");

    // A short probe of the retail feed; the caller adds the recording flags.
    let short_probe = || {
        let mut c = capdeck();
        c.args([
            "probe",
            "--retail",
            &ra,
            "--engine",
            "none",
            "--duration",
            "0.2",
        ]);
        c
    };
    // A disk with less free space than the guard: refused at once, with the reason.
    let out = short_probe()
        .args(["--record-min-free-mib", "999999999", "--record"])
        .arg(dir.with_file_name("refused"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left on the disk"), "{err}");
    assert!(
        !dir.with_file_name("refused").exists(),
        "a refused recording leaves no folder behind"
    );

    // A folder that already holds a recording is never overwritten.
    let out = short_probe().arg("--record").arg(&dir).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a recording"));
}

/// `replay --serve-retail --serve-engine` serves a probe recording as two producers; a
/// second viewer (`probe`) watches it and sees what was recorded: the same producers, frame
/// size, every frame and state, no gap, with the recorded pacing.
#[test]
fn a_recording_served_as_producers_shows_what_was_recorded() {
    let (_demo, ra, ea) = demo(20);
    let tmp_dir = tmp("serve");
    let dir = tmp_dir.path().join("session");
    probe_record(&ra, &ea, 3.0, &dir, &[]);
    let rec = replay_json(&dir);
    let mut server = capdeck();
    server
        .arg("replay")
        .arg(&dir)
        .args([
            "--serve-retail",
            "127.0.0.1:0",
            "--serve-engine",
            "127.0.0.1:0",
        ])
        .args(["--duration", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard(server.spawn().unwrap());
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(child.0.stdout.take().unwrap()));
    let mut addr = |role: &str| {
        let l = lines.next().unwrap().unwrap();
        l.strip_prefix(&format!("{role} "))
            .unwrap_or_else(|| panic!("{l:?}"))
            .to_owned()
    };
    let (sr, se) = (addr("retail"), addr("engine"));
    let out = capdeck()
        .args([
            "probe",
            "--retail",
            &sr,
            "--engine",
            &se,
            "--json",
            "--duration",
            "6",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    for role in ["retail", "engine"] {
        let (r, s) = (&rec["feeds"][role], &seen[role]);
        assert_eq!(s["producer"], r["producer"], "{role}: {s}");
        assert_eq!(s["gaps"], 0, "{role}: {s}");
        assert_eq!(s["decode_errors"], 0, "{role}: {s}");
        // after the recording's end the stream is quiet: one stall, not one a second
        assert!(s["stalls"].as_u64().unwrap() <= 1, "{role}: {s}");
    }
    let (r, s) = (&rec["feeds"]["retail"], &seen["retail"]);
    assert_eq!(
        (s["width"].clone(), s["height"].clone()),
        (r["width"].clone(), r["height"].clone())
    );
    assert_eq!(s["frames"], r["frames"], "every recorded frame: {s} vs {r}");
    assert!(r["frames"].as_u64().unwrap() > 60, "{r}");
    assert_eq!(
        seen["engine"]["messages"]["STATE_UPDATE"],
        rec["feeds"]["engine"]["messages"]["STATE_UPDATE"],
        "every recorded state"
    );
}

/// A disk that really fills: a 4 MiB tmpfs with 192 KiB left and the free-space guard off.
/// The recording stops with the disk's own error, the probe goes on to its end and exits
/// 0 with every frame seen, and what reached the disk opens and replays.
#[test]
#[ignore = "mounts a tmpfs (root): `make test` runs it"]
fn a_full_disk_stops_the_recording_cleanly() {
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let mnt_dir = tmp("fulldisk");
    let mnt = mnt_dir.path().to_path_buf();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .status();
    assert!(
        mounted.as_ref().is_ok_and(|s| s.success()),
        "cannot mount a tmpfs at {} (this test needs root): {mounted:?}",
        mnt.display()
    );
    let _unmount = Unmount(mnt.clone());
    std::fs::write(mnt.join("filler"), vec![0u8; 4 * 1024 * 1024 - 192 * 1024]).unwrap();
    let (_demo, ra, ea) = demo(20);
    let dir = mnt.join("session");
    let out = capdeck()
        .args(["probe", "--retail", &ra, "--engine", &ea, "--json"])
        .args(["--duration", "4", "--record-min-free-mib", "0", "--record"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the probe goes on: {err}");
    assert!(
        err.contains("stopped early") && err.contains("No space left"),
        "{err}"
    );
    let live: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen = live["retail"]["frames"].as_u64().unwrap();
    assert!(seen >= 60, "{seen} frames seen live in 4 s at 30 fps");
    let rep = replay_json(&dir);
    let recorded = rep["feeds"]["retail"]["frames"].as_u64().unwrap_or(0);
    assert!(recorded < seen, "recorded {recorded} of {seen}");
}

/// `send --record` against the pyzmq host, then `replay --to-host` to a second pyzmq host:
/// the second host receives the same messages, byte for byte, in the same order. The
/// export opens in Foxglove's reader with the standard schemas and the recorded counts.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn send_recording_replays_to_a_host_byte_for_byte_and_exports() {
    let py = python();
    let base_dir = tmp("send");
    let base = base_dir.path().to_path_buf();
    let dir = base.join("session");
    let ports = Ports::free(true);
    let host = PyHost::start(&py, ports, "any", &base.join("live"), &[]);
    let st = capdeck()
        .args(["send", "--host", "127.0.0.1"])
        .args(["--audio-port", &ports.audio.to_string()])
        .args(["--video-port", &ports.video.to_string()])
        .args(["--control-port", &ports.control.to_string()])
        .args([
            "--framing",
            "framed",
            "--audio",
            "tone:440",
            "--video",
            "pattern",
        ])
        .args(["--duration", "3", "--record"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let live = host.finish();
    let rep = replay_json(&dir);
    let audio_n = rep["channels"]["/capture/audio"].as_u64().unwrap();
    let video_n = rep["channels"]["/capture/video"].as_u64().unwrap();
    assert_eq!(audio_n as usize, live["audio"].as_array().unwrap().len());
    assert_eq!(video_n as usize, live["video"].as_array().unwrap().len());
    assert!(audio_n >= 25, "{audio_n} audio chunks in 3 s");
    assert!(
        rep["channels"]["/capture/control/request"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(rep["channels"]["/capture/control/reply"].as_u64().unwrap() >= 1);
    // the links' state changes, each once: audio and video streaming (a loopback connect
    // is done before the first state is taken) and stopped at the end, the control
    // channel connecting, then ok
    let rec = capdeck_record::reader::Recording::open(&dir).unwrap();
    let mut links: Vec<(String, String)> = Vec::new();
    rec.read(0, u64::MAX, &[capdeck_record::Topic::Links], &mut |ev| {
        if let capdeck_record::reader::ReadEvent::Message(m) = ev {
            let v: Value = serde_json::from_slice(m.data).unwrap();
            links.push((
                v["channel"].as_str().unwrap().to_owned(),
                v["state"]["state"].as_str().unwrap().to_owned(),
            ));
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    for (ch, states) in [
        ("audio", &["streaming", "stopped"][..]),
        ("video", &["streaming", "stopped"][..]),
        ("control", &["connecting", "ok"][..]),
    ] {
        let seen: Vec<&str> = links
            .iter()
            .filter(|(c, _)| c == ch)
            .map(|(_, s)| s.as_str())
            .collect();
        let mut want = states.iter();
        let mut next = want.next();
        for s in &seen {
            if Some(s) == next {
                next = want.next();
            }
        }
        assert!(next.is_none(), "{ch}: {seen:?} lacks {states:?} in order");
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "{ch}: only changes are recorded: {seen:?}"
        );
    }

    let ports2 = Ports::free(false);
    let seq_log = base.join("again.seq");
    let seq_arg = seq_log.to_string_lossy().into_owned();
    let host2 = PyHost::start(
        &py,
        ports2,
        "framed",
        &base.join("again"),
        &["--seq-log", &seq_arg],
    );
    let out = capdeck()
        .arg("replay")
        .arg(&dir)
        .args(["--to-host", "127.0.0.1", "--as-fast"])
        .args(["--audio-port", &ports2.audio.to_string()])
        .args(["--video-port", &ports2.video.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = |h: &Value| -> usize {
        h["audio"].as_array().unwrap().len() + h["video"].as_array().unwrap().len()
    };
    let expect = got(&live);
    // The host reads what arrived by the time it is stopped: wait for all of it (its
    // sequence log is written line by line as messages arrive).
    let arrived = || std::fs::read_to_string(&seq_log).map_or(0, |s| s.lines().count());
    assert!(
        wait_for(Duration::from_secs(10), || arrived() >= expect),
        "the second host got {} of {expect} messages",
        arrived()
    );
    let again = host2.finish();
    assert_eq!(got(&again), expect);
    assert!(again["errors"].as_array().unwrap().is_empty(), "{again}");
    for ch in ["audio", "video"] {
        let a: Vec<&Value> = live[ch]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["header_raw"])
            .collect();
        let b: Vec<&Value> = again[ch]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["header_raw"])
            .collect();
        assert_eq!(a, b, "{ch} headers differ or are out of order");
    }
    assert_eq!(
        std::fs::read(base.join("live/audio.raw")).unwrap(),
        std::fs::read(base.join("again/audio.raw")).unwrap(),
        "replayed audio bytes differ"
    );

    let export = base.join("export.mcap");
    let out = capdeck()
        .arg("export")
        .arg(&dir)
        .arg("--foxglove")
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x = py_read(&py, &[export]);
    let a = &x["topics"]["/capture/audio"];
    assert_eq!(a["schema"], "foxglove.RawAudio");
    assert_eq!(a["schema_encoding"], "jsonschema");
    assert_eq!(a["count"].as_u64().unwrap(), audio_n);
    assert_eq!(
        a["first_json_keys"],
        serde_json::json!([
            "data",
            "format",
            "number_of_channels",
            "sample_rate",
            "timestamp"
        ])
    );
    let v = &x["topics"]["/capture/video"];
    assert_eq!(v["schema"], "foxglove.CompressedImage");
    assert_eq!(v["count"].as_u64().unwrap(), video_n);
}

/// A demo recording exports retail frames as `foxglove.RawImage` rgba8 and engine state as
/// JSON, with the recorded counts.
#[test]
#[ignore = "needs the test environment: `make test` runs it (tests/env/with-test-env.sh)"]
fn grimstream_recording_exports_standard_images() {
    let py = python();
    let (_demo, ra, ea) = demo(10);
    let tmp_dir = tmp("export");
    let dir = tmp_dir.path().join("session");
    let live = probe_record(&ra, &ea, 2.0, &dir, &[]);
    let export = dir.with_file_name("out.mcap");
    let out = capdeck()
        .arg("export")
        .arg(&dir)
        .arg("--foxglove")
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x = py_read(&py, &[export]);
    let f = &x["topics"]["/grimstream/retail/frame"];
    assert_eq!(f["schema"], "foxglove.RawImage");
    assert_eq!(f["count"], live["retail"]["frames"]);
    let s = &x["topics"]["/grimstream/engine/state"];
    assert_eq!(
        s["count"], live["engine"]["messages"]["STATE_UPDATE"],
        "{x}"
    );
}

/// `capdeck export --range`: every retail frame of the range as a PNG of the frame beside
/// the engine's view (count = the frames the replayed view holds in the range), an MP4 of
/// as many frames (ffmpeg), report.json with the comparison's divergences in the range;
/// a cancelled clip leaves no file behind.
#[test]
#[ignore = "needs ffmpeg (packaging/linux/install-deps.sh test): `make test` runs it"]
fn a_range_exports_its_frames_and_divergences_and_a_cancel_leaves_nothing() {
    use capdeck_session::clip::{ClipError, ClipOptions, ClipProgress, export_clip};
    use std::sync::atomic::Ordering;
    let (_demo, ra, ea) = demo(20);
    let tmp_dir = tmp("clip");
    let dir = tmp_dir.path().join("session");
    probe_record(&ra, &ea, 4.0, &dir, &[]);
    let (from, to) = (1.0, 2.5);
    let rec = capdeck_record::reader::Recording::open(&dir).unwrap();
    let mut view = capdeck_grimstream::LiveView::new(usize::MAX / 4);
    capdeck_session::replay::into_view(&rec, &mut view, 64 << 20).unwrap();
    let in_range = view.with_store(|s| {
        s.feed(capdeck_grimstream::FeedRole::Retail)
            .frames
            .iter()
            .filter(|f| f.t_ns >= (from * 1e9) as i64 && f.t_ns <= (to * 1e9) as i64)
            .count()
    });
    assert!(in_range > 30, "{in_range} frames in 1.5 s at 30 fps");

    let out = dir.parent().unwrap().join("clip");
    let run = capdeck()
        .arg("export")
        .arg(&dir)
        .args(["--range", &from.to_string(), &to.to_string(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let clip: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(clip["frames"], in_range as u64, "{clip}");
    assert_eq!(clip["missing_pixels"], 0);
    let pngs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), in_range);
    // each PNG: the 320x240 frame beside a 240x240 engine view, over the 8-pixel strip
    let png = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out.join("frame_000000.png")).unwrap(),
    ))
    .read_info()
    .unwrap();
    assert_eq!((png.info().width, png.info().height), (560, 248));
    // the video has as many frames (ffprobe counts them)
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(out.join("clip.mp4"))
        .output()
        .expect("ffprobe (ffmpeg)");
    let n: usize = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, in_range, "frames in clip.mp4");
    // the report: the divergences of the whole comparison that lie in the range
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let all = capdeck()
        .arg("compare")
        .arg(&dir)
        .arg("--json")
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    let want: Vec<&Value> = all["divergences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            let t = d["at_ns"].as_f64().unwrap() / 1e9;
            t >= from && t <= to
        })
        .collect();
    let got: Vec<&Value> = report["divergences"].as_array().unwrap().iter().collect();
    assert_eq!(got, want);
    assert_eq!(report["frames"], in_range as u64);
    let csv = std::fs::read_to_string(out.join("events.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + want.len(), "{csv}");
    // the same folder again: refused, not overwritten
    let again = capdeck()
        .arg("export")
        .arg(&dir)
        .args(["--range", "1", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // cancelled after its first frame: an error, and neither the folder nor its partial
    let out2 = dir.parent().unwrap().join("cancelled");
    let progress = ClipProgress::default();
    let opts = ClipOptions {
        from_ns: 0,
        to_ns: 10_000_000_000,
        out: out2.clone(),
        video: true,
        rules: capdeck_compare::Rules::defaults(),
        compare: capdeck_compare::CompareOptions::default(),
    };
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while progress.done.load(Ordering::Relaxed) == 0 {
                std::thread::yield_now();
            }
            progress.cancel.store(true, Ordering::Relaxed);
        });
        export_clip(&rec, &opts, &progress)
    });
    assert!(matches!(r, Err(ClipError::Cancelled)), "{r:?}");
    let done = progress.done.load(Ordering::Relaxed);
    assert!(
        done < progress.total.load(Ordering::Relaxed),
        "cancelled midway: {done}"
    );
    assert!(!out2.exists());
    assert!(!dir.parent().unwrap().join("cancelled.partial").exists());
}
