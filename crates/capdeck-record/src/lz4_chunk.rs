//! The lz4 chunk decompressor every read uses: liblz4's frame decoder, as the mcap crate's
//! own, but without re-checking the lz4 frame's content checksum. The frames the writer
//! makes carry an XXH32 of their content (the lz4 crate's default, which the mcap crate's
//! writer keeps), and each MCAP chunk also carries the CRC32 of its uncompressed bytes,
//! which the reader checks ([`super::reader`]'s `with_validate_chunk_crcs`). Checking both
//! made XXH32 two thirds of the CPU time of opening a recording (perf, the `record` bench);
//! the CRC alone still turns a flipped byte into a gap.

use std::ptr;

use lz4::liblz4::{
    LZ4F_VERSION, LZ4F_createDecompressionContext, LZ4F_decompress, LZ4F_freeDecompressionContext,
    LZ4F_resetDecompressionContext, LZ4FDecompressOptions, LZ4FDecompressionContext, check_error,
};
use mcap::McapResult;
use mcap::sans_io::decompressor::{DecompressResult, Decompressor};

/// The smallest lz4 frame: the read hint before the first call of a chunk.
const MIN_FRAME: usize = 13;

/// Decompression options: liblz4 (1.9.4 and later; the lz4-sys crate vendors 1.10.0)
/// names the first of the three words lz4-sys calls `reserved` `skipChecksums`.
const SKIP_CHECKSUMS: LZ4FDecompressOptions = LZ4FDecompressOptions {
    stable_dst: 0,
    reserved: [1, 0, 0],
};

/// An lz4 [`Decompressor`] that leaves checking to the chunk's CRC.
pub struct Lz4Chunks {
    /// Null until first used.
    ctx: LZ4FDecompressionContext,
    hint: usize,
}

// SAFETY: the context is owned by this value alone and used by one thread at a time
// (`Decompressor` needs `Send`, not `Sync`).
unsafe impl Send for Lz4Chunks {}

impl Lz4Chunks {
    /// A decoder (its liblz4 context is made on first use).
    pub fn new() -> Lz4Chunks {
        Lz4Chunks {
            ctx: LZ4FDecompressionContext(ptr::null_mut()),
            hint: MIN_FRAME,
        }
    }
}

impl Default for Lz4Chunks {
    fn default() -> Self {
        Lz4Chunks::new()
    }
}

impl Drop for Lz4Chunks {
    fn drop(&mut self) {
        if !self.ctx.0.is_null() {
            // SAFETY: made by LZ4F_createDecompressionContext, freed once.
            unsafe { LZ4F_freeDecompressionContext(self.ctx) };
        }
    }
}

impl Decompressor for Lz4Chunks {
    fn next_read_size(&self) -> usize {
        self.hint
    }

    fn decompress(&mut self, src: &[u8], dst: &mut [u8]) -> McapResult<DecompressResult> {
        if self.ctx.0.is_null() {
            let mut ctx = LZ4FDecompressionContext(ptr::null_mut());
            // SAFETY: liblz4 writes the new context through the pointer.
            check_error(unsafe { LZ4F_createDecompressionContext(&mut ctx, LZ4F_VERSION) })?;
            self.ctx = ctx;
        }
        let (mut wrote, mut consumed) = (dst.len(), src.len());
        // SAFETY: the sizes passed are the buffers' own; liblz4 reads at most `consumed`
        // bytes of `src`, writes at most `wrote` bytes of `dst` and reports both back.
        let hint = check_error(unsafe {
            LZ4F_decompress(
                self.ctx,
                dst.as_mut_ptr(),
                &mut wrote,
                src.as_ptr(),
                &mut consumed,
                &SKIP_CHECKSUMS,
            )
        })?;
        self.hint = hint;
        Ok(DecompressResult { consumed, wrote })
    }

    fn reset(&mut self) -> McapResult<()> {
        self.hint = MIN_FRAME;
        if !self.ctx.0.is_null() {
            // SAFETY: a live context.
            unsafe { LZ4F_resetDecompressionContext(self.ctx) };
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "lz4"
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn frame(data: &[u8]) -> Vec<u8> {
        let mut e = lz4::EncoderBuilder::new()
            .build(Vec::new())
            .expect("an encoder");
        e.write_all(data).expect("compressed");
        let (out, r) = e.finish();
        r.expect("finished");
        out
    }

    fn decode(d: &mut Lz4Chunks, src: &[u8], len: usize) -> McapResult<Vec<u8>> {
        let mut out = vec![0u8; len];
        let (mut at_in, mut at_out) = (0, 0);
        while at_out < len {
            let r = d.decompress(&src[at_in..], &mut out[at_out..])?;
            assert!(r.consumed + r.wrote > 0, "progress");
            at_in += r.consumed;
            at_out += r.wrote;
        }
        Ok(out)
    }

    /// Decodes what the lz4 crate (as the mcap writer configures it) encodes, over several
    /// chunks with a reset between, and does not fail on a frame whose content checksum
    /// is wrong: checking is the chunk CRC's job.
    #[test]
    fn decodes_frames_and_leaves_the_content_checksum_to_the_crc() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        let f = frame(&data);
        let mut d = Lz4Chunks::new();
        assert_eq!(decode(&mut d, &f, data.len()).unwrap(), data);
        d.reset().unwrap();
        // the last 4 bytes of the frame are the XXH32 of its content
        let mut bad = f.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        assert_eq!(decode(&mut d, &bad, data.len()).unwrap(), data);
        d.reset().unwrap();
        // damaged compressed bytes are still an error or different bytes (the CRC's catch)
        let mut broken = f;
        broken[20] ^= 0xFF;
        if let Ok(out) = decode(&mut d, &broken, data.len()) {
            assert_ne!(out, data);
        }
    }
}
