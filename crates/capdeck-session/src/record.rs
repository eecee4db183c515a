//! Recording composed from the taps: [`RecordTap`] turns what passes the capture links'
//! [`WireTap`] seam and the GrimStream feeds' [`MessageTap`] seam into [`record`] entries,
//! on the session clock, without copying payloads (the entries hold the links' `Bytes`).
//!
//! [`record`]: capdeck_record

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::feed::{MessageTap, TapEvent};
use capdeck_grimstream::store::OperatorMark;
use capdeck_net::tap::{Captured, Channel, Direction, WireTap};
use capdeck_record::recorder::{RecordSink, Recorder, RecorderOptions};
use capdeck_record::writer::{WriteError, WriterOptions};
use capdeck_record::{Entry, Payload, Topic};
use capdeck_wire::grimstream::Message;

/// Both seams into one recorder.
#[derive(Debug, Clone)]
pub struct RecordTap {
    sink: RecordSink,
    /// Zero of the viewer clock whose `arrival_ns` the feeds report.
    view_epoch: Instant,
}

impl RecordTap {
    /// A tap for `sink`; `view_epoch` is the epoch of the live view whose feeds it taps
    /// ([`capdeck_grimstream::live::LiveView::epoch`]).
    pub fn new(sink: RecordSink, view_epoch: Instant) -> RecordTap {
        RecordTap { sink, view_epoch }
    }

    /// Records what a feed's connection said before the recording started (its HELLO and
    /// STREAM_CONFIG, as the store holds them), at viewer time `at_ns` with the
    /// connection's `generation`: a recording begun mid-connection then replays with them
    /// (without STREAM_CONFIG its frames could not be drawn).
    pub fn prime(&self, role: FeedRole, generation: u64, at_ns: i64, msgs: &[Message]) {
        let log = self.view_time(at_ns);
        for m in msgs {
            let Ok(bytes) = capdeck_wire::grimstream::encode(m) else {
                continue;
            };
            let Some((head, payload)) = bytes.split_first_chunk::<12>() else {
                continue;
            };
            self.sink.record(Entry {
                topic: match role {
                    FeedRole::Retail => Topic::RetailIn,
                    FeedRole::Engine => Topic::EngineIn,
                },
                log_time_ns: log,
                publish_time_ns: log,
                sequence: generation.min(u32::MAX as u64) as u32,
                payload: Payload::GrimStream {
                    header: *head,
                    payload: Bytes::copy_from_slice(payload),
                },
            });
        }
    }

    /// Records an operator's mark, made or edited now, flagging viewer time `m.t_ns`:
    /// JSON `{"id", "label", "t_ns", "note", "kind"}` with `t_ns` on the session clock (the
    /// marked point; also the message's publish time), logged at the time it was made. A
    /// later record with the same id is the mark's new state (a replay keeps the last).
    pub fn mark(&self, m: &OperatorMark) {
        let at = self.view_time(m.t_ns);
        let body = serde_json::json!({
            "id": m.id, "label": m.label, "t_ns": at, "note": m.note, "kind": m.kind,
        });
        self.mark_record(at, &body);
    }

    /// Records that the operator removed mark `id` now: `{"id", "removed": true}`.
    pub fn mark_removed(&self, id: u64, t_ns: i64) {
        let at = self.view_time(t_ns);
        self.mark_record(
            at,
            &serde_json::json!({ "id": id, "removed": true, "t_ns": at }),
        );
    }

    fn mark_record(&self, at: u64, body: &serde_json::Value) {
        let Ok(bytes) = serde_json::to_vec(body) else {
            return;
        };
        self.sink.record(Entry {
            topic: Topic::Marks,
            log_time_ns: self.sink.now_ns(),
            publish_time_ns: at,
            sequence: 0,
            payload: Payload::Raw(Bytes::from(bytes)),
        });
    }

    /// Records setting changes made now: `{"changed": {key: value, ...}}` (or the whole
    /// settings as `{"settings": ...}` when a recording starts).
    pub fn settings(&self, body: &serde_json::Value) {
        self.sink.record_json(Topic::Settings, body);
    }

    /// Viewer time `at_ns` (of the view whose feeds this taps) on the session clock.
    pub fn session_time(&self, at_ns: i64) -> u64 {
        self.view_time(at_ns)
    }

    fn view_time(&self, at_ns: i64) -> u64 {
        let t = self.view_epoch + Duration::from_nanos(at_ns.max(0) as u64);
        self.sink.at_instant(t)
    }
}

impl RecordTap {
    /// Records capture-wire parts on `topic`, published at the header's own `ts` (ms since
    /// the Unix epoch) when it parses.
    fn record_parts(&self, topic: Topic, parts: &[Bytes], at: SystemTime) {
        let log = self.sink.at_system_time(at);
        let publish = capdeck_wire::capture::decode(parts)
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
}

impl WireTap for RecordTap {
    fn captured(&self, what: Captured, parts: &[Bytes], at: SystemTime) {
        let topic = match what {
            Captured::Microphone => Topic::CaptureMicrophone,
            Captured::GameAudio => Topic::CaptureGameAudio,
        };
        self.record_parts(topic, parts, at);
    }
    fn outgoing(&self, channel: Channel, parts: &[Bytes], at: SystemTime) {
        let topic = match channel {
            Channel::Audio => Topic::CaptureAudio,
            Channel::Video => Topic::CaptureVideo,
            Channel::Control => Topic::ControlRequest,
        };
        self.record_parts(topic, parts, at);
    }

    fn link_state(&self, channel: Channel, state: &serde_json::Value, at: SystemTime) {
        let log = self.sink.at_system_time(at);
        let Ok(bytes) = serde_json::to_vec(&link_record(channel, state)) else {
            return;
        };
        self.sink.record(Entry {
            topic: Topic::Links,
            log_time_ns: log,
            publish_time_ns: log,
            sequence: 0,
            payload: Payload::Raw(Bytes::from(bytes)),
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

/// The JSON a link state change is recorded as: `{"channel": "audio", "state": {...}}`.
fn link_record(channel: Channel, state: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "channel": channel, "state": state })
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

/// A seam installed once on the links and the feeds, which a recording attaches to and
/// detaches from while they run (the app's Record button): with nothing attached a
/// message costs one uncontended read lock. The lock is written only at attach and detach,
/// so link and feed threads never wait on the recorder.
#[derive(Default)]
pub struct SwitchTap {
    current: RwLock<Option<Arc<RecordTap>>>,
}

impl std::fmt::Debug for SwitchTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() {
            "SwitchTap(recording)"
        } else {
            "SwitchTap(idle)"
        })
    }
}

impl SwitchTap {
    /// Attaches a recording's tap (or detaches with None).
    pub fn attach(&self, tap: Option<Arc<RecordTap>>) {
        match self.current.write() {
            Ok(mut g) => *g = tap,
            Err(poisoned) => *poisoned.into_inner() = tap,
        }
    }

    /// Records an operator's mark when a recording is attached ([`RecordTap::mark`]).
    pub fn mark(&self, m: &OperatorMark) {
        if let Some(t) = self.get() {
            t.mark(m);
        }
    }

    /// Records a mark's removal when a recording is attached ([`RecordTap::mark_removed`]).
    pub fn mark_removed(&self, id: u64, t_ns: i64) {
        if let Some(t) = self.get() {
            t.mark_removed(id, t_ns);
        }
    }

    /// Records setting changes when a recording is attached ([`RecordTap::settings`]).
    pub fn settings(&self, body: &serde_json::Value) {
        if let Some(t) = self.get() {
            t.settings(body);
        }
    }

    /// Whether a recording is attached.
    pub fn is_attached(&self) -> bool {
        self.get().is_some()
    }

    fn get(&self) -> Option<Arc<RecordTap>> {
        self.current.read().ok().and_then(|g| g.clone())
    }
}

impl WireTap for SwitchTap {
    fn captured(&self, what: Captured, parts: &[Bytes], at: SystemTime) {
        if let Some(t) = self.get() {
            t.captured(what, parts, at);
        }
    }
    fn outgoing(&self, channel: Channel, parts: &[Bytes], at: SystemTime) {
        if let Some(t) = self.get() {
            WireTap::outgoing(&*t, channel, parts, at);
        }
    }
    fn control(&self, direction: Direction, bytes: &[u8], at: SystemTime) {
        if let Some(t) = self.get() {
            t.control(direction, bytes, at);
        }
    }
    fn link_state(&self, channel: Channel, state: &serde_json::Value, at: SystemTime) {
        if let Some(t) = self.get() {
            WireTap::link_state(&*t, channel, state, at);
        }
    }
}

impl MessageTap for SwitchTap {
    fn incoming(&self, ev: &TapEvent<'_>) {
        if let Some(t) = self.get() {
            t.incoming(ev);
        }
    }
    fn outgoing(&self, role: FeedRole, generation: u64, at_ns: i64, bytes: &[u8]) {
        if let Some(t) = self.get() {
            MessageTap::outgoing(&*t, role, generation, at_ns, bytes);
        }
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
