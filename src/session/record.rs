//! Recording composed from the taps: [`RecordTap`] turns what passes the capture links'
//! [`WireTap`] seam and the GrimStream feeds' [`MessageTap`] seam into [`record`] entries,
//! on the session clock, without copying payloads (the entries hold the links' `Bytes`).
//!
//! [`record`]: crate::record

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::grimstream::FeedRole;
use crate::grimstream::feed::{MessageTap, TapEvent};
use crate::net::tap::{Channel, Direction, WireTap};
use crate::record::recorder::{RecordSink, Recorder, RecorderOptions};
use crate::record::writer::{WriteError, WriterOptions};
use crate::record::{Entry, Payload, Topic};
use crate::wire::grimstream::Message;

/// Both seams into one recorder.
#[derive(Debug, Clone)]
pub struct RecordTap {
    sink: RecordSink,
    /// Zero of the viewer clock whose `arrival_ns` the feeds report.
    view_epoch: Instant,
}

impl RecordTap {
    /// A tap for `sink`; `view_epoch` is the epoch of the live view whose feeds it taps
    /// ([`crate::grimstream::live::LiveView::epoch`]).
    pub fn new(sink: RecordSink, view_epoch: Instant) -> RecordTap {
        RecordTap { sink, view_epoch }
    }

    fn view_time(&self, at_ns: i64) -> u64 {
        let t = self.view_epoch + Duration::from_nanos(at_ns.max(0) as u64);
        self.sink.at_instant(t)
    }
}

impl WireTap for RecordTap {
    fn outgoing(&self, channel: Channel, parts: &[Bytes], at: SystemTime) {
        let topic = match channel {
            Channel::Audio => Topic::CaptureAudio,
            Channel::Video => Topic::CaptureVideo,
            Channel::Control => Topic::ControlRequest,
        };
        let log = self.sink.at_system_time(at);
        // The source's own timestamp is the header's `ts` (ms since the Unix epoch).
        let publish = crate::wire::capture::decode(parts)
            .map(|d| d.header.ts().saturating_mul(1_000_000))
            .unwrap_or(log);
        self.sink.record(Entry {
            topic,
            log_time_ns: log,
            publish_time_ns: publish,
            sequence: 0,
            payload: Payload::Parts(parts.to_vec()),
        });
    }

    fn control(&self, direction: Direction, bytes: &[u8], at: SystemTime) {
        let log = self.sink.at_system_time(at);
        self.sink.record(Entry {
            topic: match direction {
                Direction::Out => Topic::ControlRequest,
                Direction::In => Topic::ControlReply,
            },
            log_time_ns: log,
            publish_time_ns: log,
            sequence: 0,
            payload: Payload::Raw(Bytes::copy_from_slice(bytes)),
        });
    }
}

impl MessageTap for RecordTap {
    fn incoming(&self, ev: &TapEvent<'_>) {
        let log = self.view_time(ev.arrival_ns);
        let publish = match ev.decoded {
            Ok(Message::Frame(f)) => f.host_time_ns,
            Ok(Message::StateUpdate(s)) => s.host_time_ns,
            Ok(Message::TimelineMark(m)) => m.host_time_ns,
            _ => log,
        };
        self.sink.record(Entry {
            topic: match ev.role {
                FeedRole::Retail => Topic::RetailIn,
                FeedRole::Engine => Topic::EngineIn,
            },
            log_time_ns: log,
            publish_time_ns: publish,
            sequence: ev.generation.min(u32::MAX as u64) as u32,
            payload: Payload::GrimStream {
                header: ev.raw.header.to_bytes(),
                payload: ev.raw.payload.clone(),
            },
        });
    }

    fn outgoing(&self, role: FeedRole, generation: u64, at_ns: i64, bytes: &[u8]) {
        let log = self.view_time(at_ns);
        self.sink.record(Entry {
            topic: match role {
                FeedRole::Retail => Topic::RetailOut,
                FeedRole::Engine => Topic::EngineOut,
            },
            log_time_ns: log,
            publish_time_ns: log,
            sequence: generation.min(u32::MAX as u64) as u32,
            payload: Payload::Raw(Bytes::copy_from_slice(bytes)),
        });
    }
}

/// Recording options from the command line's or the settings' values.
pub fn recorder_options(
    disk_budget_mib: Option<u64>,
    min_free_mib: u64,
    segment_mib: u64,
    segment_secs: u64,
) -> RecorderOptions {
    RecorderOptions {
        writer: WriterOptions {
            segment_max_bytes: segment_mib.max(1) * 1024 * 1024,
            segment_max_ns: segment_secs.max(1) * 1_000_000_000,
            disk_budget_bytes: disk_budget_mib.map(|m| m * 1024 * 1024),
            min_free_bytes: min_free_mib * 1024 * 1024,
            ..WriterOptions::default()
        },
        ..RecorderOptions::default()
    }
}

/// Starts a recorder into `dir` and a tap feeding it for a view whose epoch is
/// `view_epoch`.
pub fn start(
    dir: &Path,
    opts: RecorderOptions,
    view_epoch: Instant,
) -> Result<(Recorder, Arc<RecordTap>), WriteError> {
    let rec = Recorder::start(dir, opts)?;
    let tap = Arc::new(RecordTap::new(rec.sink(), view_epoch));
    Ok((rec, tap))
}
