//! `capdeck probe` and `capdeck demo-feeds` end to end: the real binary, real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
use capdeck_grimstream::{FeedAddr, Frame, Hello, Message, StreamConfig};
use capdeck_wire::grimstream::{Header, Kind, encode};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_capdeck");

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn probe(retail: &str, engine: &str, secs: &str) -> Value {
    probe_with(&["--retail", retail, "--engine", engine, "--duration", secs])
}

#[test]
fn probe_reports_the_demo_feeds() {
    let mut child = Command::new(BIN)
        .args([
            "demo-feeds",
            "--retail-bind",
            "tcp://127.0.0.1:0",
            "--engine-bind",
            "tcp://127.0.0.1:0",
            "--duration",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start demo-feeds");
    let stdout = child.stdout.take().unwrap();
    let _guard = KillOnDrop(child);
    // demo-feeds prints its bound addresses first (it binds before printing).
    let mut lines = BufReader::new(stdout).lines();
    let retail = lines.next().unwrap().unwrap();
    let engine = lines.next().unwrap().unwrap();
    let retail = retail.strip_prefix("retail ").expect(&retail).to_string();
    let engine = engine.strip_prefix("engine ").expect(&engine).to_string();

    let v = probe(&retail, &engine, "2");
    let r = &v["retail"];
    assert_eq!(r["connected"], true, "{v:#}");
    assert_eq!(r["producer"], "retail_capture");
    assert_eq!(r["messages"]["HELLO"], 1);
    assert_eq!(r["messages"]["STREAM_CONFIG"], 1);
    let frames = r["frames"].as_u64().unwrap();
    assert!(frames >= 10, "{frames} frames in 2 s at 30 fps");
    assert_eq!(r["messages"]["FRAME"].as_u64().unwrap(), frames);
    assert_eq!(r["width"], 1280);
    assert_eq!(r["height"], 720);
    assert_eq!(r["stride"], 5120);
    assert_eq!(r["unknown_skipped"], 0);
    assert_eq!(r["decode_errors"], 0);
    assert_eq!(r["reconnects"], 0);
    assert!(r["stalls"].is_u64());
    assert_eq!(r["gaps"], 0, "marks carry telemetry seqs: no false gaps");
    assert!(r["messages"]["TELEMETRY"].as_u64().unwrap() >= 1);

    let e = &v["engine"];
    assert_eq!(e["connected"], true, "{v:#}");
    assert_eq!(e["producer"], "grim_engine");
    assert_eq!(e["viewer_ready_sent"], 1);
    assert!(e["messages"]["STATE_UPDATE"].as_u64().unwrap() >= 10);
    assert_eq!(e["messages"]["MOVIE_START"], 1);
    // the movie was answered (the engine would wait inside it forever otherwise)
    assert_eq!(e["movie_answers"], 1, "{e:#}");
    assert_eq!(e["last_movie_answer"]["name"], "logos");
    assert_eq!(e["last_movie_answer"]["action"], "error");
    assert_eq!(e["gaps"], 0, "{e:#}");
    let pos = e["position"].as_array().expect("position");
    assert_eq!(pos.len(), 3);
    assert!(pos.iter().all(|x| x.as_f64().unwrap().abs() <= 10.0));
    assert_eq!(e["unknown_skipped"], 0);
    assert_eq!(e["decode_errors"], 0);
}

fn raw_msg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Header::new(Kind::from_u16(kind), payload.len() as u32)
        .to_bytes()
        .to_vec();
    v.extend_from_slice(payload);
    v
}

/// Producers that misbehave the ways the issue lists: the probe skips the unknown, keeps
/// the connection, sends viewer_ready, survives garbage and a restart, reads float64.
#[test]
fn probe_survives_odd_producers() {
    let cfg = StreamConfig {
        width: 64,
        height: 8,
        pixel_format: 1,
        stride_bytes: 320,
        nominal_fps: None,
    };
    let (retail, engine, ra, ea) = producer_pair(cfg, None);
    let stop = StopFlag::default();
    let (s1, s2) = (stop.clone(), stop.clone());
    let rt = thread::spawn(move || {
        retail
            .run(&s1, |s| {
                let mut bytes = Vec::new();
                for id in 0..3u64 {
                    bytes.extend(
                        encode(&Message::Frame(Frame {
                            frame_id: id,
                            host_time_ns: id * 20_000_000,
                            telemetry_time_ns: None,
                            data: vec![1u8; 320 * 8].into(),
                        }))
                        .unwrap(),
                    );
                }
                bytes.extend(raw_msg(0x00ff, &[1, 2, 3, 4, 5]));
                bytes.extend(raw_msg(0x0008, &[]));
                for c in bytes.chunks(100) {
                    s.send_raw(c)?;
                }
                if s.connection == 1 {
                    s.send_raw(b"garbage garbage garbage")?;
                }
                while !s.stopped() {
                    thread::sleep(Duration::from_millis(5));
                    if s.connection == 1 && s.send(&Message::Heartbeat).is_err() {
                        break;
                    }
                }
                Ok(())
            })
            .unwrap()
    });
    let et = thread::spawn(move || {
        engine
            .run(&s2, |s| {
                let v = rmpv::Value::Map(vec![
                    ("seq".into(), 0u64.into()),
                    ("host_time_ns".into(), 5u64.into()),
                    (
                        "position".into(),
                        rmpv::Value::Array(vec![
                            rmpv::Value::F64(1.5),
                            rmpv::Value::F64(-2.25),
                            rmpv::Value::F64(0.0),
                        ]),
                    ),
                ]);
                let mut p = Vec::new();
                rmpv::encode::write_value(&mut p, &v).unwrap();
                s.send_raw(&raw_msg(0x0005, &p))?;
                while !s.stopped() && !s.peer_closed() {
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
            .unwrap()
    });
    let v = probe(&ra, &ea, "1.5");
    stop.stop();
    rt.join().unwrap();
    et.join().unwrap();

    let r = &v["retail"];
    assert_eq!(r["connected"], true, "{v:#}");
    assert!(r["reconnects"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(r["decode_errors"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(r["unknown_skipped"].as_u64().unwrap() >= 2, "{v:#}");
    assert!(r["frames"].as_u64().unwrap() >= 6, "{v:#}");
    assert_eq!(r["stride"], 320);
    assert!(r["messages"]["HEARTBEAT"].as_u64().unwrap() >= 2);
    assert!(
        r["gaps"].as_u64().unwrap() >= 1,
        "the reconnect is a gap: {v:#}"
    );
    let e = &v["engine"];
    assert_eq!(e["viewer_ready_sent"], 1);
    assert_eq!(e["reconnects"], 0);
    assert_eq!(e["position"], serde_json::json!([1.5, -2.25, 0.0]));
}

#[test]
fn probe_rejects_bad_addresses_clearly() {
    let out = Command::new(BIN)
        .args(["probe", "--retail", "udp://x:1", "--duration", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--retail") && err.contains("bad feed address"),
        "{err}"
    );
}

/// `probe` with extra flags, parsed.
fn probe_with(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("probe")
        .args(args)
        .arg("--json")
        .output()
        .expect("run capdeck probe");
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A used one-viewer engine (accepts, never writes): probe reports the silent state in
/// words, on the one connection it made.
#[test]
fn probe_names_a_silent_engine() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    l.set_nonblocking(true).unwrap();
    let accepts = Arc::new(AtomicU64::new(0));
    let stop = StopFlag::default();
    let (a2, s2) = (accepts.clone(), stop.clone());
    let engine = thread::spawn(move || {
        let mut held = Vec::new();
        while !s2.is_stopped() {
            match l.accept() {
                Ok((c, _)) => {
                    a2.fetch_add(1, Ordering::SeqCst);
                    held.push(c);
                }
                // poll for the stop flag; the accept itself is what is counted
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let v = probe_with(&[
        "--retail",
        "none",
        "--engine",
        &addr,
        "--duration",
        "2",
        "--hello-timeout-ms",
        "500",
    ]);
    stop.stop();
    engine.join().unwrap();
    let e = &v["engine"];
    assert_eq!(e["state"], "no_hello", "{v:#}");
    assert_eq!(
        e["state_text"], "connected, no HELLO: the engine may need a restart",
        "{v:#}"
    );
    assert_eq!(e["silent_connections"], 1, "{v:#}");
    assert_eq!(e["connected"], true, "{v:#}");
    assert_eq!(e["reconnects"], 0, "not retried: {v:#}");
    assert_eq!(e["viewer_ready_sent"], 0, "{v:#}");
    assert_eq!(accepts.load(Ordering::SeqCst), 1, "one connection: {v:#}");
}

/// Producers speaking the real dialect: retail marks carry their telemetry event's seq (so
/// they jump), the engine sends MOVIE_START and waits. `probe --game-data` answers the
/// movie by the play policy (found: `error`, no decoder; missing: `error`, file missing)
/// within half a second, reports the answer and its time, and counts no false gaps.
#[test]
fn probe_answers_movies_from_game_data_and_counts_no_false_gaps() {
    use capdeck_grimstream::{MovieAction, MovieStart, StateUpdate, Telemetry, TimelineMark};
    use std::sync::{Arc, Mutex};
    for found in [true, false] {
        let cfg = StreamConfig {
            width: 8,
            height: 2,
            pixel_format: 1,
            stride_bytes: 32,
            nominal_fps: Some(30.0),
        };
        let (retail, engine, ra, ea) = producer_pair(cfg, Some("0.1.0"));
        let stop = StopFlag::default();
        let (s1, s2) = (stop.clone(), stop.clone());
        let rt = thread::spawn(move || {
            retail
                .run(&s1, |s| {
                    // 30 frames, every fifth with telemetry; every other telemetry event
                    // is an intro.timeline one with its mark: mark seqs 0, 2, 4
                    let mut tel_seq = 0u64;
                    for id in 0..30u64 {
                        s.send(&Message::Frame(Frame {
                            frame_id: id,
                            host_time_ns: id * 33_333_333,
                            telemetry_time_ns: Some(id),
                            data: vec![7u8; 64].into(),
                        }))?;
                        if id % 5 == 0 {
                            let intro = tel_seq.is_multiple_of(2);
                            s.send(&Message::Telemetry(Telemetry {
                                seq: tel_seq,
                                label: if intro { "intro.timeline" } else { "tick" }.into(),
                                timestamp: None,
                                data: rmpv::Value::Nil,
                            }))?;
                            if intro {
                                s.send(&Message::TimelineMark(TimelineMark {
                                    seq: tel_seq,
                                    host_time_ns: id * 33_333_333,
                                    label: "intro.timeline".into(),
                                    data: rmpv::Value::Nil,
                                }))?;
                            }
                            tel_seq += 1;
                        }
                    }
                    while !s.stopped() && !s.peer_closed() {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Ok(())
                })
                .unwrap()
        });
        let answer = Arc::new(Mutex::new(None));
        let answer2 = answer.clone();
        let et = thread::spawn(move || {
            engine
                .run(&s2, |s| {
                    s.send(&Message::MovieStart(MovieStart {
                        name: "logos".into(),
                        relative_path: Some("MoviesHD/logos.ogv".into()),
                    }))?;
                    // the engine's loop waits inside the movie until it is answered
                    while !s.stopped() && !s.peer_closed() {
                        if let Some(Message::MovieControl(m)) =
                            s.recv_timeout(Duration::from_millis(10))
                        {
                            *answer2.lock().unwrap() = Some(m);
                            break;
                        }
                    }
                    for seq in 0..20u64 {
                        s.send(&Message::StateUpdate(StateUpdate {
                            seq: 1000 + seq, // not reset per connection: starts anywhere
                            host_time_ns: seq * 33_333_333,
                            frame: Some(seq as u32),
                            position: Some([seq as f32, 0.0, 0.0]),
                            yaw: Some(270.0),
                            active_setup: None,
                            active_hotspot: None,
                            coverage: None,
                            events: None,
                            active_movie: None,
                        }))?;
                    }
                    while !s.stopped() && !s.peer_closed() {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Ok(())
                })
                .unwrap()
        });
        let game = tempfile::tempdir().unwrap();
        if found {
            std::fs::create_dir_all(game.path().join("MoviesHD")).unwrap();
            std::fs::write(game.path().join("MoviesHD/logos.ogv"), b"OggS").unwrap();
        }
        let dir = game.path().to_str().unwrap();
        let v = probe_with(&[
            "--retail",
            &ra,
            "--engine",
            &ea,
            "--duration",
            "1.5",
            "--game-data",
            dir,
        ]);
        stop.stop();
        rt.join().unwrap();
        et.join().unwrap();

        let r = &v["retail"];
        assert_eq!(r["frames"], 30, "{v:#}");
        assert_eq!(r["messages"]["TIMELINE_MARK"], 3, "{v:#}");
        assert_eq!(r["gaps"], 0, "mark seqs 0, 2, 4 are no gap: {v:#}");
        let e = &v["engine"];
        assert_eq!(e["messages"]["STATE_UPDATE"], 20, "{v:#}");
        assert_eq!(e["gaps"], 0, "{v:#}");
        assert_eq!(e["movie_answers"], 1, "{v:#}");
        let a = &e["last_movie_answer"];
        assert_eq!(a["name"], "logos");
        assert_eq!(a["action"], "error");
        let msg = a["message"].as_str().unwrap();
        let looked_at = game.path().join("MoviesHD/logos.ogv");
        if found {
            assert!(msg.starts_with("no decoder for ogv movies"), "{msg}");
        } else {
            assert!(msg.starts_with("file missing"), "{msg}");
        }
        assert!(msg.contains(&*looked_at.to_string_lossy()), "{msg}");
        assert_eq!(e["movie"]["name"], "logos");
        assert_eq!(e["movie"]["relative_path"], "MoviesHD/logos.ogv");
        assert_eq!(&e["movie"]["answer"], a);
        let took = e["movie"]["took_ms"].as_f64().unwrap();
        assert!((0.0..500.0).contains(&took), "answered in {took} ms");
        let got = answer
            .lock()
            .unwrap()
            .clone()
            .expect("the engine got an answer");
        assert_eq!(got.action, MovieAction::Error);
        assert_eq!(got.message.as_deref(), Some(msg));
    }
}

#[test]
fn probe_refuses_a_game_data_folder_that_is_not_there() {
    let out = Command::new(BIN)
        .args([
            "probe",
            "--retail",
            "none",
            "--game-data",
            "/nonexistent/capdeck-game-data",
            "--duration",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--game-data") && err.contains("not a folder"),
        "{err}"
    );
}

/// A retail producer with `cfg` and an engine producer (HELLO version `engine_version`) on
/// free loopback ports, with their addresses.
fn producer_pair(
    cfg: StreamConfig,
    engine_version: Option<&str>,
) -> (ProducerServer, ProducerServer, String, String) {
    let tcp0: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
    let retail = ProducerServer::bind(
        &tcp0,
        ServerOptions::retail(Hello::new("retail_capture", None), Some(cfg)),
    )
    .unwrap();
    let engine = ProducerServer::bind(
        &tcp0,
        ServerOptions::engine(Hello::new("grim_engine", engine_version.map(str::to_owned))),
    )
    .unwrap();
    let (ra, ea) = (
        retail.local_addr().to_string(),
        engine.local_addr().to_string(),
    );
    (retail, engine, ra, ea)
}
