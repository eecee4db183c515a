//! Every state change the UI can ask for. UI code only *emits* commands (into a
//! [`CommandQueue`]); [`crate::ui::CapdeckApp::apply`] applies them, in one place, after
//! the frame's UI has been built.

use super::capture::PushChannel;
use super::live::OverlayMode;
use super::settings::{Layout, Pane};
use capdeck_grimstream::FeedRole;

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

    // ---- live view: time
    /// A time-control command for the timeline (play, pause, step, seek, speed, follow,
    /// delay, selection, loop): applied to the core timeline, nowhere else.
    Timeline(capdeck_timeline::Command),

    /// Mark the cursor (an operator mark, recorded when recording).
    AddMark,
    /// Bookmark a point with a label, a note and a kind (e.g. a divergence from its list).
    AddBookmark {
        /// Timeline time.
        t_ns: i64,
        /// Its name.
        label: String,
        /// Its note.
        note: String,
        /// What it marks.
        kind: capdeck_grimstream::store::MarkKind,
    },
    /// A mark's note, as typed (kept in the view; recorded by [`UiCommand::RecordMark`]).
    EditMarkNote {
        /// The mark's id.
        id: u64,
        /// The whole note.
        note: String,
    },
    /// A mark's kind.
    SetMarkKind {
        /// The mark's id.
        id: u64,
        /// Its kind.
        kind: capdeck_grimstream::store::MarkKind,
    },
    /// Record a mark's current state (when its note has been edited).
    RecordMark(u64),
    /// Remove a mark (recorded).
    RemoveMark(u64),

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
    /// Manual clock nudge of a feed (ns added to its estimated times).
    SetNudge(FeedRole, i64),
    /// Memory budget of the live view's history (MiB); applies at once.
    SetMemoryBudgetMib(u32),

    // ---- live view: feeds
    /// Edit a feed address.
    SetFeedAddr(FeedRole, String),
    /// Connect a feed (real address).
    ConnectFeed(FeedRole),
    /// Disconnect a feed (the engine asks for confirmation first).
    DisconnectFeed(FeedRole),
    /// The user confirmed disconnecting this feed.
    ConfirmDisconnect(FeedRole),
    /// The user kept the feed connected.
    CancelDisconnect,
    /// How the engine feed answers MOVIE_START (applies from the next connection).
    SetMoviePolicy(capdeck_grimstream::feed::MoviePolicy),
    /// Edit the game's data folder (the "play" movie policy looks movies up under it; an
    /// empty text clears it).
    SetGameDataDir(String),
    /// Answer the engine's current movie `skipped` (the engine pane's skip button).
    SkipMovie(capdeck_wire::grimstream::MovieControl),
    /// Switch both feeds between the built-in demo and the real addresses.
    UseDemoFeeds(bool),

    // ---- recordings
    /// Start recording everything sent and received into a new session folder.
    StartRecording,
    /// Stop recording (the session is sealed).
    StopRecording,
    /// Start or stop recording (the shortcut).
    ToggleRecording,
    /// Show (true) or hide the open-a-recording window (lists the recent recordings).
    ShowOpenRecording(bool),
    /// Edit the path typed in the open-a-recording window.
    SetOpenPath(String),
    /// Open a recording (session folder or segment) in the live pane.
    OpenRecording(std::path::PathBuf),
    /// Leave the recording: back to the live feeds.
    CloseRecording,
    /// Send the open recording's capture side to the capture pane's target, paced.
    SendRecordingToHost,
    /// Export the open recording for Foxglove (beside its folder).
    ExportRecording,
    /// Stop the open recording's send.
    StopRecordingJob,
    /// Export the timeline's selection of the open recording as a clip (beside it).
    ExportClip,
    /// Start capdeck with the system (minimised), or not.
    SetAutostart(bool),
    /// With a tray icon, the window's close button hides the window there (or quits).
    SetCloseToTray(bool),
    /// Delete a recording folder from the recordings folder.
    DeleteRecording(std::path::PathBuf),

    // ---- capture
    /// Start a channel.
    StartChannel(PushChannel),
    /// Stop a channel.
    StopChannel(PushChannel),
    /// Try to start the capture worker again (after it could not start).
    RetryCaptureWorker,
    /// Retry a disconnected channel now.
    RetryNow(PushChannel),
    /// Choose the audio source (`default`, `device:<name>`, `tone:<hz>`, `none`).
    SetAudioSource(String),
    /// Follow the system default input.
    SetFollowDefaultMic(bool),
    /// The game's sound to remove from the microphone (`--game-audio` syntax; `none`).
    SetGameAudio(String),
    /// Noise suppression on or off.
    SetNoiseSuppression(bool),
    /// Gain in dB.
    SetGain(f32),
    /// Mute.
    SetMuted(bool),
    /// Push-to-talk on/off.
    SetPushToTalk(bool),
    /// Push-to-talk key (a [`capdeck_capture::hotkey::PttKey`] name).
    SetPttKey(String),
    /// Push-to-talk pre-roll (ms).
    SetPttPreroll(u32),
    /// What is sent while not talking.
    SetPttMode(capdeck_capture::audio::PttMode),
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
