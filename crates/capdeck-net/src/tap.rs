//! The seam every outgoing wire message passes, so that session recording can capture the
//! exact bytes and when they left, without touching the links; and what the voice stage
//! captured beside them (the microphone before it, the game's sound), so that a recording
//! can be processed again with other settings.
//!
//! Links call [`TapPoint::outgoing`] right after a message was accepted by the socket,
//! [`TapPoint::control`] for each control request and reply, and [`TapPoint::link_state`]
//! when a link's state changes kind.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

/// Which capture-wire channel a message travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// PUSH audio.
    Audio,
    /// PUSH video.
    Video,
    /// REQ/REP control.
    Control,
}

/// Direction of a control-channel message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Desktop → host.
    Out,
    /// Host → desktop.
    In,
}

/// Audio captured beside what is sent, in capture-wire parts (an audio header and its
/// 16 kHz PCM), when a voice stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Captured {
    /// The microphone before the voice stage.
    Microphone,
    /// The game's sound, the voice stage's echo reference.
    GameAudio,
}

/// Something that observes wire traffic (a recorder, a test probe).
/// Implementations must be cheap and must not block: they run on the link threads.
pub trait WireTap: Send + Sync {
    /// A message accepted by the socket of `channel`.
    fn outgoing(&self, channel: Channel, parts: &[Bytes], at: SystemTime);
    /// A control request (`Out`) or reply (`In`).
    fn control(&self, direction: Direction, bytes: &[u8], at: SystemTime);
    /// The link of `channel` changed state (connecting, streaming, buffering,
    /// disconnected, ...; `state` as the link's status serializes it). Called on a change
    /// of kind only, not on every countdown tick.
    fn link_state(&self, channel: Channel, state: &serde_json::Value, at: SystemTime) {
        let _ = (channel, state, at);
    }
    /// Audio the voice stage captured beside what it sent (not on the wire).
    fn captured(&self, what: Captured, parts: &[Bytes], at: SystemTime) {
        let _ = (what, parts, at);
    }
}

/// A cloneable handle to an optional tap; the no-tap case costs one branch.
#[derive(Clone, Default)]
pub struct TapPoint(Option<Arc<dyn WireTap>>);

impl std::fmt::Debug for TapPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "TapPoint(attached)"
        } else {
            "TapPoint(none)"
        })
    }
}

impl TapPoint {
    /// A tap point feeding `tap`.
    pub fn new(tap: Arc<dyn WireTap>) -> Self {
        Self(Some(tap))
    }
    /// Reports an outgoing data message.
    pub fn outgoing(&self, channel: Channel, parts: &[Bytes]) {
        if let Some(t) = &self.0 {
            t.outgoing(channel, parts, SystemTime::now());
        }
    }
    /// Whether a tap is attached (so that a caller can skip preparing what it would report).
    pub fn is_attached(&self) -> bool {
        self.0.is_some()
    }
    /// Reports audio the voice stage captured beside what it sent.
    pub fn captured(&self, what: Captured, parts: &[Bytes]) {
        if let Some(t) = &self.0 {
            t.captured(what, parts, SystemTime::now());
        }
    }
    /// Reports a control message.
    pub fn control(&self, direction: Direction, bytes: &[u8]) {
        if let Some(t) = &self.0 {
            t.control(direction, bytes, SystemTime::now());
        }
    }
    /// Reports a link state change (serialized only when a tap is attached).
    pub fn link_state(&self, channel: Channel, state: &impl serde::Serialize) {
        if let Some(t) = &self.0
            && let Ok(v) = serde_json::to_value(state)
        {
            t.link_state(channel, &v, SystemTime::now());
        }
    }
}
