//! `manifest.json`: the list of a session's segments, replaced atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the manifest inside a session folder.
pub const MANIFEST: &str = "manifest.json";
/// The `format` value of a capdeck session manifest.
pub const FORMAT: &str = "capdeck-session";
/// Largest manifest read (a manifest lists segments, it is never large).
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// A session's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest version (1).
    pub version: u32,
    /// Wall-clock start of the session, Unix ns (the session clock's zero point).
    pub started_unix_ns: u64,
    /// The program that wrote it.
    pub writer: String,
    /// Sealed segments in order.
    pub segments: Vec<SegmentEntry>,
    /// The segment being written, if any.
    pub open: Option<OpenSegment>,
    /// Why the recording stopped, once it has.
    pub stopped: Option<String>,
    /// Messages the recorder dropped because its queue was full (never written).
    #[serde(default)]
    pub dropped: u64,
}

/// A sealed segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// File name inside the session folder.
    pub file: String,
    /// First log time, Unix ns.
    pub start_ns: u64,
    /// Last log time, Unix ns.
    pub end_ns: u64,
    /// Messages in it.
    pub messages: u64,
    /// Messages per topic name.
    pub per_topic: BTreeMap<String, u64>,
    /// File size, bytes.
    pub bytes: u64,
    /// BLAKE3 of the whole file, hex.
    pub blake3: String,
}

/// The head of the segment being written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSegment {
    /// File name inside the session folder.
    pub file: String,
    /// Bytes on disk at the last flush (everything before this is readable).
    pub head_bytes: u64,
    /// Messages written to it so far.
    pub messages: u64,
    /// First log time, if any message was written.
    pub start_ns: Option<u64>,
    /// Last log time flushed.
    pub end_ns: Option<u64>,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("{path} is {len} bytes: not a capdeck manifest")]
    TooLarge {
        /// Which file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// Not valid manifest JSON.
    #[error("{path} is not a capdeck session manifest: {reason}")]
    Invalid {
        /// Which file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Manifest {
    /// A new, empty manifest.
    pub fn new(started_unix_ns: u64) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: 1,
            started_unix_ns,
            writer: format!("capdeck {}", env!("CARGO_PKG_VERSION")),
            segments: Vec::new(),
            open: None,
            stopped: None,
            dropped: 0,
        }
    }

    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST);
        let io = |source| ManifestError::Io {
            path: path.clone(),
            source,
        };
        let len = fs::metadata(&path).map_err(io)?.len();
        if len > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { path, len });
        }
        let text = fs::read(&path).map_err(io)?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(ManifestError::Invalid {
                path,
                reason: format!("format is {:?}, not {FORMAT:?}", m.format),
            });
        }
        for s in m
            .segments
            .iter()
            .map(|s| &s.file)
            .chain(m.open.iter().map(|o| &o.file))
        {
            if !is_plain_file_name(s) {
                return Err(ManifestError::Invalid {
                    path,
                    reason: format!("segment name {s:?} is not a plain file name"),
                });
            }
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically: a temporary file, fsync, rename over the old
    /// one, fsync the folder. A reader sees the old manifest or the new one, never a mix.
    pub fn write_atomic(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, dir.join(MANIFEST))?;
        sync_dir(dir)
    }

    /// First and last log time over every segment, sealed and open.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        let sealed = self.segments.iter().map(|s| (s.start_ns, s.end_ns));
        let open = self
            .open
            .iter()
            .filter_map(|o| Some((o.start_ns?, o.end_ns?)));
        sealed
            .chain(open)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }
}

/// A segment name from a manifest must stay inside the session folder.
fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty()
        && !s.contains(['/', '\\'])
        && s != "."
        && s != ".."
        && Path::new(s).file_name().is_some_and(|n| n == s)
}

/// fsync a folder so a rename in it survives power loss (a no-op where folders cannot be
/// opened, as on Windows, whose rename is already durable with the file's flush).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_refuse_escaping_names() {
        let dir = std::env::temp_dir().join(format!("capdeck-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest::new(42);
        m.segments.push(SegmentEntry {
            file: "seg-000001.mcap".into(),
            start_ns: 1,
            end_ns: 9,
            messages: 3,
            per_topic: BTreeMap::new(),
            bytes: 100,
            blake3: "00".into(),
        });
        m.write_atomic(&dir).unwrap();
        assert_eq!(Manifest::read(&dir).unwrap(), m);
        assert_eq!(m.time_range(), Some((1, 9)));
        m.segments[0].file = "../../etc/passwd".into();
        m.write_atomic(&dir).unwrap();
        assert!(matches!(
            Manifest::read(&dir),
            Err(ManifestError::Invalid { .. })
        ));
        fs::write(dir.join(MANIFEST), b"{").unwrap();
        assert!(matches!(
            Manifest::read(&dir),
            Err(ManifestError::Invalid { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
