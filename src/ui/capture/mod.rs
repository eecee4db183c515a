//! The Capture pane: microphone, video source with the preview of what is sent, one row
//! per channel with its status light and counters, the control channel and host config,
//! and the built-in receiver's stats.
//!
//! The pane draws a [`CaptureSnapshot`] taken each frame from a [`CaptureBackend`]; the
//! backend owns the pipelines and links (threads), the UI never waits on them.

pub mod preview;
pub mod real;
pub mod sources;

use egui::Color32;

use self::preview::Preview;
use super::command::{CommandQueue, UiCommand};
use super::settings::{CaptureTarget, Settings};
use super::widgets::{GREEN, GREY, RED, YELLOW, level_meter_ui, status_light_ui};

/// A pushed channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushChannel {
    /// 16 kHz mono int16 chunks.
    Audio,
    /// JPEG frames.
    Video,
}

impl PushChannel {
    /// Both channels.
    pub const ALL: [PushChannel; 2] = [PushChannel::Audio, PushChannel::Video];
    /// Array index.
    pub fn index(self) -> usize {
        self as usize
    }
    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            PushChannel::Audio => "audio",
            PushChannel::Video => "video",
        }
    }
}

/// The status light of a link.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LinkLight {
    /// Stopped.
    #[default]
    Idle,
    /// Green.
    Streaming,
    /// Yellow: connecting or buffering (with what is queued).
    Connecting {
        /// e.g. "buffering 12 queued: host not reading".
        detail: String,
    },
    /// Red, with the reason and seconds to the next retry.
    Disconnected {
        /// Why.
        reason: String,
        /// Seconds until the next attempt.
        retry_in_s: Option<f32>,
    },
}

impl LinkLight {
    /// Colour and one-line text.
    pub fn describe(&self) -> (Color32, String) {
        match self {
            LinkLight::Idle => (GREY, "stopped".into()),
            LinkLight::Streaming => (GREEN, "streaming".into()),
            LinkLight::Connecting { detail } => (YELLOW, detail.clone()),
            LinkLight::Disconnected { reason, retry_in_s } => (
                RED,
                match retry_in_s {
                    Some(s) => format!("disconnected: {reason}; retry in {s:.1} s"),
                    None => format!("disconnected: {reason}"),
                },
            ),
        }
    }
}

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushCounters {
    /// Light.
    pub light: LinkLight,
    /// Chunks or frames sent.
    pub sent: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Last seq sent.
    pub seq: Option<u64>,
    /// Dropped by the bounded queue.
    pub dropped: u64,
    /// Reconnects.
    pub reconnects: u64,
}

/// Microphone state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioStatus {
    /// What is captured, e.g. "default (pulse)" or "tone 440 Hz".
    pub source_label: String,
    /// Devices to pick from: `(choice, label)`, the choice being `device:<id>` (a saved
    /// choice names the same device whatever its name becomes), the label the device's name
    /// marked default or monitor (`AudioDeviceInfo::label`).
    pub devices: Vec<(String, String)>,
    /// Last chunk peak.
    pub peak_dbfs: f32,
    /// Last chunk RMS.
    pub rms_dbfs: f32,
    /// Samples clipped so far.
    pub clipped: u64,
    /// Capture overruns (device delivered faster than consumed).
    pub overruns: u64,
    /// Muted (not persisted: a muted mic on the next start surprises people).
    pub muted: bool,
    /// The voice stage (game audio removal), when it runs.
    pub voice: Option<capdeck_capture::audio::voice::VoiceStatus>,
}

/// Video state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoStatus {
    /// What is captured.
    pub source_label: String,
    /// Last JPEG size in bytes.
    pub last_jpeg_bytes: usize,
    /// Bitrate over the last seconds, kbit/s.
    pub bitrate_kbps: f32,
    /// Measured frame rate.
    pub fps: f32,
    /// Encoded size.
    pub size: [u32; 2],
}

/// Where a host-config value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Sent by the host.
    Host,
    /// Pinned by the operator (host value ignored).
    Pinned,
    /// Local default (no host reply yet).
    Default,
}

/// Control channel state and the config in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlStatus {
    /// Light.
    pub light: LinkLight,
    /// Last heartbeat reply age, s.
    pub last_reply_s: Option<f32>,
    /// When the host last answered a hello (local clock time), and how many hellos greeted
    /// a host that came back between heartbeats.
    pub last_hello: Option<String>,
    /// `(key, value, source)`.
    pub config: Vec<(String, String, ConfigSource)>,
}

/// Stats of the built-in receiver (embedded mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiverSummary {
    /// Where it listens.
    pub endpoint: String,
    /// Its audio and video PULL ports (on 127.0.0.1).
    pub ports: Option<(u16, u16)>,
    /// Audio messages received.
    pub audio_msgs: u64,
    /// Video messages received.
    pub video_msgs: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Last audio seq.
    pub last_audio_seq: Option<u64>,
    /// Last video seq.
    pub last_video_seq: Option<u64>,
    /// Messages refused as malformed.
    pub malformed: u64,
}

/// Everything the capture pane draws.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureSnapshot {
    /// Microphone.
    pub audio: AudioStatus,
    /// Video.
    pub video: VideoStatus,
    /// Per channel.
    pub channels: [PushCounters; 2],
    /// Control channel.
    pub control: ControlStatus,
    /// Built-in receiver, when sending to it.
    pub receiver: Option<ReceiverSummary>,
    /// Where it sends, for the header.
    pub target_label: String,
    /// Why capture cannot run at all (the worker could not start), with what to do.
    pub unavailable: Option<String>,
}

/// The backend in place when the capture worker cannot start: it says why and streams
/// nothing (a retry builds the real backend again).
#[derive(Debug)]
pub struct UnavailableBackend {
    why: String,
}

impl UnavailableBackend {
    /// A backend that reports `why` in the pane.
    pub fn new(why: impl std::fmt::Display) -> Self {
        Self {
            why: format!("{why}; nothing is being sent. Free some memory or threads and retry."),
        }
    }
}

impl CaptureBackend for UnavailableBackend {
    fn apply(&mut self, _cmd: &UiCommand, _settings: &Settings) {}
    fn snapshot(&mut self) -> CaptureSnapshot {
        CaptureSnapshot {
            unavailable: Some(self.why.clone()),
            target_label: "not sending".into(),
            ..Default::default()
        }
    }
    fn preview(&self) -> Option<Preview> {
        None
    }
    fn is_live(&self) -> bool {
        false
    }
}

/// What the capture pane needs from the capture side.
pub trait CaptureBackend {
    /// Applies a capture command (others are ignored).
    fn apply(&mut self, cmd: &UiCommand, settings: &Settings);
    /// Current state; must not block.
    fn snapshot(&mut self) -> CaptureSnapshot;
    /// Latest decoded preview of the sent JPEG.
    fn preview(&self) -> Option<Preview>;
    /// Whether the preview is on screen (a minimised or hidden window decodes nothing).
    fn set_preview_wanted(&self, _on: bool) {}
    /// Whether anything is streaming (the UI keeps repainting).
    fn is_live(&self) -> bool;
}

/// Texture cache for the preview.
#[derive(Default)]
pub struct PreviewTexture {
    seq: Option<u64>,
    handle: Option<egui::TextureHandle>,
}

/// What the capture pane draws besides the backend's snapshot.
#[derive(Clone, Copy)]
pub struct PaneExtras<'a> {
    /// Push-to-talk row.
    pub ptt: &'a crate::ui::ptt::PttView,
    /// The video source picker's list.
    pub sources: &'a sources::SourceListView,
}

/// The whole capture pane.
pub fn capture_ui(
    ui: &mut egui::Ui,
    snap: &CaptureSnapshot,
    extra: PaneExtras<'_>,
    preview: Option<Preview>,
    tex: &mut PreviewTexture,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    let PaneExtras { ptt, sources } = extra;
    egui::ScrollArea::vertical()
        .id_salt("capture_scroll")
        .show(ui, |ui| {
            target_ui(ui, snap, settings, cmds);
            if let Some(why) = &snap.unavailable {
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(RED, format!("Capture cannot start: {why}"));
                    if ui.button("Retry").clicked() {
                        cmds.push(UiCommand::RetryCaptureWorker);
                    }
                });
            }
            ui.separator();
            let rest = |ui: &mut egui::Ui, cmds: &mut CommandQueue| {
                control_ui(ui, snap, cmds);
                if let Some(r) = &snap.receiver {
                    ui.separator();
                    receiver_ui(ui, r);
                }
            };
            if ui.available_width() > 1000.0 {
                // wide (tab layout): media on the left, links and host on the right
                ui.columns(2, |cols| {
                    audio_ui(&mut cols[0], snap, ptt, settings, cmds);
                    cols[0].separator();
                    video_ui(&mut cols[0], snap, sources, preview, tex, settings, cmds);
                    rest(&mut cols[1], cmds);
                });
            } else {
                audio_ui(ui, snap, ptt, settings, cmds);
                ui.separator();
                video_ui(ui, snap, sources, preview, tex, settings, cmds);
                ui.separator();
                rest(ui, cmds);
            }
        });
}

fn target_ui(
    ui: &mut egui::Ui,
    snap: &CaptureSnapshot,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Send to");
        let embedded = settings.capture_target == CaptureTarget::Embedded;
        if ui.radio(embedded, "built-in receiver").clicked() && !embedded {
            cmds.push(UiCommand::UseEmbeddedHost);
        }
        for (i, p) in settings.host_profiles.iter().enumerate() {
            let sel = settings.capture_target == CaptureTarget::Profile(i);
            if ui
                .radio(sel, &p.name)
                .on_hover_text(format!(
                    "{} ports {}/{}/{} {}",
                    p.address,
                    p.audio_port,
                    p.video_port,
                    p.control_port,
                    p.framing.as_str()
                ))
                .clicked()
                && !sel
            {
                cmds.push(UiCommand::UseHostProfile(i));
            }
        }
    });
    if let CaptureTarget::Profile(i) = settings.capture_target
        && let Some(p) = settings.host_profiles.get(i)
    {
        let mut edited = p.clone();
        ui.horizontal(|ui| {
            let l = ui.label("address");
            ui.add(
                egui::TextEdit::singleline(&mut edited.address)
                    .desired_width(140.0)
                    .id_salt("host_addr"),
            )
            .labelled_by(l.id);
            for (name, port) in [
                ("audio", &mut edited.audio_port),
                ("video", &mut edited.video_port),
                ("control", &mut edited.control_port),
            ] {
                let l = ui.label(name);
                ui.add(egui::DragValue::new(port)).labelled_by(l.id);
            }
            egui::ComboBox::new("framing", "framing")
                .selected_text(edited.framing.as_str())
                .show_ui(ui, |ui| {
                    use crate::ui::settings::Framing;
                    ui.selectable_value(&mut edited.framing, Framing::Framed, "framed");
                    ui.selectable_value(&mut edited.framing, Framing::Multipart, "multipart");
                });
        });
        if edited != *p {
            cmds.push(UiCommand::EditHostProfile(i, edited));
        }
    }
    ui.weak(&snap.target_label);
}

fn channel_row_ui(ui: &mut egui::Ui, ch: PushChannel, st: &PushCounters, cmds: &mut CommandQueue) {
    ui.horizontal_wrapped(|ui| {
        let (color, text) = st.light.describe();
        status_light_ui(ui, color, &text);
        if st.light == LinkLight::Idle {
            if ui.button(format!("Start {}", ch.label())).clicked() {
                cmds.push(UiCommand::StartChannel(ch));
            }
        } else if ui.button(format!("Stop {}", ch.label())).clicked() {
            cmds.push(UiCommand::StopChannel(ch));
        }
        ui.label(text);
        if matches!(
            st.light,
            LinkLight::Disconnected { .. } | LinkLight::Connecting { .. }
        ) && ui.button("Retry now").clicked()
        {
            cmds.push(UiCommand::RetryNow(ch));
        }
    });
    ui.monospace(format!(
        "{} {}  bytes {}  seq {}  dropped {}  reconnects {}",
        if ch == PushChannel::Audio {
            "chunks"
        } else {
            "frames"
        },
        st.sent,
        human_bytes(st.bytes),
        st.seq.map_or("–".into(), |s| s.to_string()),
        st.dropped,
        st.reconnects
    ));
}

fn audio_ui(
    ui: &mut egui::Ui,
    snap: &CaptureSnapshot,
    ptt: &crate::ui::ptt::PttView,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    ui.heading("Microphone");
    ui.horizontal_wrapped(|ui| {
        let selected = snap
            .audio
            .devices
            .iter()
            .find(|(c, _)| *c == settings.audio_source)
            .map_or(settings.audio_source.as_str(), |(_, l)| l.as_str());
        egui::ComboBox::new("mic", "microphone")
            .selected_text(selected)
            .width(220.0)
            .show_ui(ui, |ui| {
                let mut choices = vec![("default".to_owned(), "default".to_owned())];
                choices.extend(snap.audio.devices.iter().cloned());
                choices.push(("tone:440".into(), "tone:440".into()));
                choices.push(("none".into(), "none".into()));
                for (c, label) in choices {
                    if ui
                        .selectable_label(settings.audio_source == c, &label)
                        .on_hover_text(&c)
                        .clicked()
                    {
                        cmds.push(UiCommand::SetAudioSource(c));
                    }
                }
            });
        let mut follow = settings.follow_default_mic;
        if ui
            .checkbox(&mut follow, "follow system default")
            .on_hover_text("Off = stick to the chosen device even if the default changes")
            .changed()
        {
            cmds.push(UiCommand::SetFollowDefaultMic(follow));
        }
        ui.weak(&snap.audio.source_label);
    });
    ui.horizontal(|ui| {
        level_meter_ui(
            ui,
            snap.audio.peak_dbfs,
            snap.audio.rms_dbfs,
            snap.audio.clipped > 0,
        );
        ui.monospace(format!(
            "pk {:5.1}  rms {:5.1} dBFS",
            snap.audio.peak_dbfs, snap.audio.rms_dbfs
        ));
    });
    ui.horizontal_wrapped(|ui| {
        let mut g = settings.gain_db;
        if ui
            .add(
                egui::Slider::new(&mut g, -30.0..=30.0)
                    .suffix(" dB")
                    .text("gain"),
            )
            .changed()
        {
            cmds.push(UiCommand::SetGain(g));
        }
        let mut muted = snap.audio.muted;
        let mute_label = if muted { "muted" } else { "mute" };
        if ui.toggle_value(&mut muted, mute_label).changed() {
            cmds.push(UiCommand::SetMuted(muted));
        }
        let clip_color = if snap.audio.clipped > 0 {
            RED
        } else {
            ui.visuals().weak_text_color()
        };
        ui.colored_label(clip_color, format!("clipped {}", snap.audio.clipped));
        ui.weak(format!("overruns {}", snap.audio.overruns));
    });
    voice_ui(ui, snap, settings, cmds);
    crate::ui::ptt::ptt_ui(ui, ptt, settings, cmds);
    channel_row_ui(ui, PushChannel::Audio, &snap.channels[0], cmds);
}

/// "Remove game audio": the reference picker, noise suppression, and while it runs the
/// speech light and how loud the game is in the microphone before and after removal.
fn voice_ui(
    ui: &mut egui::Ui,
    snap: &CaptureSnapshot,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    ui.horizontal_wrapped(|ui| {
        let mut on = settings.game_audio != "none";
        if ui
            .checkbox(&mut on, "Remove game audio")
            .on_hover_text(
                "Cancels what the desktop plays (the game, the copilot's spoken replies) out of \
                 the microphone, so the host hears only you",
            )
            .changed()
        {
            let g = if on { "output" } else { "none" };
            cmds.push(UiCommand::SetGameAudio(g.to_owned()));
        }
        if on {
            // what the default output plays, or any monitor / loopback input
            let mut choices = vec![("output".to_owned(), "what the output plays".to_owned())];
            choices.extend(
                snap.audio
                    .devices
                    .iter()
                    .filter(|(_, l)| l.contains("(monitor)"))
                    .cloned(),
            );
            let selected = choices
                .iter()
                .find(|(c, _)| *c == settings.game_audio)
                .map_or(settings.game_audio.as_str(), |(_, l)| l.as_str());
            egui::ComboBox::new("game_audio", "game sound")
                .selected_text(selected)
                .width(200.0)
                .show_ui(ui, |ui| {
                    for (c, label) in choices {
                        if ui
                            .selectable_label(settings.game_audio == c, &label)
                            .on_hover_text(&c)
                            .clicked()
                        {
                            cmds.push(UiCommand::SetGameAudio(c));
                        }
                    }
                });
        }
        let mut ns = settings.noise_suppression;
        if ui
            .checkbox(&mut ns, "noise suppression")
            .on_hover_text("Helps steady fan noise; can hurt the recogniser on speech over speech")
            .changed()
        {
            cmds.push(UiCommand::SetNoiseSuppression(ns));
        }
    });
    if let Some(v) = &snap.audio.voice {
        ui.horizontal_wrapped(|ui| {
            let (c, t) = if v.speech >= 0.5 {
                (GREEN, "speech")
            } else {
                (GREY, "no speech")
            };
            status_light_ui(ui, c, t)
                .on_hover_text("The last chunk's share of speech, sent to the host as `speech`");
            if v.game.is_some() {
                ui.monospace(format!(
                    "game in mic {:5.1} → {:5.1} dBFS",
                    v.game_before_dbfs, v.game_after_dbfs
                ))
                .on_hover_text("How loud the game is in the microphone before and after removal");
            }
            ui.weak(&v.state);
        });
    }
}

/// The source menu: real devices grouped by kind, with a clear line for an empty kind
/// or a failed listing.
fn video_sources_ui(
    ui: &mut egui::Ui,
    sources: &sources::SourceListView,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    if sources.listing {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.weak("listing sources…");
        });
    }
    let listed = sources.listed_at.is_some();
    for (kind, entries) in [
        ("cameras", &sources.cameras),
        ("screens", &sources.screens),
        ("windows", &sources.windows),
        ("test sources", &sources.synthetic),
    ] {
        ui.label(egui::RichText::new(kind).strong());
        if entries.is_empty() && listed {
            ui.weak(format!("no {kind} found"));
        }
        for e in entries {
            if ui
                .selectable_label(settings.video_source == e.spec, &e.label)
                .on_hover_text(&e.spec)
                .clicked()
            {
                cmds.push(UiCommand::SetVideoSource(e.spec.clone()));
            }
        }
    }
    // what is selected stays visible even when not (or no longer) listed
    if sources.label_of(&settings.video_source).is_none() {
        ui.separator();
        let _ = ui.selectable_label(true, &settings.video_source);
    }
    for p in &sources.problems {
        ui.colored_label(YELLOW, format!("! {p}"));
    }
}

fn video_ui(
    ui: &mut egui::Ui,
    snap: &CaptureSnapshot,
    sources: &sources::SourceListView,
    preview: Option<Preview>,
    tex: &mut PreviewTexture,
    settings: &Settings,
    cmds: &mut CommandQueue,
) {
    ui.heading("Video");
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::new("video_source", "source")
            .selected_text(&settings.video_source)
            .width(180.0)
            .show_ui(ui, |ui| video_sources_ui(ui, sources, settings, cmds));
        if ui
            .small_button("refresh")
            .on_hover_text("list cameras, screens and windows again")
            .clicked()
        {
            cmds.push(UiCommand::RefreshVideoSources);
        }
        egui::ComboBox::new("video_size", "size")
            .selected_text(format!(
                "{}x{}",
                settings.video_size[0], settings.video_size[1]
            ))
            .show_ui(ui, |ui| {
                for s in [
                    [320, 240],
                    [640, 480],
                    [960, 540],
                    [1280, 720],
                    [1920, 1080],
                ] {
                    if ui
                        .selectable_label(settings.video_size == s, format!("{}x{}", s[0], s[1]))
                        .clicked()
                    {
                        cmds.push(UiCommand::SetVideoSize(s));
                    }
                }
            });
        let mut fps = settings.video_fps;
        if ui
            .add(
                egui::DragValue::new(&mut fps)
                    .range(0.5..=30.0)
                    .speed(0.1)
                    .suffix(" fps"),
            )
            .changed()
        {
            cmds.push(UiCommand::SetVideoFps(fps));
        }
        let mut q = settings.video_quality;
        if ui
            .add(egui::Slider::new(&mut q, 10..=95).text("quality"))
            .changed()
        {
            cmds.push(UiCommand::SetVideoQuality(q));
        }
    });
    ui.horizontal(|ui| {
        ui.weak(&snap.video.source_label);
        ui.monospace(format!(
            "{}x{}  {:.1} KB  {:.0} kbit/s  {:.1} fps",
            snap.video.size[0],
            snap.video.size[1],
            snap.video.last_jpeg_bytes as f32 / 1024.0,
            snap.video.bitrate_kbps,
            snap.video.fps
        ));
    });
    preview_image_ui(ui, preview.as_ref(), tex, "no frame sent yet");
    channel_row_ui(ui, PushChannel::Video, &snap.channels[1], cmds);
}

/// A sent JPEG decoded back, fitted in 400 points wide at most (uploaded once per frame
/// through `tex`), or a dark box saying `empty`.
pub fn preview_image_ui(
    ui: &mut egui::Ui,
    preview: Option<&Preview>,
    tex: &mut PreviewTexture,
    empty: &str,
) {
    let w = ui.available_width().min(400.0);
    let h = w * 3.0 / 4.0;
    match preview {
        Some(p) => {
            if tex.seq != Some(p.seq) {
                let img = (*p.image).clone();
                match &mut tex.handle {
                    Some(hd) => hd.set(img, egui::TextureOptions::LINEAR),
                    None => {
                        tex.handle = Some(ui.ctx().load_texture(
                            "capture_preview",
                            img,
                            egui::TextureOptions::LINEAR,
                        ))
                    }
                }
                tex.seq = Some(p.seq);
            }
            if let Some(hd) = &tex.handle {
                let [iw, ih] = p.image.size;
                let s = (w / iw as f32).min(h / ih as f32);
                ui.add(egui::Image::new((
                    hd.id(),
                    egui::vec2(iw as f32 * s, ih as f32 * s),
                )))
                .on_hover_text(format!(
                    "frame {} as sent: {} bytes JPEG decoded back",
                    p.seq, p.jpeg_bytes
                ));
            }
        }
        None => {
            let (r, _) = ui.allocate_exact_size(egui::vec2(w, h), egui::Sense::hover());
            ui.painter().rect_filled(r, 2.0, Color32::from_gray(20));
            ui.painter().text(
                r.center(),
                egui::Align2::CENTER_CENTER,
                empty,
                egui::FontId::proportional(14.0),
                Color32::GRAY,
            );
        }
    }
}

fn control_ui(ui: &mut egui::Ui, snap: &CaptureSnapshot, cmds: &mut CommandQueue) {
    ui.heading("Control channel");
    ui.horizontal(|ui| {
        let (color, text) = snap.control.light.describe();
        status_light_ui(ui, color, &text);
        ui.label(text);
        if let Some(s) = snap.control.last_reply_s {
            ui.weak(format!("last reply {s:.1} s ago"));
        }
        if let Some(h) = &snap.control.last_hello {
            ui.weak(h).on_hover_text(
                "A host that restarts is greeted again at once, and its config applies \
                 (pinned values stay)",
            );
        }
    });
    egui::Grid::new("host_config")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for (k, v, src) in &snap.control.config {
                ui.monospace(k);
                ui.monospace(v);
                let mut pinned = *src == ConfigSource::Pinned;
                let label = match src {
                    ConfigSource::Host => "from host",
                    ConfigSource::Pinned => "pinned",
                    ConfigSource::Default => "default",
                };
                if ui
                    .checkbox(&mut pinned, label)
                    .on_hover_text("Pinned values are kept even when the host sends another")
                    .changed()
                {
                    cmds.push(UiCommand::SetPinned(k.clone(), pinned));
                }
                ui.end_row();
            }
        });
}

fn receiver_ui(ui: &mut egui::Ui, r: &ReceiverSummary) {
    ui.heading("Built-in receiver");
    ui.monospace(format!("listening on {}", r.endpoint));
    ui.monospace(format!(
        "received audio {} (seq {})  video {} (seq {})  {}  malformed {}",
        r.audio_msgs,
        r.last_audio_seq.map_or("–".into(), |s| s.to_string()),
        r.video_msgs,
        r.last_video_seq.map_or("–".into(), |s| s.to_string()),
        human_bytes(r.bytes),
        r.malformed
    ));
}

/// 1.2 MB style.
pub fn human_bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b} B"),
        1024..1_048_576 => format!("{:.1} KB", b as f64 / 1024.0),
        _ => format!("{:.1} MB", b as f64 / 1_048_576.0),
    }
}
