//! The one trait every video source implements (camera, screen, window, pattern).

use super::frame::RawFrame;

/// How a source produces frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clocking {
    /// A frame is produced when asked (screen grabs, the pattern): the pipeline asks at
    /// the target rate and nothing is captured in between.
    OnDemand,
    /// The device delivers frames at its own rate and `grab` blocks until the next one
    /// (cameras): the pipeline reads every frame so none go stale in driver queues, and
    /// forwards only those due at the target rate, without converting the others.
    Free,
}

/// A capture failure, as a status the operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source went away (window closed, device unplugged); the pipeline keeps
    /// retrying `recover` and says so in its status.
    #[error("{0}")]
    Gone(String),
    /// One frame failed; the next may work.
    #[error("{0}")]
    Transient(String),
    /// The source cannot work (permission refused, unsupported); the pipeline stops.
    #[error("{0}")]
    Fatal(String),
}

/// A video source. Created and used on the capture thread only (so it need not be
/// `Send`); the pipeline paces calls to [`FrameSource::grab`].
pub trait FrameSource {
    /// Human-readable description for status lines ("screen 0: 2560x1440", ...).
    fn describe(&self) -> String;

    /// Whether frames are produced on demand or on the device's own clock.
    fn clocking(&self) -> Clocking;

    /// The next frame. `want` is the requested output size (sources that can produce any
    /// size, like the pattern, render at it; others ignore it).
    fn grab(&mut self, want: (u32, u32)) -> Result<RawFrame, SourceError>;

    /// Tries to get the source back after [`SourceError::Gone`] (find the window again,
    /// reopen the device). Called about once a second until it succeeds.
    fn recover(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Runs a backend call that may panic (scap panics without a portal; native capture
/// libraries have been seen to) and turns a panic into a [`SourceError`].
pub fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%what, %msg, "capture backend panicked");
            Err(SourceError::Fatal(format!(
                "{what}: backend panicked: {msg}"
            )))
        }
    }
}

/// Whether a 4-byte-per-pixel or RGB frame looks entirely black (exclusive full-screen
/// games and protected content capture as black). Samples a grid, not every pixel.
pub fn looks_black(frame: &RawFrame) -> bool {
    use super::frame::PixelFormat as F;
    let bpp = match frame.format() {
        F::Bgra | F::Rgba => 4,
        F::Rgb => 3,
        _ => return false,
    };
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let data = frame.data();
    for gy in 0..16 {
        let y = gy * h / 16 + h / 32;
        for gx in 0..16 {
            let x = gx * w / 16 + w / 32;
            let i = y.min(h - 1) * frame.stride() + x.min(w - 1) * bpp;
            if data[i..i + 3].iter().any(|&c| c > 8) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::video::frame::PixelFormat;

    #[test]
    fn guarded_turns_panics_into_errors() {
        let r: Result<(), _> = guarded("test backend", || panic!("no portal"));
        assert!(matches!(r, Err(SourceError::Fatal(m)) if m.contains("no portal")));
        assert_eq!(guarded("ok", || Ok(3)), Ok(3));
    }

    #[test]
    fn black_detection() {
        let black = RawFrame::packed(32, 32, PixelFormat::Bgra, vec![0u8; 32 * 32 * 4]).unwrap();
        assert!(looks_black(&black));
        let mut d = vec![0u8; 32 * 32 * 4];
        d[(20 * 32 + 20) * 4 + 1] = 200;
        // One lit pixel off the grid still counts as black; a lit grid point does not.
        let mut d2 = d.clone();
        let x = 1; // first grid point: w/32
        d2[(x * 32 + x) * 4] = 200;
        assert!(looks_black(
            &RawFrame::packed(32, 32, PixelFormat::Bgra, d).unwrap()
        ));
        assert!(!looks_black(
            &RawFrame::packed(32, 32, PixelFormat::Bgra, d2).unwrap()
        ));
    }
}
