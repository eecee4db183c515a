//! Wire protocols as pure code: bytes in, values out, no sockets, files or threads.
//!
//! - [`capture`]: the capture wire (desktop → inference host), `../docs/capture-wire.md`.
//! - [`grimstream`]: GrimStream v1 (producers → viewer), `../docs/grimstream-v1.md`:
//!   the header/payload codec and the incremental stream [`grimstream::decoder`].

pub mod capture;
pub mod grimstream;
