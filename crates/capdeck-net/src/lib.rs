//! Networking: thin I/O layers around the pure wire code.
//!
//! - [`outbox`]: the bounded outbound queue of a channel and its drop policy (pure).
//! - [`backoff`]: capped exponential backoff (pure).
//! - [`tap`]: the one seam every outgoing wire message passes (for session recording).
//! - [`push_link`]: a PUSH channel to the host that survives restarts and stalls.
//! - [`control_link`]: the REQ control channel: hello, heartbeat, host config.
//! - [`receiver`]: the reference host (PULL/PULL/REP), for operators and tests.

pub mod backoff;
pub mod control_link;
pub mod outbox;
pub mod push_link;
pub mod receiver;
pub mod tap;
