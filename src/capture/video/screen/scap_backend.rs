//! Windows and macOS screens and windows via scap (Windows Graphics Capture,
//! ScreenCaptureKit). scap streams frames on its own clock (and ignores the frame rate
//! on Windows), so this source is [`Clocking::Free`]: the pipeline reads every frame and
//! forwards only the ones due. Frames are requested as BGRA and wrapped without a copy.
//!
//! Not built on the Linux CI machines: kept small, with every scap call guarded.

use super::{ScreenInfo, WindowInfo, pick_window, window_not_found};
use crate::capture::video::VideoError;
use crate::capture::video::frame::{PixelFormat, RawFrame};
use crate::capture::video::source::{Clocking, FrameSource, SourceError, guarded};

pub const NAME: &str = "scap";

fn guard_open<T>(what: &str, f: impl FnOnce() -> Result<T, VideoError>) -> Result<T, VideoError> {
    let mut out = None;
    let r = guarded(what, || {
        out = Some(f());
        Ok(())
    });
    match (r, out) {
        (Ok(()), Some(v)) => v,
        (Err(e), _) => Err(VideoError::Backend(e.to_string())),
        (Ok(()), None) => Err(VideoError::Backend(format!("{what}: no result"))),
    }
}

fn check_backend() -> Result<(), VideoError> {
    if !scap::is_supported() {
        return Err(VideoError::Unsupported(
            "screen capture is not supported on this system (Windows 10 1903+ or \
             macOS 12.3+ needed)"
                .into(),
        ));
    }
    if !scap::has_permission() && !scap::request_permission() {
        return Err(VideoError::Backend(
            "permission to record the screen was refused: allow capdeck in System \
             Settings > Privacy & Security > Screen Recording, then restart it"
                .into(),
        ));
    }
    Ok(())
}

fn displays() -> Vec<scap::Target> {
    scap::get_all_targets()
        .into_iter()
        .filter(|t| matches!(t, scap::Target::Display(_)))
        .collect()
}

fn titled_windows() -> Vec<(scap::Target, String)> {
    scap::get_all_targets()
        .into_iter()
        .filter_map(|t| match &t {
            scap::Target::Window(w) if !w.title.is_empty() => {
                let title = w.title.clone();
                Some((t, title))
            }
            _ => None,
        })
        .collect()
}

pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
    guard_open("listing screens", || {
        check_backend()?;
        Ok(displays()
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let (w, h) = scap::get_target_dimensions(t);
                let name = match t {
                    scap::Target::Display(d) => d.title.clone(),
                    scap::Target::Window(w) => w.title.clone(),
                };
                ScreenInfo {
                    index,
                    name,
                    width: w as u32,
                    height: h as u32,
                    primary: index == 0,
                }
            })
            .collect())
    })
}

pub fn windows() -> Result<Vec<WindowInfo>, VideoError> {
    guard_open("listing windows", || {
        check_backend()?;
        Ok(titled_windows()
            .iter()
            .map(|(t, title)| {
                let (w, h) = scap::get_target_dimensions(t);
                WindowInfo {
                    title: title.clone(),
                    app: String::new(),
                    width: w as u32,
                    height: h as u32,
                }
            })
            .collect())
    })
}

fn build(target: scap::Target, desc: String) -> Result<Box<dyn FrameSource>, VideoError> {
    let options = scap::capturer::Options {
        fps: 30,
        show_cursor: true,
        show_highlight: false,
        target: Some(target),
        crop_area: None,
        output_type: scap::frame::FrameType::BGRAFrame,
        output_resolution: scap::capturer::Resolution::Captured,
        excluded_targets: None,
    };
    let mut capturer = scap::capturer::Capturer::build(options)
        .map_err(|e| VideoError::Backend(format!("cannot start screen capture: {e}")))?;
    capturer.start_capture();
    Ok(Box::new(ScapSource { capturer, desc }))
}

pub fn open_screen(index: Option<usize>) -> Result<Box<dyn FrameSource>, VideoError> {
    guard_open("opening screen", || {
        check_backend()?;
        let all = displays();
        let i = index.unwrap_or(0);
        let n = all.len();
        let target = all
            .into_iter()
            .nth(i)
            .ok_or_else(|| VideoError::NotFound(format!("no screen {i}: {n} screen(s) found")))?;
        build(target, format!("screen {i} (scap)"))
    })
}

pub fn open_window(query: &str) -> Result<Box<dyn FrameSource>, VideoError> {
    guard_open("opening window", || {
        check_backend()?;
        let all = titled_windows();
        let titles: Vec<String> = all.iter().map(|(_, t)| t.clone()).collect();
        let i = pick_window(titles.iter().map(String::as_str), query)
            .ok_or_else(|| window_not_found(query, &titles))?;
        let (target, title) = all.into_iter().nth(i).expect("index from list");
        build(target, format!("window {title:?} (scap)"))
    })
}

struct ScapSource {
    capturer: scap::capturer::Capturer,
    desc: String,
}

impl Drop for ScapSource {
    fn drop(&mut self) {
        let c = &mut self.capturer;
        let _ = guarded("screen capture stop", || {
            c.stop_capture();
            Ok(())
        });
    }
}

impl FrameSource for ScapSource {
    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn clocking(&self) -> Clocking {
        Clocking::Free
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        let capturer = &self.capturer;
        guarded("screen capture", || {
            let frame = capturer.get_next_frame().map_err(|_| {
                SourceError::Fatal("screen capture ended (window closed or capture revoked)".into())
            })?;
            use scap::frame::Frame;
            let (w, h, format, data) = match frame {
                Frame::BGRA(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
                Frame::BGRx(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
                Frame::BGR0(f) => (f.width, f.height, PixelFormat::Bgra, f.data),
                Frame::RGBx(f) => (f.width, f.height, PixelFormat::Rgba, f.data),
                Frame::RGB(f) => (f.width, f.height, PixelFormat::Rgb, f.data),
                _ => {
                    return Err(SourceError::Transient(
                        "screen capture sent an unsupported pixel format".into(),
                    ));
                }
            };
            let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
            // Rows may be padded: derive the stride from the buffer length.
            let stride = if h > 0 { data.len() / h as usize } else { 0 };
            RawFrame::new(w, h, stride, format, data)
                .map_err(|e| SourceError::Transient(format!("bad frame from scap: {e}")))
        })
    }
}
