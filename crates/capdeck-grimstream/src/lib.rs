//! GrimStream v1 feeds: connections, producer servers, store and clocks. The codec and the
//! incremental decoder are pure code in [`capdeck_wire::grimstream`] (re-exported here).
//!
//! - [`transport`]: feed addresses (`tcp://host:port`, `unix:/path`), streams, listeners.
//! - [`server`]: a reusable producer-side server (retail- or engine-style handshake).
//! - [`feed`]: one feed connection thread (reconnect, handshake, stalls) and the
//!   [`feed::MessageTap`] recording seam every incoming message passes.
//! - [`store`]: time-indexed history of both feeds under a memory budget; gaps.
//! - [`clock`]: per-feed clock offset/drift estimation.
//! - [`live`]: [`live::LiveView`], the handle the UI polls each frame.
//! - [`demo`]: the demo world and its producers (`capdeck demo-feeds`).
//!
//! How the desktop pane drives a [`LiveView`] with the timeline: `capdeck-timeline`.
//!
//! Threads: one named thread per feed (`grim-feed-retail`, `grim-feed-engine`) writes into
//! the shared store behind a mutex; the UI takes that lock briefly each frame. Every
//! incoming message passes one place, [`feed::MessageTap`] (set `LiveOptions::tap`): the
//! seam for session recording.

pub mod clock;
pub mod demo;
pub mod feed;
pub mod live;
pub mod server;
pub mod store;
pub mod transport;

pub use capdeck_wire::grimstream::decoder::{DecodeError, Decoder, DecoderConfig, RawMessage};
pub use capdeck_wire::grimstream::{
    CodecError, Control, CoverageEntry, Frame, HEADER_LEN, Header, Hello, Kind, Message,
    MovieAction, MovieControl, MovieStart, StateUpdate, StreamConfig, Telemetry, TimelineMark,
};
pub use live::{LiveOptions, LiveSnapshot, LiveView};
pub use transport::FeedAddr;

/// Which of the two feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedRole {
    /// The game's framebuffer and telemetry.
    Retail,
    /// The re-implementation engine's state.
    Engine,
}

impl FeedRole {
    /// Both roles.
    pub const ALL: [FeedRole; 2] = [FeedRole::Retail, FeedRole::Engine];

    /// "retail" or "engine".
    pub fn name(self) -> &'static str {
        match self {
            FeedRole::Retail => "retail",
            FeedRole::Engine => "engine",
        }
    }

    /// 0 or 1.
    pub fn index(self) -> usize {
        match self {
            FeedRole::Retail => 0,
            FeedRole::Engine => 1,
        }
    }
}
