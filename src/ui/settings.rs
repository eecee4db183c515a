//! Persistent settings: host profiles, chosen devices, sizes, rates and layout.
//!
//! Stored as JSON in the platform's config directory (`directories`), written when the
//! app exits and every few minutes by eframe's auto-save. Command-line flags override
//! what is loaded ([`crate::ui::AppOptions`]); a file that cannot be read or parsed is
//! reported and replaced by defaults, never a panic.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use capdeck_wire::capture::Framing;

/// Where the capture pane pushes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostProfile {
    /// Name shown in the picker.
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// PUSH audio port.
    pub audio_port: u16,
    /// PUSH video port.
    pub video_port: u16,
    /// REQ control port.
    pub control_port: u16,
    /// Message framing.
    pub framing: Framing,
}

impl HostProfile {
    /// Preset: the inference host as its code reads today (framed, ports 5555-5557).
    pub fn inference_host_framed() -> Self {
        Self {
            name: "inference host (framed)".into(),
            address: "127.0.0.1".into(),
            audio_port: 5555,
            video_port: 5556,
            control_port: 5557,
            framing: Framing::Framed,
        }
    }

    /// Preset: the design's multipart framing.
    pub fn multipart() -> Self {
        Self {
            name: "multipart".into(),
            framing: Framing::Multipart,
            ..Self::inference_host_framed()
        }
    }

    /// `tcp://address:port` for one port.
    pub fn endpoint(&self, port: u16) -> String {
        format!("tcp://{}:{port}", self.address)
    }
}

/// How the two panes are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Capture left, Live view right, with a draggable split.
    SideBySide,
    /// One pane at a time, chosen by tabs.
    Tabs,
}

/// Which pane a tab layout shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pane {
    /// The capture → push pane.
    Capture,
    /// The GrimStream live view.
    LiveView,
}

/// Where the capture pane sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CaptureTarget {
    /// The built-in in-process receiver (first run, no host needed).
    Embedded,
    /// The host profile at this index of [`Settings::host_profiles`].
    Profile(usize),
}

/// Where the live view's feeds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedTarget {
    /// Built-in demo feeds.
    Demo,
    /// The addresses in [`Settings::retail_addr`] / [`Settings::engine_addr`].
    Real,
}

/// Everything that persists between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Saved host profiles (the two presets are always present).
    pub host_profiles: Vec<HostProfile>,
    /// Where capture goes.
    pub capture_target: CaptureTarget,
    /// Audio source as `--audio` spells it (`default`, `device:<name>`, `tone:<hz>`, ...).
    pub audio_source: String,
    /// Follow the system default microphone rather than sticking to a named device.
    pub follow_default_mic: bool,
    /// The game's sound removed from the microphone, as `--game-audio` spells it
    /// (`none`, `output`, `device:<id>`).
    pub game_audio: String,
    /// WebRTC noise suppression on the microphone.
    pub noise_suppression: bool,
    /// Input gain in dB.
    pub gain_db: f32,
    /// Audio chunk length in ms.
    pub chunk_ms: u32,
    /// Video source as `--video` spells it (`pattern`, `camera:0`, `screen`, ...).
    pub video_source: String,
    /// Video output size.
    pub video_size: [u32; 2],
    /// Video frame rate.
    pub video_fps: f32,
    /// JPEG quality.
    pub video_quality: u8,
    /// Push-to-talk enabled.
    pub push_to_talk: bool,
    /// Push-to-talk key (`F8`, `A`, `CapsLock`, ...; see `capture::hotkey::PttKey`).
    pub ptt_key: String,
    /// Push-to-talk pre-roll (ms).
    pub ptt_preroll_ms: u32,
    /// What is sent while not talking.
    pub ptt_mode: capdeck_capture::audio::PttMode,
    /// Live view feed source.
    pub feed_target: FeedTarget,
    /// Retail feed address (`host:port`).
    pub retail_addr: String,
    /// Engine feed address (`host:port`).
    pub engine_addr: String,
    /// Live view memory budget in MiB.
    pub memory_budget_mib: u32,
    /// Follow-live delay in seconds.
    pub follow_delay_s: f32,
    /// How the engine feed answers MOVIE_START.
    pub movie_policy: capdeck_grimstream::feed::MoviePolicy,
    /// The game's data folder, where the "play" movie policy looks the engine's movies up
    /// (kept while another policy is chosen; `--game-data` overrides it).
    pub game_data_dir: Option<PathBuf>,
    /// Where the Record button puts recordings (None: [`Settings::default_recordings_dir`]).
    pub recordings_dir: Option<PathBuf>,
    /// Recording stops when the disk has less than this many MiB free.
    pub record_min_free_mib: u64,
    /// Pane arrangement.
    pub layout: Layout,
    /// Pane shown in tab layout.
    pub active_tab: Pane,
    /// Width of the capture pane in side-by-side layout (points).
    pub capture_width: f32,
    /// Log panel visible.
    pub show_log: bool,
    /// With a tray icon, the window's close button hides the window there and capdeck
    /// goes on streaming (Quit is in the tray's menu).
    pub close_to_tray: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host_profiles: vec![
                HostProfile::inference_host_framed(),
                HostProfile::multipart(),
            ],
            capture_target: CaptureTarget::Embedded,
            audio_source: "default".into(),
            game_audio: "none".into(),
            noise_suppression: false,
            follow_default_mic: true,
            gain_db: 0.0,
            chunk_ms: 100,
            video_source: "pattern".into(),
            video_size: [640, 480],
            video_fps: 5.0,
            video_quality: 70,
            push_to_talk: false,
            ptt_key: capdeck_capture::hotkey::PttKey::default().to_string(),
            ptt_preroll_ms: capdeck_capture::audio::gate::DEFAULT_PREROLL_MS,
            ptt_mode: capdeck_capture::audio::PttMode::SendSilence,
            feed_target: FeedTarget::Demo,
            retail_addr: "127.0.0.1:17400".into(),
            engine_addr: "127.0.0.1:17500".into(),
            memory_budget_mib: 1024,
            follow_delay_s: 0.0,
            movie_policy: Default::default(),
            game_data_dir: None,
            recordings_dir: None,
            record_min_free_mib: 512,
            layout: Layout::SideBySide,
            active_tab: Pane::Capture,
            capture_width: 520.0,
            show_log: false,
            close_to_tray: true,
        }
    }
}

/// Smallest live-view memory budget, MiB.
pub const MIN_BUDGET_MIB: u32 = 16;
/// Largest live-view memory budget, MiB.
pub const MAX_BUDGET_MIB: u32 = 64 * 1024;

/// Error loading settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but could not be read.
    #[error("cannot read settings {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid settings JSON.
    #[error("settings {path} are not valid ({source}); using defaults")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error("cannot write settings {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Largest settings file accepted (a hand-edited file is tiny; anything bigger is not ours).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

impl Settings {
    /// The default settings file: `<config dir>/settings.json`, if the platform has one.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "capdeck", "capdeck")
            .map(|d| d.config_dir().join("settings.json"))
    }

    /// `<data dir>/recordings`, if the platform has a data dir.
    pub fn default_recordings_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "capdeck", "capdeck")
            .map(|d| d.data_dir().join("recordings"))
    }

    /// The folder recordings go to and are listed from.
    pub fn recordings_dir(&self) -> Option<PathBuf> {
        self.recordings_dir
            .clone()
            .or_else(Settings::default_recordings_dir)
    }

    /// Loads settings from `path`. A missing file gives defaults; an unreadable or invalid
    /// file gives an error (the caller shows it and uses defaults).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        if meta.len() > MAX_SETTINGS_BYTES {
            return Err(SettingsError::Read {
                path: path.into(),
                source: std::io::Error::other(format!(
                    "file is {} bytes, larger than 1 MiB",
                    meta.len()
                )),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.into(),
            source,
        })?;
        let mut s: Self = serde_json::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.into(),
            source,
        })?;
        s.sanitize();
        Ok(s)
    }

    /// Writes settings to `path` atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let err = |source| SettingsError::Write {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Brings hand-edited values back into range and restores the presets.
    pub fn sanitize(&mut self) {
        for preset in [
            HostProfile::inference_host_framed(),
            HostProfile::multipart(),
        ] {
            if !self.host_profiles.iter().any(|p| p.name == preset.name) {
                self.host_profiles.push(preset);
            }
        }
        if let CaptureTarget::Profile(i) = self.capture_target
            && i >= self.host_profiles.len()
        {
            self.capture_target = CaptureTarget::Embedded;
        }
        self.chunk_ms = self.chunk_ms.clamp(10, 1000);
        self.ptt_key = match self.ptt_key.parse::<capdeck_capture::hotkey::PttKey>() {
            Ok(k) => k.to_string(),
            Err(e) => {
                tracing::warn!("{e}; using the default");
                capdeck_capture::hotkey::PttKey::default().to_string()
            }
        };
        self.ptt_preroll_ms = self
            .ptt_preroll_ms
            .min(capdeck_capture::audio::gate::MAX_PREROLL_MS);
        self.gain_db = if self.gain_db.is_finite() {
            self.gain_db.clamp(-60.0, 40.0)
        } else {
            0.0
        };
        self.video_size = [
            self.video_size[0].clamp(16, 7680),
            self.video_size[1].clamp(16, 4320),
        ];
        self.video_fps = if self.video_fps.is_finite() {
            self.video_fps.clamp(0.1, 60.0)
        } else {
            5.0
        };
        self.video_quality = self.video_quality.clamp(1, 100);
        self.memory_budget_mib = self.memory_budget_mib.clamp(MIN_BUDGET_MIB, MAX_BUDGET_MIB);
        self.follow_delay_s = if self.follow_delay_s.is_finite() {
            self.follow_delay_s.clamp(0.0, 60.0)
        } else {
            0.0
        };
        // the play policy and the folder setting name the same folder
        use capdeck_grimstream::feed::MoviePolicy;
        if self
            .game_data_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            self.game_data_dir = None;
        }
        match (&self.movie_policy, &self.game_data_dir) {
            (MoviePolicy::Play { game_data }, None) => self.game_data_dir = Some(game_data.clone()),
            (MoviePolicy::Play { game_data }, Some(d)) if game_data != d => {
                self.movie_policy = MoviePolicy::Play {
                    game_data: d.clone(),
                }
            }
            _ => {}
        }
        self.capture_width = if self.capture_width.is_finite() {
            self.capture_width.clamp(200.0, 4000.0)
        } else {
            520.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_reads_both_spellings() {
        // files written before the one Framing type said "Framed"; the wire's is "framed"
        for (text, want) in [
            ("\"Framed\"", Framing::Framed),
            ("\"framed\"", Framing::Framed),
            ("\"Multipart\"", Framing::Multipart),
        ] {
            assert_eq!(serde_json::from_str::<Framing>(text).unwrap(), want);
        }
        assert_eq!(
            serde_json::to_string(&Framing::Framed).unwrap(),
            "\"framed\""
        );
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let s = Settings {
            video_fps: 12.0,
            layout: Layout::Tabs,
            capture_target: CaptureTarget::Profile(1),
            ..Default::default()
        };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), s);
    }

    #[test]
    fn the_play_policy_and_the_game_data_folder_agree() {
        use capdeck_grimstream::feed::MoviePolicy;
        let play = |d: &str| MoviePolicy::Play {
            game_data: d.into(),
        };
        // a file that has only the policy gets the folder from it
        let mut s = Settings {
            movie_policy: play("/games/grim"),
            ..Default::default()
        };
        s.sanitize();
        assert_eq!(s.game_data_dir, Some("/games/grim".into()));
        // the folder setting wins over a policy that names another
        s.game_data_dir = Some("/games/other".into());
        s.sanitize();
        assert_eq!(s.movie_policy, play("/games/other"));
        // an empty folder is none; another policy keeps the folder
        let mut s = Settings {
            game_data_dir: Some("".into()),
            ..Default::default()
        };
        s.sanitize();
        assert_eq!(s.game_data_dir, None);
        let mut s = Settings {
            game_data_dir: Some("/games/grim".into()),
            movie_policy: MoviePolicy::Skip,
            ..Default::default()
        };
        s.sanitize();
        assert_eq!(
            (s.game_data_dir.as_deref(), &s.movie_policy),
            (Some(Path::new("/games/grim")), &MoviePolicy::Skip)
        );
    }

    #[test]
    fn invalid_file_is_an_error_and_values_are_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Parse { .. })
        ));
        std::fs::write(&path, r#"{"video_quality": 250, "chunk_ms": 0, "host_profiles": [], "capture_target": {"Profile": 9}}"#).unwrap();
        let s = Settings::load(&path).unwrap();
        assert_eq!(s.video_quality, 100);
        assert_eq!(s.chunk_ms, 10);
        assert_eq!(s.host_profiles.len(), 2, "presets restored");
        assert_eq!(s.capture_target, CaptureTarget::Embedded);
    }
}
