//! The real window under Xvfb: screenshots of the root window (ImageMagick's `import`) and
//! one check that a window shows live, non-blank frames and exits 0.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A screenshot as RGB pixels.
pub struct Shot {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// Pixels, RGB.
    pub rgb: Vec<u8>,
}

/// Parses a binary PPM (P6, maxval 255) as written by `import ppm:-`.
pub fn parse_ppm(b: &[u8]) -> Result<Shot, String> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&b[start..i]).into_owned());
    }
    i += 1; // the single whitespace after maxval
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("not an 8-bit P6 PPM: {fields:?}"));
    }
    let w: usize = fields[1].parse().map_err(|_| "bad width")?;
    let h: usize = fields[2].parse().map_err(|_| "bad height")?;
    let rgb = b
        .get(i..i + w * h * 3)
        .ok_or("truncated PPM data")?
        .to_vec();
    Ok(Shot { w, h, rgb })
}

pub fn screenshot() -> Result<Shot, String> {
    let out = Command::new("import")
        .args(["-window", "root", "-depth", "8", "ppm:-"])
        .output()
        .map_err(|e| format!("cannot run import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_ppm(&out.stdout)
}

/// Distinct colours (coarsely quantised) in the shot: a blank or single-colour screen has
/// a handful; the app has dozens.
pub fn distinct_colours(s: &Shot) -> usize {
    let mut seen = std::collections::HashSet::new();
    for p in s.rgb.chunks_exact(3) {
        seen.insert((p[0] >> 3, p[1] >> 3, p[2] >> 3));
    }
    seen.len()
}

pub fn differing_pixels(a: &Shot, b: &Shot) -> usize {
    a.rgb
        .chunks_exact(3)
        .zip(b.rgb.chunks_exact(3))
        .filter(|(x, y)| x != y)
        .count()
}

/// What [`run_window`] saw.
pub struct WindowRun {
    /// The program's stderr.
    pub stderr: String,
    /// From spawn to the first non-blank frame.
    pub first_frame_after: Duration,
}

/// Spawns `cmd` (a `capdeck --exit-after N` invocation, N = `exit_after`), waits up to
/// `first_within` for the window to show a busy picture, checks that later frames differ
/// (it renders live data), that it exits 0 no earlier than `exit_after`, and saves the
/// first busy screen as PNG to `keep` if given. Returns its stderr.
pub fn run_window(
    mut cmd: Command,
    exit_after: Duration,
    first_within: Duration,
    keep: Option<&std::path::Path>,
) -> WindowRun {
    // One window at a time: the checks read the whole screen.
    static SCREEN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _screen = SCREEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        std::env::var("DISPLAY").is_ok(),
        "CAPDECK_TEST_DISPLAY=1 but DISPLAY is not set"
    );
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capdeck");
    // stderr drained on a thread, so a chatty program never blocks on a full pipe
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        use std::io::Read;
        let _ = pipe.read_to_string(&mut err);
        err
    });

    // Poll the screen until the window shows a busy picture (the app drew), then check
    // that later frames differ (it keeps rendering live data).
    let mut first = None;
    while started.elapsed() < first_within {
        let s = screenshot().expect("screenshot");
        if distinct_colours(&s) > 60 {
            first = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_frame_after = started.elapsed();
    let Some(first) = first else {
        let _ = child.kill();
        let err = reader.join().unwrap_or_default();
        panic!("the window never showed a non-blank frame within {first_within:?}; stderr:\n{err}");
    };
    assert!(first.w >= 640 && first.h >= 480);
    if let Some(path) = keep {
        let out = Command::new("import")
            .args(["-window", "root"])
            .arg(path)
            .output()
            .expect("run import");
        assert!(out.status.success(), "screenshot to {}", path.display());
    }
    let mut moved = 0;
    let watch_until = exit_after.saturating_sub(Duration::from_millis(200));
    while started.elapsed() < watch_until && moved < 2000 {
        std::thread::sleep(Duration::from_millis(300));
        let s = screenshot().expect("screenshot");
        moved = differing_pixels(&first, &s);
    }
    if moved < 2000 {
        let _ = child.kill();
        let err = reader.join().unwrap_or_default();
        panic!("frames are not live: only {moved} pixels changed; stderr:\n{err}");
    }

    // exit-after: status 0, after about `exit_after`, within a generous bound
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if started.elapsed() > exit_after + Duration::from_secs(25) {
            let _ = child.kill();
            panic!("capdeck did not exit after --exit-after {exit_after:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{stderr}"
    );
    assert!(
        started.elapsed() >= exit_after,
        "exited before --exit-after"
    );
    WindowRun {
        stderr,
        first_frame_after,
    }
}
