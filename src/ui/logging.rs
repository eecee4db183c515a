//! The one `tracing` setup of the binary: stderr, the app's log ring, and the log file.
//!
//! The desktop app always writes a log file, because a release build on Windows has no
//! console to show stderr: `<data dir>/logs/capdeck.log` (on Windows
//! `%LOCALAPPDATA%\capdeck\capdeck\data\logs\capdeck.log`, on Linux
//! `~/.local/share/capdeck/logs/capdeck.log`). Headless commands write one only when asked
//! (`--log-file`). The path is shown in `--help` and in the app's log panel.
//!
//! A file over [`ROTATE_BYTES`] when a run starts is kept as `capdeck.log.1` and a new one
//! begun, so the log never grows without bound across runs; a run that logs more than that
//! keeps writing (warnings are rare; `info` writes a few lines per connection).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::log_ring::LogRing;

/// Size at which a log file is rotated when a run starts.
pub const ROTATE_BYTES: u64 = 8 << 20;

/// The log file this process writes, once [`init`] opened one.
static ACTIVE: OnceLock<PathBuf> = OnceLock::new();

/// Why the log file could not be opened (the log still goes to stderr and the ring).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogFileError {
    /// The platform has no data directory (no home directory).
    #[error("no data directory on this system for the log file")]
    NoDataDir,
    /// Creating the folder or opening the file failed.
    #[error("cannot open log file {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error, as text (cheap to clone).
        reason: String,
    },
}

/// The app's default log file: `<data dir>/logs/capdeck.log`.
pub fn default_log_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "capdeck", "capdeck")
        .map(|d| d.data_local_dir().join("logs").join("capdeck.log"))
}

/// The log file this process writes to, if any.
pub fn active_log_path() -> Option<&'static Path> {
    ACTIVE.get().map(PathBuf::as_path)
}

/// Opens `path` for appending, creating its folder, and rotates it first when it is larger
/// than [`ROTATE_BYTES`].
pub fn open_log_file(path: &Path) -> Result<File, LogFileError> {
    let fail = |e: std::io::Error| LogFileError::Open {
        path: path.into(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        // Best effort: if another capdeck rotated it a moment ago, append to the new one.
        let _ = std::fs::rename(path, PathBuf::from(old));
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)
}

/// Where the log goes besides stderr.
#[derive(Debug, Clone, Default)]
pub enum LogFileChoice {
    /// No file.
    #[default]
    None,
    /// The default file ([`default_log_path`]).
    Default,
    /// This file.
    Path(PathBuf),
}

/// Installs the global subscriber (if none is set yet): stderr, the ring (the app's log
/// panel) when given, and the chosen file. `filter` is env-filter syntax; the GPU and
/// windowing stacks are held at `warn`. Returns the file error, if the file could not be
/// opened: the caller shows it; logging goes on without the file.
pub fn init(filter: &str, ring: Option<&LogRing>, file: &LogFileChoice) -> Option<LogFileError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let quiet =
        "wgpu=warn,wgpu_hal=warn,wgpu_core=warn,naga=warn,eframe=warn,egui_wgpu=warn,winit=warn";
    let make_filter = || {
        tracing_subscriber::EnvFilter::try_new(format!("{filter},{quiet}"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{quiet}")))
    };
    let (file, error) = match file {
        LogFileChoice::None => (None, None),
        LogFileChoice::Default => match default_log_path() {
            Some(p) => open_at(p),
            None => (None, Some(LogFileError::NoDataDir)),
        },
        LogFileChoice::Path(p) => open_at(p.clone()),
    };
    let file_layer = file.map(|(path, f)| {
        let _ = ACTIVE.set(path);
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Arc::new(f))
            .with_filter(make_filter())
    });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(make_filter()),
        )
        .with(file_layer)
        .with(ring.map(|r| {
            r.layer()
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN)
        }))
        .try_init();
    if let Some(e) = &error {
        tracing::warn!("{e}; logging to stderr only");
    }
    error
}

fn open_at(path: PathBuf) -> (Option<(PathBuf, File)>, Option<LogFileError>) {
    match open_log_file(&path) {
        Ok(f) => (Some((path, f)), None),
        Err(e) => (None, Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_a_big_file_and_appends_to_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("capdeck.log");
        {
            use std::io::Write;
            let mut f = open_log_file(&path).unwrap();
            f.write_all(b"first\n").unwrap();
        }
        {
            use std::io::Write;
            let mut f = open_log_file(&path).unwrap();
            f.write_all(b"second\n").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nsecond\n");
        std::fs::write(&path, vec![b'x'; ROTATE_BYTES as usize + 1]).unwrap();
        drop(open_log_file(&path).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let old = dir.path().join("logs").join("capdeck.log.1");
        assert_eq!(std::fs::metadata(old).unwrap().len(), ROTATE_BYTES + 1);
    }

    #[test]
    fn an_unwritable_place_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let err = open_log_file(&blocker.join("capdeck.log")).unwrap_err();
        assert!(matches!(err, LogFileError::Open { .. }), "{err}");
    }
}
