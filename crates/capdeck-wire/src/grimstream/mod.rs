//! GrimStream v1 codec: pure code, bytes in and values out, no I/O.
//!
//! Wire format (see `docs/grimstream-v1.md`): a 12-byte big-endian header
//! (`"GRIM"`, version u16, kind u16, payload length u32) followed by a MessagePack payload
//! written with `rmp_serde::to_vec_named` (structs are maps keyed by field name).
//!
//! Encoding is byte-exact with the producers' encoder (golden-byte tests in this module).
//! Decoding is lenient: any integer width, float32 or float64, unknown map keys ignored,
//! absent optional fields. FRAME pixel data is never copied: [`decode_payload`] takes the
//! payload as [`Bytes`] and the frame's `data` is a slice of it.

pub mod decoder;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The four magic bytes that start every message.
pub const MAGIC: [u8; 4] = *b"GRIM";
/// The protocol version this crate writes (the producers never check it on read).
pub const VERSION: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Protocol name carried in HELLO.
pub const PROTOCOL_NAME: &str = "GrimStream";
/// Protocol number carried in CONTROL `viewer_ready`.
pub const VIEWER_PROTOCOL: u16 = 1;
/// STREAM_CONFIG `pixel_format` for RGBA8.
pub const PIXEL_FORMAT_RGBA8: u16 = 1;
/// Maximum MessagePack nesting accepted in a payload (`data: any` fields). Keeps a hostile
/// payload from exhausting the stack.
pub const MAX_PAYLOAD_DEPTH: usize = 64;

/// Errors of the pure codec.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The header does not start with `"GRIM"`.
    #[error("bad magic {0:02x?} (expected \"GRIM\"): not a GrimStream stream or lost sync")]
    BadMagic([u8; 4]),
    /// A payload could not be decoded as the kind its header announces.
    #[error("malformed {kind} payload ({len} bytes): {source}")]
    Payload {
        /// Kind name as in the spec.
        kind: &'static str,
        /// Payload length.
        len: usize,
        /// What rmp-serde said.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// A FRAME's pixel data does not fit its STREAM_CONFIG (checked by [`check_frame`]).
    #[error("frame {frame_id}: {detail}")]
    FrameShape {
        /// The frame.
        frame_id: u64,
        /// What is wrong.
        detail: String,
    },
    /// Encoding failed (only for payloads that cannot be MessagePack, e.g. > 4 GiB).
    #[error("cannot encode {kind}: {detail}")]
    Encode {
        /// Kind name.
        kind: &'static str,
        /// What went wrong.
        detail: String,
    },
}

/// Message kind (header bytes 6..8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// 0x0001, all producers.
    Hello,
    /// 0x0002, retail.
    StreamConfig,
    /// 0x0003, retail.
    Frame,
    /// 0x0004, retail.
    Telemetry,
    /// 0x0005, engine.
    StateUpdate,
    /// 0x0006, retail and engine.
    TimelineMark,
    /// 0x0007, viewer to engine.
    Control,
    /// 0x0008, anyone; no payload defined.
    Heartbeat,
    /// 0x0009, engine.
    MovieStart,
    /// 0x000A, viewer to engine.
    MovieControl,
    /// Any other value: skipped by length.
    Unknown(u16),
}

impl Kind {
    /// All ten known kinds, in wire order.
    pub const KNOWN: [Kind; 10] = [
        Kind::Hello,
        Kind::StreamConfig,
        Kind::Frame,
        Kind::Telemetry,
        Kind::StateUpdate,
        Kind::TimelineMark,
        Kind::Control,
        Kind::Heartbeat,
        Kind::MovieStart,
        Kind::MovieControl,
    ];

    /// Kind from its wire value.
    pub fn from_u16(v: u16) -> Kind {
        match v {
            0x0001 => Kind::Hello,
            0x0002 => Kind::StreamConfig,
            0x0003 => Kind::Frame,
            0x0004 => Kind::Telemetry,
            0x0005 => Kind::StateUpdate,
            0x0006 => Kind::TimelineMark,
            0x0007 => Kind::Control,
            0x0008 => Kind::Heartbeat,
            0x0009 => Kind::MovieStart,
            0x000A => Kind::MovieControl,
            other => Kind::Unknown(other),
        }
    }

    /// Wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Kind::Hello => 0x0001,
            Kind::StreamConfig => 0x0002,
            Kind::Frame => 0x0003,
            Kind::Telemetry => 0x0004,
            Kind::StateUpdate => 0x0005,
            Kind::TimelineMark => 0x0006,
            Kind::Control => 0x0007,
            Kind::Heartbeat => 0x0008,
            Kind::MovieStart => 0x0009,
            Kind::MovieControl => 0x000A,
            Kind::Unknown(v) => v,
        }
    }

    /// Name as written in the spec ("HELLO", "FRAME", ...); "UNKNOWN" for unknown kinds.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hello => "HELLO",
            Kind::StreamConfig => "STREAM_CONFIG",
            Kind::Frame => "FRAME",
            Kind::Telemetry => "TELEMETRY",
            Kind::StateUpdate => "STATE_UPDATE",
            Kind::TimelineMark => "TIMELINE_MARK",
            Kind::Control => "CONTROL",
            Kind::Heartbeat => "HEARTBEAT",
            Kind::MovieStart => "MOVIE_START",
            Kind::MovieControl => "MOVIE_CONTROL",
            Kind::Unknown(_) => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Unknown(v) => write!(f, "UNKNOWN(0x{v:04x})"),
            k => f.write_str(k.name()),
        }
    }
}

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Version field as received (not checked, like the producers).
    pub version: u16,
    /// Message kind.
    pub kind: Kind,
    /// Payload length in bytes.
    pub length: u32,
}

impl Header {
    /// A version-1 header.
    pub fn new(kind: Kind, length: u32) -> Header {
        Header {
            version: VERSION,
            kind,
            length,
        }
    }

    /// Parse the first 12 bytes. Only the magic is checked.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, CodecError> {
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != MAGIC {
            return Err(CodecError::BadMagic(magic));
        }
        Ok(Header {
            version: u16::from_be_bytes([b[4], b[5]]),
            kind: Kind::from_u16(u16::from_be_bytes([b[6], b[7]])),
            length: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// The 12 wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.to_be_bytes());
        out[6..8].copy_from_slice(&self.kind.to_u16().to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out
    }
}

/// HELLO: `{protocol, producer, build: str or nil}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Always "GrimStream" from the real producers (not checked on read).
    pub protocol: String,
    /// Producer name, e.g. "retail_capture" or "grim_engine".
    pub producer: String,
    /// Build string, written as nil when absent.
    #[serde(default)]
    pub build: Option<String>,
}

impl Hello {
    /// HELLO with protocol "GrimStream".
    pub fn new(producer: impl Into<String>, build: Option<String>) -> Hello {
        Hello {
            protocol: PROTOCOL_NAME.to_string(),
            producer: producer.into(),
            build,
        }
    }
}

/// STREAM_CONFIG: the retail frame format.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// 1 = RGBA8.
    pub pixel_format: u16,
    /// Bytes per row (>= width * 4 for RGBA8).
    pub stride_bytes: u32,
    /// Nominal frame rate, written as nil when absent.
    #[serde(default)]
    pub nominal_fps: Option<f32>,
}

impl StreamConfig {
    /// Bytes a frame of this config must carry at least (`stride * (height-1) + width*4`,
    /// i.e. the last row need not be padded), or `None` on overflow.
    pub fn min_frame_len(&self) -> Option<usize> {
        if self.height == 0 || self.width == 0 {
            return Some(0);
        }
        let row = (self.width as usize).checked_mul(4)?;
        (self.stride_bytes as usize)
            .checked_mul(self.height as usize - 1)?
            .checked_add(row)
    }
}

/// FRAME: one framebuffer capture. `data` shares the receive buffer (no copy).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Frame counter (reset on reconnect).
    pub frame_id: u64,
    /// Producer-local time in ns.
    pub host_time_ns: u64,
    /// The game's own tick for this frame, if known.
    pub telemetry_time_ns: Option<u64>,
    /// Pixel rows, `stride_bytes` apart.
    pub data: Bytes,
}

/// TELEMETRY: a game event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// Sequence number (reset on reconnect).
    pub seq: u64,
    /// Event label; `intro.timeline` events are also sent as TIMELINE_MARK.
    pub label: String,
    /// Game timestamp, written as nil when absent.
    #[serde(default)]
    pub timestamp: Option<u64>,
    /// Arbitrary data (nil when absent).
    #[serde(default = "nil")]
    pub data: rmpv::Value,
}

fn nil() -> rmpv::Value {
    rmpv::Value::Nil
}

/// One coverage counter in STATE_UPDATE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageEntry {
    /// Counter name.
    pub key: String,
    /// Counter value.
    pub value: u64,
}

/// STATE_UPDATE: the engine's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateUpdate {
    /// Sequence number (reset on reconnect).
    pub seq: u64,
    /// Producer-local time in ns.
    pub host_time_ns: u64,
    /// Engine frame counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u32>,
    /// Hero position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<[f32; 3]>,
    /// Hero yaw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaw: Option<f32>,
    /// Active camera setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_setup: Option<String>,
    /// Active hotspot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_hotspot: Option<String>,
    /// Coverage counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<CoverageEntry>>,
    /// Hook events since the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Movie playing, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_movie: Option<String>,
}

/// TIMELINE_MARK: a labelled point in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineMark {
    /// Sequence number.
    pub seq: u64,
    /// Producer-local time in ns.
    pub host_time_ns: u64,
    /// Label.
    pub label: String,
    /// Arbitrary data (nil when absent).
    #[serde(default = "nil")]
    pub data: rmpv::Value,
}

/// CONTROL (viewer to engine), internally tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// The viewer is ready for state updates.
    ViewerReady {
        /// Protocol number (1).
        protocol: u16,
        /// Optional features.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        features: Option<Vec<String>>,
    },
}

impl Control {
    /// `viewer_ready`, protocol 1, no features (the golden bytes).
    pub fn viewer_ready() -> Control {
        Control::ViewerReady {
            protocol: VIEWER_PROTOCOL,
            features: None,
        }
    }
}

/// MOVIE_START: the engine starts a movie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovieStart {
    /// Movie name.
    pub name: String,
    /// Path relative to the game's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_path: Option<String>,
}

/// MOVIE_CONTROL action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovieAction {
    /// The movie played to its end.
    Finished,
    /// The person skipped it.
    Skipped,
    /// It failed.
    Error,
    /// Acknowledged.
    Ack,
}

impl MovieAction {
    /// The wire spelling: "finished", "skipped", "error", "ack".
    pub fn name(self) -> &'static str {
        match self {
            MovieAction::Finished => "finished",
            MovieAction::Skipped => "skipped",
            MovieAction::Error => "error",
            MovieAction::Ack => "ack",
        }
    }
}

/// MOVIE_CONTROL (viewer to engine).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovieControl {
    /// Movie name.
    pub name: String,
    /// What happened.
    pub action: MovieAction,
    /// Optional message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One decoded GrimStream message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// HELLO.
    Hello(Hello),
    /// STREAM_CONFIG.
    StreamConfig(StreamConfig),
    /// FRAME.
    Frame(Frame),
    /// TELEMETRY.
    Telemetry(Telemetry),
    /// STATE_UPDATE.
    StateUpdate(StateUpdate),
    /// TIMELINE_MARK.
    TimelineMark(TimelineMark),
    /// CONTROL.
    Control(Control),
    /// HEARTBEAT (payload, if any, ignored).
    Heartbeat,
    /// MOVIE_START.
    MovieStart(MovieStart),
    /// MOVIE_CONTROL.
    MovieControl(MovieControl),
    /// A kind this crate does not know; kept only so it can be counted and recorded.
    Unknown {
        /// Wire kind value.
        kind: u16,
        /// Its payload.
        payload: Bytes,
    },
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Hello(_) => Kind::Hello,
            Message::StreamConfig(_) => Kind::StreamConfig,
            Message::Frame(_) => Kind::Frame,
            Message::Telemetry(_) => Kind::Telemetry,
            Message::StateUpdate(_) => Kind::StateUpdate,
            Message::TimelineMark(_) => Kind::TimelineMark,
            Message::Control(_) => Kind::Control,
            Message::Heartbeat => Kind::Heartbeat,
            Message::MovieStart(_) => Kind::MovieStart,
            Message::MovieControl(_) => Kind::MovieControl,
            Message::Unknown { kind, .. } => Kind::Unknown(*kind),
        }
    }
}

/// Serialises a byte slice as MessagePack bin (serde's `[u8]` would write an array).
struct Bin<'a>(&'a [u8]);

impl Serialize for Bin<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
struct FrameOut<'a> {
    frame_id: u64,
    host_time_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry_time_ns: Option<u64>,
    data: Bin<'a>,
}

#[derive(Deserialize)]
struct FrameIn<'a> {
    frame_id: u64,
    host_time_ns: u64,
    #[serde(default)]
    telemetry_time_ns: Option<u64>,
    #[serde(borrow)]
    data: &'a [u8],
}

fn to_named<T: Serialize>(kind: Kind, v: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    rmp_serde::encode::write_named(out, v).map_err(|e| CodecError::Encode {
        kind: kind.name(),
        detail: e.to_string(),
    })
}

/// Append the payload bytes of `msg` (no header) to `out`.
pub fn encode_payload(msg: &Message, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let kind = msg.kind();
    match msg {
        Message::Hello(v) => to_named(kind, v, out),
        Message::StreamConfig(v) => to_named(kind, v, out),
        Message::Frame(f) => to_named(
            kind,
            &FrameOut {
                frame_id: f.frame_id,
                host_time_ns: f.host_time_ns,
                telemetry_time_ns: f.telemetry_time_ns,
                data: Bin(&f.data),
            },
            out,
        ),
        Message::Telemetry(v) => to_named(kind, v, out),
        Message::StateUpdate(v) => to_named(kind, v, out),
        Message::TimelineMark(v) => to_named(kind, v, out),
        Message::Control(v) => to_named(kind, v, out),
        Message::Heartbeat => Ok(()),
        Message::MovieStart(v) => to_named(kind, v, out),
        Message::MovieControl(v) => to_named(kind, v, out),
        Message::Unknown { payload, .. } => {
            out.extend_from_slice(payload);
            Ok(())
        }
    }
}

/// Append one whole message (header and payload) to `out`.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    if let Err(e) = encode_payload(msg, out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - HEADER_LEN;
    let len = u32::try_from(len).map_err(|_| {
        out.truncate(start);
        CodecError::Encode {
            kind: msg.kind().name(),
            detail: format!("payload of {len} bytes exceeds u32"),
        }
    })?;
    let header = Header::new(msg.kind(), len).to_bytes();
    out[start..start + HEADER_LEN].copy_from_slice(&header);
    Ok(())
}

/// One whole message (header and payload) as a new buffer.
pub fn encode(msg: &Message) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

fn from_named<'de, T: Deserialize<'de>>(kind: Kind, payload: &'de [u8]) -> Result<T, CodecError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_PAYLOAD_DEPTH);
    T::deserialize(&mut de).map_err(|source| CodecError::Payload {
        kind: kind.name(),
        len: payload.len(),
        source,
    })
}

/// Decode a payload of the given kind. The payload is a [`Bytes`] so a FRAME's `data`
/// can be a zero-copy slice of it. Trailing bytes after the MessagePack value are
/// ignored (lenient, like unknown keys). HEARTBEAT ignores its payload.
pub fn decode_payload(kind: Kind, payload: Bytes) -> Result<Message, CodecError> {
    Ok(match kind {
        Kind::Hello => Message::Hello(from_named(kind, &payload)?),
        Kind::StreamConfig => Message::StreamConfig(from_named(kind, &payload)?),
        Kind::Frame => {
            let raw: FrameIn<'_> = from_named(kind, &payload)?;
            let data = payload.slice_ref(raw.data);
            Message::Frame(Frame {
                frame_id: raw.frame_id,
                host_time_ns: raw.host_time_ns,
                telemetry_time_ns: raw.telemetry_time_ns,
                data,
            })
        }
        Kind::Telemetry => Message::Telemetry(from_named(kind, &payload)?),
        Kind::StateUpdate => Message::StateUpdate(from_named(kind, &payload)?),
        Kind::TimelineMark => Message::TimelineMark(from_named(kind, &payload)?),
        Kind::Control => Message::Control(from_named(kind, &payload)?),
        Kind::Heartbeat => Message::Heartbeat,
        Kind::MovieStart => Message::MovieStart(from_named(kind, &payload)?),
        Kind::MovieControl => Message::MovieControl(from_named(kind, &payload)?),
        Kind::Unknown(v) => Message::Unknown { kind: v, payload },
    })
}

/// Check that a frame carries enough bytes for `config` (a frame may carry more).
pub fn check_frame(config: &StreamConfig, frame: &Frame) -> Result<(), CodecError> {
    let shape = |detail: String| CodecError::FrameShape {
        frame_id: frame.frame_id,
        detail,
    };
    if config.pixel_format != PIXEL_FORMAT_RGBA8 {
        return Err(shape(format!(
            "pixel_format {} is not RGBA8 (1)",
            config.pixel_format
        )));
    }
    if (config.stride_bytes as u64) < config.width as u64 * 4 {
        return Err(shape(format!(
            "stride {} < width {} x 4",
            config.stride_bytes, config.width
        )));
    }
    let need = config
        .min_frame_len()
        .ok_or_else(|| shape("frame size overflows".into()))?;
    if frame.data.len() < need {
        return Err(shape(format!(
            "{} bytes, {}x{} stride {} needs {need}",
            frame.data.len(),
            config.width,
            config.height,
            config.stride_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    fn golden(msg: Message, bytes: &str) {
        let want = hex(bytes);
        let got = encode(&msg).unwrap();
        assert_eq!(got, want, "encoding of {msg:?}");
        let header = Header::parse(want[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(header.kind, msg.kind());
        assert_eq!(header.length as usize, want.len() - HEADER_LEN);
        let back =
            decode_payload(header.kind, Bytes::copy_from_slice(&want[HEADER_LEN..])).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn golden_hello_engine() {
        golden(
            Message::Hello(Hello::new("grim_engine", Some("0.1.0".into()))),
            "47 52 49 4d 00 01 00 01 00 00 00 36 83 a8 70 72 6f 74 6f 63 6f 6c aa 47 72 69 6d 53 74 72 65 61 6d a8 70 72 6f 64 75 63 65 72 ab 67 72 69 6d 5f 65 6e 67 69 6e 65 a5 62 75 69 6c 64 a5 30 2e 31 2e 30",
        );
    }

    #[test]
    fn golden_hello_nil_build() {
        golden(
            Message::Hello(Hello::new("x", None)),
            "47 52 49 4d 00 01 00 01 00 00 00 27 83 a8 70 72 6f 74 6f 63 6f 6c aa 47 72 69 6d 53 74 72 65 61 6d a8 70 72 6f 64 75 63 65 72 a1 78 a5 62 75 69 6c 64 c0",
        );
    }

    #[test]
    fn golden_viewer_ready() {
        golden(
            Message::Control(Control::viewer_ready()),
            "47 52 49 4d 00 01 00 07 00 00 00 1d 82 a4 6b 69 6e 64 ac 76 69 65 77 65 72 5f 72 65 61 64 79 a8 70 72 6f 74 6f 63 6f 6c 01",
        );
    }

    #[test]
    fn golden_stream_config() {
        golden(
            Message::StreamConfig(StreamConfig {
                width: 1280,
                height: 720,
                pixel_format: 1,
                stride_bytes: 5120,
                nominal_fps: Some(30.0),
            }),
            "47 52 49 4d 00 01 00 02 00 00 00 43 85 a5 77 69 64 74 68 cd 05 00 a6 68 65 69 67 68 74 cd 02 d0 ac 70 69 78 65 6c 5f 66 6f 72 6d 61 74 01 ac 73 74 72 69 64 65 5f 62 79 74 65 73 cd 14 00 ab 6e 6f 6d 69 6e 61 6c 5f 66 70 73 ca 41 f0 00 00",
        );
    }

    #[test]
    fn golden_frame() {
        golden(
            Message::Frame(Frame {
                frame_id: 0,
                host_time_ns: 5,
                telemetry_time_ns: None,
                data: Bytes::from_static(&[1, 2, 3, 4]),
            }),
            "47 52 49 4d 00 01 00 03 00 00 00 24 83 a8 66 72 61 6d 65 5f 69 64 00 ac 68 6f 73 74 5f 74 69 6d 65 5f 6e 73 05 a4 64 61 74 61 c4 04 01 02 03 04",
        );
    }

    #[test]
    fn golden_movie_start() {
        golden(
            Message::MovieStart(MovieStart {
                name: "logos".into(),
                relative_path: Some("MoviesHD/logos.ogv".into()),
            }),
            "47 52 49 4d 00 01 00 09 00 00 00 2d 82 a4 6e 61 6d 65 a5 6c 6f 67 6f 73 ad 72 65 6c 61 74 69 76 65 5f 70 61 74 68 b2 4d 6f 76 69 65 73 48 44 2f 6c 6f 67 6f 73 2e 6f 67 76",
        );
    }

    #[test]
    fn golden_movie_control() {
        golden(
            Message::MovieControl(MovieControl {
                name: "logos".into(),
                action: MovieAction::Finished,
                message: None,
            }),
            "47 52 49 4d 00 01 00 0a 00 00 00 1c 82 a4 6e 61 6d 65 a5 6c 6f 67 6f 73 a6 61 63 74 69 6f 6e a8 66 69 6e 69 73 68 65 64",
        );
    }

    #[test]
    fn golden_state_update() {
        golden(
            Message::StateUpdate(StateUpdate {
                seq: 0,
                host_time_ns: 1,
                frame: Some(1),
                position: Some([0.5, 1.0, 0.0]),
                ..Default::default()
            }),
            "47 52 49 4d 00 01 00 05 00 00 00 34 84 a3 73 65 71 00 ac 68 6f 73 74 5f 74 69 6d 65 5f 6e 73 01 a5 66 72 61 6d 65 01 a8 70 6f 73 69 74 69 6f 6e 93 ca 3f 00 00 00 ca 3f 80 00 00 ca 00 00 00 00",
        );
    }

    #[test]
    fn frame_data_is_a_slice_of_the_payload() {
        let bytes = encode(&Message::Frame(Frame {
            frame_id: 7,
            host_time_ns: 9,
            telemetry_time_ns: Some(3),
            data: Bytes::from(vec![5u8; 1000]),
        }))
        .unwrap();
        let payload = Bytes::from(bytes).slice(HEADER_LEN..);
        let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
        let Message::Frame(f) = decode_payload(Kind::Frame, payload.clone()).unwrap() else {
            panic!("not a frame")
        };
        assert!(
            range.contains(&(f.data.as_ptr() as usize)),
            "data was copied"
        );
        assert_eq!(f.data.len(), 1000);
        assert_eq!(f.telemetry_time_ns, Some(3));
    }

    #[test]
    fn lenient_ints_floats_and_unknown_keys() {
        // Python-style: u64 ints, f64 floats, an extra key, build absent.
        let v = rmpv::Value::Map(vec![
            ("width".into(), rmpv::Value::from(1280u64)),
            ("height".into(), rmpv::Value::from(720u32)),
            ("pixel_format".into(), rmpv::Value::from(1u64)),
            ("stride_bytes".into(), rmpv::Value::from(6000u64)),
            ("nominal_fps".into(), rmpv::Value::F64(59.94)),
            (
                "extra".into(),
                rmpv::Value::Array(vec![1.into(), "x".into()]),
            ),
        ]);
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &v).unwrap();
        let Message::StreamConfig(c) = decode_payload(Kind::StreamConfig, buf.into()).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.stride_bytes, 6000);
        assert!((c.nominal_fps.unwrap() - 59.94).abs() < 1e-4);

        let v = rmpv::Value::Map(vec![
            ("protocol".into(), "GrimStream".into()),
            ("producer".into(), "py".into()),
        ]);
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &v).unwrap();
        let Message::Hello(h) = decode_payload(Kind::Hello, buf.into()).unwrap() else {
            panic!()
        };
        assert_eq!(h.build, None);
    }

    #[test]
    fn header_rejects_bad_magic() {
        let e = Header::parse(b"GRIX\0\x01\0\x01\0\0\0\0").unwrap_err();
        assert!(e.to_string().contains("bad magic"), "{e}");
        let h = Header::parse(b"GRIM\0\x01\x12\x34\0\0\x01\0").unwrap();
        assert_eq!(h.kind, Kind::Unknown(0x1234));
        assert_eq!(h.length, 256);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut payload = vec![0x84u8];
        payload.extend_from_slice(&[0xa3, b's', b'e', b'q', 0x00]);
        payload.extend_from_slice(&[0xac]);
        payload.extend_from_slice(b"host_time_ns");
        payload.push(0x00);
        payload.extend_from_slice(&[0xa5]);
        payload.extend_from_slice(b"label");
        payload.extend_from_slice(&[0xa1, b'x']);
        payload.extend_from_slice(&[0xa4]);
        payload.extend_from_slice(b"data");
        payload.extend(std::iter::repeat_n(0x91u8, 100_000));
        payload.push(0xc0);
        assert!(decode_payload(Kind::TimelineMark, payload.into()).is_err());
    }
}
