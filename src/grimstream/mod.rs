//! GrimStream v1: codec, incremental decoder, feed connections, store and clocks.
//!
//! - [`codec`]: pure header/payload encode and lenient decode (golden-byte tested).
//! - [`decoder`]: incremental stream decoder (any split, cap on message length).
//! - [`transport`]: feed addresses (`tcp://host:port`, `unix:/path`), streams, listeners.
//! - [`server`]: a reusable producer-side server (retail- or engine-style handshake).

pub mod codec;
pub mod decoder;
pub mod server;
pub mod transport;

pub use codec::{
    CodecError, Control, CoverageEntry, Frame, HEADER_LEN, Header, Hello, Kind, Message,
    MovieAction, MovieControl, MovieStart, StateUpdate, StreamConfig, Telemetry, TimelineMark,
};
pub use decoder::{DecodeError, Decoder, DecoderConfig, RawMessage};
pub use transport::FeedAddr;
