//! The synthetic moving test pattern, with the frame number drawn in by a tiny built-in
//! bitmap font. It is a [`FrameSource`] like any other and goes through the same path.

use std::time::Instant;

use super::frame::{PixelFormat, RawFrame};
use super::source::{Clocking, FrameSource, SourceError};

/// Glyph width of the digit font, in font pixels.
pub const GLYPH_W: usize = 5;
/// Glyph height of the digit font, in font pixels.
pub const GLYPH_H: usize = 7;
/// Number of digits drawn (the frame number modulo 10^DIGITS, zero-padded).
pub const DIGITS: usize = 6;

/// 5x7 digits 0-9; each row's low 5 bits, most significant bit leftmost.
pub const FONT: [[u8; GLYPH_H]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
];

/// Where the digits go in a `w`×`h` frame: top-left corner and font-pixel size.
/// Digits are `GLYPH_W` cells wide with one blank cell between them, on a white box
/// with a one-cell margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitLayout {
    /// Left edge of the first glyph.
    pub x0: usize,
    /// Top edge of the glyphs.
    pub y0: usize,
    /// Screen pixels per font pixel.
    pub cell: usize,
}

impl DigitLayout {
    /// The layout for a frame size.
    pub fn for_size(w: u32, h: u32) -> Self {
        let text_cells = DIGITS * (GLYPH_W + 1) + 1;
        let cell = (h as usize / 24).min(w as usize / (text_cells + 2)).max(1);
        Self {
            x0: cell * 2,
            y0: cell * 2,
            cell,
        }
    }

    /// Left edge of digit `i`.
    pub fn digit_x(&self, i: usize) -> usize {
        self.x0 + i * (GLYPH_W + 1) * self.cell
    }
}

/// Frame `n` of the pattern as a JPEG at `quality` (previews, tests, benchmarks).
pub fn jpeg(n: u64, w: u32, h: u32, quality: u8) -> Result<Vec<u8>, super::encode::EncodeError> {
    let mut rgb = Vec::new();
    render(n, w, h, &mut rgb);
    let mut out = Vec::new();
    super::encode::encode_jpeg(
        &rgb,
        w,
        h,
        super::scale::PixelOrder::Rgb,
        &super::encode::JpegSettings::for_quality(quality),
        &mut out,
    )?;
    Ok(out)
}

/// Draws the moving pattern for frame `n` into packed RGB `out` (resized to `w*h*3`).
pub fn render(n: u64, w: u32, h: u32, out: &mut Vec<u8>) {
    let (wu, hu) = (w as usize, h as usize);
    out.resize(wu * hu * 3, 0);
    let shift = (n as usize).wrapping_mul(6);
    // Background: diagonal colour gradient scrolling with the frame number.
    for (y, row) in out.chunks_exact_mut(wu * 3).enumerate() {
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let r = ((x + shift) * 255 / wu.max(1)) as u8;
            let g = (y * 255 / hu.max(1)) as u8;
            let b = ((x + y + shift) / 2) as u8;
            px.copy_from_slice(&[r, g, b]);
        }
    }
    // A bouncing block, so motion is visible even on a still gradient.
    let bs = (hu / 6).max(2);
    let span_x = wu.saturating_sub(bs).max(1);
    let span_y = hu.saturating_sub(bs).max(1);
    let bounce = |t: usize, span: usize| {
        let p = t % (2 * span);
        if p < span { p } else { 2 * span - p }
    };
    let bx = bounce(n as usize * 17, span_x);
    let by = bounce(n as usize * 11, span_y);
    fill(out, wu, (bx, by), (bs, bs), [255, 255, 0]);

    // The frame number, black on white.
    let lay = DigitLayout::for_size(w, h);
    let text_w = (DIGITS * (GLYPH_W + 1) + 1) * lay.cell;
    let text_h = (GLYPH_H + 2) * lay.cell;
    fill(
        out,
        wu,
        (lay.x0 - lay.cell, lay.y0 - lay.cell),
        (text_w, text_h),
        [255, 255, 255],
    );
    let mut v = n;
    let mut digits = [0usize; DIGITS];
    for d in digits.iter_mut().rev() {
        *d = (v % 10) as usize;
        v /= 10;
    }
    for (i, &d) in digits.iter().enumerate() {
        for (gy, bits) in FONT[d].iter().enumerate() {
            for gx in 0..GLYPH_W {
                if bits & (0x10 >> gx) != 0 {
                    fill(
                        out,
                        wu,
                        (lay.digit_x(i) + gx * lay.cell, lay.y0 + gy * lay.cell),
                        (lay.cell, lay.cell),
                        [0, 0, 0],
                    );
                }
            }
        }
    }
}

/// Fills a rectangle (clipped to the image) with one colour.
fn fill(out: &mut [u8], w: usize, (x, y): (usize, usize), (rw, rh): (usize, usize), c: [u8; 3]) {
    let h = out.len() / (w * 3).max(1);
    for yy in y.min(h)..(y + rh).min(h) {
        let row = &mut out[yy * w * 3..(yy + 1) * w * 3];
        for xx in x.min(w)..(x + rw).min(w) {
            row[xx * 3..xx * 3 + 3].copy_from_slice(&c);
        }
    }
}

/// Reads the frame number back from a decoded RGB image drawn by [`render`] (for tests
/// and for checking a receiver end to end). `None` when a glyph is not recognised.
pub fn read_number(rgb: &[u8], w: u32, h: u32) -> Option<u64> {
    let lay = DigitLayout::for_size(w, h);
    let wu = w as usize;
    let mut n = 0u64;
    for i in 0..DIGITS {
        let mut glyph = [0u8; GLYPH_H];
        for (gy, row) in glyph.iter_mut().enumerate() {
            for gx in 0..GLYPH_W {
                let cx = lay.digit_x(i) + gx * lay.cell + lay.cell / 2;
                let cy = lay.y0 + gy * lay.cell + lay.cell / 2;
                let p = rgb.get((cy * wu + cx) * 3..(cy * wu + cx) * 3 + 3)?;
                let luma = (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3;
                if luma < 128 {
                    *row |= 0x10 >> gx;
                }
            }
        }
        let d = FONT.iter().position(|g| *g == glyph)?;
        n = n * 10 + d as u64;
    }
    Some(n)
}

/// The pattern as a source: renders at the requested size, so nothing is scaled.
#[derive(Debug, Default)]
pub struct PatternSource {
    n: u64,
}

impl PatternSource {
    /// A pattern starting at frame 0.
    pub fn new() -> Self {
        Self::default()
    }
}

impl FrameSource for PatternSource {
    fn describe(&self) -> String {
        "test pattern".into()
    }

    fn clocking(&self) -> Clocking {
        Clocking::OnDemand
    }

    fn grab(&mut self, want: (u32, u32)) -> Result<RawFrame, SourceError> {
        let t = Instant::now();
        let mut buf = Vec::new();
        render(self.n, want.0, want.1, &mut buf);
        self.n += 1;
        let mut f = RawFrame::packed(want.0, want.1, PixelFormat::Rgb, buf)
            .map_err(|e| SourceError::Fatal(e.to_string()))?;
        f.capture_us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_round_trips_and_pattern_moves() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        render(123_456, 640, 480, &mut a);
        render(123_457, 640, 480, &mut b);
        assert_eq!(read_number(&a, 640, 480), Some(123_456));
        assert_eq!(read_number(&b, 640, 480), Some(123_457));
        assert_ne!(a, b);
        // Tiny frames do not panic.
        render(7, 16, 16, &mut a);
        render(7, 1, 1, &mut a);
    }
}
