//! Writes a session folder: MCAP segments rotated by size or time, sealed with a BLAKE3
//! hash, a manifest replaced atomically, and the disk guards.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::manifest::{MANIFEST, Manifest, OpenSegment, SegmentEntry, sync_dir};
use super::{Entry, Topic};

/// Tunables of a recording.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A segment is sealed when it reaches this size.
    pub segment_max_bytes: u64,
    /// … or when its messages span this long (ns).
    pub segment_max_ns: u64,
    /// The recording stops when the session's files would exceed this.
    pub disk_budget_bytes: Option<u64>,
    /// The recording stops when the disk has less than this free.
    pub min_free_bytes: u64,
    /// Target MCAP chunk size (a chunk is also closed at every flush).
    pub chunk_bytes: u64,
    /// Compress chunks with lz4 (the measured choice: raw RGBA frames shrink 1.3x to
    /// 27x at 330 MB/s to 1.7 GB/s a core; JPEG and PCM pass through at GB/s).
    pub lz4: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            segment_max_bytes: 256 * 1024 * 1024,
            segment_max_ns: 60_000_000_000,
            disk_budget_bytes: None,
            min_free_bytes: 512 * 1024 * 1024,
            chunk_bytes: 8 * 1024 * 1024,
            lz4: true,
        }
    }
}

/// Refuses when the disk holding `dir` has less than `min_free_bytes` free.
fn check_free(dir: &Path, min_free_bytes: u64) -> Result<(), WriteError> {
    if let Ok(free) = fs4::available_space(dir)
        && free < min_free_bytes
    {
        return Err(WriteError::DiskLow {
            free_mib: free / (1024 * 1024),
            min_mib: min_free_bytes / (1024 * 1024),
        });
    }
    Ok(())
}

/// Why writing stopped. Each is final: the recording ends with it (the live view goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A file operation failed (`what` names it).
    #[error("{what}: {reason}")]
    Io {
        /// The operation and file.
        what: String,
        /// The OS error.
        reason: String,
        /// The OS error kind.
        kind: io::ErrorKind,
    },
    /// The session folder already holds a recording.
    #[error("{0} already holds a recording (manifest.json): choose a new folder")]
    Exists(PathBuf),
    /// The disk budget is reached.
    #[error("disk budget of {budget_mib} MiB reached; recording stopped")]
    BudgetReached {
        /// The budget.
        budget_mib: u64,
    },
    /// The disk is nearly full.
    #[error("only {free_mib} MiB left on the disk (keeping {min_mib} MiB free); recording stopped")]
    DiskLow {
        /// Free space.
        free_mib: u64,
        /// The guard.
        min_mib: u64,
    },
    /// The MCAP library refused a write.
    #[error("writing MCAP: {0}")]
    Mcap(String),
}

impl WriteError {
    fn io(what: impl Into<String>, e: io::Error) -> WriteError {
        WriteError::Io {
            what: what.into(),
            reason: e.to_string(),
            kind: e.kind(),
        }
    }
}

fn mcap_err(e: mcap::McapError) -> WriteError {
    match e {
        mcap::McapError::Io(e) => WriteError::io("writing MCAP", e),
        e => WriteError::Mcap(e.to_string()),
    }
}

/// A file writer that knows its position (the segment size without a `stat`).
struct Counting {
    inner: BufWriter<File>,
    pos: u64,
    len: Arc<AtomicU64>,
}

impl Counting {
    fn grew(&mut self) {
        self.len.fetch_max(self.pos, Ordering::Relaxed);
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.grew();
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for Counting {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        self.grew();
        Ok(self.pos)
    }
}

struct Segment {
    file: String,
    /// Where the bytes not yet in a [`FlushedSpan`] start.
    span_from: u64,
    /// Log times of the messages written since the last flush.
    span_t: Option<(u64, u64)>,
    w: mcap::Writer<Counting>,
    /// Bytes in the file (shared with the counting writer under `w`).
    len: Arc<AtomicU64>,
    /// A second handle on the file, to sync it under the MCAP writer.
    sync: File,
    channels: HashMap<Topic, u16>,
    messages: u64,
    per_topic: BTreeMap<Topic, u64>,
    start_ns: Option<u64>,
    end_ns: Option<u64>,
}

/// The name of segment `n`.
pub fn segment_name(n: u32) -> String {
    format!("seg-{n:06}.mcap")
}

/// Writes one session folder. Not thread-safe by design: one writer thread owns it.
pub struct SessionWriter {
    dir: PathBuf,
    opts: WriterOptions,
    manifest: Manifest,
    seg: Option<Segment>,
    next_segment: u32,
    sealed_bytes: u64,
    buf: Vec<u8>,
    written: WrittenSpans,
}

impl SessionWriter {
    /// Creates the session folder (or takes an empty one) and writes an empty manifest.
    /// A refusal (the folder holds a recording, the disk is too full) leaves nothing
    /// behind: a folder it created is removed again.
    pub fn create(
        dir: &Path,
        started_unix_ns: u64,
        opts: WriterOptions,
    ) -> Result<SessionWriter, WriteError> {
        let existed = dir.exists();
        fs::create_dir_all(dir)
            .map_err(|e| WriteError::io(format!("creating {}", dir.display()), e))?;
        if dir.join(MANIFEST).exists() {
            return Err(WriteError::Exists(dir.to_owned()));
        }
        if let Err(e) = check_free(dir, opts.min_free_bytes) {
            if !existed {
                // empty: we just made it
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
        let manifest = Manifest::new(started_unix_ns);
        manifest
            .write_atomic(dir)
            .map_err(|e| WriteError::io(format!("writing {}", dir.join(MANIFEST).display()), e))?;
        Ok(SessionWriter {
            dir: dir.to_owned(),
            opts,
            manifest,
            seg: None,
            next_segment: 1,
            sealed_bytes: 0,
            buf: Vec::new(),
            written: WrittenSpans::default(),
        })
    }

    /// The session folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as last written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Bytes of the session's segments on disk (sealed plus the open one).
    pub fn bytes_on_disk(&self) -> u64 {
        self.sealed_bytes + self.seg.as_ref().map_or(0, |s| s.w_len())
    }

    /// Writes one message, rotating the segment first when it is full. On a budget or I/O
    /// error nothing more can be written; call [`SessionWriter::finish`].
    pub fn write(&mut self, e: &Entry) -> Result<(), WriteError> {
        if let Some(budget) = self.opts.disk_budget_bytes {
            // Room for the message and a summary: stop before, not after, the budget.
            if self.bytes_on_disk() + e.payload.len() as u64 + 64 * 1024 > budget {
                return Err(WriteError::BudgetReached {
                    budget_mib: budget / (1024 * 1024),
                });
            }
        }
        if let Some(s) = &self.seg {
            let span = s.start_ns.map_or(0, |t0| e.log_time_ns.saturating_sub(t0));
            if s.w_len() >= self.opts.segment_max_bytes || span >= self.opts.segment_max_ns {
                self.seal()?;
            }
        }
        if self.seg.is_none() {
            self.open_segment()?;
        }
        let Some(s) = self.seg.as_mut() else {
            return Err(WriteError::Mcap("no open segment".into()));
        };
        let channel_id = match s.channels.get(&e.topic) {
            Some(&id) => id,
            None => {
                let mut meta = BTreeMap::new();
                if e.topic.encoding() == super::GRIMSTREAM_ENCODING {
                    meta.insert("sequence".to_owned(), "connection generation".to_owned());
                }
                let id =
                    s.w.add_channel(0, e.topic.name(), e.topic.encoding(), &meta)
                        .map_err(mcap_err)?;
                s.channels.insert(e.topic, id);
                id
            }
        };
        self.buf.clear();
        e.payload.write_to(&mut self.buf);
        s.w.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id,
                sequence: e.sequence,
                log_time: e.log_time_ns,
                publish_time: e.publish_time_ns,
            },
            &self.buf,
        )
        .map_err(mcap_err)?;
        s.messages += 1;
        *s.per_topic.entry(e.topic).or_default() += 1;
        s.span_t = Some(s.span_t.map_or((e.log_time_ns, e.log_time_ns), |(a, b)| {
            (a.min(e.log_time_ns), b.max(e.log_time_ns))
        }));
        s.start_ns = Some(s.start_ns.map_or(e.log_time_ns, |t| t.min(e.log_time_ns)));
        s.end_ns = Some(s.end_ns.map_or(e.log_time_ns, |t| t.max(e.log_time_ns)));
        // Keep the write buffer from holding on to one huge message forever.
        if self.buf.capacity() > 64 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Makes everything written so far readable after a crash or power loss: closes the
    /// MCAP chunk, flushes and syncs the file, records the head in the manifest, and checks
    /// the free space.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if let Some(s) = self.seg.as_mut() {
            s.w.flush().map_err(mcap_err)?;
            let what = format!("syncing {}", s.file);
            s.sync.sync_data().map_err(|e| WriteError::io(what, e))?;
            self.manifest.open = Some(s.head());
            self.write_manifest()?;
            self.publish_span();
        }
        self.check_free()
    }

    /// Seals the open segment (summary, fsync, hash) and lists it in the manifest.
    pub fn seal(&mut self) -> Result<(), WriteError> {
        // the last chunk as a span first (the summary after it is no span)
        if let Some(s) = self.seg.as_mut() {
            s.w.flush().map_err(mcap_err)?;
        }
        self.publish_span();
        let Some(mut s) = self.seg.take() else {
            return Ok(());
        };
        s.w.finish().map_err(mcap_err)?;
        let mut counting = s.w.into_inner();
        counting
            .flush()
            .map_err(|e| WriteError::io(format!("flushing {}", s.file), e))?;
        let len = s.len.load(Ordering::Relaxed);
        let file = counting
            .inner
            .into_inner()
            .map_err(|e| WriteError::io(format!("flushing {}", s.file), e.into_error()))?;
        file.sync_all()
            .map_err(|e| WriteError::io(format!("syncing {}", s.file), e))?;
        drop(file);
        let path = self.dir.join(&s.file);
        let blake3 =
            hash_file(&path).map_err(|e| WriteError::io(format!("hashing {}", s.file), e))?;
        self.sealed_bytes += len;
        self.manifest.segments.push(SegmentEntry {
            file: s.file.clone(),
            start_ns: s.start_ns.unwrap_or(0),
            end_ns: s.end_ns.unwrap_or(0),
            messages: s.messages,
            per_topic: s
                .per_topic
                .iter()
                .map(|(t, n)| (t.name().to_owned(), *n))
                .collect(),
            bytes: len,
            blake3,
        });
        self.manifest.open = None;
        self.write_manifest()
    }

    /// Seals the open segment and writes the final manifest with why it stopped.
    pub fn finish(
        mut self,
        stopped: Option<String>,
        dropped: u64,
    ) -> (Manifest, Option<WriteError>) {
        let err = self.seal().err();
        self.manifest.stopped = Some(stopped.unwrap_or_else(|| "stopped".into()));
        self.manifest.dropped = dropped;
        let err = err.or_else(|| self.write_manifest().err());
        (self.manifest.clone(), err)
    }

    /// Records the drop count in the manifest at the next write of it.
    pub fn set_dropped(&mut self, dropped: u64) {
        self.manifest.dropped = dropped;
    }

    /// Free bytes on the session's disk.
    pub fn free_bytes(&self) -> Option<u64> {
        fs4::available_space(&self.dir).ok()
    }

    fn check_free(&mut self) -> Result<(), WriteError> {
        check_free(&self.dir, self.opts.min_free_bytes)
    }

    fn write_manifest(&self) -> Result<(), WriteError> {
        self.manifest
            .write_atomic(&self.dir)
            .map_err(|e| WriteError::io("writing manifest.json", e))
    }

    fn open_segment(&mut self) -> Result<(), WriteError> {
        let name = segment_name(self.next_segment);
        self.next_segment += 1;
        let path = self.dir.join(&name);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| WriteError::io(format!("creating {}", path.display()), e))?;
        let sync = file
            .try_clone()
            .map_err(|e| WriteError::io(format!("opening {}", path.display()), e))?;
        let len = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: BufWriter::with_capacity(1024 * 1024, file),
            pos: 0,
            len: len.clone(),
        };
        let w = mcap::WriteOptions::new()
            .compression(self.opts.lz4.then_some(mcap::Compression::Lz4))
            .chunk_size(Some(self.opts.chunk_bytes))
            .profile("capdeck")
            .library(format!("capdeck {}", env!("CARGO_PKG_VERSION")))
            .create(counting)
            .map_err(mcap_err)?;
        sync_dir(&self.dir).map_err(|e| WriteError::io("syncing the session folder", e))?;
        let seg = Segment {
            file: name,
            w,
            len,
            sync,
            span_from: 0,
            span_t: None,
            channels: HashMap::new(),
            messages: 0,
            per_topic: BTreeMap::new(),
            start_ns: None,
            end_ns: None,
        };
        let mut seg = seg;
        seg.span_from = seg.w_len();
        self.manifest.open = Some(seg.head());
        self.seg = Some(seg);
        self.write_manifest()
    }

    /// The stretches made readable so far, shared with readers of the session while it is
    /// being written ([`super::reader::read_span`]).
    pub fn written(&self) -> WrittenSpans {
        self.written.clone()
    }

    /// After the open segment's chunk was closed and flushed: its new bytes as a span.
    fn publish_span(&mut self) {
        let Some(s) = self.seg.as_mut() else {
            return;
        };
        let end = s.w_len();
        let Some((start_ns, end_ns)) = s.span_t.take() else {
            s.span_from = end;
            return;
        };
        let span = FlushedSpan {
            file: s.file.clone(),
            offset: s.span_from,
            len: end.saturating_sub(s.span_from),
            start_ns,
            end_ns,
            channels: s.channels.iter().map(|(t, id)| (*id, *t)).collect(),
        };
        s.span_from = end;
        if let Ok(mut g) = self.written.lock() {
            g.push(span);
        }
    }
}

/// A stretch of a segment that a flush made readable: whole MCAP records (no magic) holding
/// the messages logged in `start_ns..=end_ns`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushedSpan {
    /// Segment file name.
    pub file: String,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// First log time in it.
    pub start_ns: u64,
    /// Last log time in it.
    pub end_ns: u64,
    /// Channel ids of the segment's topics (a channel record may lie in an earlier span).
    pub channels: Vec<(u16, Topic)>,
}

/// The spans a session's writer has made readable, in order (one a flush, about one a
/// second: 3,600 an hour).
pub type WrittenSpans = Arc<std::sync::Mutex<Vec<FlushedSpan>>>;

impl Segment {
    fn w_len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }
    fn head(&self) -> OpenSegment {
        OpenSegment {
            file: self.file.clone(),
            head_bytes: self.w_len(),
            messages: self.messages,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
        }
    }
}

/// BLAKE3 of a file, hex.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}
