//! Opens a session folder: sealed segments through their MCAP index, an unfinished one
//! (after a crash) by a linear read up to its last flush; reads time ranges without a
//! linear scan of sealed segments; verifies the hashes.
//!
//! Every byte here comes from a file that may be damaged or hostile: each record length is
//! capped ([`MAX_RECORD_BYTES`]), a chunk that fails its CRC or does not parse becomes a
//! [`ReadEvent::Gap`] over its time range, and nothing panics.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use mcap::records::{ChunkIndex, Record};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader};

use super::Topic;
use super::manifest::{Manifest, ManifestError};
use super::writer::{FlushedSpan, hash_file};

/// Largest MCAP record (a chunk, or a message outside chunks) read: a chunk is closed at
/// 8 MiB plus one message, and a message is at most a 64 MiB GrimStream frame.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// Why a session could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a folder, or unreadable.
    #[error("{path}: {source}")]
    Io {
        /// Which path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The manifest is damaged (the segments are still read, see [`Recording::problems`]).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// No segment at all.
    #[error("{0} holds no recording (no manifest.json and no seg-*.mcap)")]
    Empty(PathBuf),
}

/// Channel id to topic name and known topic, as a segment declares them.
type Channels = HashMap<u16, (String, Option<Topic>)>;

/// How a segment is read.
#[derive(Debug)]
enum Access {
    /// Through its summary: chunk indexes with time ranges.
    Indexed {
        summary: Box<mcap::Summary>,
        channels: Channels,
    },
    /// No usable summary (unfinished or damaged): a linear read up to the first bad byte.
    Linear,
}

/// One segment file of a session.
#[derive(Debug)]
pub struct SegmentInfo {
    /// File name.
    pub file: String,
    /// Sealed in the manifest.
    pub sealed: bool,
    /// First and last log time.
    pub time_range: Option<(u64, u64)>,
    /// Messages per topic name.
    pub per_topic: BTreeMap<String, u64>,
    /// True when read without an index (after a crash, or with a damaged summary).
    pub recovered: bool,
    /// Bytes on disk.
    pub bytes: u64,
    access: Access,
}

/// One recorded message.
#[derive(Debug, Clone, Copy)]
pub struct RecordedMessage<'a> {
    /// The topic, when this version knows it.
    pub topic: Option<Topic>,
    /// The MCAP topic name.
    pub topic_name: &'a str,
    /// Session clock, Unix ns.
    pub log_time_ns: u64,
    /// The source's timestamp.
    pub publish_time_ns: u64,
    /// Per-topic sequence (connection generation on GrimStream topics).
    pub sequence: u32,
    /// The bytes as recorded.
    pub data: &'a [u8],
}

/// What a read yields, in file order.
#[derive(Debug)]
pub enum ReadEvent<'a> {
    /// A message.
    Message(RecordedMessage<'a>),
    /// A stretch that could not be read (damaged chunk): its time range and why.
    Gap {
        /// Segment file.
        segment: &'a str,
        /// Start of what is missing.
        start_ns: u64,
        /// End of what is missing.
        end_ns: u64,
        /// Why.
        reason: String,
    },
}

/// An opened session.
#[derive(Debug)]
pub struct Recording {
    dir: PathBuf,
    /// The manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// Segments in order.
    pub segments: Vec<SegmentInfo>,
    /// Problems found while opening (damaged manifest, recovered segments, …).
    pub problems: Vec<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Recording {
    /// Opens a session folder (or a single `.mcap` segment file).
    pub fn open(path: &Path) -> Result<Recording, ReadError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        if meta.is_file() {
            let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut problems = Vec::new();
            let seg = open_segment(&dir, &file, true, &mut problems)?;
            return Ok(Recording {
                dir,
                manifest: None,
                segments: vec![seg],
                problems,
            });
        }
        let dir = path.to_owned();
        let mut problems = Vec::new();
        let manifest = match Manifest::read(&dir) {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(format!(
                    "{e}; reading the segment files found in the folder"
                ));
                None
            }
        };
        // The manifest's segments in order, then any segment file it does not list (the one
        // opened after the manifest's last write, or all of them without a manifest).
        let mut names: Vec<(String, bool)> = Vec::new();
        if let Some(m) = &manifest {
            names.extend(m.segments.iter().map(|s| (s.file.clone(), true)));
            names.extend(m.open.iter().map(|o| (o.file.clone(), false)));
        }
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("seg-") && n.ends_with(".mcap"))
            .collect();
        on_disk.sort();
        for n in on_disk {
            if !names.iter().any(|(m, _)| *m == n) {
                names.push((n, false));
            }
        }
        if names.is_empty() {
            return Err(ReadError::Empty(dir));
        }
        let mut segments = Vec::new();
        for (file, sealed) in names {
            match open_segment(&dir, &file, sealed, &mut problems) {
                Ok(s) => segments.push(s),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
        Ok(Recording {
            dir,
            manifest,
            segments,
            problems,
        })
    }

    /// The session folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// First and last log time over every segment.
    pub fn time_range(&self) -> Option<(u64, u64)> {
        self.segments
            .iter()
            .filter_map(|s| s.time_range)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Messages per topic name over every segment.
    pub fn per_topic(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in &self.segments {
            for (t, n) in &s.per_topic {
                *out.entry(t.clone()).or_default() += n;
            }
        }
        out
    }

    /// Reads the messages with `from_ns <= log_time <= to_ns` on `topics` (all when empty),
    /// segment by segment in order. Indexed segments read only the chunks whose time range
    /// overlaps; `f` may stop the read early.
    pub fn read(
        &self,
        from_ns: u64,
        to_ns: u64,
        topics: &[Topic],
        f: &mut dyn FnMut(ReadEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        for seg in &self.segments {
            let Some((s0, s1)) = seg.time_range else {
                continue;
            };
            if s1 < from_ns || s0 > to_ns {
                continue;
            }
            let path = self.dir.join(&seg.file);
            let flow = match &seg.access {
                Access::Indexed { summary, channels } => {
                    read_indexed(&path, seg, summary, channels, from_ns, to_ns, topics, f)?
                }
                Access::Linear => {
                    let mut file = File::open(&path).map_err(io_err(&path))?;
                    linear_pass(&mut file, false, &mut Channels::new(), &mut |m| {
                        if m.log_time_ns < from_ns || m.log_time_ns > to_ns {
                            return ControlFlow::Continue(());
                        }
                        if !topics.is_empty() && !m.topic.is_some_and(|t| topics.contains(&t)) {
                            return ControlFlow::Continue(());
                        }
                        f(ReadEvent::Message(m))
                    })
                    .flow
                }
            };
            if flow.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Reads everything.
    pub fn read_all(
        &self,
        f: &mut dyn FnMut(ReadEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), ReadError> {
        self.read(0, u64::MAX, &[], f)
    }
}

/// Reads the messages of `span` (a stretch a flush made readable in a session still being
/// written, [`super::writer::FlushedSpan`]) in the folder `dir`, with
/// `from_ns <= log_time <= to_ns` on `topics` (all when empty). Only the span's bytes are
/// read; a span that does not parse ends with a [`ReadEvent::Gap`].
pub fn read_span(
    dir: &Path,
    span: &FlushedSpan,
    from_ns: u64,
    to_ns: u64,
    topics: &[Topic],
    f: &mut dyn FnMut(ReadEvent<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    if span.end_ns < from_ns || span.start_ns > to_ns {
        return Ok(());
    }
    let path = dir.join(&span.file);
    let mut file = File::open(&path).map_err(io_err(&path))?;
    file.seek(SeekFrom::Start(span.offset))
        .map_err(io_err(&path))?;
    let mut channels: Channels = span
        .channels
        .iter()
        .map(|(id, t)| (*id, (t.name().to_owned(), Some(*t))))
        .collect();
    let pass = linear_pass(&mut file.take(span.len), true, &mut channels, &mut |m| {
        if m.log_time_ns < from_ns || m.log_time_ns > to_ns {
            return ControlFlow::Continue(());
        }
        if !topics.is_empty() && !m.topic.is_some_and(|t| topics.contains(&t)) {
            return ControlFlow::Continue(());
        }
        f(ReadEvent::Message(m))
    });
    if let Some(reason) = pass.stopped_by
        && pass.flow.is_continue()
    {
        let _ = f(ReadEvent::Gap {
            segment: &span.file,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            reason,
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_indexed(
    path: &Path,
    seg: &SegmentInfo,
    summary: &mcap::Summary,
    channels: &Channels,
    from_ns: u64,
    to_ns: u64,
    topics: &[Topic],
    f: &mut dyn FnMut(ReadEvent<'_>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, ReadError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    for idx in &summary.chunk_indexes {
        if idx.message_end_time < from_ns || idx.message_start_time > to_ns {
            continue;
        }
        let gap = |reason: String| ReadEvent::Gap {
            segment: &seg.file,
            start_ns: idx.message_start_time,
            end_ns: idx.message_end_time,
            reason,
        };
        let flow = match read_chunk(&mut file, idx, &mut buf) {
            Err(e) => f(gap(e)),
            Ok(()) => {
                // The chunk alone, through the same linear reader as recovery, with its CRC
                // checked before any message is handed out: a damaged chunk is one gap.
                let mut channels = channels.clone();
                let mut sent = ControlFlow::Continue(());
                let pass = linear_pass(&mut buf.as_slice(), true, &mut channels, &mut |m| {
                    if m.log_time_ns < from_ns || m.log_time_ns > to_ns {
                        return ControlFlow::Continue(());
                    }
                    if !topics.is_empty() && !m.topic.is_some_and(|t| topics.contains(&t)) {
                        return ControlFlow::Continue(());
                    }
                    sent = f(ReadEvent::Message(m));
                    sent
                });
                match pass.stopped_by {
                    Some(e) if sent.is_continue() => f(gap(e)),
                    _ => pass.flow,
                }
            }
        };
        if flow.is_break() {
            return Ok(flow);
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Reads one chunk record (opcode, length and body) into `buf`.
fn read_chunk(file: &mut File, idx: &ChunkIndex, buf: &mut Vec<u8>) -> Result<(), String> {
    let len = usize::try_from(idx.chunk_length)
        .ok()
        .filter(|&l| l <= MAX_RECORD_BYTES)
        .ok_or_else(|| format!("chunk of {} bytes is over the cap", idx.chunk_length))?;
    file.seek(SeekFrom::Start(idx.chunk_start_offset))
        .map_err(|e| e.to_string())?;
    buf.clear();
    buf.resize(len, 0);
    file.read_exact(buf)
        .map_err(|e| format!("reading chunk: {e}"))
}

fn open_segment(
    dir: &Path,
    file: &str,
    sealed: bool,
    problems: &mut Vec<String>,
) -> Result<SegmentInfo, ReadError> {
    let path = dir.join(file);
    let mut f = File::open(&path).map_err(io_err(&path))?;
    let bytes = f.metadata().map_err(io_err(&path))?.len();
    match read_summary(&mut f) {
        Ok(Some(summary)) if !summary.chunk_indexes.is_empty() || summary.stats.is_some() => {
            let channels: Channels = summary
                .channels
                .iter()
                .map(|(id, c)| {
                    let topic = Topic::from_name(&c.topic, &c.message_encoding);
                    (*id, (c.topic.clone(), topic))
                })
                .collect();
            let mut per_topic = BTreeMap::new();
            if let Some(st) = &summary.stats {
                for (id, n) in &st.channel_message_counts {
                    let name = channels
                        .get(id)
                        .map_or_else(|| format!("#{id}"), |c| c.0.clone());
                    *per_topic.entry(name).or_default() += n;
                }
            }
            let time_range = summary
                .chunk_indexes
                .iter()
                .map(|c| (c.message_start_time, c.message_end_time))
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
            Ok(SegmentInfo {
                file: file.to_owned(),
                sealed,
                time_range,
                per_topic,
                recovered: false,
                bytes,
                access: Access::Indexed {
                    summary: Box::new(summary),
                    channels,
                },
            })
        }
        other => {
            let why = match other {
                Err(e) => format!("summary unreadable ({e})"),
                _ => "no summary (not finished)".to_owned(),
            };
            f.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            let mut per_topic = BTreeMap::new();
            let mut range: Option<(u64, u64)> = None;
            let pass = linear_pass(&mut f, false, &mut Channels::new(), &mut |m| {
                *per_topic.entry(m.topic_name.to_owned()).or_default() += 1;
                let t = m.log_time_ns;
                range = Some(range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                ControlFlow::Continue(())
            });
            let n: u64 = per_topic.values().sum();
            problems.push(format!(
                "{file}: {why}; recovered {n} messages by a linear read{}",
                pass.stopped_by
                    .as_ref()
                    .map(|e| format!(" (it ends at: {e})"))
                    .unwrap_or_default()
            ));
            Ok(SegmentInfo {
                file: file.to_owned(),
                sealed,
                time_range: range,
                per_topic,
                recovered: true,
                bytes,
                access: Access::Linear,
            })
        }
    }
}

fn read_summary(f: &mut File) -> Result<Option<mcap::Summary>, String> {
    summary_lengths_fit(f)?;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut reader = SummaryReader::new();
    while let Some(ev) = reader.next_event() {
        match ev.map_err(|e| e.to_string())? {
            SummaryReadEvent::ReadRequest(need) => {
                if need > MAX_RECORD_BYTES {
                    return Err(format!("summary asks for {need} bytes"));
                }
                let n = f.read(reader.insert(need)).map_err(|e| e.to_string())?;
                reader.notify_read(n);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = f.seek(to).map_err(|e| e.to_string())?;
                reader.notify_seeked(pos);
            }
        }
    }
    Ok(reader.finish())
}

struct Pass {
    flow: ControlFlow<()>,
    stopped_by: Option<String>,
}

/// Reads a segment from its start, decompressing chunks, until its end or the first bad
/// byte (the unfinished tail after a crash).
///
/// `bare` reads records with no file magic around them (one chunk cut out of a segment),
/// and checks a chunk's CRC before any of its messages is handed out. `channels` starts
/// with what is known (from the summary) and learns every channel record on the way.
fn linear_pass(
    file: &mut dyn Read,
    bare: bool,
    channels: &mut Channels,
    f: &mut dyn FnMut(RecordedMessage<'_>) -> ControlFlow<()>,
) -> Pass {
    let mut reader = LinearReader::new_with_options(
        LinearReaderOptions::default()
            .with_skip_start_magic(bare)
            .with_skip_end_magic(true)
            .with_validate_chunk_crcs(true)
            .with_prevalidate_chunk_crcs(bare)
            .with_record_length_limit(MAX_RECORD_BYTES),
    );
    // lz4 chunks without the redundant XXH32 check (the chunk's CRC is checked above)
    if let Err(e) = reader.add_decompressor(super::lz4_chunk::Lz4Chunks::new()) {
        return Pass {
            flow: ControlFlow::Continue(()),
            stopped_by: Some(e.to_string()),
        };
    }
    while let Some(ev) = reader.next_event() {
        match ev {
            Err(e) => {
                return Pass {
                    flow: ControlFlow::Continue(()),
                    stopped_by: Some(e.to_string()),
                };
            }
            Ok(LinearReadEvent::ReadRequest(need)) => {
                let n = match file.read(reader.insert(need.min(MAX_RECORD_BYTES))) {
                    Ok(n) => n,
                    Err(e) => {
                        return Pass {
                            flow: ControlFlow::Continue(()),
                            stopped_by: Some(e.to_string()),
                        };
                    }
                };
                reader.notify_read(n);
            }
            Ok(LinearReadEvent::Record { data, opcode }) => {
                // Only channels and messages are needed here. Other records are skipped
                // unparsed, and a channel's length fields are checked against its bytes
                // first: the mcap crate reserves whatever a string's length prefix says
                // (a 2 GB allocation from a 60-byte record, found by the reader's fuzz
                // target).
                match opcode {
                    mcap::records::op::CHANNEL if !channel_lengths_fit(data) => {
                        return Pass {
                            flow: ControlFlow::Continue(()),
                            stopped_by: Some("a channel record's lengths exceed it".into()),
                        };
                    }
                    mcap::records::op::CHANNEL | mcap::records::op::MESSAGE => {}
                    _ => continue,
                }
                match mcap::parse_record(opcode, data) {
                    Ok(Record::Channel(c)) => {
                        let topic = Topic::from_name(&c.topic, &c.message_encoding);
                        channels.insert(c.id, (c.topic, topic));
                    }
                    Ok(Record::Message { header, data }) => {
                        let Some((name, topic)) = channels.get(&header.channel_id) else {
                            continue;
                        };
                        let flow = f(RecordedMessage {
                            topic: *topic,
                            topic_name: name,
                            log_time_ns: header.log_time,
                            publish_time_ns: header.publish_time,
                            sequence: header.sequence,
                            data: &data,
                        });
                        if flow.is_break() {
                            return Pass {
                                flow,
                                stopped_by: None,
                            };
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Pass {
                            flow: ControlFlow::Continue(()),
                            stopped_by: Some(e.to_string()),
                        };
                    }
                }
            }
        }
    }
    Pass {
        flow: ControlFlow::Continue(()),
        stopped_by: None,
    }
}

/// Largest summary section read (a segment's summary is a few KiB: channels, one chunk
/// index per 8 MiB chunk, statistics).
const MAX_SUMMARY_BYTES: u64 = 16 * 1024 * 1024;

/// Checks the summary section before the `mcap` crate parses it: the crate reserves what a
/// string's length prefix says before it checks it against the record (a 3.5 GB allocation
/// from a crafted file, found by the reader's fuzz target). Only the records a summary
/// holds are accepted, each with its length fields inside its bytes; anything else is
/// an error, and the segment is then read by the (checked) linear pass.
fn summary_lengths_fit(f: &mut File) -> Result<(), String> {
    use mcap::records::op;
    const TAIL: u64 = 1 + 8 + 20 + 8; // footer record and end magic
    let size = f.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if size < TAIL {
        return Ok(()); // the crate reports a short file without parsing records
    }
    let mut tail = [0u8; TAIL as usize];
    f.seek(SeekFrom::Start(size - TAIL))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let start = u64::from_le_bytes(tail[9..17].try_into().map_err(|_| "footer")?);
    if tail[0] != op::FOOTER || start == 0 {
        return Ok(()); // no summary, or a footer the crate refuses itself
    }
    let end = size - 8;
    if start >= end || end - start > MAX_SUMMARY_BYTES {
        return Err(format!("summary section at {start} of a {size}-byte file"));
    }
    let mut buf = vec![0u8; (end - start) as usize];
    f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    f.read_exact(&mut buf).map_err(|e| e.to_string())?;
    let mut rest = &buf[..];
    while !rest.is_empty() {
        let (&opcode, after) = rest.split_first().ok_or("record")?;
        let (len, after) = after.split_first_chunk::<8>().ok_or("record length")?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| "record length")?;
        if len > after.len() {
            return Err(format!(
                "summary record 0x{opcode:02x} longer than the section"
            ));
        }
        let (body, next) = after.split_at(len);
        let ok = match opcode {
            op::CHANNEL => channel_lengths_fit(body),
            op::SCHEMA => Fields::of(body).skip(2).str().str().str().done(),
            op::CHUNK_INDEX => Fields::of(body)
                .skip(32)
                .str()
                .skip(8)
                .str()
                .skip(16)
                .done(),
            op::ATTACHMENT_INDEX => Fields::of(body).skip(40).str().str().done(),
            op::STATISTICS => Fields::of(body).skip(42).str().done(),
            op::METADATA_INDEX => Fields::of(body).skip(16).str().done(),
            op::SUMMARY_OFFSET => body.len() >= 17,
            op::FOOTER => body.len() >= 20,
            // records that have no place in a summary, and that the crate would parse
            op::HEADER
            | op::MESSAGE
            | op::CHUNK
            | op::MESSAGE_INDEX
            | op::ATTACHMENT
            | op::METADATA
            | op::DATA_END => false,
            _ => true, // unknown records are skipped unparsed
        };
        if !ok {
            return Err(format!(
                "summary record 0x{opcode:02x} does not hold its lengths"
            ));
        }
        rest = next;
    }
    Ok(())
}

/// Walks fixed fields and u32-length-prefixed ones (strings, byte arrays, maps) of a
/// record body; `done` says whether all of them fit.
struct Fields<'a>(Option<&'a [u8]>);

impl<'a> Fields<'a> {
    fn of(body: &'a [u8]) -> Fields<'a> {
        Fields(Some(body))
    }
    fn skip(self, n: usize) -> Fields<'a> {
        Fields(self.0.and_then(|b| b.get(n..)))
    }
    /// A u32 length and that many bytes.
    fn str(self) -> Fields<'a> {
        Fields(self.0.and_then(|b| {
            let (n, rest) = b.split_first_chunk::<4>()?;
            rest.get(u32::from_le_bytes(*n) as usize..)
        }))
    }
    fn done(self) -> bool {
        self.0.is_some()
    }
}

/// Whether every length prefix of a Channel record (id u16, schema id u16, topic and
/// message encoding as u32-prefixed strings, metadata as a u32-prefixed map of string
/// pairs) fits inside the record.
fn channel_lengths_fit(data: &[u8]) -> bool {
    fn take_len(b: &[u8]) -> Option<(usize, &[u8])> {
        let (n, rest) = b.split_first_chunk::<4>()?;
        let n = u32::from_le_bytes(*n) as usize;
        (n <= rest.len()).then_some((n, rest))
    }
    fn string(b: &[u8]) -> Option<&[u8]> {
        let (n, rest) = take_len(b)?;
        Some(&rest[n..])
    }
    let check = || -> Option<()> {
        let b = data.get(4..)?;
        let b = string(string(b)?)?;
        let (n, rest) = take_len(b)?;
        let mut map = &rest[..n];
        while !map.is_empty() {
            map = string(string(map)?)?;
        }
        Some(())
    };
    check().is_some()
}

/// What `verify` found for one segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// The hash matches the manifest.
    Ok,
    /// The hash differs: the file changed after it was sealed.
    HashMismatch {
        /// From the manifest.
        expected: String,
        /// Of the file now.
        actual: String,
    },
    /// Listed but missing or unreadable.
    Missing {
        /// Why.
        reason: String,
    },
    /// Not sealed (the open segment, or one left by a crash); read by recovery.
    Unsealed,
}

/// `verify`'s report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// Per segment file, in order.
    pub segments: Vec<(String, Verdict)>,
    /// Problems with the manifest itself.
    pub manifest_problem: Option<String>,
}

impl VerifyReport {
    /// True when every sealed segment matches and the manifest is readable.
    pub fn ok(&self) -> bool {
        self.manifest_problem.is_none()
            && self
                .segments
                .iter()
                .all(|(_, v)| matches!(v, Verdict::Ok | Verdict::Unsealed))
    }
}

/// Checks every sealed segment's BLAKE3 against the manifest.
pub fn verify(dir: &Path) -> Result<VerifyReport, ReadError> {
    let manifest = match Manifest::read(dir) {
        Ok(m) => m,
        Err(e) => {
            return Ok(VerifyReport {
                segments: Vec::new(),
                manifest_problem: Some(e.to_string()),
            });
        }
    };
    let mut segments = Vec::new();
    for s in &manifest.segments {
        let v = match hash_file(&dir.join(&s.file)) {
            Err(e) => Verdict::Missing {
                reason: e.to_string(),
            },
            Ok(h) if h == s.blake3 => Verdict::Ok,
            Ok(h) => Verdict::HashMismatch {
                expected: s.blake3.clone(),
                actual: h,
            },
        };
        segments.push((s.file.clone(), v));
    }
    let mut rest: Vec<String> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-") && n.ends_with(".mcap"))
        .filter(|n| !manifest.segments.iter().any(|s| s.file == *n))
        .collect();
    rest.sort();
    segments.extend(rest.into_iter().map(|n| (n, Verdict::Unsealed)));
    Ok(VerifyReport {
        segments,
        manifest_problem: None,
    })
}

#[cfg(test)]
mod tests {
    use super::channel_lengths_fit;

    fn channel(topic: &[u8], enc: &[u8], map: &[(&[u8], &[u8])]) -> Vec<u8> {
        let s = |v: &mut Vec<u8>, b: &[u8]| {
            v.extend((b.len() as u32).to_le_bytes());
            v.extend(b);
        };
        let mut m = Vec::new();
        for (k, val) in map {
            s(&mut m, k);
            s(&mut m, val);
        }
        let mut v = vec![1, 0, 0, 0];
        s(&mut v, topic);
        s(&mut v, enc);
        s(&mut v, &m);
        v
    }

    #[test]
    fn channel_lengths_are_checked_before_the_crate_reserves_them() {
        let ok = channel(
            b"/capture/audio",
            b"capdeck.capture-parts.v1",
            &[(b"k", b"v")],
        );
        assert!(channel_lengths_fit(&ok));
        assert!(channel_lengths_fit(&channel(b"", b"", &[])));
        // the topic says 2 GB, the record has 40 bytes
        let mut big = ok.clone();
        big[4..8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        assert!(!channel_lengths_fit(&big));
        // a metadata value longer than the map
        let mut bad_map = channel(b"t", b"e", &[(b"k", b"v")]);
        let n = bad_map.len();
        bad_map[n - 5..n - 1].copy_from_slice(&9u32.to_le_bytes());
        assert!(!channel_lengths_fit(&bad_map));
        // cut anywhere: never fits, never panics
        for cut in 0..ok.len() {
            assert!(!channel_lengths_fit(&ok[..cut]) || cut == ok.len());
        }
    }
}

#[cfg(test)]
mod span_tests {
    use std::ops::ControlFlow;

    use bytes::Bytes;

    use super::{ReadEvent, read_span};
    use crate::writer::{SessionWriter, WriterOptions};
    use crate::{Entry, Payload, Topic};

    fn entry(topic: Topic, t: u64) -> Entry {
        Entry {
            topic,
            log_time_ns: t,
            publish_time_ns: t,
            sequence: 1,
            payload: Payload::Raw(Bytes::from(t.to_le_bytes().to_vec())),
        }
    }

    /// Every message written is in exactly one span once flushed: across flushes, a
    /// rotation (whose channel records are in the new segment's first span only) and the
    /// seal, and a span reads back only its own bytes.
    #[test]
    fn flushed_spans_hold_every_message_once() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WriterOptions {
            segment_max_ns: 10_000,
            min_free_bytes: 0,
            ..WriterOptions::default()
        };
        let mut w = SessionWriter::create(dir.path(), 0, opts).unwrap();
        let spans = w.written();
        let mut written = Vec::new();
        for t in 1..=40u64 {
            let topic = if t % 3 == 0 {
                Topic::Marks
            } else {
                Topic::Settings
            };
            w.write(&entry(topic, t * 1000)).unwrap();
            written.push(t * 1000);
            if t % 7 == 0 {
                w.flush().unwrap();
            }
        }
        // nothing is readable before a flush: the last messages wait for the seal
        let before = spans.lock().unwrap().clone();
        assert!(before.iter().all(|s| s.end_ns <= 35_000), "{before:?}");
        w.seal().unwrap();
        let spans = spans.lock().unwrap().clone();
        assert!(spans.len() >= 6, "{} spans", spans.len());
        assert!(
            spans
                .iter()
                .map(|s| s.file.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                >= 3,
            "rotated into several segments"
        );
        let mut read = Vec::new();
        for s in &spans {
            read_span(dir.path(), s, 0, u64::MAX, &[], &mut |ev| {
                match ev {
                    ReadEvent::Message(m) => {
                        assert!(m.log_time_ns >= s.start_ns && m.log_time_ns <= s.end_ns);
                        let topic = if m.log_time_ns % 3000 == 0 {
                            Topic::Marks
                        } else {
                            Topic::Settings
                        };
                        assert_eq!(m.topic, Some(topic), "channel ids known across spans");
                        assert_eq!(m.data, m.log_time_ns.to_le_bytes());
                        read.push(m.log_time_ns);
                    }
                    ReadEvent::Gap { reason, .. } => panic!("span {s:?} unreadable: {reason}"),
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        }
        assert_eq!(read, written);
        // a time window reads only what is in it
        let mut some = Vec::new();
        for s in &spans {
            read_span(
                dir.path(),
                s,
                20_000,
                22_000,
                &[Topic::Settings],
                &mut |ev| {
                    if let ReadEvent::Message(m) = ev {
                        some.push(m.log_time_ns);
                    }
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
        }
        assert_eq!(some, vec![20_000, 22_000]);
    }
}
