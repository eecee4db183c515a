//! Every state change the UI can ask for. UI code only *emits* commands (into a
//! [`CommandQueue`]); [`crate::ui::CapdeckApp::apply`] applies them, in one place, after
//! the frame's UI has been built.

use super::capture::Channel;
use super::live::Feed;
use super::live::OverlayMode;
use super::settings::{Layout, Pane};

/// A user request.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    // ---- shell
    /// Change the pane arrangement.
    SetLayout(Layout),
    /// Show this pane (tab layout).
    ShowPane(Pane),
    /// Show or hide the log panel.
    ToggleLog,
    /// Dismiss the toast with this log sequence number.
    DismissToast(u64),

    // ---- live view: timeline
    /// Play / pause.
    TogglePlay,
    /// Pause.
    Pause,
    /// Step this many retail frames (negative = back); pauses.
    Step(i64),
    /// Seek to an aligned time; leaves follow-live.
    SeekTo(f64),
    /// Seek by a delta in seconds.
    SeekBy(f64),
    /// Jump to the oldest data held.
    JumpStart,
    /// Jump to live and follow it.
    JumpLive,
    /// Toggle follow-live.
    ToggleFollow,
    /// Set the follow-live delay (s).
    SetFollowDelay(f32),
    /// Playback speed factor.
    SetSpeed(f32),
    /// Set (or clear) the loop selection.
    SetSelection(Option<(f64, f64)>),
    /// Loop inside the selection while playing.
    SetLoop(bool),

    // ---- live view: display
    /// Overlay mode of the retail view.
    SetOverlay(OverlayMode),
    /// Pin the frame at the cursor as the reference (difference / wipe).
    PinReference,
    /// Wipe position 0..1.
    SetWipe(f32),
    /// Fit or 1:1.
    SetPixelZoom(bool),
    /// Pan the 1:1 view by points.
    Pan(egui::Vec2),
    /// Nudge of the engine clock (ms, added to the estimated offset).
    SetNudgeMs(f32),

    // ---- live view: feeds
    /// Edit a feed address.
    SetFeedAddr(Feed, String),
    /// Connect a feed (real address).
    ConnectFeed(Feed),
    /// Disconnect a feed.
    DisconnectFeed(Feed),
    /// Switch both feeds between the built-in demo and the real addresses.
    UseDemoFeeds(bool),

    // ---- capture
    /// Start a channel.
    StartChannel(Channel),
    /// Stop a channel.
    StopChannel(Channel),
    /// Retry a disconnected channel now.
    RetryNow(Channel),
    /// Choose the audio source (`default`, `device:<name>`, `tone:<hz>`, `none`).
    SetAudioSource(String),
    /// Follow the system default input.
    SetFollowDefaultMic(bool),
    /// Gain in dB.
    SetGain(f32),
    /// Mute.
    SetMuted(bool),
    /// Push-to-talk on/off.
    SetPushToTalk(bool),
    /// Push-to-talk key (a [`crate::capture::hotkey::PttKey`] name).
    SetPttKey(String),
    /// Push-to-talk pre-roll (ms).
    SetPttPreroll(u32),
    /// What is sent while not talking.
    SetPttMode(crate::capture::audio::PttMode),
    /// Choose the video source (`pattern`, `camera[:N]`, `screen[:N]`, `window:<title>`).
    SetVideoSource(String),
    /// List cameras, screens and windows again (off the UI thread).
    RefreshVideoSources,
    /// Video size.
    SetVideoSize([u32; 2]),
    /// Video rate.
    SetVideoFps(f32),
    /// JPEG quality.
    SetVideoQuality(u8),
    /// Pin (or unpin) a host-config key so the host cannot change it.
    SetPinned(String, bool),
    /// Send to the built-in receiver.
    UseEmbeddedHost,
    /// Send to the host profile at this index.
    UseHostProfile(usize),
    /// Replace the host profile at this index.
    EditHostProfile(usize, crate::ui::settings::HostProfile),
}

/// Commands emitted during one frame.
#[derive(Debug, Default)]
pub struct CommandQueue {
    queue: Vec<UiCommand>,
}

impl CommandQueue {
    /// Queues a command.
    pub fn push(&mut self, cmd: UiCommand) {
        self.queue.push(cmd);
    }
    /// Takes every queued command.
    pub fn take(&mut self) -> Vec<UiCommand> {
        std::mem::take(&mut self.queue)
    }
}
