//! The bounded outbound queue of one channel, with its drop policy. Pure: no I/O, no clock.
//!
//! Policy (both channels): when a new message would exceed the message or payload-byte
//! budget, the **oldest** queued messages are dropped and counted. For audio the budget is
//! N seconds of 16 kHz int16 (default 5 s), so an outage shorter than that loses nothing
//! and the backlog is delivered in order after reconnect; for video it is a few frames, so
//! only the newest frames wait (recency wins, as on the host).

use std::collections::VecDeque;

use capdeck_wire::capture::WireMessage;

/// Limits of an [`Outbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// Most messages queued.
    pub max_messages: usize,
    /// Most payload bytes queued.
    pub max_payload_bytes: usize,
}

impl OutboxPolicy {
    /// Audio: up to `secs` seconds of 16 kHz mono int16 (32,000 bytes a second).
    pub fn audio_seconds(secs: f64) -> Self {
        let bytes = (secs.max(0.1) * 32_000.0).ceil() as usize;
        // 10 ms is the shortest chunk: at most 100 messages a second.
        Self {
            max_messages: ((secs.max(0.1) * 100.0).ceil() as usize).max(1),
            max_payload_bytes: bytes,
        }
    }

    /// Video: only the newest `frames` frames.
    pub fn video_frames(frames: usize) -> Self {
        Self {
            max_messages: frames.max(1),
            max_payload_bytes: usize::MAX,
        }
    }
}

/// A queued message with its identity.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Identity of this entry, increasing in queue order.
    pub id: u64,
    /// The message's `seq`.
    pub seq: u64,
    /// Payload bytes (counted against the budget).
    pub payload_len: usize,
    /// The message.
    pub msg: WireMessage,
}

/// Bounded FIFO that drops the oldest entries when over budget.
#[derive(Debug)]
pub struct Outbox {
    policy: OutboxPolicy,
    queue: VecDeque<Queued>,
    payload_bytes: usize,
    next_id: u64,
    dropped: u64,
    dropped_bytes: u64,
}

impl Outbox {
    /// An empty outbox.
    pub fn new(policy: OutboxPolicy) -> Self {
        Self {
            policy,
            queue: VecDeque::new(),
            payload_bytes: 0,
            next_id: 0,
            dropped: 0,
            dropped_bytes: 0,
        }
    }

    /// Queues a message; returns how many old messages were dropped to make room.
    /// A message larger than the whole byte budget is still queued alone (never split).
    pub fn push(&mut self, seq: u64, payload_len: usize, msg: WireMessage) -> usize {
        let mut dropped = 0;
        while !self.queue.is_empty()
            && (self.queue.len() + 1 > self.policy.max_messages
                || self.payload_bytes + payload_len > self.policy.max_payload_bytes)
        {
            if let Some(old) = self.queue.pop_front() {
                self.payload_bytes -= old.payload_len;
                self.dropped += 1;
                self.dropped_bytes += old.msg.len() as u64;
                dropped += 1;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.payload_bytes += payload_len;
        self.queue.push_back(Queued {
            id,
            seq,
            payload_len,
            msg,
        });
        dropped
    }

    /// The oldest entry, if any.
    pub fn front(&self) -> Option<&Queued> {
        self.queue.front()
    }

    /// Removes the oldest entry if it is still entry `id` (it may have been dropped while
    /// being sent); returns whether it was removed.
    pub fn pop_sent(&mut self, id: u64) -> bool {
        match self.queue.front() {
            Some(q) if q.id == id => {
                self.payload_bytes -= q.payload_len;
                self.queue.pop_front();
                true
            }
            _ => false,
        }
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
    /// Payload bytes queued.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }
    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Wire bytes dropped so far.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }
    /// The limits.
    pub fn policy(&self) -> OutboxPolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn msg(n: usize) -> WireMessage {
        WireMessage {
            parts: vec![Bytes::from(vec![0u8; n])],
        }
    }

    #[test]
    fn audio_budget_keeps_five_seconds_in_order_then_drops_oldest() {
        let mut o = Outbox::new(OutboxPolicy::audio_seconds(5.0));
        for seq in 0..50 {
            assert_eq!(o.push(seq, 3200, msg(3200)), 0);
        }
        assert_eq!(o.len(), 50);
        assert_eq!(o.push(50, 3200, msg(3200)), 1);
        assert_eq!(o.front().unwrap().seq, 1);
        assert_eq!(o.dropped(), 1);
        let seqs: Vec<u64> = std::iter::from_fn(|| {
            let f = o.front()?.clone();
            o.pop_sent(f.id);
            Some(f.seq)
        })
        .collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        assert_eq!(o.payload_bytes(), 0);
    }

    #[test]
    fn video_keeps_newest_frames() {
        let mut o = Outbox::new(OutboxPolicy::video_frames(3));
        for seq in 0..10 {
            o.push(seq, 40_000, msg(40_000));
        }
        assert_eq!(o.len(), 3);
        assert_eq!(o.front().unwrap().seq, 7);
        assert_eq!(o.dropped(), 7);
    }

    #[test]
    fn pop_sent_ignores_an_entry_dropped_meanwhile() {
        let mut o = Outbox::new(OutboxPolicy::video_frames(1));
        o.push(0, 1, msg(1));
        let id = o.front().unwrap().id;
        o.push(1, 1, msg(1)); // drops entry 0 while it was "being sent"
        assert!(!o.pop_sent(id));
        assert_eq!(o.front().unwrap().seq, 1);
    }

    #[test]
    fn oversized_message_is_queued_alone() {
        let mut o = Outbox::new(OutboxPolicy {
            max_messages: 10,
            max_payload_bytes: 100,
        });
        o.push(0, 50, msg(50));
        assert_eq!(o.push(1, 500, msg(500)), 1);
        assert_eq!(o.len(), 1);
    }
}
