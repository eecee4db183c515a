//! The live view's data sources end to end: GrimStream feeds against producers over real
//! sockets, `capdeck probe` and `demo-feeds`, the codec's properties, the game compared
//! with its re-implementation. One test binary per concern (ARCHITECTURE.md, "Tests").
#![allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod compare;
mod grimstream_feeds;
mod grimstream_probe;
mod grimstream_props;
