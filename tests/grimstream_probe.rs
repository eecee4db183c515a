//! `capdeck probe` and `capdeck demo-feeds` end to end: the real binary, real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use capdeck::grimstream::server::{ProducerServer, ServerOptions, StopFlag};
use capdeck::grimstream::{FeedAddr, Frame, Hello, Message, StreamConfig};
use capdeck::wire::grimstream::{Header, Kind, encode};
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
    let out = Command::new(BIN)
        .args([
            "probe",
            "--retail",
            retail,
            "--engine",
            engine,
            "--duration",
            secs,
            "--json",
        ])
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
    let tcp0: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
    let cfg = StreamConfig {
        width: 64,
        height: 8,
        pixel_format: 1,
        stride_bytes: 320,
        nominal_fps: None,
    };
    let retail = ProducerServer::bind(
        &tcp0,
        ServerOptions::retail(Hello::new("retail_capture", None), Some(cfg)),
    )
    .unwrap();
    let engine = ProducerServer::bind(
        &tcp0,
        ServerOptions::engine(Hello::new("grim_engine", None)),
    )
    .unwrap();
    let (ra, ea) = (
        retail.local_addr().to_string(),
        engine.local_addr().to_string(),
    );
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
