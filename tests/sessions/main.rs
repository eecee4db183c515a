//! Sessions: recording, replay and export through real parts, and the sending session
//! (`Sender`) against the reference receiver and hostile peers. One test binary per concern
//! (ARCHITECTURE.md, "Tests").
#![allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod record;
mod send_receive;
