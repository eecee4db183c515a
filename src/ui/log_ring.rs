//! Recent warnings and errors for the log panel and the toasts.
//!
//! [`LogRing::layer`] is a `tracing` [`Layer`] that keeps the last [`LogRing::CAPACITY`]
//! WARN/ERROR events in a bounded ring (oldest dropped). The lock is held only to push or
//! to copy out entries; the UI reads a copy each frame, and asks for repaint on new errors.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Sequence number (monotonic per ring), used to spot new entries.
    pub seq: u64,
    /// When it was logged.
    pub time: SystemTime,
    /// WARN or ERROR.
    pub level: Level,
    /// Module path / target.
    pub target: String,
    /// The message and fields.
    pub message: String,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<LogEntry>,
    next_seq: u64,
    dropped: u64,
    waker: Option<egui::Context>,
}

/// Bounded ring of recent warnings and errors. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct LogRing {
    inner: Arc<Mutex<Inner>>,
}

impl LogRing {
    /// Entries kept; older ones are dropped (and counted).
    pub const CAPACITY: usize = 500;
    /// Longest message kept, in bytes (longer ones are cut).
    pub const MAX_MESSAGE: usize = 2000;

    /// A new empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `tracing` layer feeding this ring with WARN and ERROR events.
    pub fn layer(&self) -> RingLayer {
        RingLayer { ring: self.clone() }
    }

    /// The UI context to wake when an error arrives.
    pub fn set_waker(&self, ctx: egui::Context) {
        if let Ok(mut g) = self.inner.lock() {
            g.waker = Some(ctx);
        }
    }

    /// Records an entry directly (for errors the UI itself detects).
    pub fn push(&self, level: Level, target: &str, mut message: String) {
        if message.len() > Self::MAX_MESSAGE {
            let mut cut = Self::MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let Ok(mut g) = self.inner.lock() else { return };
        let seq = g.next_seq;
        g.next_seq += 1;
        if g.entries.len() == Self::CAPACITY {
            g.entries.pop_front();
            g.dropped += 1;
        }
        g.entries.push_back(LogEntry {
            seq,
            time: SystemTime::now(),
            level,
            target: target.to_owned(),
            message,
        });
        if level == Level::ERROR
            && let Some(w) = &g.waker
        {
            w.request_repaint();
        }
    }

    /// Entries with `seq >= since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<LogEntry> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        g.entries
            .iter()
            .filter(|e| e.seq >= since)
            .cloned()
            .collect()
    }

    /// The next sequence number (entries so far).
    pub fn next_seq(&self) -> u64 {
        self.inner.lock().map(|g| g.next_seq).unwrap_or(0)
    }

    /// Entries dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().map(|g| g.dropped).unwrap_or(0)
    }
}

/// The `tracing` layer returned by [`LogRing::layer`].
#[derive(Debug, Clone)]
pub struct RingLayer {
    ring: LogRing,
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message.push_str(&format!("{value:?}"));
        } else {
            self.fields
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        v.message.push_str(&v.fields);
        self.ring.push(level, event.metadata().target(), v.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn keeps_warnings_and_errors_bounded() {
        let ring = LogRing::new();
        let sub = tracing_subscriber::registry().with(ring.layer());
        tracing::subscriber::with_default(sub, || {
            tracing::info!("not kept");
            tracing::warn!(port = 5555, "link down");
            for i in 0..LogRing::CAPACITY + 3 {
                tracing::error!("e{i}");
            }
        });
        let all = ring.since(0);
        assert_eq!(all.len(), LogRing::CAPACITY);
        assert_eq!(ring.dropped(), 4);
        assert_eq!(
            all.last().unwrap().message,
            format!("e{}", LogRing::CAPACITY + 2)
        );
        assert!(all.iter().all(|e| e.level <= Level::WARN));
        let ring2 = LogRing::new();
        let sub = tracing_subscriber::registry().with(ring2.layer());
        tracing::subscriber::with_default(sub, || tracing::warn!(port = 5555, "link down"));
        assert_eq!(ring2.since(0)[0].message, "link down port=5555");
    }
}
