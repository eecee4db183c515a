//! The video source picker's list: real cameras, screens and windows from
//! [`capdeck_capture::video::list_sources`], listed on a `capdeck-video-list` thread (device
//! and window-manager queries can take seconds: never on the UI thread). The UI asks for a
//! refresh and picks the result up with a non-blocking poll.

use capdeck_capture::video::VideoSources;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::Instant;

/// One pickable source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEntry {
    /// The `--video` spelling (`camera:0`, `screen:1`, `window:<title>`, `pattern`).
    pub spec: String,
    /// What the menu shows.
    pub label: String,
}

/// What the picker shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceListView {
    /// A listing is running.
    pub listing: bool,
    /// Cameras, screens, windows, then synthetic sources.
    pub cameras: Vec<SourceEntry>,
    /// Monitors.
    pub screens: Vec<SourceEntry>,
    /// Windows.
    pub windows: Vec<SourceEntry>,
    /// Always available (`pattern`).
    pub synthetic: Vec<SourceEntry>,
    /// Why a kind could not be listed, or the whole listing failed.
    pub problems: Vec<String>,
    /// When the shown list was made (None before the first listing finished).
    pub listed_at: Option<Instant>,
}

impl SourceListView {
    /// The label of `spec` if listed.
    pub fn label_of(&self, spec: &str) -> Option<&str> {
        self.cameras
            .iter()
            .chain(&self.screens)
            .chain(&self.windows)
            .chain(&self.synthetic)
            .find(|e| e.spec == spec)
            .map(|e| e.label.as_str())
    }
}

/// Turns a listing into menu entries.
pub fn entries_from(s: &VideoSources) -> SourceListView {
    SourceListView {
        listing: false,
        cameras: s
            .cameras
            .iter()
            .map(|c| SourceEntry {
                spec: format!("camera:{}", c.index),
                label: format!("camera {}: {}", c.index, c.name),
            })
            .collect(),
        screens: s
            .screens
            .iter()
            .map(|m| SourceEntry {
                spec: format!("screen:{}", m.index),
                label: format!(
                    "screen {}: {} {}x{}{}",
                    m.index,
                    m.name,
                    m.width,
                    m.height,
                    if m.primary { " (primary)" } else { "" }
                ),
            })
            .collect(),
        windows: s
            .windows
            .iter()
            .filter(|w| !w.title.trim().is_empty())
            .map(|w| SourceEntry {
                spec: format!("window:{}", w.title),
                label: if w.app.is_empty() {
                    format!("{} ({}x{})", w.title, w.width, w.height)
                } else {
                    format!("{} — {} ({}x{})", w.title, w.app, w.width, w.height)
                },
            })
            .collect(),
        synthetic: s
            .synthetic
            .iter()
            .map(|p| SourceEntry {
                spec: p.clone(),
                label: format!("{p} (test pattern)"),
            })
            .collect(),
        problems: s.problems.clone(),
        listed_at: Some(Instant::now()),
    }
}

type ListFn = std::sync::Arc<dyn Fn() -> VideoSources + Send + Sync>;

/// Lists sources on a background thread on request.
pub struct SourceLister {
    list: ListFn,
    view: SourceListView,
    pending: Option<Receiver<Result<VideoSources, String>>>,
    waker: Option<egui::Context>,
}

impl SourceLister {
    /// Lists with [`capdeck_capture::video::list_sources`]; starts a first listing.
    pub fn new(waker: Option<egui::Context>) -> Self {
        Self::with_fn(
            std::sync::Arc::new(capdeck_capture::video::list_sources),
            waker,
        )
    }

    /// Lists with `list` (tests: scripted or failing listings); starts a first listing.
    pub fn with_fn(list: ListFn, waker: Option<egui::Context>) -> Self {
        let mut me = Self {
            list,
            view: SourceListView {
                synthetic: vec![SourceEntry {
                    spec: "pattern".into(),
                    label: "pattern (test pattern)".into(),
                }],
                ..Default::default()
            },
            pending: None,
            waker,
        };
        me.refresh();
        me
    }

    /// Starts a new listing unless one is running.
    pub fn refresh(&mut self) {
        if self.pending.is_some() {
            return;
        }
        let (tx, rx) = sync_channel(1);
        let list = self.list.clone();
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("capdeck-video-list".into())
            .spawn(move || {
                // a backend that panics must not take the app down
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| list())).map_err(
                    |p| {
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "listing panicked".into())
                    },
                );
                let _ = tx.send(r);
                if let Some(w) = waker {
                    w.request_repaint();
                }
            });
        match spawned {
            Ok(_) => {
                self.pending = Some(rx);
                self.view.listing = true;
            }
            Err(e) => {
                self.view.problems = vec![format!("cannot start listing: {e}")];
            }
        }
    }

    /// Picks up a finished listing (non-blocking) and returns what to show.
    pub fn poll(&mut self) -> &SourceListView {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(Ok(s)) => {
                    self.view = entries_from(&s);
                    self.pending = None;
                }
                Ok(Err(e)) => {
                    self.view.problems = vec![format!("listing sources failed: {e}")];
                    self.view.listing = false;
                    self.view.listed_at = Some(Instant::now());
                    self.pending = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.view.problems = vec!["listing sources failed: thread ended".into()];
                    self.view.listing = false;
                    self.pending = None;
                }
            }
        }
        &self.view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capdeck_capture::video::camera::CameraInfo;
    use capdeck_capture::video::screen::{ScreenInfo, WindowInfo};

    fn wait(l: &mut SourceLister) -> SourceListView {
        let t = Instant::now();
        while l.poll().listing {
            assert!(t.elapsed().as_secs() < 10, "listing finishes");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        l.poll().clone()
    }

    #[test]
    fn entries_carry_the_video_spellings() {
        let s = VideoSources {
            cameras: vec![CameraInfo {
                index: 0,
                name: "USB cam".into(),
                description: String::new(),
                formats: vec![],
                problem: None,
            }],
            screens: vec![ScreenInfo {
                index: 1,
                name: "HDMI-1".into(),
                width: 1920,
                height: 1080,
                primary: true,
            }],
            windows: vec![
                WindowInfo {
                    title: "Game".into(),
                    app: "game.exe".into(),
                    width: 800,
                    height: 600,
                },
                WindowInfo {
                    title: " ".into(),
                    app: String::new(),
                    width: 1,
                    height: 1,
                },
            ],
            synthetic: vec!["pattern".into()],
            screen_backend: "xcap".into(),
            problems: vec!["cameras: none".into()],
        };
        let v = entries_from(&s);
        assert_eq!(v.cameras[0].spec, "camera:0");
        assert_eq!(v.screens[0].spec, "screen:1");
        assert!(v.screens[0].label.contains("(primary)"));
        assert_eq!(
            v.windows.len(),
            1,
            "untitled windows cannot be picked by title"
        );
        assert_eq!(v.windows[0].spec, "window:Game");
        assert_eq!(v.label_of("pattern"), Some("pattern (test pattern)"));
        assert_eq!(v.problems, vec!["cameras: none".to_string()]);
        for e in v.cameras.iter().chain(&v.screens).chain(&v.windows) {
            assert!(
                e.spec
                    .parse::<capdeck_capture::video::VideoSourceSpec>()
                    .is_ok(),
                "{} parses",
                e.spec
            );
        }
    }

    #[test]
    fn listing_runs_off_thread_and_a_panic_becomes_a_message() {
        let (go_tx, go_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let go_rx = std::sync::Mutex::new(go_rx);
        let mut l = SourceLister::with_fn(
            std::sync::Arc::new(move || {
                // blocks until the test lets it go: poll() must not wait for it
                let _ = go_rx.lock().unwrap().recv();
                panic!("no display");
            }),
            None,
        );
        assert!(l.poll().listing, "poll returns at once while listing");
        assert_eq!(l.poll().synthetic.len(), 1, "pattern is there meanwhile");
        go_tx.send(()).unwrap();
        let v = wait(&mut l);
        assert!(!v.listing);
        assert_eq!(
            v.problems,
            vec!["listing sources failed: no display".to_string()]
        );
        assert_eq!(v.synthetic.len(), 1, "pattern stays pickable");
    }
}
