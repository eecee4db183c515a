//! Linux screens and windows via xcap (X11 through xcb, Wayland through wlr-screencopy
//! or the portal). xcap hands back packed RGBA, which becomes a [`RawFrame`] without a
//! copy.
//!
//! On X11, frames are grabbed through a faster path beside xcap ([`X11Grabber`]): xcap
//! 0.7 opens a new X connection for every capture and converts every pixel through a
//! function pointer (tens of milliseconds per 1440p frame); the grabber keeps one
//! connection and hands the server's 32-bit little-endian ZPixmap (BGRX) straight to
//! the pipeline as BGRA. xcap still finds monitors and windows, and captures whenever
//! the fast path does not apply (Wayland, unusual visuals).

use std::time::{Duration, Instant};

use super::{ScreenInfo, WindowInfo, pick_window, window_not_found};
use crate::video::VideoError;
use crate::video::frame::{PixelFormat, RawFrame};
use crate::video::source::{Clocking, FrameSource, SourceError, guarded};

pub const NAME: &str = "xcap";

fn backend_err(what: &str, e: impl std::fmt::Display) -> VideoError {
    VideoError::Backend(format!(
        "{what}: {e} (is DISPLAY or WAYLAND_DISPLAY set to a running session?)"
    ))
}

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

fn monitors() -> Result<Vec<xcap::Monitor>, VideoError> {
    xcap::Monitor::all().map_err(|e| backend_err("cannot list screens", e))
}

pub fn screens() -> Result<Vec<ScreenInfo>, VideoError> {
    guard_open("listing screens", || {
        Ok(monitors()?
            .iter()
            .enumerate()
            .map(|(index, m)| ScreenInfo {
                index,
                name: m.name().unwrap_or_default(),
                width: m.width().unwrap_or(0),
                height: m.height().unwrap_or(0),
                primary: m.is_primary().unwrap_or(false),
            })
            .collect())
    })
}

/// Windows with a title that are not minimised, topmost first.
fn titled_windows() -> Result<Vec<(xcap::Window, String)>, VideoError> {
    let all = xcap::Window::all().map_err(|e| backend_err("cannot list windows", e))?;
    Ok(all
        .into_iter()
        .filter_map(|w| {
            let title = w.title().ok()?;
            (!title.is_empty()).then_some((w, title))
        })
        .collect())
}

pub fn windows() -> Result<Vec<WindowInfo>, VideoError> {
    guard_open("listing windows", || {
        Ok(titled_windows()?
            .into_iter()
            .map(|(w, title)| WindowInfo {
                app: w.app_name().unwrap_or_default(),
                width: w.width().unwrap_or(0),
                height: w.height().unwrap_or(0),
                title,
            })
            .collect())
    })
}

fn pick_monitor(index: Option<usize>) -> Result<(usize, xcap::Monitor), VideoError> {
    let all = monitors()?;
    if all.is_empty() {
        return Err(VideoError::NotFound("no screens found".into()));
    }
    let i = match index {
        Some(i) if i < all.len() => i,
        Some(i) => {
            return Err(VideoError::NotFound(format!(
                "no screen {i}: {} screen(s) found (screen:0..screen:{})",
                all.len(),
                all.len() - 1
            )));
        }
        None => all
            .iter()
            .position(|m| m.is_primary().unwrap_or(false))
            .unwrap_or(0),
    };
    let m = all
        .into_iter()
        .nth(i)
        .ok_or_else(|| VideoError::NotFound(format!("no screen {i}")))?;
    Ok((i, m))
}

pub fn open_screen(index: Option<usize>) -> Result<Box<dyn FrameSource>, VideoError> {
    guard_open("opening screen", || {
        let (index, monitor) = pick_monitor(index)?;
        Ok(Box::new(ScreenSource {
            index,
            name: monitor.name().unwrap_or_default(),
            monitor,
            x11: X11Grabber::connect(),
            geometry: None,
        }) as Box<dyn FrameSource>)
    })
}

fn find_window(query: &str) -> Result<(xcap::Window, String), VideoError> {
    let all = titled_windows()?;
    let titles: Vec<String> = all.iter().map(|(_, t)| t.clone()).collect();
    pick_window(titles.iter().map(String::as_str), query)
        .and_then(|i| all.into_iter().nth(i))
        .ok_or_else(|| window_not_found(query, &titles))
}

pub fn open_window(query: &str) -> Result<Box<dyn FrameSource>, VideoError> {
    guard_open("opening window", || {
        let (window, title) = find_window(query)?;
        Ok(Box::new(WindowSource {
            query: query.to_owned(),
            id: window.id().unwrap_or(0),
            window,
            title,
            x11: X11Grabber::connect(),
        }) as Box<dyn FrameSource>)
    })
}

/// Persistent X11 connection grabbing 32-bit ZPixmaps as BGRA.
struct X11Grabber {
    conn: xcb::Connection,
    root: xcb::x::Window,
}

/// A fast-path failure: either the path does not apply here (fall back to xcap for
/// good) or this capture failed (the window may be gone).
enum GrabError {
    Unsupported(String),
    Failed(String),
}

impl X11Grabber {
    fn connect() -> Option<Self> {
        let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
            || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland");
        if wayland {
            return None;
        }
        let (conn, screen) = xcb::Connection::connect(None).ok()?;
        let root = conn
            .get_setup()
            .roots()
            .nth(usize::try_from(screen).ok()?)?
            .root();
        Some(Self { conn, root })
    }

    fn window(id: u32) -> xcb::x::Window {
        use xcb::XidNew;
        xcb::x::Window::new(id)
    }

    /// Size of a window now (it may have been resized).
    fn size(&self, window: xcb::x::Window) -> Result<(u16, u16), GrabError> {
        let c = self.conn.send_request(&xcb::x::GetGeometry {
            drawable: xcb::x::Drawable::Window(window),
        });
        let r = self
            .conn
            .wait_for_reply(c)
            .map_err(|e| GrabError::Failed(e.to_string()))?;
        Ok((r.width(), r.height()))
    }

    fn grab(
        &self,
        window: xcb::x::Window,
        (x, y): (i16, i16),
        (w, h): (u16, u16),
    ) -> Result<RawFrame, GrabError> {
        use xcb::x;
        if w == 0 || h == 0 {
            return Err(GrabError::Failed("empty area".into()));
        }
        let c = self.conn.send_request(&x::GetImage {
            format: x::ImageFormat::ZPixmap,
            drawable: x::Drawable::Window(window),
            x,
            y,
            width: w,
            height: h,
            plane_mask: u32::MAX,
        });
        let reply = self
            .conn
            .wait_for_reply(c)
            .map_err(|e| GrabError::Failed(e.to_string()))?;
        let setup = self.conn.get_setup();
        let depth = reply.depth();
        let bpp = setup
            .pixmap_formats()
            .iter()
            .find(|f| f.depth() == depth)
            .map(|f| f.bits_per_pixel());
        if !matches!(depth, 24 | 32)
            || bpp != Some(32)
            || setup.image_byte_order() != x::ImageOrder::LsbFirst
        {
            return Err(GrabError::Unsupported(format!(
                "X visual depth {depth}, {bpp:?} bits per pixel"
            )));
        }
        let stride = reply.data().len() / usize::from(h);
        // The frame keeps the reply alive and reads its pixels in place (no copy).
        RawFrame::new(
            u32::from(w),
            u32::from(h),
            stride,
            PixelFormat::Bgra,
            bytes::Bytes::from_owner(ImageReply(reply)),
        )
        .map_err(|e| GrabError::Failed(e.to_string()))
    }
}

/// An X server image reply, owning the pixels a [`RawFrame`] reads.
struct ImageReply(xcb::x::GetImageReply);

impl AsRef<[u8]> for ImageReply {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

fn to_frame(img: xcap::image::RgbaImage) -> Result<RawFrame, SourceError> {
    let (w, h) = (img.width(), img.height());
    RawFrame::packed(w, h, PixelFormat::Rgba, img.into_raw())
        .map_err(|e| SourceError::Transient(format!("capture returned a bad image: {e}")))
}

struct ScreenSource {
    index: usize,
    name: String,
    monitor: xcap::Monitor,
    x11: Option<X11Grabber>,
    /// The monitor's position and size for the X11 grab, and when they were read.
    geometry: Option<(Geometry, Instant)>,
}

/// Position and size of an area on the X11 root window.
type Geometry = ((i16, i16), (u16, u16));

/// How often a screen's position and size are read again (monitors rarely move).
const GEOMETRY_REFRESH: Duration = Duration::from_secs(2);

fn monitor_geometry(m: &xcap::Monitor) -> Geometry {
    let pos = (m.x().unwrap_or(0) as i16, m.y().unwrap_or(0) as i16);
    let size = (
        m.width().unwrap_or(0).min(u32::from(u16::MAX)) as u16,
        m.height().unwrap_or(0).min(u32::from(u16::MAX)) as u16,
    );
    (pos, size)
}

impl FrameSource for ScreenSource {
    fn describe(&self) -> String {
        format!(
            "screen {} ({}, {}x{}, xcap)",
            self.index,
            self.name,
            self.monitor.width().unwrap_or(0),
            self.monitor.height().unwrap_or(0)
        )
    }

    fn clocking(&self) -> Clocking {
        Clocking::OnDemand
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        if self.x11.is_some() {
            // xcap asks the server for the monitor list and the DPI on every geometry
            // call: look the geometry up every few seconds, not every frame.
            let stale = self
                .geometry
                .is_none_or(|(_, at)| at.elapsed() >= GEOMETRY_REFRESH);
            if stale {
                self.geometry = Some((monitor_geometry(&self.monitor), Instant::now()));
            }
        }
        if let (Some(g), Some(((pos, size), _))) = (&self.x11, self.geometry) {
            match g.grab(g.root, pos, size) {
                Ok(f) => return Ok(f),
                Err(GrabError::Unsupported(why)) => {
                    tracing::info!(%why, "X11 fast path off; capturing through xcap");
                    self.x11 = None;
                }
                Err(GrabError::Failed(e)) => {
                    tracing::debug!(%e, "X11 grab failed; trying xcap");
                    self.geometry = None;
                }
            }
        }
        guarded("screen capture", || {
            let img = self.monitor.capture_image().map_err(|e| {
                // A monitor that vanished from the list is gone; anything else may pass.
                match monitors() {
                    Ok(all) if all.len() <= self.index => {
                        SourceError::Gone(format!("screen {} was disconnected", self.index))
                    }
                    _ => SourceError::Transient(format!("screen capture failed: {e}")),
                }
            })?;
            to_frame(img)
        })
    }

    fn recover(&mut self) -> Result<(), SourceError> {
        guarded("screen reopen", || {
            let (_, m) =
                pick_monitor(Some(self.index)).map_err(|e| SourceError::Gone(e.to_string()))?;
            self.monitor = m;
            self.geometry = None;
            Ok(())
        })
    }
}

struct WindowSource {
    query: String,
    id: u32,
    title: String,
    window: xcap::Window,
    x11: Option<X11Grabber>,
}

impl WindowSource {
    fn still_listed(&self) -> bool {
        xcap::Window::all()
            .map(|all| all.iter().any(|w| w.id().ok() == Some(self.id)))
            .unwrap_or(false)
    }
}

impl FrameSource for WindowSource {
    fn describe(&self) -> String {
        format!(
            "window {:?} ({}x{}, xcap)",
            self.title,
            self.window.width().unwrap_or(0),
            self.window.height().unwrap_or(0)
        )
    }

    fn clocking(&self) -> Clocking {
        Clocking::OnDemand
    }

    fn grab(&mut self, _want: (u32, u32)) -> Result<RawFrame, SourceError> {
        guarded("window capture", || {
            if self.window.is_minimized().unwrap_or(false) {
                return Err(SourceError::Gone(format!(
                    "window {:?} is minimised",
                    self.title
                )));
            }
            if let Some(g) = &self.x11 {
                let w = X11Grabber::window(self.id);
                match g.size(w).and_then(|size| g.grab(w, (0, 0), size)) {
                    Ok(f) => return Ok(f),
                    Err(GrabError::Unsupported(why)) => {
                        tracing::info!(%why, "X11 fast path off; capturing through xcap");
                        self.x11 = None;
                    }
                    Err(GrabError::Failed(e)) if !self.still_listed() => {
                        return Err(SourceError::Gone(format!(
                            "window {:?} was closed ({e})",
                            self.title
                        )));
                    }
                    Err(GrabError::Failed(e)) => {
                        tracing::debug!(%e, "X11 window grab failed; trying xcap");
                    }
                }
            }
            match self.window.capture_image() {
                Ok(img) => to_frame(img),
                Err(e) if !self.still_listed() => Err(SourceError::Gone(format!(
                    "window {:?} was closed ({e})",
                    self.title
                ))),
                Err(e) => Err(SourceError::Transient(format!(
                    "window {:?} capture failed: {e}",
                    self.title
                ))),
            }
        })
    }

    fn recover(&mut self) -> Result<(), SourceError> {
        guarded("window reopen", || {
            let (window, title) = find_window(&self.query).map_err(|_| {
                SourceError::Gone(format!(
                    "waiting for a window titled {:?} to appear",
                    self.query
                ))
            })?;
            if window.is_minimized().unwrap_or(false) {
                return Err(SourceError::Gone(format!("window {title:?} is minimised")));
            }
            self.id = window.id().unwrap_or(0);
            self.window = window;
            self.title = title;
            Ok(())
        })
    }
}
