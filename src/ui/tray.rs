//! The tray icon: the three lights (audio, video, control) drawn into the icon, and a menu
//! that starts and stops each channel, mutes the microphone, shows the window and quits.
//!
//! The app describes what the tray shows as a [`TrayView`] each frame ([`Tray::sync`] sends
//! it on only when it changed) and reads the user's picks back as [`TrayAction`]s
//! ([`Tray::try_action`]), which it turns into its own commands: the tray owns no state.
//!
//! Backends:
//! - Linux and the BSDs: a StatusNotifierItem over the session D-Bus (`ksni`, pure Rust, no
//!   GTK), on a named thread. Without a session bus or a StatusNotifierWatcher (a desktop
//!   with no tray, plain Xvfb) it is one log line and the app runs without it.
//! - Windows and macOS: `tray-icon` on the UI thread (its hidden message window is pumped
//!   by winit's event loop).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use capdeck_util::lock;

use super::capture::PushChannel;

/// One light of the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Light {
    /// Grey: stopped.
    #[default]
    Off,
    /// Green: streaming, or the host answers.
    Ok,
    /// Yellow: connecting or buffering.
    Busy,
    /// Red: disconnected.
    Down,
}

impl Light {
    /// `0xAARRGGBB` of the light's dot.
    fn argb(self) -> u32 {
        match self {
            Light::Off => 0xFF8C8C8C,
            Light::Ok => 0xFF3CC850,
            Light::Busy => 0xFFF0C828,
            Light::Down => 0xFFE63C3C,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Light::Off => "stopped",
            Light::Ok => "ok",
            Light::Busy => "connecting",
            Light::Down => "disconnected",
        }
    }
}

/// What the tray shows: the app builds one each frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrayView {
    /// Audio, video and control lights, in that order.
    pub lights: [Light; 3],
    /// Whether each push channel is started ([`PushChannel::index`]).
    pub streaming: [bool; 2],
    /// The microphone is muted.
    pub muted: bool,
    /// Push-to-talk: None when off, else whether the key is held.
    pub ptt_talking: Option<bool>,
    /// Seconds since the host stopped answering, once past the notice threshold.
    pub host_lost_s: Option<u64>,
    /// A short notice (the host is back), shown in the tooltip for a while.
    pub notice: Option<String>,
}

impl TrayView {
    /// The tooltip's one-line summary.
    pub fn summary(&self) -> String {
        let [a, v, c] = self.lights;
        let mut s = format!(
            "audio {}, video {}, control {}",
            a.word(),
            v.word(),
            c.word()
        );
        if self.muted {
            s.push_str(", muted");
        }
        if let Some(t) = self.host_lost_s {
            s = format!("host lost {t} s ago; {s}");
        } else if let Some(n) = &self.notice {
            s = format!("{n}; {s}");
        }
        s
    }

    /// The icon: the app's picture with the three lights along its bottom edge, as
    /// straight (not premultiplied) RGBA, `size` x `size`.
    pub fn icon_rgba(&self, base: &IconImage) -> IconImage {
        let mut img = base.clone();
        let n = img.size as i32;
        let r = (n / 6).max(2); // dot radius
        let y = n - r - 1;
        for (i, light) in self.lights.iter().enumerate() {
            let cx = r + 1 + i as i32 * (n - 2 * r - 2) / 2;
            let c = light.argb();
            for py in (y - r - 1)..=(y + r + 1) {
                for px in (cx - r - 1)..=(cx + r + 1) {
                    if px < 0 || py < 0 || px >= n || py >= n {
                        continue;
                    }
                    let d2 = (px - cx).pow(2) + (py - y).pow(2);
                    let rgba = if d2 <= r * r {
                        [(c >> 16) as u8, (c >> 8) as u8, c as u8, 0xFF]
                    } else if d2 <= (r + 1) * (r + 1) {
                        [0x20, 0x20, 0x20, 0xFF] // a dark ring so the dot shows on any panel
                    } else {
                        continue;
                    };
                    let at = ((py * n + px) * 4) as usize;
                    img.rgba[at..at + 4].copy_from_slice(&rgba);
                }
            }
        }
        img
    }
}

/// A square RGBA picture (straight alpha).
#[derive(Debug, Clone, PartialEq)]
pub struct IconImage {
    /// Width and height.
    pub size: u32,
    /// `size * size * 4` bytes.
    pub rgba: Vec<u8>,
}

impl IconImage {
    /// The app's 32-pixel icon (the packages' picture).
    pub fn app() -> Result<Self, TrayError> {
        let icon =
            eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon/capdeck-32.png"))
                .map_err(|e| TrayError::Icon(e.to_string()))?;
        if icon.width != icon.height || icon.rgba.len() != (icon.width * icon.height * 4) as usize {
            return Err(TrayError::Icon(format!(
                "the icon is {}x{}, not square RGBA",
                icon.width, icon.height
            )));
        }
        Ok(Self {
            size: icon.width,
            rgba: icon.rgba,
        })
    }

    /// ARGB32 in network byte order (the StatusNotifierItem pixmap format).
    pub fn argb_be(&self) -> Vec<u8> {
        self.rgba
            .chunks_exact(4)
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect()
    }
}

/// What the user picked in the tray's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayAction {
    /// Start (true) or stop a push channel.
    SetStreaming(PushChannel, bool),
    /// Mute or unmute the microphone.
    SetMuted(bool),
    /// Show the window (also a click on the icon).
    Show,
    /// Quit capdeck.
    Quit,
}

/// Why the tray is not shown (the app runs on without it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrayError {
    /// The desktop shows no tray: no session bus, no StatusNotifierWatcher or no host.
    #[error("the desktop shows no tray icons: {0}")]
    NoTray(String),
    /// The platform's tray API failed.
    #[error("the tray icon could not be created: {0}")]
    Platform(String),
    /// The icon picture.
    #[error("the tray icon's picture: {0}")]
    Icon(String),
    /// A thread could not start.
    #[error("cannot start the tray's thread: {0}")]
    Thread(String),
}

/// Whether the tray is up.
#[derive(Debug, Clone, Default)]
pub enum TrayState {
    /// Being registered.
    #[default]
    Starting,
    /// Shown by the desktop.
    Shown,
    /// Not shown, and why.
    Unavailable(TrayError),
}

/// The tray, as the app holds it.
pub struct Tray {
    actions: Receiver<TrayAction>,
    state: Arc<std::sync::Mutex<TrayState>>,
    last: Option<TrayView>,
    backend: backend::Backend,
}

impl std::fmt::Debug for Tray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tray")
            .field("state", &self.state())
            .finish()
    }
}

/// How many menu picks may wait for the app (it drains them every pass); more are dropped
/// with a log line (a user does not click faster than the app runs).
const ACTION_QUEUE: usize = 16;

impl Tray {
    /// Starts the tray; `ctx` is woken when the user picks something, so a hidden window
    /// still acts on it. Never blocks on the desktop: registration goes on in the background.
    pub fn start(ctx: egui::Context) -> Result<Self, TrayError> {
        let base = IconImage::app()?;
        let (tx, actions) = std::sync::mpsc::sync_channel(ACTION_QUEUE);
        let state = Arc::new(std::sync::Mutex::new(TrayState::Starting));
        let sink = ActionSink { tx, ctx };
        let backend = backend::Backend::start(base, sink, state.clone())?;
        Ok(Self {
            actions,
            state,
            last: None,
            backend,
        })
    }

    /// Whether the tray is up.
    pub fn state(&self) -> TrayState {
        lock(&self.state).clone()
    }

    /// Whether the desktop shows the icon.
    pub fn is_shown(&self) -> bool {
        matches!(*lock(&self.state), TrayState::Shown)
    }

    /// Shows `view` when it differs from what is shown.
    pub fn sync(&mut self, view: &TrayView) {
        if self.last.as_ref() == Some(view) {
            return;
        }
        if self.backend.show(view) {
            self.last = Some(view.clone());
        }
    }

    /// The next pick of the user, if any.
    pub fn try_action(&self) -> Option<TrayAction> {
        self.actions.try_recv().ok()
    }
}

/// Hands menu picks to the app and wakes it.
#[derive(Clone)]
struct ActionSink {
    tx: SyncSender<TrayAction>,
    ctx: egui::Context,
}

impl ActionSink {
    fn send(&self, a: TrayAction) {
        tracing::info!("tray: {a:?}");
        match self.tx.try_send(a) {
            Ok(()) => {}
            Err(TrySendError::Full(a)) => tracing::warn!("tray: {a:?} dropped: the app is busy"),
            Err(TrySendError::Disconnected(_)) => {}
        }
        self.ctx.request_repaint();
    }
}

/// The menu, whatever draws it: `(label, kind)` rows.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    /// A line of text.
    Label(String),
    /// A checkbox and what picking it does.
    Check(String, bool, TrayAction),
    /// A button.
    Button(String, TrayAction),
    /// A line.
    Separator,
}

fn menu_rows(v: &TrayView) -> Vec<Row> {
    let names = ["Audio", "Video", "Control"];
    let mut rows: Vec<Row> = names
        .iter()
        .zip(v.lights)
        .map(|(n, l)| Row::Label(format!("{n}: {}", l.word())))
        .collect();
    if let Some(t) = v.host_lost_s {
        rows.push(Row::Label(format!("Host lost {t} s ago")));
    }
    rows.push(Row::Separator);
    for ch in PushChannel::ALL {
        let on = v.streaming[ch.index()];
        rows.push(Row::Check(
            format!("Stream {}", ch.label().to_lowercase()),
            on,
            TrayAction::SetStreaming(ch, !on),
        ));
    }
    rows.push(Row::Check(
        "Mute microphone".into(),
        v.muted,
        TrayAction::SetMuted(!v.muted),
    ));
    rows.push(Row::Label(match v.ptt_talking {
        None => "Push-to-talk: off".into(),
        Some(true) => "Push-to-talk: talking".into(),
        Some(false) => "Push-to-talk: key released".into(),
    }));
    rows.push(Row::Separator);
    rows.push(Row::Button("Show capdeck".into(), TrayAction::Show));
    rows.push(Row::Button("Quit".into(), TrayAction::Quit));
    rows
}

#[cfg(all(unix, not(target_os = "macos")))]
mod backend {
    //! StatusNotifierItem over the session D-Bus (ksni).
    use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
    use std::sync::{Arc, Mutex};

    use ksni::blocking::TrayMethods as _;

    use super::{ActionSink, IconImage, Row, TrayError, TrayState, TrayView, menu_rows};
    use capdeck_util::lock;

    pub struct Backend {
        views: SyncSender<TrayView>,
    }

    struct Item {
        view: TrayView,
        base: IconImage,
        sink: ActionSink,
    }

    impl ksni::Tray for Item {
        fn id(&self) -> String {
            "capdeck".into()
        }
        fn title(&self) -> String {
            "capdeck".into()
        }
        fn activate(&mut self, _x: i32, _y: i32) {
            self.sink.send(super::TrayAction::Show);
        }
        fn status(&self) -> ksni::Status {
            if self.view.host_lost_s.is_some() {
                ksni::Status::NeedsAttention
            } else {
                ksni::Status::Active
            }
        }
        fn icon_pixmap(&self) -> Vec<ksni::Icon> {
            let img = self.view.icon_rgba(&self.base);
            vec![ksni::Icon {
                width: img.size as i32,
                height: img.size as i32,
                data: img.argb_be(),
            }]
        }
        fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
            self.icon_pixmap()
        }
        fn tool_tip(&self) -> ksni::ToolTip {
            ksni::ToolTip {
                title: "capdeck".into(),
                description: self.view.summary(),
                ..Default::default()
            }
        }
        fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
            use ksni::menu::{CheckmarkItem, StandardItem};
            menu_rows(&self.view)
                .into_iter()
                .map(|row| match row {
                    Row::Separator => ksni::MenuItem::Separator,
                    Row::Label(label) => StandardItem {
                        label,
                        enabled: false,
                        ..Default::default()
                    }
                    .into(),
                    Row::Check(label, checked, a) => CheckmarkItem {
                        label,
                        checked,
                        activate: Box::new(move |t: &mut Self| t.sink.send(a)),
                        ..Default::default()
                    }
                    .into(),
                    Row::Button(label, a) => StandardItem {
                        label,
                        activate: Box::new(move |t: &mut Self| t.sink.send(a)),
                        ..Default::default()
                    }
                    .into(),
                })
                .collect()
        }
        fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
            tracing::warn!("tray: the desktop's tray went away ({reason:?}); waiting for it");
            true
        }
        fn watcher_online(&self) {
            tracing::info!("tray: the desktop's tray is back");
        }
    }

    impl Backend {
        pub fn start(
            base: IconImage,
            sink: ActionSink,
            state: Arc<Mutex<TrayState>>,
        ) -> Result<Self, TrayError> {
            // one view waits at most: the app keeps its last shown view until a send
            // succeeds, so the newest view always gets through
            let (views, rx) = std::sync::mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name("capdeck-tray".into())
                .spawn(move || serve(base, sink, state, rx))
                .map_err(|e| TrayError::Thread(e.to_string()))?;
            Ok(Self { views })
        }

        /// Whether `view` was handed over.
        pub fn show(&self, view: &TrayView) -> bool {
            match self.views.try_send(view.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => false,
                // the tray is not up: nothing to show, nothing to retry
                Err(TrySendError::Disconnected(_)) => true,
            }
        }
    }

    fn serve(
        base: IconImage,
        sink: ActionSink,
        state: Arc<Mutex<TrayState>>,
        views: Receiver<TrayView>,
    ) {
        let item = Item {
            view: TrayView::default(),
            base,
            sink,
        };
        let handle = match item.spawn() {
            Ok(h) => h,
            Err(e) => {
                let e = match e {
                    ksni::Error::Dbus(e) => TrayError::NoTray(format!("no session D-Bus: {e}")),
                    ksni::Error::Watcher(e) => {
                        TrayError::NoTray(format!("no StatusNotifierWatcher: {e}"))
                    }
                    ksni::Error::WontShow => {
                        TrayError::NoTray("no StatusNotifierHost shows icons".into())
                    }
                    other => TrayError::Platform(other.to_string()),
                };
                tracing::warn!("tray: {e}; capdeck runs without a tray icon");
                *lock(&state) = TrayState::Unavailable(e);
                return;
            }
        };
        tracing::info!("tray: icon registered with the desktop (StatusNotifierItem)");
        *lock(&state) = TrayState::Shown;
        // until the app drops its end
        for v in views {
            if handle.update(|item| item.view = v).is_none() {
                tracing::warn!("tray: the tray service stopped");
                *lock(&state) =
                    TrayState::Unavailable(TrayError::Platform("the tray service stopped".into()));
                return;
            }
        }
        handle.shutdown().wait();
    }
}

#[cfg(any(windows, target_os = "macos"))]
mod backend {
    //! `tray-icon` (Shell_NotifyIcon on Windows, NSStatusItem on macOS), on the UI thread.
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tray_icon::menu::{
        CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem,
    };

    use super::{
        ActionSink, IconImage, Row, TrayAction, TrayError, TrayState, TrayView, menu_rows,
    };
    use capdeck_util::lock;

    pub struct Backend {
        icon: tray_icon::TrayIcon,
        base: IconImage,
        /// Which menu item does what (the menu is rebuilt when the view changes).
        routes: Arc<Mutex<HashMap<tray_icon::menu::MenuId, TrayAction>>>,
    }

    fn icon_of(v: &TrayView, base: &IconImage) -> Result<tray_icon::Icon, TrayError> {
        let img = v.icon_rgba(base);
        tray_icon::Icon::from_rgba(img.rgba, img.size, img.size)
            .map_err(|e| TrayError::Icon(e.to_string()))
    }

    impl Backend {
        pub fn start(
            base: IconImage,
            sink: ActionSink,
            state: Arc<Mutex<TrayState>>,
        ) -> Result<Self, TrayError> {
            let routes: Arc<Mutex<HashMap<tray_icon::menu::MenuId, TrayAction>>> = Arc::default();
            let r = routes.clone();
            let s = sink.clone();
            MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
                if let Some(a) = lock(&r).get(&e.id).copied() {
                    s.send(a);
                }
            }));
            let s = sink;
            tray_icon::TrayIconEvent::set_event_handler(Some(move |e| {
                if let tray_icon::TrayIconEvent::DoubleClick { .. } = e {
                    s.send(TrayAction::Show);
                }
            }));
            let view = TrayView::default();
            let icon = tray_icon::TrayIconBuilder::new()
                .with_tooltip(format!("capdeck: {}", view.summary()))
                .with_icon(icon_of(&view, &base)?)
                .with_menu(Box::new(Menu::new()))
                .build()
                .map_err(|e| TrayError::Platform(e.to_string()))?;
            tracing::info!("tray: icon added to the notification area");
            *lock(&state) = TrayState::Shown;
            let mut b = Self { icon, base, routes };
            b.show(&view);
            Ok(b)
        }

        pub fn show(&mut self, view: &TrayView) -> bool {
            match icon_of(view, &self.base) {
                Ok(i) => {
                    if let Err(e) = self.icon.set_icon(Some(i)) {
                        tracing::warn!("tray: icon not updated: {e}");
                    }
                }
                Err(e) => tracing::warn!("tray: {e}"),
            }
            if let Err(e) = self
                .icon
                .set_tooltip(Some(format!("capdeck: {}", view.summary())))
            {
                tracing::warn!("tray: tooltip not updated: {e}");
            }
            let rows = menu_rows(view);
            let menu = Menu::new();
            let mut routes = HashMap::new();
            for row in &rows {
                let item: Box<dyn IsMenuItem> = match row {
                    Row::Separator => Box::new(PredefinedMenuItem::separator()),
                    Row::Label(l) => Box::new(MenuItem::new(l, false, None)),
                    Row::Check(l, on, a) => {
                        let i = CheckMenuItem::new(l, true, *on, None);
                        routes.insert(i.id().clone(), *a);
                        Box::new(i)
                    }
                    Row::Button(l, a) => {
                        let i = MenuItem::new(l, true, None);
                        routes.insert(i.id().clone(), *a);
                        Box::new(i)
                    }
                };
                if let Err(e) = menu.append(item.as_ref()) {
                    tracing::warn!("tray: menu item not added: {e}");
                }
            }
            *lock(&self.routes) = routes;
            self.icon.set_menu(Some(Box::new(menu)));
            true
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod backend {
    use std::sync::{Arc, Mutex};

    use super::{ActionSink, IconImage, TrayError, TrayState, TrayView};

    pub struct Backend;

    impl Backend {
        pub fn start(
            _: IconImage,
            _: ActionSink,
            _: Arc<Mutex<TrayState>>,
        ) -> Result<Self, TrayError> {
            Err(TrayError::NoTray("no tray on this platform".into()))
        }
        pub fn show(&mut self, _: &TrayView) -> bool {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_offers_the_opposite_of_each_state() {
        let mut v = TrayView {
            streaming: [true, false],
            ..Default::default()
        };
        let rows = menu_rows(&v);
        assert!(rows.contains(&Row::Check(
            "Stream audio".into(),
            true,
            TrayAction::SetStreaming(PushChannel::Audio, false)
        )));
        assert!(rows.contains(&Row::Check(
            "Stream video".into(),
            false,
            TrayAction::SetStreaming(PushChannel::Video, true)
        )));
        assert!(rows.contains(&Row::Check(
            "Mute microphone".into(),
            false,
            TrayAction::SetMuted(true)
        )));
        v.host_lost_s = Some(12);
        assert!(menu_rows(&v).contains(&Row::Label("Host lost 12 s ago".into())));
        assert!(v.summary().starts_with("host lost 12 s ago"));
    }

    #[test]
    fn the_icon_carries_the_three_lights() {
        let base = IconImage::app().unwrap();
        let v = TrayView {
            lights: [Light::Ok, Light::Busy, Light::Down],
            ..Default::default()
        };
        let img = v.icon_rgba(&base);
        assert_eq!(img.rgba.len(), (img.size * img.size * 4) as usize);
        let n = img.size as usize;
        let r = (n / 6).max(2);
        let y = n - r - 1;
        let at = |x: usize| {
            let i = (y * n + x) * 4;
            [img.rgba[i], img.rgba[i + 1], img.rgba[i + 2]]
        };
        assert_eq!(at(r + 1), [0x3C, 0xC8, 0x50], "audio green");
        assert_eq!(at(n / 2), [0xF0, 0xC8, 0x28], "video yellow");
        assert_eq!(at(n - r - 2), [0xE6, 0x3C, 0x3C], "control red");
        // ARGB, network order
        let be = img.argb_be();
        let i = (y * n + r + 1) * 4;
        assert_eq!(&be[i..i + 4], &[0xFF, 0x3C, 0xC8, 0x50]);
    }
}
