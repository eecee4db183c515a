//! YUV (BT.601, limited range, as webcams deliver it) to RGB, integer math.

/// Converts one Y/U/V triple (limited range) to RGB.
#[inline(always)]
fn yuv_px(y: u8, u: u8, v: u8) -> [u8; 3] {
    // Fixed point (<<8) BT.601: R = 1.164(Y-16) + 1.596(V-128), etc.
    let c = (i32::from(y) - 16).max(0) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// Converts the `w`×`h` region at (`x0`, `y0`) of a YUYV image (row stride `stride`)
/// into packed RGB in `out` (resized to `w*h*3`).
pub fn yuyv_to_rgb(
    src: &[u8],
    stride: usize,
    (x0, y0): (usize, usize),
    (w, h): (usize, usize),
    out: &mut Vec<u8>,
) {
    out.resize(w * h * 3, 0);
    for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
        let row = &src[(y0 + y) * stride..];
        for (x, px) in dst.chunks_exact_mut(3).enumerate() {
            let sx = x0 + x;
            let pair = &row[(sx / 2) * 4..(sx / 2) * 4 + 4];
            let luma = if sx % 2 == 0 { pair[0] } else { pair[2] };
            px.copy_from_slice(&yuv_px(luma, pair[1], pair[3]));
        }
    }
}

/// Converts the `w`×`h` region at (`x0`, `y0`) of an NV12 image of height `full_h`
/// (both planes with row stride `stride`) into packed RGB in `out`.
pub fn nv12_to_rgb(
    src: &[u8],
    stride: usize,
    full_h: usize,
    (x0, y0): (usize, usize),
    (w, h): (usize, usize),
    out: &mut Vec<u8>,
) {
    out.resize(w * h * 3, 0);
    let uv_plane = &src[stride * full_h..];
    for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
        let sy = y0 + y;
        let yrow = &src[sy * stride..];
        let uvrow = &uv_plane[(sy / 2) * stride..];
        for (x, px) in dst.chunks_exact_mut(3).enumerate() {
            let sx = x0 + x;
            let c = (sx / 2) * 2;
            px.copy_from_slice(&yuv_px(yrow[sx], uvrow[c], uvrow[c + 1]));
        }
    }
}

/// RGB to limited-range BT.601 YUV (for building test images and goldens).
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    let q = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    (q(y), q(u), q(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_round_trip() {
        for rgb in [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 255],
            [0, 0, 0],
            [200, 120, 40],
        ] {
            let (y, u, v) = rgb_to_yuv(rgb[0], rgb[1], rgb[2]);
            let back = yuv_px(y, u, v);
            for c in 0..3 {
                assert!(
                    (i32::from(back[c]) - i32::from(rgb[c])).abs() <= 3,
                    "{rgb:?} -> {back:?}"
                );
            }
        }
    }
}
