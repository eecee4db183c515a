//! Networking.
