//! The capture wire (desktop → inference host), byte-exact with
//! `docs/capture-wire.md`.
//!
//! Pure code: headers and payloads in, ZeroMQ message parts out, and back. Two framings
//! exist and both are supported: [`Framing::Multipart`] (part 0 = JSON header, part 1 =
//! payload) and [`Framing::Framed`] (one part: `[u32 BE header_len][u32 BE payload_len]
//! [header JSON][payload]`, what the host's code reads today). A receiver tells them apart
//! by the part count ([`decode`]).
//!
//! The control channel (REQ/REP, plain UTF-8 JSON) is here too: [`ControlRequest`] for the
//! desktop's side, [`ControlReply`] for parsing the host's answers, and [`host_reply`], the
//! host's own answer to any request bytes, used by the reference receiver.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Audio sample rate the host assumes, whatever the header says.
pub const AUDIO_SAMPLE_RATE: u32 = 16_000;
/// Length of the fixed prefix of the framed layout.
pub const FRAMED_PREFIX_LEN: usize = 8;
/// Largest header accepted by [`decode`]; real headers are well under 200 bytes.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// How a header and a payload are laid out in ZeroMQ message parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// Two parts: JSON header, then payload (the framing this product's design names).
    #[default]
    #[serde(alias = "Multipart")] // settings files written before the one Framing type
    Multipart,
    /// One part: `[u32 BE header_len][u32 BE payload_len][header][payload]` (the host today).
    #[serde(alias = "Framed")]
    Framed,
}

impl Framing {
    /// The name used on the command line and in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Multipart => "multipart",
            Self::Framed => "framed",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Framing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "multipart" => Ok(Self::Multipart),
            "framed" => Ok(Self::Framed),
            other => Err(format!(
                "unknown framing {other:?}: expected multipart or framed"
            )),
        }
    }
}

/// Header of an audio chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioHeader {
    /// Unix time in milliseconds of the chunk's first sample.
    pub ts: u64,
    /// Per-stream counter, from 0, +1 per chunk.
    pub seq: u64,
    /// Sample rate: always 16000.
    pub sr: u32,
    /// Channels: always 1.
    pub ch: u32,
    /// Sample format: always `"int16"`.
    pub fmt: String,
    /// The fraction of the chunk judged to be the operator's speech after the game's sound
    /// was removed (present when the voice stage runs). The host ignores keys it does not
    /// read (docs/capture-wire.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech: Option<Fraction>,
    /// The fraction of the chunk during which the game's sound (the echo reference) was
    /// playing (present when a reference is captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<Fraction>,
}

impl AudioHeader {
    /// The only header the host accepts: 16 kHz mono int16.
    pub fn new(ts: u64, seq: u64) -> Self {
        Self {
            ts,
            seq,
            sr: AUDIO_SAMPLE_RATE,
            ch: 1,
            fmt: "int16".to_owned(),
            speech: None,
            game: None,
        }
    }
}

/// A number in [0, 1] kept in thousandths, so headers stay comparable (`Eq`) and their JSON
/// short (`0.85`). Serialised as a JSON number; anything outside [0, 1] or not a number is
/// refused when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fraction(u16);

impl Fraction {
    /// The fraction nearest to `v`, clamped to [0, 1] (NaN is 0).
    pub fn new(v: f32) -> Self {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        Self((v * 1000.0).round() as u16)
    }
    /// The value in [0, 1].
    pub fn get(self) -> f32 {
        f32::from(self.0) / 1000.0
    }
}

impl Serialize for Fraction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(self.0) / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Self((v * 1000.0).round() as u16))
        } else {
            Err(serde::de::Error::custom(format!("{v} is not in [0, 1]")))
        }
    }
}

/// Header of a video frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoHeader {
    /// Unix time in milliseconds when the frame was captured.
    pub ts: u64,
    /// Per-stream counter, from 0, +1 per frame.
    pub seq: u64,
    /// Width of the encoded JPEG.
    pub w: u32,
    /// Height of the encoded JPEG.
    pub h: u32,
    /// Payload format: always `"jpeg"`.
    pub fmt: String,
    /// JPEG quality used.
    pub quality: u8,
}

impl VideoHeader {
    /// A JPEG frame header.
    pub fn new(ts: u64, seq: u64, w: u32, h: u32, quality: u8) -> Self {
        Self {
            ts,
            seq,
            w,
            h,
            fmt: "jpeg".to_owned(),
            quality,
        }
    }
}

/// A message header: the JSON `type` field selects the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Header {
    /// `{"type":"audio",...}`
    Audio(AudioHeader),
    /// `{"type":"video",...}`
    Video(VideoHeader),
}

impl Header {
    /// The header's `seq`.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Audio(h) => h.seq,
            Self::Video(h) => h.seq,
        }
    }
    /// The header's `ts`.
    pub fn ts(&self) -> u64 {
        match self {
            Self::Audio(h) => h.ts,
            Self::Video(h) => h.ts,
        }
    }
    /// Compact JSON of the header (`type` first).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of integers and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One message ready for a ZeroMQ socket: its parts, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    /// Message parts (one for framed, two for multipart).
    pub parts: Vec<Bytes>,
}

impl WireMessage {
    /// Total bytes over all parts.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
    /// Whether every part is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Lays out a header and a payload in the chosen framing.
///
/// The payload is not copied for [`Framing::Multipart`].
pub fn encode(header: &Header, payload: Bytes, framing: Framing) -> WireMessage {
    let json = header.to_json();
    match framing {
        Framing::Multipart => WireMessage {
            parts: vec![Bytes::from(json), payload],
        },
        Framing::Framed => {
            let mut buf = BytesMut::with_capacity(FRAMED_PREFIX_LEN + json.len() + payload.len());
            buf.put_u32(json.len() as u32);
            buf.put_u32(payload.len() as u32);
            buf.put_slice(&json);
            buf.put_slice(&payload);
            WireMessage {
                parts: vec![buf.freeze()],
            }
        }
    }
}

/// Why a received message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Neither one part (framed) nor two parts (multipart).
    #[error("message has {0} parts: expected 1 (framed) or 2 (multipart)")]
    PartCount(usize),
    /// A framed message shorter than its 8-byte prefix.
    #[error("framed message of {0} bytes is shorter than its 8-byte prefix")]
    ShortFrame(usize),
    /// The lengths in a framed prefix do not add up to the message length.
    #[error(
        "framed lengths header={header} payload={payload} do not match the {actual} bytes after the prefix"
    )]
    LengthMismatch {
        /// Announced header length.
        header: u32,
        /// Announced payload length.
        payload: u32,
        /// Bytes actually present after the prefix.
        actual: usize,
    },
    /// A header longer than [`MAX_HEADER_LEN`].
    #[error("header of {0} bytes exceeds the {MAX_HEADER_LEN}-byte limit")]
    HeaderTooLong(usize),
    /// The header is not JSON, not an object, or misses a field.
    #[error("bad header JSON: {0}")]
    BadJson(String),
    /// The header's `type` is neither audio nor video.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// An audio header that is not 16 kHz mono int16.
    #[error("audio header says sr={sr} ch={ch} fmt={fmt}: the host only takes 16000/1/int16")]
    AudioFormat {
        /// Sample rate announced.
        sr: u32,
        /// Channels announced.
        ch: u32,
        /// Format announced.
        fmt: String,
    },
    /// An audio payload with an odd number of bytes.
    #[error("audio payload of {0} bytes is not a whole number of int16 samples")]
    OddAudioPayload(usize),
    /// A video header whose format is not JPEG.
    #[error("video fmt {0:?} is not jpeg")]
    VideoFormat(String),
}

impl WireError {
    /// A short stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PartCount(_) => "part_count",
            Self::ShortFrame(_) => "short_frame",
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::HeaderTooLong(_) => "header_too_long",
            Self::BadJson(_) => "bad_json",
            Self::UnknownType(_) => "unknown_type",
            Self::AudioFormat { .. } => "audio_format",
            Self::OddAudioPayload(_) => "odd_audio_payload",
            Self::VideoFormat(_) => "video_format",
        }
    }
}

/// A decoded message: header, payload and the framing it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The parsed header.
    pub header: Header,
    /// The payload bytes (a slice of the received part, not a copy).
    pub payload: Bytes,
    /// Which framing the message used.
    pub framing: Framing,
}

/// Decodes a received message of either framing, told apart by the part count.
pub fn decode(parts: &[Bytes]) -> Result<Decoded, WireError> {
    let (json, payload, framing) = match parts {
        [header, payload] => (header.clone(), payload.clone(), Framing::Multipart),
        [one] => {
            if one.len() < FRAMED_PREFIX_LEN {
                return Err(WireError::ShortFrame(one.len()));
            }
            let hlen = u32::from_be_bytes([one[0], one[1], one[2], one[3]]);
            let plen = u32::from_be_bytes([one[4], one[5], one[6], one[7]]);
            let actual = one.len() - FRAMED_PREFIX_LEN;
            if hlen as u64 + plen as u64 != actual as u64 {
                return Err(WireError::LengthMismatch {
                    header: hlen,
                    payload: plen,
                    actual,
                });
            }
            let split = FRAMED_PREFIX_LEN + hlen as usize;
            (
                one.slice(FRAMED_PREFIX_LEN..split),
                one.slice(split..),
                Framing::Framed,
            )
        }
        other => return Err(WireError::PartCount(other.len())),
    };
    if json.len() > MAX_HEADER_LEN {
        return Err(WireError::HeaderTooLong(json.len()));
    }
    let header = parse_header(&json)?;
    match &header {
        Header::Audio(a) => {
            if a.sr != AUDIO_SAMPLE_RATE || a.ch != 1 || a.fmt != "int16" {
                return Err(WireError::AudioFormat {
                    sr: a.sr,
                    ch: a.ch,
                    fmt: a.fmt.clone(),
                });
            }
            if payload.len() % 2 != 0 {
                return Err(WireError::OddAudioPayload(payload.len()));
            }
        }
        Header::Video(v) => {
            if v.fmt != "jpeg" {
                return Err(WireError::VideoFormat(v.fmt.clone()));
            }
        }
    }
    Ok(Decoded {
        header,
        payload,
        framing,
    })
}

fn parse_header(json: &[u8]) -> Result<Header, WireError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| WireError::BadJson(e.to_string()))?;
    let ty = value
        .get("type")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| WireError::BadJson("no string field \"type\"".to_owned()))?;
    if ty != "audio" && ty != "video" {
        return Err(WireError::UnknownType(ty.to_owned()));
    }
    serde_json::from_value(value).map_err(|e| WireError::BadJson(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Control channel
// ---------------------------------------------------------------------------------------

/// A request from the desktop on the control channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Sent once per fresh control socket.
    Hello {
        /// Client name.
        client: String,
        /// What the client streams: `"audio"`, `"video"`.
        capabilities: Vec<String>,
    },
    /// Sent every 5 s.
    Heartbeat {
        /// Client name.
        client: String,
        /// Seconds since the client started.
        uptime_s: f64,
    },
    /// Asks for the host's config.
    GetConfig,
}

impl ControlRequest {
    /// The request as compact UTF-8 JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The host's capture configuration. Every field is optional: a host may send a subset,
/// and values of the wrong type are treated as absent rather than failing the whole reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// Audio chunk length in ms.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub audio_chunk_ms: Option<u32>,
    /// Audio sample rate (informative: always 16000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub audio_sample_rate: Option<u32>,
    /// Audio channels (informative: always 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub audio_channels: Option<u32>,
    /// Audio format (informative: always int16).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub audio_format: Option<String>,
    /// Video frame rate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub video_fps: Option<f32>,
    /// Video size `[w, h]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub video_res: Option<[u32; 2]>,
    /// Video format (informative: always jpeg).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub video_format: Option<String>,
    /// JPEG quality.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub video_quality: Option<u8>,
    /// The framings the host reads (`"framed"`, `"multipart"`), when it names them.
    /// A host that names none reads the framed layout (the inference host's code:
    /// one part per message).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub framings: Option<Vec<String>>,
}

fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

impl HostConfig {
    /// Whether a host with this config reads `framing`: the framings it names, or the
    /// framed layout alone when it names none.
    pub fn reads(config: Option<&HostConfig>, framing: Framing) -> bool {
        match config.and_then(|c| c.framings.as_ref()) {
            Some(names) => names.iter().any(|n| n == framing.as_str()),
            None => framing == Framing::Framed,
        }
    }

    /// The reference host's config, as `docs/capture-wire.md` gives it.
    pub fn reference() -> Self {
        Self {
            audio_chunk_ms: Some(100),
            audio_sample_rate: Some(16_000),
            audio_channels: Some(1),
            audio_format: Some("int16".to_owned()),
            video_fps: Some(5.0),
            video_res: Some([640, 480]),
            video_format: Some("jpeg".to_owned()),
            video_quality: Some(70),
            framings: None,
        }
    }
}

/// A parsed reply from the host.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlReply {
    /// `{"status":"ok","config":{...}}` (hello, get_config).
    Config(HostConfig),
    /// `{"status":"ok","ts":<unix_ms>}` (heartbeat).
    Ack {
        /// The host's clock, when given.
        ts: Option<u64>,
    },
    /// `{"error":"..."}`.
    Error(String),
}

/// Why a control reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unintelligible control reply: {0}")]
pub struct ControlReplyError(String);

impl ControlReply {
    /// Parses a reply's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ControlReplyError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ControlReplyError(e.to_string()))?;
        if let Some(e) = v.get("error") {
            return Ok(Self::Error(
                e.as_str().map_or_else(|| e.to_string(), str::to_owned),
            ));
        }
        match v.get("status").and_then(serde_json::Value::as_str) {
            Some("ok") => {}
            Some(other) => return Err(ControlReplyError(format!("status {other:?}"))),
            None => return Err(ControlReplyError("no status or error field".to_owned())),
        }
        if let Some(cfg) = v.get("config") {
            let cfg = serde_json::from_value(cfg.clone())
                .map_err(|e| ControlReplyError(format!("config: {e}")))?;
            return Ok(Self::Config(cfg));
        }
        Ok(Self::Ack {
            ts: v.get("ts").and_then(serde_json::Value::as_u64),
        })
    }
}

/// The host's answer to a control request, exactly as the inference host answers:
/// hello and get_config → the config; heartbeat → `ts`; unknown `cmd` →
/// `{"error":"unknown command: X"}`; anything that is not JSON → `{"error":"invalid JSON"}`.
pub fn host_reply(request: &[u8], config: &HostConfig, now_ms: u64) -> Vec<u8> {
    let reply = match serde_json::from_slice::<serde_json::Value>(request) {
        Err(_) => serde_json::json!({"error": "invalid JSON"}),
        Ok(v) => {
            let cmd = v
                .get("cmd")
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned));
            match cmd.as_deref() {
                Some("hello") | Some("get_config") => {
                    serde_json::json!({"status": "ok", "config": config})
                }
                Some("heartbeat") => serde_json::json!({"status": "ok", "ts": now_ms}),
                Some(other) => serde_json::json!({"error": format!("unknown command: {other}")}),
                None => serde_json::json!({"error": "unknown command: None"}),
            }
        }
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUDIO_JSON: &str =
        r#"{"type":"audio","ts":1731000000123,"seq":42,"sr":16000,"ch":1,"fmt":"int16"}"#;
    const VIDEO_JSON: &str =
        r#"{"type":"video","ts":1731000000456,"seq":7,"w":640,"h":480,"fmt":"jpeg","quality":70}"#;

    fn audio_header() -> Header {
        Header::Audio(AudioHeader::new(1_731_000_000_123, 42))
    }
    fn video_header() -> Header {
        Header::Video(VideoHeader::new(1_731_000_000_456, 7, 640, 480, 70))
    }

    #[test]
    fn headers_serialise_to_the_spec_examples() {
        assert_eq!(
            String::from_utf8(audio_header().to_json()).unwrap(),
            AUDIO_JSON
        );
        assert_eq!(
            String::from_utf8(video_header().to_json()).unwrap(),
            VIDEO_JSON
        );
    }

    #[test]
    fn multipart_golden_bytes() {
        let payload = Bytes::from_static(&[0x01, 0x00, 0xff, 0x7f]);
        let msg = encode(&audio_header(), payload.clone(), Framing::Multipart);
        assert_eq!(msg.parts.len(), 2);
        assert_eq!(&msg.parts[0][..], AUDIO_JSON.as_bytes());
        assert_eq!(msg.parts[1], payload);
        let d = decode(&msg.parts).unwrap();
        assert_eq!(d.header, audio_header());
        assert_eq!(d.payload, payload);
        assert_eq!(d.framing, Framing::Multipart);
    }

    #[test]
    fn framed_golden_bytes() {
        let payload = Bytes::from_static(&[0xff, 0xd8, 0xff, 0xd9]);
        let msg = encode(&video_header(), payload.clone(), Framing::Framed);
        assert_eq!(msg.parts.len(), 1);
        let mut expected = Vec::new();
        expected.extend_from_slice(&(VIDEO_JSON.len() as u32).to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 4]);
        expected.extend_from_slice(VIDEO_JSON.as_bytes());
        expected.extend_from_slice(&[0xff, 0xd8, 0xff, 0xd9]);
        assert_eq!(&msg.parts[0][..], &expected[..]);
        // The prefix for the spec's video header: 85 header bytes, 4 payload bytes.
        assert_eq!(&msg.parts[0][..8], &[0, 0, 0, 85, 0, 0, 0, 4]);
        let d = decode(&msg.parts).unwrap();
        assert_eq!(d.header, video_header());
        assert_eq!(d.payload, payload);
        assert_eq!(d.framing, Framing::Framed);
    }

    #[test]
    fn voice_keys_are_numbers_in_0_1_and_absent_without_a_voice_stage() {
        let plain = Header::Audio(AudioHeader::new(5, 6)).to_json();
        assert_eq!(
            plain,
            br#"{"type":"audio","ts":5,"seq":6,"sr":16000,"ch":1,"fmt":"int16"}"#
        );
        let mut h = AudioHeader::new(5, 6);
        h.speech = Some(Fraction::new(0.8754));
        h.game = Some(Fraction::new(1.5));
        let j = Header::Audio(h).to_json();
        assert_eq!(
            j,
            br#"{"type":"audio","ts":5,"seq":6,"sr":16000,"ch":1,"fmt":"int16","speech":0.875,"game":1.0}"#
        );
        let back: Header = serde_json::from_slice(&j).unwrap();
        assert_eq!(back, Header::Audio(h_with(0.875, 1.0)));
        let with = |v: &str| {
            format!(
                r#"{{"type":"audio","ts":5,"seq":6,"sr":16000,"ch":1,"fmt":"int16","speech":{v}}}"#
            )
        };
        assert!(serde_json::from_str::<Header>(&with("0.5")).is_ok());
        for bad in ["1.5", "-0.1", "\"x\""] {
            assert!(serde_json::from_str::<Header>(&with(bad)).is_err(), "{bad}");
        }
    }

    fn h_with(speech: f32, game: f32) -> AudioHeader {
        let mut h = AudioHeader::new(5, 6);
        h.speech = Some(Fraction::new(speech));
        h.game = Some(Fraction::new(game));
        h
    }

    #[test]
    fn decode_accepts_any_field_order_and_ignores_extra_fields() {
        let json = br#"{"fmt":"int16","ch":1,"sr":16000,"seq":3,"ts":10,"type":"audio","x":1}"#;
        let d = decode(&[Bytes::from_static(json), Bytes::from_static(&[0, 0])]).unwrap();
        assert_eq!(d.header, Header::Audio(AudioHeader::new(10, 3)));
    }

    #[test]
    fn decode_rejects_malformed_messages() {
        let ok_json = Bytes::from_static(AUDIO_JSON.as_bytes());
        let two = Bytes::from_static(&[0, 0]);
        let cases: Vec<(Vec<Bytes>, &str)> = vec![
            (vec![], "part_count"),
            (vec![two.clone(), two.clone(), two.clone()], "part_count"),
            (vec![Bytes::from_static(&[0, 0, 0])], "short_frame"),
            (
                vec![Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 0, b'{'])],
                "length_mismatch",
            ),
            (
                vec![Bytes::from_static(&[
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ])],
                "length_mismatch",
            ),
            (
                vec![Bytes::from_static(b"not json"), two.clone()],
                "bad_json",
            ),
            (vec![Bytes::from_static(b"[1,2]"), two.clone()], "bad_json"),
            (
                vec![
                    Bytes::from_static(br#"{"type":"audio","seq":1}"#),
                    two.clone(),
                ],
                "bad_json",
            ),
            (
                vec![
                    Bytes::from_static(br#"{"type":"text","seq":1}"#),
                    two.clone(),
                ],
                "unknown_type",
            ),
            (
                vec![
                    Bytes::from_static(
                        br#"{"type":"audio","ts":1,"seq":1,"sr":48000,"ch":1,"fmt":"int16"}"#,
                    ),
                    two.clone(),
                ],
                "audio_format",
            ),
            (
                vec![ok_json.clone(), Bytes::from_static(&[0, 0, 0])],
                "odd_audio_payload",
            ),
            (
                vec![
                    Bytes::from_static(
                        br#"{"type":"video","ts":1,"seq":1,"w":1,"h":1,"fmt":"png","quality":1}"#,
                    ),
                    two,
                ],
                "video_format",
            ),
        ];
        for (parts, kind) in cases {
            let err = decode(&parts).expect_err(kind);
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn framed_and_multipart_carry_the_same_bytes() {
        let payload = Bytes::from(vec![7u8; 3200]);
        let a = encode(&audio_header(), payload.clone(), Framing::Multipart);
        let b = encode(&audio_header(), payload, Framing::Framed);
        assert_eq!(a.len() + FRAMED_PREFIX_LEN, b.len());
        assert_eq!(
            decode(&a.parts).unwrap().header,
            decode(&b.parts).unwrap().header
        );
    }

    #[test]
    fn control_requests_golden() {
        let hello = ControlRequest::Hello {
            client: "capdeck".into(),
            capabilities: vec!["audio".into(), "video".into()],
        };
        assert_eq!(
            String::from_utf8(hello.to_json()).unwrap(),
            r#"{"cmd":"hello","client":"capdeck","capabilities":["audio","video"]}"#
        );
        let hb = ControlRequest::Heartbeat {
            client: "capdeck".into(),
            uptime_s: 123.4,
        };
        assert_eq!(
            String::from_utf8(hb.to_json()).unwrap(),
            r#"{"cmd":"heartbeat","client":"capdeck","uptime_s":123.4}"#
        );
        assert_eq!(
            String::from_utf8(ControlRequest::GetConfig.to_json()).unwrap(),
            r#"{"cmd":"get_config"}"#
        );
    }

    #[test]
    fn control_replies_parse() {
        let cfg = br#"{"status":"ok","config":{"audio_chunk_ms":100,"audio_sample_rate":16000,"audio_channels":1,"audio_format":"int16","video_fps":5,"video_res":[640,480],"video_format":"jpeg","video_quality":70}}"#;
        assert_eq!(
            ControlReply::parse(cfg).unwrap(),
            ControlReply::Config(HostConfig::reference())
        );
        assert_eq!(
            ControlReply::parse(br#"{"status": "ok", "ts": 1731000000000}"#).unwrap(),
            ControlReply::Ack {
                ts: Some(1_731_000_000_000)
            }
        );
        assert_eq!(
            ControlReply::parse(br#"{"error":"unknown command: x"}"#).unwrap(),
            ControlReply::Error("unknown command: x".into())
        );
        // A value of the wrong type is dropped, the rest is kept.
        let partial = br#"{"status":"ok","config":{"audio_chunk_ms":"fast","video_fps":2.5}}"#;
        let ControlReply::Config(c) = ControlReply::parse(partial).unwrap() else {
            panic!()
        };
        assert_eq!(c.audio_chunk_ms, None);
        assert_eq!(c.video_fps, Some(2.5));
        assert!(ControlReply::parse(b"garbage").is_err());
        assert!(ControlReply::parse(br#"{"status":"busy"}"#).is_err());
    }

    #[test]
    fn a_host_that_names_no_framing_reads_framed() {
        let named = |v: &[&str]| HostConfig {
            framings: Some(v.iter().map(|s| (*s).to_owned()).collect()),
            ..HostConfig::default()
        };
        assert!(HostConfig::reads(None, Framing::Framed));
        assert!(!HostConfig::reads(None, Framing::Multipart));
        assert!(!HostConfig::reads(
            Some(&HostConfig::reference()),
            Framing::Multipart
        ));
        assert!(HostConfig::reads(
            Some(&named(&["framed", "multipart"])),
            Framing::Multipart
        ));
        assert!(!HostConfig::reads(
            Some(&named(&["multipart"])),
            Framing::Framed
        ));
        let c = ControlReply::parse(br#"{"status":"ok","config":{"framings":["multipart"]}}"#);
        assert!(matches!(c, Ok(ControlReply::Config(c)) if c == named(&["multipart"])));
        // a wrong type is treated as absent
        let c = ControlReply::parse(br#"{"status":"ok","config":{"framings":"framed"}}"#);
        assert!(matches!(c, Ok(ControlReply::Config(c)) if c.framings.is_none()));
    }

    #[test]
    fn host_replies_like_the_host() {
        let cfg = HostConfig::reference();
        let hello = ControlRequest::Hello {
            client: "c".into(),
            capabilities: vec![],
        }
        .to_json();
        assert_eq!(
            String::from_utf8(host_reply(&hello, &cfg, 5)).unwrap(),
            r#"{"config":{"audio_channels":1,"audio_chunk_ms":100,"audio_format":"int16","audio_sample_rate":16000,"video_format":"jpeg","video_fps":5.0,"video_quality":70,"video_res":[640,480]},"status":"ok"}"#
        );
        assert_eq!(
            String::from_utf8(host_reply(
                br#"{"cmd":"heartbeat","client":"c","uptime_s":1}"#,
                &cfg,
                5
            ))
            .unwrap(),
            r#"{"status":"ok","ts":5}"#
        );
        assert_eq!(
            String::from_utf8(host_reply(br#"{"cmd":"dance"}"#, &cfg, 5)).unwrap(),
            r#"{"error":"unknown command: dance"}"#
        );
        assert_eq!(
            String::from_utf8(host_reply(b"{oops", &cfg, 5)).unwrap(),
            r#"{"error":"invalid JSON"}"#
        );
        assert!(matches!(
            ControlReply::parse(&host_reply(&hello, &cfg, 5)).unwrap(),
            ControlReply::Config(c) if c == cfg
        ));
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn decode_never_panics(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4)) {
                let parts: Vec<Bytes> = parts.into_iter().map(Bytes::from).collect();
                let _ = decode(&parts);
            }

            #[test]
            fn framed_prefix_fuzz_never_panics(h in any::<u32>(), p in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..128)) {
                let mut b = Vec::new();
                b.extend_from_slice(&h.to_be_bytes());
                b.extend_from_slice(&p.to_be_bytes());
                b.extend_from_slice(&body);
                let _ = decode(&[Bytes::from(b)]);
            }

            #[test]
            fn encode_then_decode_is_identity(
                ts in any::<u64>(), seq in any::<u64>(), w in 1u32..8000, h in 1u32..8000, q in 1u8..=100,
                payload in proptest::collection::vec(any::<u8>(), 0..256), video in any::<bool>(), framed in any::<bool>(),
            ) {
                let (header, payload) = if video {
                    (Header::Video(VideoHeader::new(ts, seq, w, h, q)), payload)
                } else {
                    let mut p = payload;
                    p.truncate(p.len() & !1);
                    (Header::Audio(AudioHeader::new(ts, seq)), p)
                };
                let framing = if framed { Framing::Framed } else { Framing::Multipart };
                let msg = encode(&header, Bytes::from(payload.clone()), framing);
                let d = decode(&msg.parts).unwrap();
                prop_assert_eq!(d.header, header);
                prop_assert_eq!(&d.payload[..], &payload[..]);
                prop_assert_eq!(d.framing, framing);
            }
        }
    }
}
