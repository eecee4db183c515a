//! Shared helpers for the integration tests: real processes, real sockets, no sleeps that
//! hide races (every wait polls a condition against a deadline).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations by panicking
#![allow(dead_code)]
#![allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)

pub mod screen;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The capdeck binary under test: this build's, or `CAPDECK_TEST_EXE` run through
/// `CAPDECK_TEST_RUNNER` when set (CI runs the interop tests against `capdeck.exe` under
/// Wine this way: the same checks, the Windows binary).
pub fn capdeck() -> Command {
    let mut c = match (
        std::env::var_os("CAPDECK_TEST_EXE"),
        std::env::var_os("CAPDECK_TEST_RUNNER"),
    ) {
        (Some(exe), Some(runner)) => {
            let mut c = Command::new(runner);
            c.arg(exe);
            c
        }
        (Some(exe), None) => Command::new(exe),
        // the capdeck package's tests run its own build; other packages need the variable
        _ => match option_env!("CARGO_BIN_EXE_capdeck") {
            Some(exe) => Command::new(exe),
            None => panic!("CAPDECK_TEST_EXE is not set (the binary under test)"),
        },
    };
    c.env("CAPDECK_LOG", "info");
    c
}

/// True when the tests drive a binary other than this build's (`CAPDECK_TEST_EXE`).
pub fn foreign_exe() -> bool {
    std::env::var_os("CAPDECK_TEST_EXE").is_some()
}

/// Fails the test, naming what is missing, unless `var` is `1`. Tests that need the test
/// environment are `#[ignore]`d, so a plain `cargo test` lists them as ignored (never as
/// passed); `make test` runs them (`--include-ignored`) inside tests/env/with-test-env.sh,
/// where a missing piece is a failure, not a skip.
pub fn require_env(var: &str, what: &str) {
    if std::env::var(var).as_deref() != Ok("1") {
        panic!(
            "{var}=1 is not set: this test needs {what}; run it through `make test` \
             (tests/env/with-test-env.sh sets it up)"
        );
    }
}

/// A test's turn at the shared desktop: one X display with its window manager and one
/// PulseAudio server serve every test of a binary (tests/env/with-test-env.sh), and the
/// harness runs a binary's tests at once. A test that uses them holds a turn for its whole
/// run: tests of one `group` (the file's `module_path!()`) may run together, as they did when
/// each file was a binary of its own; tests of different files take turns, since one changes
/// the default source, one types keys, one reads the screen's pixels and X reuses a closed
/// client's window ids. The turn ends when the value is dropped (a failed test included).
pub fn desktop_turn(group: &'static str) -> DesktopTurn {
    let mut held = DESKTOP.0.lock().unwrap_or_else(PoisonError::into_inner);
    while held.0.is_some_and(|g| g != group) {
        held = DESKTOP.1.wait(held).unwrap_or_else(PoisonError::into_inner);
    }
    held.0 = Some(group);
    held.1 += 1;
    DesktopTurn(())
}

/// Which group has the desktop and how many of its tests hold it, and the wait for a turn.
type Turns = (Mutex<(Option<&'static str>, usize)>, Condvar);
static DESKTOP: Turns = (Mutex::new((None, 0)), Condvar::new());

/// A turn at the desktop ([`desktop_turn`]); dropping it ends the turn.
pub struct DesktopTurn(());

impl Drop for DesktopTurn {
    fn drop(&mut self) {
        let mut held = DESKTOP.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.1 -= 1;
        if held.1 == 0 {
            held.0 = None;
            DESKTOP.1.notify_all();
        }
    }
}

/// The Python with pyzmq set up by `make test` (see [`require_env`] for what happens
/// without it).
pub fn python() -> PathBuf {
    match std::env::var_os("CAPDECK_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "CAPDECK_PYTHON is not set: this test needs the libzmq (pyzmq) peer; run it \
             through `make test` (tests/env/with-test-env.sh sets it up)"
        ),
    }
}

/// A port that was free a moment ago on 127.0.0.1, below the ephemeral range.
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range: a port from `bind(:0)` comes from that range, where
    // any process's next outgoing connection may take it before the test binds it (seen when
    // CI ran the Wine checks beside the soak). Random, so tests at once rarely pick alike.
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const FROM: u16 = 10_000;
    use std::hash::BuildHasher as _;
    if low > FROM + 1000 {
        let span = u64::from(low - FROM);
        for i in 0..1000u32 {
            let r =
                std::collections::hash_map::RandomState::new().hash_one((std::process::id(), i));
            let port = FROM + (r % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The repository's root: the package being tested is the root package or one in
/// `tests/wine` (capdeck-wine-tests).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("tests/peers").is_dir())
        .unwrap_or(here)
        .to_path_buf()
}

/// Path of a peer script in tests/peers.
pub fn peer(name: &str) -> PathBuf {
    repo_root().join("tests/peers").join(name)
}

/// Ports of a host.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub audio: u16,
    pub video: u16,
    pub control: u16,
}

impl Ports {
    pub fn free(with_control: bool) -> Self {
        Self {
            audio: free_port(),
            video: free_port(),
            control: if with_control { free_port() } else { 0 },
        }
    }
}

/// A running Python host; killed on drop.
pub struct PyHost {
    pub child: Child,
    pub out: PathBuf,
}

impl PyHost {
    /// Starts tests/peers/host.py and waits until it has bound its sockets.
    pub fn start(python: &Path, ports: Ports, framing: &str, out: &Path, extra: &[&str]) -> Self {
        std::fs::create_dir_all(out).unwrap();
        let mut child = Command::new(python)
            .arg(peer("host.py"))
            .args(["--audio-port", &ports.audio.to_string()])
            .args(["--video-port", &ports.video.to_string()])
            .args(["--control-port", &ports.control.to_string()])
            .args(["--framing", framing])
            .arg("--out")
            .arg(out)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python host");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("host ready line");
        assert!(line.contains("\"ready\""), "host did not start: {line:?}");
        Self {
            child,
            out: out.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait, and read the summary it writes.
    pub fn finish(mut self) -> serde_json::Value {
        signal(self.pid(), "TERM");
        let _ = self.child.wait();
        let text = std::fs::read_to_string(self.out.join("summary.json")).expect("host summary");
        serde_json::from_str(&text).expect("summary JSON")
    }

    /// SIGKILL: the host dies without a word, as a crashed host does.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PyHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process that is killed when the guard drops (a failing test leaves nothing behind).
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
    /// Waits for the process and tells whether it exited with status 0.
    pub fn wait_success(&mut self) -> bool {
        self.0.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a signal by name with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Resident memory of a process in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Goertzel power of `freq` in `x` (sample rate `sr`), normalised by length.
pub fn tone_power(x: &[f64], sr: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / sr;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f64).powi(2)
}

/// Reads little-endian int16 samples.
pub fn read_i16le(path: &Path) -> Vec<f64> {
    let b = std::fs::read(path).expect("raw audio");
    b.chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
        .collect()
}

/// Decodes a JPEG file; returns (width, height, RGB pixels).
pub fn decode_jpeg(path: &Path) -> (u32, u32, Vec<u8>) {
    let f = std::fs::File::open(path).expect("jpeg file");
    let mut d = jpeg_decoder::Decoder::new(std::io::BufReader::new(f));
    let px = d.decode().expect("decodes as JPEG");
    let info = d.info().expect("jpeg info");
    (u32::from(info.width), u32::from(info.height), px)
}

/// Frequency from rising zero crossings, interpolated between samples.
pub fn zero_crossing_hz(x: &[f64], sr: f64) -> f64 {
    let mut first = None;
    let mut last = 0.0;
    let mut n = 0u32;
    for i in 0..x.len().saturating_sub(1) {
        if x[i] < 0.0 && x[i + 1] >= 0.0 {
            let t = i as f64 + x[i] / (x[i] - x[i + 1]);
            if first.is_none() {
                first = Some(t);
            } else {
                n += 1;
            }
            last = t;
        }
    }
    match first {
        Some(f) if n > 0 => f64::from(n) * sr / (last - f),
        _ => 0.0,
    }
}

/// Estimated frequency of a 16 kHz int16 tone: all zero crossings over the whole duration
/// (silence inside the span lowers it, unlike [`zero_crossing_hz`], which measures between
/// the first and last rising crossing).
pub fn crossing_rate_hz(samples: &[i16]) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 16_000.0)
}

/// The speech test set's folder (`tests/voice/`).
pub fn voice_dir() -> PathBuf {
    repo_root().join("tests/voice")
}

/// Writes the speech test set (espeak-ng voices through a sox room) into `out`
/// (`tests/voice/make_testset.sh`; needs espeak-ng and sox).
pub fn make_testset(out: &Path) {
    let st = Command::new(voice_dir().join("make_testset.sh"))
        .arg(out)
        .status()
        .expect("run tests/voice/make_testset.sh");
    assert!(st.success(), "make_testset.sh failed");
}

/// RMS of int16-scaled samples in dBFS (floored near -124 dBFS).
pub fn rms_db(x: &[f64]) -> f64 {
    let e = x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64;
    10.0 * e.max(1e-3).log10() - 20.0 * 32768f64.log10()
}

/// The int16 samples of a 16-bit WAV file, as f64.
pub fn read_wav_i16(p: &Path) -> Vec<f64> {
    let mut r = hound::WavReader::open(p).unwrap();
    r.samples::<i16>().map(|s| f64::from(s.unwrap())).collect()
}

/// The lines a child writes to a pipe (its stderr log, a peer's stdout), read on a thread
/// of their own so the child never blocks on a full pipe; every line is kept for messages.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    /// Reads `pipe` (a `ChildStderr` or `ChildStdout`) until it closes.
    pub fn read(pipe: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// The first new line that contains `needle`, waiting up to `timeout`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return Some(l);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= end {
                return None;
            }
        }
    }

    /// Like [`Self::wait_for`], panicking with every line read so far when it never comes.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        match self.wait_for(needle, timeout) {
            Some(l) => l,
            None => panic!(
                "never saw {needle:?}; lines so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}
