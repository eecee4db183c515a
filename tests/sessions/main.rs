//! Sessions: recording, replay and export through real parts, and the sending session
//! (`Sender`) against the reference receiver and hostile peers. One test binary per concern
//! (ARCHITECTURE.md, "Tests").

#[path = "../support/mod.rs"]
mod support;

mod record;
mod send_receive;
