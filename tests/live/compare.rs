//! The game and its re-implementation compared, end to end: a retail producer sending the
//! telemetry shim's `intro.timeline` events and an engine producer sending STATE_UPDATE
//! `events` in its own spellings, over real TCP, where the engine skips one event, is 2 s
//! late with another and adds one. `probe --json` names exactly those three, a recording of
//! the run gives the same report to `capdeck compare`, and `--max 2` exits 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use capdeck_grimstream::server::{ProducerServer, ServerOptions, StopFlag};
use capdeck_grimstream::{FeedAddr, Hello, Message};
use capdeck_wire::grimstream::{StateUpdate, Telemetry};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_capdeck");

/// What the game does, seconds after the viewer connects (the telemetry shim's names).
const GAME: [(f64, &str); 5] = [
    (0.5, "movie.logos.start"),
    (1.5, "movie.logos.end"),
    (2.5, "cut_scene.intro.begin"),
    (3.5, "dialog.manny.intma39"),
    (4.0, "movie.intro.start"),
];

/// What the engine does (its own spellings): no `cut_scene.intro.begin`, the dialog line
/// 2 s late, and a movie the game never played.
const ENGINE: [(f64, &str); 5] = [
    (0.5, "cut_scene.fullscreen.start logos.snm"),
    (1.5, "cut_scene.fullscreen.end logos.snm"),
    (3.0, "movie.start mo_ts.snm"),
    (
        4.0,
        "event=cutscene phase=start movie=intro.snm playing=true",
    ),
    (5.5, "dialog.begin manny /intma39/"),
];

fn telemetry(seq: u64, event: &str) -> Message {
    Message::Telemetry(Telemetry {
        seq,
        label: "intro.timeline".into(),
        timestamp: None,
        data: rmpv::Value::Map(vec![("event".into(), event.into())]),
    })
}

/// Both producers on free loopback ports, serving the script to each viewer from its
/// connection on; their addresses, and the flag that stops them.
fn producers() -> (String, String, StopFlag, Vec<thread::JoinHandle<()>>) {
    let tcp0: FeedAddr = "tcp://127.0.0.1:0".parse().unwrap();
    let retail = ProducerServer::bind(
        &tcp0,
        ServerOptions::retail(Hello::new("retail_capture", None), None),
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
    let s1 = stop.clone();
    let h1 = thread::spawn(move || {
        let _ = retail.run(&s1, |session| {
            let t0 = Instant::now();
            for (seq, (at, event)) in (0u64..).zip(GAME) {
                let wait = Duration::from_secs_f64(at).saturating_sub(t0.elapsed());
                thread::sleep(wait);
                session.send(&telemetry(seq, event))?;
            }
            while !session.stopped() && !session.peer_closed() {
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        });
    });
    let s2 = stop.clone();
    let h2 = thread::spawn(move || {
        let _ = engine.run(&s2, |session| {
            // a state every 50 ms (the clock estimate needs them), events when due
            let t0 = Instant::now();
            let mut next = 0;
            let mut seq = 0u64;
            while !session.stopped() && !session.peer_closed() {
                let now = t0.elapsed();
                let mut events = Vec::new();
                while next < ENGINE.len() && Duration::from_secs_f64(ENGINE[next].0) <= now {
                    events.push(ENGINE[next].1.to_owned());
                    next += 1;
                }
                session.send(&Message::StateUpdate(StateUpdate {
                    seq,
                    host_time_ns: now.as_nanos() as u64,
                    events: (!events.is_empty()).then_some(events),
                    ..Default::default()
                }))?;
                seq += 1;
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        });
    });
    (ra, ea, stop, vec![h1, h2])
}

fn kinds(comparison: &Value) -> Vec<(String, String)> {
    comparison["divergences"]
        .as_array()
        .unwrap_or_else(|| panic!("no divergences: {comparison:#}"))
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected() -> Vec<(String, String)> {
    [
        ("only_in_game", "cut_scene.intro.begin"),
        ("only_in_engine", "movie.mo_ts.start"),
        ("late", "dialog.manny.intma39"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect()
}

fn compare(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("compare")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn probe_and_compare_name_the_skipped_the_late_and_the_added_event() {
    let (ra, ea, stop, threads) = producers();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = Command::new(BIN)
        .args(["probe", "--retail", &ra, "--engine", &ea, "--json"])
        .args(["--duration", "6.5", "--record"])
        .arg(&dir)
        .output()
        .unwrap();
    stop.stop();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["comparison"];
    assert_eq!(kinds(c), expected(), "{c:#}");
    assert_eq!(c["counts"]["total"], 3);
    let late = &c["divergences"][2];
    let dt = late["dt_ms"].as_f64().unwrap();
    assert!((dt - 2000.0).abs() < 150.0, "late by {dt} ms: {late}");
    assert_eq!(c["pairs"], 4, "{c:#}");
    assert_eq!(
        c["missing_keys"],
        serde_json::json!(["cut_scene.intro.begin"])
    );

    // the recording of the run: the same three, and the gate
    let gate = compare(&dir, &["--json", "--max", "2"]);
    assert_eq!(
        gate.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&gate.stderr)
    );
    let r: Value = serde_json::from_slice(&gate.stdout).unwrap();
    assert_eq!(kinds(&r), expected(), "{r:#}");
    assert!(String::from_utf8_lossy(&gate.stderr).contains("3 divergences, over --max 2"));
    assert_eq!(compare(&dir, &["--max", "3"]).status.code(), Some(0));
    // the summary of the replay carries the same report
    let out = Command::new(BIN)
        .args(["replay", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kinds(&s["comparison"]), expected());

    // a user's rule that ignores the engine's added movie: two left
    let rules = tmp.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"rules":[{"feed":"engine","match":"^movie\\.start mo_ts","key":""}]}"#,
    )
    .unwrap();
    let ok = compare(&dir, &["--rules", rules.to_str().unwrap(), "--max", "2"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // a broken rule file is an error (2) that names the rule
    std::fs::write(&rules, r#"{"rules":[{"match":"(","key":"x"}]}"#).unwrap();
    let bad = compare(&dir, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("rule 1:") && err.contains("rules.json"),
        "{err}"
    );
    // a folder that is no recording is an error too
    assert_eq!(compare(tmp.path(), &[]).status.code(), Some(2));
}
