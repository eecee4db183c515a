//! Recycled byte buffers for encoded frames.
//!
//! Each JPEG leaves the encoder as a [`Bytes`] (the sender queues it and hands it to the
//! socket). A [`Bytes`] made by [`BufPool::freeze`] gives its `Vec` back to the pool when
//! its last clone is dropped, so steady streaming reuses a few buffers instead of
//! allocating (and page-faulting in) a fresh one per frame. The pool keeps at most
//! `keep` buffers; more in flight (a queue holding frames) just allocate.

use capdeck_util::lock;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// A bounded pool of byte buffers, shared with the [`Bytes`] it hands out.
#[derive(Debug)]
pub struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufPool {
    /// A pool keeping at most `keep` idle buffers.
    pub fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Vec::with_capacity(keep)),
            keep,
        })
    }

    /// An empty buffer, recycled when one is idle (its capacity kept).
    pub fn take(&self) -> Vec<u8> {
        let mut buf = lock(&self.free).pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Wraps `buf` as [`Bytes`] without a copy; the buffer comes back to this pool
    /// when the last clone of the `Bytes` is dropped.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    /// Idle buffers in the pool.
    pub fn idle(&self) -> usize {
        lock(&self.free).len()
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut free = lock(&self.free);
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_when_the_last_clone_drops() {
        let pool = BufPool::new(2);
        let mut buf = pool.take();
        buf.extend_from_slice(b"jpeg bytes");
        let cap = buf.capacity();
        let ptr = buf.as_ptr();
        let bytes = pool.freeze(buf);
        assert_eq!(&bytes[..], b"jpeg bytes");
        let clone = bytes.slice(5..);
        drop(bytes);
        assert_eq!(pool.idle(), 0, "a clone still holds it");
        assert_eq!(&clone[..], b"bytes");
        drop(clone);
        assert_eq!(pool.idle(), 1);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(
            (again.as_ptr(), again.capacity()),
            (ptr, cap),
            "same allocation"
        );
    }

    #[test]
    fn keeps_at_most_its_bound() {
        let pool = BufPool::new(1);
        let a = pool.freeze(vec![1; 8]);
        let b = pool.freeze(vec![2; 8]);
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1);
    }
}
