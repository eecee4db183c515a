//! Sessions: compositions of the lower layers, each a whole thing a user runs.
//!
//! - [`sender`]: a sending session: capture pipelines → wire encoding → ZeroMQ links, with
//!   stats, host config and pins.
//! - [`serve_retail`]: a capture source served as a GrimStream retail feed.
//! - [`record`]: the taps that record a sending session and the live feeds.
//! - [`replay`]: a recording through the live view's ingest path, or to a host.

pub mod clip;
pub mod record;
pub mod replay;
pub mod sender;
pub mod serve_retail;
