//! Incremental stream decoder: bytes in any split, whole messages out.
//!
//! Pure code: [`Decoder::push`] takes bytes from anywhere; [`Decoder::read_from`] is a thin
//! helper that reads straight from a blocking reader (socket) into the decoder's buffers.
//!
//! Memory and copies:
//! - Small messages (payload <= [`SMALL_READ`]) accumulate in a `BytesMut` input buffer and
//!   are copied out of it (a few KiB), so the input buffer is reused without reallocating.
//! - A message whose payload is larger than [`SMALL_READ`] gets its own buffer of exactly its
//!   length as soon as its header is seen; [`Decoder::read_from`] reads the socket directly
//!   into that buffer (the kernel's copy is the only one; `std`'s `read_to_end` fills the
//!   spare capacity without zeroing it first) and it becomes a `Bytes` without copying.
//!   A FRAME's pixel data is then a slice of that `Bytes` ([`super::decode_payload`]).
//! - A header announcing more than [`DecoderConfig::max_message_len`] is refused before any
//!   allocation, so no byte sequence makes the decoder allocate more than the cap (plus
//!   the fixed input buffer).
//!
//! Unknown kinds come out as [`RawMessage`]s like any other (so they can be counted and
//! recorded) and the stream stays in sync by their length. Framing errors (bad magic,
//! over-long message) are fatal for the stream: the caller reconnects.

use std::io::{self, Read};

use bytes::{Bytes, BytesMut};

use super::{CodecError, HEADER_LEN, Header, Kind, Message, decode_payload};

/// Default cap on one message's payload: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 64 * 1024 * 1024;
/// Reads into the shared input buffer are this large; bigger payloads get their own buffer.
pub const SMALL_READ: usize = 64 * 1024;

/// Decoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Largest payload accepted; a longer one is a [`DecodeError::TooLong`].
    pub max_message_len: u32,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
        }
    }
}

/// Fatal stream errors: after one of these the decoder refuses further input (the stream is
/// out of sync) until [`Decoder::reset`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The header's magic is wrong.
    #[error("bad magic {0:02x?} at a message boundary (expected \"GRIM\"): stream out of sync")]
    BadMagic([u8; 4]),
    /// The header announces a payload over the cap.
    #[error("{kind} message of {len} bytes exceeds the {cap}-byte cap: refused")]
    TooLong {
        /// Kind name.
        kind: String,
        /// Announced length.
        len: u32,
        /// Configured cap.
        cap: u32,
    },
    /// An earlier fatal error left the stream out of sync.
    #[error("stream already failed: {0}")]
    Failed(String),
}

/// One framed message: its header and its payload bytes (not yet interpreted).
#[derive(Clone, Debug, PartialEq)]
pub struct RawMessage {
    /// The header.
    pub header: Header,
    /// The payload (`header.length` bytes).
    pub payload: Bytes,
}

impl RawMessage {
    /// Interpret the payload. An error here is per message: the stream stays in sync.
    pub fn decode(&self) -> Result<Message, CodecError> {
        decode_payload(self.header.kind, self.payload.clone())
    }

    /// Whether the kind is one this crate does not know.
    pub fn is_unknown(&self) -> bool {
        matches!(self.header.kind, Kind::Unknown(_))
    }

    /// Total wire size (header plus payload).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// A large payload being filled.
#[derive(Debug)]
struct Pending {
    header: Header,
    body: Vec<u8>,
}

/// The incremental decoder. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    input: BytesMut,
    pending: Option<Pending>,
    failed: Option<DecodeError>,
    scratch: Box<[u8]>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DecoderConfig::default())
    }
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Decoder {
        Decoder {
            config,
            input: BytesMut::with_capacity(SMALL_READ),
            pending: None,
            failed: None,
            scratch: vec![0u8; SMALL_READ].into_boxed_slice(),
        }
    }

    /// The settings.
    pub fn config(&self) -> DecoderConfig {
        self.config
    }

    /// Forget all buffered bytes and any failure (use on a new connection).
    pub fn reset(&mut self) {
        self.input.clear();
        self.pending = None;
        self.failed = None;
    }

    /// Bytes held for incomplete messages.
    pub fn buffered(&self) -> usize {
        self.input.len() + self.pending.as_ref().map_or(0, |p| p.body.len())
    }

    /// Feed bytes (any split). Call [`Decoder::next_message`] until it returns `Ok(None)`.
    ///
    /// Bytes go to the large-payload buffer when one is being filled, else to the input
    /// buffer; the input buffer never grows beyond what one `push` adds plus a header,
    /// because [`Decoder::next_message`] drains it.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        Self::push_into(&mut self.input, &mut self.pending, data);
    }

    fn push_into(input: &mut BytesMut, pending: &mut Option<Pending>, mut data: &[u8]) {
        if let Some(p) = pending {
            let want = p.header.length as usize - p.body.len();
            let n = want.min(data.len());
            p.body.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if !data.is_empty() {
            input.extend_from_slice(data);
        }
    }

    /// Read once from `r` into the decoder (blocking as `r` does). Returns the bytes read;
    /// `Ok(0)` means end of stream. Errors are those of `r` (including read timeouts).
    pub fn read_from<R: Read>(&mut self, r: &mut R) -> io::Result<usize> {
        if let Some(p) = &mut self.pending {
            let want = (p.header.length as usize - p.body.len()) as u64;
            if want > 0 {
                let before = p.body.len();
                // read_to_end fills the Vec's spare capacity (exactly `want` bytes were
                // reserved when the header was seen) without zeroing it; `take` stops it at
                // the message end, so it never grows the buffer.
                let res = r.take(want).read_to_end(&mut p.body);
                let got = p.body.len() - before;
                return match res {
                    Ok(_) if got == 0 => Ok(0),
                    Ok(_) => Ok(got),
                    Err(_) if got > 0 => Ok(got),
                    Err(e) => Err(e),
                };
            }
        }
        let n = loop {
            match r.read(&mut self.scratch) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if self.failed.is_none() {
            Self::push_into(&mut self.input, &mut self.pending, &self.scratch[..n]);
        }
        Ok(n)
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or a fatal error.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(DecodeError::Failed(e.to_string()));
        }
        if let Some(p) = &self.pending
            && p.body.len() < p.header.length as usize
        {
            return Ok(None);
        }
        if let Some(p) = self.pending.take() {
            return Ok(Some(RawMessage {
                header: p.header,
                payload: Bytes::from(p.body),
            }));
        }
        let Some(&hb) = self.input.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = match Header::parse(&hb) {
            Ok(h) => h,
            Err(_) => {
                return Err(self.fail(DecodeError::BadMagic([hb[0], hb[1], hb[2], hb[3]])));
            }
        };
        if header.length > self.config.max_message_len {
            return Err(self.fail(DecodeError::TooLong {
                kind: header.kind.to_string(),
                len: header.length,
                cap: self.config.max_message_len,
            }));
        }
        let len = header.length as usize;
        if self.input.len() >= HEADER_LEN + len {
            bytes::Buf::advance(&mut self.input, HEADER_LEN);
            let payload = if len <= SMALL_READ {
                // Copy small payloads so they do not pin the input buffer, which is then
                // reused without reallocating.
                let p = Bytes::copy_from_slice(&self.input[..len]);
                bytes::Buf::advance(&mut self.input, len);
                p
            } else {
                self.input.split_to(len).freeze()
            };
            return Ok(Some(RawMessage { header, payload }));
        }
        if len > SMALL_READ {
            // Large payload: give it its own exact-size buffer and move what we have.
            let _ = self.input.split_to(HEADER_LEN);
            let mut body = Vec::with_capacity(len);
            body.extend_from_slice(&self.input);
            self.input.clear();
            self.pending = Some(Pending { header, body });
            if len == self.pending.as_ref().map_or(0, |p| p.body.len()) {
                return self.next_message();
            }
        }
        Ok(None)
    }

    /// Push bytes and collect every complete message (a convenience for tests and tools).
    pub fn decode_all(&mut self, data: &[u8]) -> Result<Vec<RawMessage>, DecodeError> {
        self.push(data);
        let mut out = Vec::new();
        while let Some(m) = self.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.input.clear();
        self.pending = None;
        self.failed = Some(e.clone());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grimstream::{Frame, Hello, encode};

    fn stream() -> Vec<u8> {
        let mut s = encode(&Message::Hello(Hello::new("retail_capture", None))).unwrap();
        s.extend(
            encode(&Message::Frame(Frame {
                frame_id: 1,
                host_time_ns: 2,
                telemetry_time_ns: None,
                data: Bytes::from(vec![7u8; 200_000]),
            }))
            .unwrap(),
        );
        s.extend(crate::grimstream::Header::new(Kind::Unknown(0x77), 3).to_bytes());
        s.extend([1, 2, 3]);
        s.extend(encode(&Message::Heartbeat).unwrap());
        s
    }

    #[test]
    fn every_split_gives_the_same_messages() {
        let s = stream();
        let whole = Decoder::default().decode_all(&s).unwrap();
        assert_eq!(whole.len(), 4);
        assert!(whole[2].is_unknown());
        for step in [1usize, 5, 11, 12, 13, 4096, 65_536, 100_001] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in s.chunks(step) {
                got.extend(d.decode_all(chunk).unwrap());
            }
            assert_eq!(got, whole, "split {step}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn read_from_reads_large_payloads_in_place() {
        let s = stream();
        let mut r = std::io::Cursor::new(s.clone());
        let mut d = Decoder::default();
        let mut got = Vec::new();
        while d.read_from(&mut r).unwrap() > 0 {
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, Decoder::default().decode_all(&s).unwrap());
    }

    #[test]
    fn over_cap_is_refused_before_allocating() {
        let mut d = Decoder::new(DecoderConfig {
            max_message_len: 1000,
        });
        let h = crate::grimstream::Header::new(Kind::Frame, u32::MAX).to_bytes();
        d.push(&h);
        let e = d.next_message().unwrap_err();
        assert!(e.to_string().contains("exceeds the 1000-byte cap"), "{e}");
        assert!(d.buffered() == 0);
        assert!(matches!(d.next_message(), Err(DecodeError::Failed(_))));
        d.reset();
        assert_eq!(d.decode_all(&stream()[..0]).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let mut d = Decoder::default();
        let e = d.decode_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap_err();
        assert!(matches!(e, DecodeError::BadMagic(_)), "{e}");
    }
}
