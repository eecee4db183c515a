//! The one trait every video source implements (camera, screen, window, pattern).

use capdeck_util::{lock, wait_timeout};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Hands frames from a backend that pushes them on its own clock (scap's reader thread)
/// to a paced [`FrameSource::grab`]: only the newest frame is kept, and when nothing new
/// arrived since the last grab (backends send nothing while the picture is still), the
/// last frame is handed out again with a fresh capture timestamp, so the pipeline keeps
/// its rate.
#[derive(Default)]
pub struct FrameRelay {
    state: Mutex<RelayState>,
    arrived: Condvar,
}

#[derive(Default)]
struct RelayState {
    /// Newest frame not yet handed out.
    fresh: Option<RawFrame>,
    /// The last frame handed out (repeated while nothing new arrives).
    last: Option<RawFrame>,
    /// Why the stream ended, once it has.
    ended: Option<SourceError>,
    /// The backend's last frame that could not be used, if any.
    bad: Option<String>,
    /// Frames pushed, and frames replaced before anyone took them.
    pushed: u64,
    replaced: u64,
}

/// Counters of a [`FrameRelay`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Frames the backend delivered.
    pub pushed: u64,
    /// Delivered frames replaced by a newer one before a grab took them.
    pub replaced: u64,
}

impl FrameRelay {
    fn lock(&self) -> MutexGuard<'_, RelayState> {
        lock(&self.state)
    }

    /// A new frame from the backend (replaces one not yet taken).
    pub fn push(&self, frame: RawFrame) {
        let mut s = self.lock();
        s.pushed += 1;
        if s.fresh.replace(frame).is_some() {
            s.replaced += 1;
        }
        drop(s);
        self.arrived.notify_all();
    }

    /// The backend sent a frame that could not be used.
    pub fn push_bad(&self, why: String) {
        self.lock().bad = Some(why);
    }

    /// The stream ended; every later [`FrameRelay::next`] returns `why`.
    pub fn end(&self, why: SourceError) {
        self.lock().ended = Some(why);
        self.arrived.notify_all();
    }

    /// Counters so far.
    pub fn counts(&self) -> RelayCounts {
        let s = self.lock();
        RelayCounts {
            pushed: s.pushed,
            replaced: s.replaced,
        }
    }

    /// The newest frame, or the last one again, stamped now. Before the first frame
    /// waits up to `first_wait` for one.
    pub fn next(&self, first_wait: Duration) -> Result<RawFrame, SourceError> {
        let t = Instant::now();
        let mut s = self.lock();
        if s.last.is_none() {
            let deadline = t + first_wait;
            while s.fresh.is_none() && s.ended.is_none() {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                s = wait_timeout(&self.arrived, s, deadline - now);
            }
        }
        if let Some(e) = &s.ended {
            return Err(e.clone());
        }
        let mut frame = match (s.fresh.take(), &s.last) {
            (Some(new), _) => new,
            (None, Some(last)) => last.clone(),
            (None, None) => {
                return Err(SourceError::Transient(s.bad.take().unwrap_or_else(|| {
                    "the capture backend has not delivered a frame yet".into()
                })));
            }
        };
        // Stamped now: the backend sends a frame whenever the picture changes, so the
        // newest one shows the source as it is at this moment.
        frame.captured_at = Instant::now();
        frame.ts_ms = super::unix_ms();
        frame.capture_us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        s.last = Some(frame.clone()); // shares the pixels (Bytes), no copy
        Ok(frame)
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
#[allow(clippy::disallowed_methods)] // test threads need no names (clippy.toml)
mod tests {
    use super::*;
    use crate::video::frame::PixelFormat;

    #[test]
    fn guarded_turns_panics_into_errors() {
        let r: Result<(), _> = guarded("test backend", || panic!("no portal"));
        assert!(matches!(r, Err(SourceError::Fatal(m)) if m.contains("no portal")));
        assert_eq!(guarded("ok", || Ok(3)), Ok(3));
    }

    #[test]
    fn relay_hands_out_newest_then_repeats_with_fresh_stamps() {
        let relay = FrameRelay::default();
        let frame = |v: u8| RawFrame::packed(2, 2, PixelFormat::Bgra, vec![v; 16]).unwrap();
        // Nothing yet: a short wait, then a clear transient error.
        let e = relay.next(Duration::from_millis(10)).unwrap_err();
        assert!(matches!(e, SourceError::Transient(m) if m.contains("not delivered")));
        relay.push(frame(1));
        relay.push(frame(2));
        let a = relay.next(Duration::ZERO).unwrap();
        assert_eq!(a.data()[0], 2, "newest wins");
        assert_eq!(
            relay.counts(),
            RelayCounts {
                pushed: 2,
                replaced: 1
            }
        );
        // Still picture: the same pixels again, stamped later.
        std::thread::sleep(Duration::from_millis(5));
        let b = relay.next(Duration::ZERO).unwrap();
        assert_eq!(b.data(), a.data());
        assert!(b.captured_at > a.captured_at);
        assert_eq!(
            b.bytes().as_ptr(),
            a.bytes().as_ptr(),
            "repeat shares the pixels"
        );
        relay.push(frame(3));
        assert_eq!(relay.next(Duration::ZERO).unwrap().data()[0], 3);
        relay.end(SourceError::Gone("window closed".into()));
        assert_eq!(
            relay.next(Duration::ZERO).unwrap_err(),
            SourceError::Gone("window closed".into())
        );
    }

    #[test]
    fn relay_first_frame_wakes_a_waiting_grab() {
        let relay = std::sync::Arc::new(FrameRelay::default());
        let r2 = relay.clone();
        let h = std::thread::spawn(move || r2.next(Duration::from_secs(10)));
        relay.push(RawFrame::packed(2, 2, PixelFormat::Bgra, vec![7; 16]).unwrap());
        assert_eq!(h.join().unwrap().unwrap().data()[0], 7);
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
