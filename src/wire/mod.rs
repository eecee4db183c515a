//! Wire protocols as pure code: bytes in, values out, no I/O.
//!
//! - [`capture`]: the capture wire (desktop → inference host), `../shared/spec/capture-wire.md`.

pub mod capture;
