//! Session recording as files: every message sent and received, in MCAP segments.
//!
//! A session is a folder:
//! - `seg-000001.mcap`, `seg-000002.mcap`, …: MCAP files (Foxglove's `mcap` crate), each
//!   rotated by size or time. A closed segment is *sealed*: its summary is written, the file
//!   is fsynced and its BLAKE3 hash goes into the manifest.
//! - `manifest.json`: the segments in order with their time ranges, counts and hashes, and
//!   the head of the open one; replaced atomically (write, fsync, rename, fsync the folder)
//!   at every seal and every flush.
//!
//! Messages are the raw wire bytes on channels with their own message encoding
//! ([`Topic`]); `log_time` is the session clock (wall-clock start plus a monotonic offset,
//! so it is a Unix time in ns), `publish_time` the source's own timestamp when it has one.
//!
//! Crash safety: the writer flushes at least once a second, and an MCAP flush closes the
//! open chunk, so after `kill -9` a reader recovers everything up to the last flush from the
//! unfinished segment with a linear read ([`reader`]).
//!
//! Compression: MCAP compresses chunks, not channels, so the choice is per file: lz4
//! ([`writer::WriterOptions::lz4`]). It was measured as the right codec: raw RGBA retail
//! frames 1.3x on photo-like content and 27x on flat UI, at 330 MB/s to 1.7 GB/s a core,
//! while JPEG and PCM (which do not compress) pass through at GB/s; zstd -1 at 135 MB/s
//! cannot keep up with 720p30. Files stay standard MCAP (the mcap CLI, Foxglove and PyPI's
//! `mcap` with `lz4` read them).
//!
//! Layers: [`writer`] (segments, manifest, guards), [`recorder`] (the writer thread behind a
//! bounded queue), [`reader`] (open, recover, seek, verify), [`capture_track`] (what the
//! capture side sent, indexed by time for a replay), [`foxglove`] (export with the
//! standard schemas). This module knows files and bytes only; the taps that feed it live in
//! `session`.

pub mod capture_track;
pub mod foxglove;
pub mod lz4_chunk;
pub mod manifest;
pub mod reader;
pub mod recorder;
pub mod writer;

use bytes::Bytes;

/// Message encoding of capture-wire messages: `u32 LE` part count, then per part a `u32 LE`
/// length and the part's bytes (one part for the framed layout, two for multipart).
pub const CAPTURE_PARTS_ENCODING: &str = "capdeck.capture-parts.v1";
/// Message encoding of GrimStream messages: the 12-byte header and the payload, untouched.
pub const GRIMSTREAM_ENCODING: &str = "grimstream.v1";
/// Message encoding of JSON records (control requests and replies, marks, settings).
pub const JSON_ENCODING: &str = "json";

/// A recorded channel. Readers skip topics they do not know (a file from a newer version
/// plays what this one knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Audio messages as they left on the PUSH link.
    CaptureAudio,
    /// Video messages as they left on the PUSH link.
    CaptureVideo,
    /// Control requests sent to the host.
    ControlRequest,
    /// Control replies from the host.
    ControlReply,
    /// GrimStream messages received on the retail feed (`sequence` = connection generation).
    RetailIn,
    /// GrimStream messages received on the engine feed (`sequence` = connection generation).
    EngineIn,
    /// GrimStream messages this viewer sent to the retail producer.
    RetailOut,
    /// GrimStream messages this viewer sent to the engine.
    EngineOut,
    /// The operator's marks (JSON).
    Marks,
    /// Setting changes (JSON).
    Settings,
    /// Capture link state changes (JSON: channel and state).
    Links,
    /// The microphone before the voice stage (capture-wire parts, 16 kHz), when one ran.
    CaptureMicrophone,
    /// The game's sound, the voice stage's echo reference (capture-wire parts, 16 kHz).
    CaptureGameAudio,
}

impl Topic {
    /// Every topic this version writes and reads.
    pub const ALL: [Topic; 13] = [
        Topic::CaptureAudio,
        Topic::CaptureVideo,
        Topic::ControlRequest,
        Topic::ControlReply,
        Topic::RetailIn,
        Topic::EngineIn,
        Topic::RetailOut,
        Topic::EngineOut,
        Topic::Marks,
        Topic::Settings,
        Topic::Links,
        Topic::CaptureMicrophone,
        Topic::CaptureGameAudio,
    ];

    /// The MCAP topic name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::CaptureAudio => "/capture/audio",
            Topic::CaptureVideo => "/capture/video",
            Topic::ControlRequest => "/capture/control/request",
            Topic::ControlReply => "/capture/control/reply",
            Topic::RetailIn => "/grimstream/retail",
            Topic::EngineIn => "/grimstream/engine",
            Topic::RetailOut => "/grimstream/retail/sent",
            Topic::EngineOut => "/grimstream/engine/sent",
            Topic::Marks => "/marks",
            Topic::Settings => "/settings",
            Topic::Links => "/capture/links",
            Topic::CaptureMicrophone => "/capture/audio/microphone",
            Topic::CaptureGameAudio => "/capture/audio/game",
        }
    }

    /// The MCAP message encoding of the topic.
    pub fn encoding(self) -> &'static str {
        match self {
            Topic::CaptureAudio
            | Topic::CaptureVideo
            | Topic::CaptureMicrophone
            | Topic::CaptureGameAudio => CAPTURE_PARTS_ENCODING,
            Topic::RetailIn | Topic::EngineIn | Topic::RetailOut | Topic::EngineOut => {
                GRIMSTREAM_ENCODING
            }
            Topic::ControlRequest
            | Topic::ControlReply
            | Topic::Marks
            | Topic::Settings
            | Topic::Links => JSON_ENCODING,
        }
    }

    /// The topic of an MCAP topic name and encoding, if this version knows it.
    pub fn from_name(name: &str, encoding: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|t| t.name() == name && t.encoding() == encoding)
    }
}

/// The bytes of one recorded message, held without copying until the writer writes them.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Capture-wire parts, written in [`CAPTURE_PARTS_ENCODING`].
    Parts(Vec<Bytes>),
    /// A GrimStream header and payload, written back to back.
    GrimStream {
        /// The 12 header bytes.
        header: [u8; 12],
        /// The payload.
        payload: Bytes,
    },
    /// Bytes written as they are (JSON records).
    Raw(Bytes),
}

impl Payload {
    /// Length of the bytes as written.
    pub fn len(&self) -> usize {
        match self {
            Payload::Parts(p) => 4 + p.iter().map(|b| 4 + b.len()).sum::<usize>(),
            Payload::GrimStream { payload, .. } => 12 + payload.len(),
            Payload::Raw(b) => b.len(),
        }
    }

    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the bytes as written to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        match self {
            Payload::Parts(parts) => {
                out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
                for p in parts {
                    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
                    out.extend_from_slice(p);
                }
            }
            Payload::GrimStream { header, payload } => {
                out.extend_from_slice(header);
                out.extend_from_slice(payload);
            }
            Payload::Raw(b) => out.extend_from_slice(b),
        }
    }
}

/// Splits bytes written in [`CAPTURE_PARTS_ENCODING`] back into parts (slices of `data`).
pub fn split_parts(data: &[u8]) -> Result<Vec<&[u8]>, PartsError> {
    let take4 = |d: &[u8], at: usize| -> Result<usize, PartsError> {
        d.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(|b: [u8; 4]| u32::from_le_bytes(b) as usize)
            .ok_or(PartsError::Truncated)
    };
    let count = take4(data, 0)?;
    // Each part needs at least its 4 length bytes: a count larger than that is a lie, and
    // refusing it keeps the allocation below bounded by the input.
    if count > (data.len() - 4) / 4 {
        return Err(PartsError::BadCount(count));
    }
    let mut parts = Vec::with_capacity(count);
    let mut at = 4;
    for _ in 0..count {
        let len = take4(data, at)?;
        at += 4;
        let end = at.checked_add(len).ok_or(PartsError::Truncated)?;
        parts.push(data.get(at..end).ok_or(PartsError::Truncated)?);
        at = end;
    }
    if at != data.len() {
        return Err(PartsError::Trailing(data.len() - at));
    }
    Ok(parts)
}

/// Decodes a message recorded in [`GRIMSTREAM_ENCODING`] (header and payload).
pub fn decode_grimstream(
    data: &[u8],
) -> Result<capdeck_wire::grimstream::Message, RecordedGrimError> {
    use capdeck_wire::grimstream::{HEADER_LEN, Header, decode_payload};
    let head: &[u8; HEADER_LEN] = data
        .first_chunk::<HEADER_LEN>()
        .ok_or(RecordedGrimError::Short(data.len()))?;
    let header = Header::parse(head).map_err(|e| RecordedGrimError::Codec(e.to_string()))?;
    let payload = &data[HEADER_LEN..];
    if header.length as usize != payload.len() {
        return Err(RecordedGrimError::Length {
            header: header.length,
            actual: payload.len(),
        });
    }
    decode_payload(header.kind, Bytes::copy_from_slice(payload))
        .map_err(|e| RecordedGrimError::Codec(e.to_string()))
}

/// Why a recorded GrimStream message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordedGrimError {
    /// Shorter than a header.
    #[error("recorded GrimStream message of {0} bytes is shorter than its header")]
    Short(usize),
    /// The header's length is not the payload's.
    #[error("recorded GrimStream header says {header} payload bytes, {actual} recorded")]
    Length {
        /// From the header.
        header: u32,
        /// Recorded.
        actual: usize,
    },
    /// The codec refused it.
    #[error("recorded GrimStream message: {0}")]
    Codec(String),
}

/// Why recorded capture parts could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartsError {
    /// A length runs past the end.
    #[error("capture parts truncated")]
    Truncated,
    /// The part count cannot fit in the bytes.
    #[error("capture parts: count {0} does not fit")]
    BadCount(usize),
    /// Bytes after the last part.
    #[error("capture parts: {0} bytes after the last part")]
    Trailing(usize),
}

/// One message to record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it goes.
    pub topic: Topic,
    /// Session clock, Unix ns.
    pub log_time_ns: u64,
    /// The source's own timestamp, ns (the log time when it has none).
    pub publish_time_ns: u64,
    /// Per-topic meaning: the connection generation on GrimStream topics, else 0.
    pub sequence: u32,
    /// The bytes.
    pub payload: Payload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_refuse_lies() {
        let p = Payload::Parts(vec![Bytes::from_static(b"head"), Bytes::from_static(b"xy")]);
        let mut out = Vec::new();
        p.write_to(&mut out);
        assert_eq!(out.len(), p.len());
        assert_eq!(split_parts(&out).unwrap(), vec![&b"head"[..], &b"xy"[..]]);
        assert_eq!(
            split_parts(&out[..out.len() - 1]),
            Err(PartsError::Truncated)
        );
        assert_eq!(
            split_parts(&[255, 255, 255, 255]),
            Err(PartsError::BadCount(u32::MAX as usize))
        );
        out.push(0);
        assert_eq!(split_parts(&out), Err(PartsError::Trailing(1)));
        assert_eq!(split_parts(&[]), Err(PartsError::Truncated));
    }

    #[test]
    fn topics_round_trip_by_name_and_encoding() {
        for t in Topic::ALL {
            assert_eq!(Topic::from_name(t.name(), t.encoding()), Some(t));
        }
        assert_eq!(Topic::from_name("/capture/audio", "json"), None);
    }
}
