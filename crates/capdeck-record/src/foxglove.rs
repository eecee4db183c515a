//! Export a session to one MCAP file with Foxglove's standard schemas, so it opens in
//! Foxglove, the `mcap` CLI and Rerun's MCAP importer:
//!
//! | from | topic | schema (JSON encoding, `jsonschema`) |
//! |---|---|---|
//! | capture video (JPEG) | `/capture/video` | `foxglove.CompressedImage`, the JPEG as it left |
//! | capture audio | `/capture/audio` | `foxglove.RawAudio`, `pcm-s16`, the chunk's rate and channels |
//! | retail FRAME | `/grimstream/retail/frame` | `foxglove.RawImage`, `rgba8` (row padding removed) |
//! | engine STATE_UPDATE | `/grimstream/engine/state` | schemaless JSON, the decoded fields |
//! | TIMELINE_MARK, marks | `/grimstream/<feed>/mark`, `/marks` | schemaless JSON |
//! | control | `/capture/control/request`, `/capture/control/reply` | schemaless JSON, as sent |
//!
//! Messages that do not decode are counted and left out, never guessed at.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::ops::ControlFlow;
use std::path::Path;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::reader::{ReadEvent, Recording};
use super::{Topic, decode_grimstream, split_parts};
use capdeck_wire::capture::{Header as CaptureHeader, decode as decode_capture};
use capdeck_wire::grimstream::{Message, PIXEL_FORMAT_RGBA8, StreamConfig};

/// JSON Schema of `foxglove.CompressedImage`.
pub const COMPRESSED_IMAGE_SCHEMA: &str = r#"{"title":"foxglove.CompressedImage","type":"object","properties":{"timestamp":{"type":"object","properties":{"sec":{"type":"integer","minimum":0},"nsec":{"type":"integer","minimum":0,"maximum":999999999}}},"frame_id":{"type":"string"},"data":{"type":"string","contentEncoding":"base64"},"format":{"type":"string"}}}"#;
/// JSON Schema of `foxglove.RawImage`.
pub const RAW_IMAGE_SCHEMA: &str = r#"{"title":"foxglove.RawImage","type":"object","properties":{"timestamp":{"type":"object","properties":{"sec":{"type":"integer","minimum":0},"nsec":{"type":"integer","minimum":0,"maximum":999999999}}},"frame_id":{"type":"string"},"width":{"type":"integer","minimum":0},"height":{"type":"integer","minimum":0},"encoding":{"type":"string"},"step":{"type":"integer","minimum":0},"data":{"type":"string","contentEncoding":"base64"}}}"#;
/// JSON Schema of `foxglove.RawAudio`.
pub const RAW_AUDIO_SCHEMA: &str = r#"{"title":"foxglove.RawAudio","type":"object","properties":{"timestamp":{"type":"object","properties":{"sec":{"type":"integer","minimum":0},"nsec":{"type":"integer","minimum":0,"maximum":999999999}}},"data":{"type":"string","contentEncoding":"base64"},"format":{"type":"string"},"sample_rate":{"type":"integer","minimum":0},"number_of_channels":{"type":"integer","minimum":0}}}"#;

/// What an export wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    /// Messages written per output topic.
    pub per_topic: BTreeMap<String, u64>,
    /// Messages left out because they did not decode (or a frame came before its config).
    pub skipped: u64,
    /// Unreadable stretches of the recording.
    pub gaps: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the recording.
    #[error(transparent)]
    Read(#[from] super::reader::ReadError),
    /// Writing the output.
    #[error("writing {path}: {reason}")]
    Write {
        /// The output.
        path: String,
        /// Why.
        reason: String,
    },
}

fn stamp(ns: u64) -> Value {
    json!({"sec": ns / 1_000_000_000, "nsec": ns % 1_000_000_000})
}

struct Out {
    w: mcap::Writer<BufWriter<File>>,
    channels: HashMap<&'static str, u16>,
    summary: ExportSummary,
}

impl Out {
    fn channel(
        &mut self,
        topic: &'static str,
        schema: Option<(&str, &str)>,
    ) -> mcap::McapResult<u16> {
        if let Some(&id) = self.channels.get(topic) {
            return Ok(id);
        }
        let schema_id = match schema {
            Some((name, text)) => self.w.add_schema(name, "jsonschema", text.as_bytes())?,
            None => 0,
        };
        let id = self
            .w
            .add_channel(schema_id, topic, "json", &BTreeMap::new())?;
        self.channels.insert(topic, id);
        Ok(id)
    }

    fn put(
        &mut self,
        topic: &'static str,
        schema: Option<(&str, &str)>,
        log_ns: u64,
        publish_ns: u64,
        value: &Value,
    ) -> mcap::McapResult<()> {
        let id = self.channel(topic, schema)?;
        let data = serde_json::to_vec(value).unwrap_or_default();
        self.w.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: id,
                sequence: 0,
                log_time: log_ns,
                publish_time: publish_ns,
            },
            &data,
        )?;
        *self.summary.per_topic.entry(topic.to_owned()).or_default() += 1;
        Ok(())
    }
}

/// Writes `out` from the session at `session`.
pub fn export(session: &Path, out: &Path) -> Result<ExportSummary, ExportError> {
    let rec = Recording::open(session)?;
    let werr = |e: &dyn std::fmt::Display| ExportError::Write {
        path: out.display().to_string(),
        reason: e.to_string(),
    };
    let file = File::create(out).map_err(|e| werr(&e))?;
    let w = mcap::WriteOptions::new()
        .compression(None)
        .profile("")
        .create(BufWriter::new(file))
        .map_err(|e| werr(&e))?;
    let mut o = Out {
        w,
        channels: HashMap::new(),
        summary: ExportSummary::default(),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut configs: [Option<StreamConfig>; 2] = [None, None];
    let mut failure: Option<mcap::McapError> = None;
    rec.read_all(&mut |ev| {
        let m = match ev {
            ReadEvent::Gap { .. } => {
                o.summary.gaps += 1;
                return ControlFlow::Continue(());
            }
            ReadEvent::Message(m) => m,
        };
        let t = m.log_time_ns;
        let r = match m.topic {
            Some(Topic::CaptureAudio | Topic::CaptureVideo) => {
                let parts = match split_parts(m.data) {
                    Ok(p) => p
                        .into_iter()
                        .map(Bytes::copy_from_slice)
                        .collect::<Vec<_>>(),
                    Err(_) => {
                        o.summary.skipped += 1;
                        return ControlFlow::Continue(());
                    }
                };
                match decode_capture(&parts) {
                    Ok(d) => match d.header {
                        CaptureHeader::Audio(a) => o.put(
                            "/capture/audio",
                            Some(("foxglove.RawAudio", RAW_AUDIO_SCHEMA)),
                            t,
                            a.ts.saturating_mul(1_000_000),
                            &json!({"timestamp": stamp(a.ts.saturating_mul(1_000_000)),
                                    "data": b64.encode(&d.payload), "format": "pcm-s16",
                                    "sample_rate": a.sr, "number_of_channels": a.ch}),
                        ),
                        CaptureHeader::Video(v) => o.put(
                            "/capture/video",
                            Some(("foxglove.CompressedImage", COMPRESSED_IMAGE_SCHEMA)),
                            t,
                            v.ts.saturating_mul(1_000_000),
                            &json!({"timestamp": stamp(v.ts.saturating_mul(1_000_000)),
                                    "frame_id": "capture", "data": b64.encode(&d.payload),
                                    "format": "jpeg"}),
                        ),
                    },
                    Err(_) => {
                        o.summary.skipped += 1;
                        Ok(())
                    }
                }
            }
            Some(role @ (Topic::RetailIn | Topic::EngineIn)) => {
                let slot = usize::from(role == Topic::EngineIn);
                let (mark_topic, feed) = if slot == 0 {
                    ("/grimstream/retail/mark", "retail")
                } else {
                    ("/grimstream/engine/mark", "engine")
                };
                match decode_grimstream(m.data) {
                    Ok(Message::StreamConfig(c)) => {
                        configs[slot] = Some(c);
                        Ok(())
                    }
                    Ok(Message::Frame(f)) => match configs[slot] {
                        Some(c) if c.pixel_format == PIXEL_FORMAT_RGBA8 => {
                            let row = c.width as usize * 4;
                            let h = c.height as usize;
                            let stride = c.stride_bytes as usize;
                            if stride < row || f.data.len() < stride * h.saturating_sub(1) + row {
                                o.summary.skipped += 1;
                                Ok(())
                            } else {
                                let mut rgba = Vec::with_capacity(row * h);
                                for y in 0..h {
                                    rgba.extend_from_slice(&f.data[y * stride..y * stride + row]);
                                }
                                o.put(
                                    "/grimstream/retail/frame",
                                    Some(("foxglove.RawImage", RAW_IMAGE_SCHEMA)),
                                    t,
                                    f.host_time_ns,
                                    &json!({"timestamp": stamp(t), "frame_id": feed,
                                            "width": c.width, "height": c.height,
                                            "encoding": "rgba8", "step": row,
                                            "data": b64.encode(&rgba)}),
                                )
                            }
                        }
                        _ => {
                            o.summary.skipped += 1;
                            Ok(())
                        }
                    },
                    Ok(Message::StateUpdate(s)) => {
                        let v = serde_json::to_value(&s).unwrap_or(Value::Null);
                        o.put("/grimstream/engine/state", None, t, s.host_time_ns, &v)
                    }
                    Ok(Message::TimelineMark(mk)) => o.put(
                        mark_topic,
                        None,
                        t,
                        mk.host_time_ns,
                        &json!({"seq": mk.seq, "label": mk.label}),
                    ),
                    Ok(_) => Ok(()),
                    Err(_) => {
                        o.summary.skipped += 1;
                        Ok(())
                    }
                }
            }
            Some(
                topic @ (Topic::ControlRequest
                | Topic::ControlReply
                | Topic::Marks
                | Topic::Settings
                | Topic::Links),
            ) => {
                // JSON records keep their topic names
                match serde_json::from_slice::<Value>(m.data) {
                    Ok(v) => o.put(topic.name(), None, t, m.publish_time_ns, &v),
                    Err(_) => {
                        o.summary.skipped += 1;
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        };
        match r {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(werr(&e));
    }
    o.w.finish().map_err(|e| werr(&e))?;
    Ok(o.summary)
}
