//! Recording in the app: the Record button and its indicator (elapsed time, size, write
//! rate, drops, disk left), the open-a-recording window (a path, the recent recordings
//! with open and delete), the banner the live pane shows while a recording replays, and
//! the capture pane's view of what was sent at the replay's cursor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::Instant;

use super::capture::{human_bytes, preview_image_ui};
use super::command::{CommandQueue, UiCommand};
use super::live::LiveRuntime;
use super::live::replay::ReplaySource;
use super::widgets::{GREEN, GREY, RED, YELLOW, level_meter_ui};
use capdeck_record::manifest::Manifest;
use capdeck_record::reader::Recording;
use capdeck_record::recorder::{RecorderState, RecorderStatus};
use capdeck_session::replay::{ToHostOptions, ToHostProgress, to_host};

/// A recording found in the recordings folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentRecording {
    /// The session folder.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// Bytes of its segments (sealed plus the open one's head).
    pub bytes: u64,
    /// Span of its messages, s.
    pub seconds: f64,
    /// Why its manifest could not be read, if it could not.
    pub problem: Option<String>,
}

/// The recordings in `dir`, newest first (folder names are UTC stamps, so they sort).
pub fn list_recordings(dir: &Path) -> Vec<RecentRecording> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<RecentRecording> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            match Manifest::read(&path) {
                Ok(m) => RecentRecording {
                    bytes: m.segments.iter().map(|s| s.bytes).sum::<u64>()
                        + m.open.as_ref().map_or(0, |o| o.head_bytes),
                    seconds: m
                        .time_range()
                        .map_or(0.0, |(a, b)| b.saturating_sub(a) as f64 / 1e9),
                    problem: None,
                    path,
                    name,
                },
                Err(e) => RecentRecording {
                    bytes: 0,
                    seconds: 0.0,
                    problem: Some(e.to_string()),
                    path,
                    name,
                },
            }
        })
        .collect();
    out.sort_by(|a, b| b.name.cmp(&a.name));
    out
}

/// State of the open-a-recording window.
#[derive(Debug, Clone, Default)]
pub struct OpenWindow {
    /// Shown.
    pub open: bool,
    /// The path typed.
    pub path: String,
    /// The recordings folder as listed.
    pub dir: Option<PathBuf>,
    /// Its recordings, listed when the window opened (or after a delete).
    pub recent: Vec<RecentRecording>,
}

impl OpenWindow {
    /// Lists the recordings folder again.
    pub fn refresh(&mut self, dir: Option<PathBuf>) {
        self.recent = dir.as_deref().map(list_recordings).unwrap_or_default();
        self.dir = dir;
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn hms(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The recorder as the status bar shows it, with the write rate measured between frames.
#[derive(Debug, Default)]
pub struct RecordIndicator {
    last: Option<(Instant, u64)>,
    rate_bps: f64,
}

impl RecordIndicator {
    /// Text of the indicator for `st` (and updates the write rate).
    pub fn text(&mut self, st: &RecorderStatus) -> String {
        let now = Instant::now();
        match self.last {
            Some((t, b)) if now.duration_since(t).as_secs_f64() >= 1.0 => {
                let dt = now.duration_since(t).as_secs_f64();
                self.rate_bps = st.bytes_on_disk.saturating_sub(b) as f64 / dt;
                self.last = Some((now, st.bytes_on_disk));
            }
            None => self.last = Some((now, st.bytes_on_disk)),
            _ => {}
        }
        let free = st
            .disk_free
            .map_or_else(|| "disk free unknown".into(), |f| format!("{} free", mb(f)));
        format!(
            "{} · {} · {:.1} MB/s · {} dropped · {free}",
            hms(st.elapsed.as_secs_f64()),
            mb(st.bytes_on_disk),
            self.rate_bps / 1e6,
            st.dropped
        )
    }

    /// Forget the rate (a new recording).
    pub fn reset(&mut self) {
        *self = RecordIndicator::default();
    }
}

/// The status bar's recording controls: Record (or the indicator and Stop), Open.
pub fn record_controls_ui(
    ui: &mut egui::Ui,
    status: Option<&RecorderStatus>,
    indicator: &mut RecordIndicator,
    last_stop: Option<&str>,
    replaying: bool,
    cmds: &mut CommandQueue,
) {
    match status {
        Some(st) if st.state == RecorderState::Recording => {
            ui.colored_label(RED, "REC");
            ui.label(indicator.text(st))
                .on_hover_text(format!("Recording into {}", st.dir.display()));
            if ui.button("Stop").on_hover_text("Ctrl+R").clicked() {
                cmds.push(UiCommand::StopRecording);
            }
        }
        _ => {
            let b = ui.add_enabled(!replaying, egui::Button::new("Record"));
            let b = if replaying {
                b.on_disabled_hover_text("Back to live to record")
            } else {
                b.on_hover_text("Record everything sent and received (Ctrl+R)")
            };
            if b.clicked() {
                cmds.push(UiCommand::StartRecording);
            }
            if let Some(why) = last_stop {
                ui.colored_label(YELLOW, why);
            }
        }
    }
    if ui
        .button("Open recording…")
        .on_hover_text("Open a recording in the live view (Ctrl+O, or drop its folder here)")
        .clicked()
    {
        cmds.push(UiCommand::ShowOpenRecording(true));
    }
}

/// The open-a-recording window.
pub fn open_window_ui(ctx: &egui::Context, w: &OpenWindow, cmds: &mut CommandQueue) {
    if !w.open {
        return;
    }
    let mut open = true;
    egui::Window::new("Open a recording")
        .open(&mut open)
        .collapsible(false)
        .default_width(520.0)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                let mut p = w.path.clone();
                let r = ui.add(
                    egui::TextEdit::singleline(&mut p)
                        .hint_text("session folder or .mcap segment")
                        .desired_width(360.0),
                );
                if r.changed() {
                    cmds.push(UiCommand::SetOpenPath(p.clone()));
                }
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Open").clicked() || enter) && !p.trim().is_empty() {
                    cmds.push(UiCommand::OpenRecording(PathBuf::from(p.trim())));
                }
            });
            ui.separator();
            match &w.dir {
                Some(d) => ui.label(format!("Recent recordings in {}", d.display())),
                None => ui.label("No recordings folder on this platform"),
            };
            if w.recent.is_empty() {
                ui.colored_label(GREY, "none yet: the Record button makes one");
            }
            egui::ScrollArea::vertical()
                .max_height(280.0)
                .show(ui, |ui| {
                    egui::Grid::new("recent_recordings")
                        .striped(true)
                        .show(ui, |ui| {
                            for r in &w.recent {
                                ui.label(&r.name);
                                match &r.problem {
                                    Some(p) => ui.colored_label(YELLOW, p),
                                    None => {
                                        ui.label(format!("{} · {}", hms(r.seconds), mb(r.bytes)))
                                    }
                                };
                                if ui.button("Open").clicked() {
                                    cmds.push(UiCommand::OpenRecording(r.path.clone()));
                                }
                                if ui.button("Delete").clicked() {
                                    cmds.push(UiCommand::DeleteRecording(r.path.clone()));
                                }
                                ui.end_row();
                            }
                        });
                });
        });
    if !open {
        cmds.push(UiCommand::ShowOpenRecording(false));
    }
}

/// The live pane's banner while a recording opens or replays.
pub fn replay_banner_ui(ui: &mut egui::Ui, rt: &LiveRuntime, cmds: &mut CommandQueue) {
    if let Some(o) = &rt.opening {
        ui.horizontal(|ui| {
            ui.label(format!("Opening {} …", o.path.display()));
            ui.add(
                egui::ProgressBar::new(o.fraction())
                    .desired_width(200.0)
                    .show_percentage(),
            );
            if ui.button("Cancel").clicked() {
                cmds.push(UiCommand::CloseRecording);
            }
        });
    } else if let Some(r) = &rt.recording {
        ui.horizontal_wrapped(|ui| {
            ui.strong("Replaying");
            ui.label(r.path.display().to_string());
            let mut facts = format!(
                "{} messages · {} frames read from disk (last {:.1} ms)",
                r.replay.messages, r.pager.loads, r.pager.last_load_ms
            );
            if !r.replay.gaps.is_empty() {
                facts += &format!(" · {} unreadable stretches", r.replay.gaps.len());
            }
            ui.label(facts);
            for p in r.problems.iter().chain(r.pager.load_error.iter()) {
                ui.colored_label(YELLOW, p);
            }
            if ui.button("Back to live").clicked() {
                cmds.push(UiCommand::CloseRecording);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let busy = r.job.as_ref().is_some_and(RecordingJob::running);
            let sent = r.capture.audio.len() + r.capture.video.len();
            if ui
                .add_enabled(!busy && sent > 0, egui::Button::new("Send capture to host"))
                .on_hover_text(
                    "Push the recorded audio and video to the capture pane's target (the \
                     built-in receiver or the host profile chosen there), paced as recorded: \
                     the same bytes in the same order",
                )
                .on_disabled_hover_text(if busy {
                    "A job is running"
                } else {
                    "Nothing was sent while this was recorded"
                })
                .clicked()
            {
                cmds.push(UiCommand::SendRecordingToHost);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Export for Foxglove"))
                .on_hover_text(
                    "Write <name>.foxglove.mcap beside the recording with the standard \
                     schemas (CompressedImage, RawAudio, RawImage, JSON): it opens in \
                     Foxglove, Rerun and the mcap CLI",
                )
                .clicked()
            {
                cmds.push(UiCommand::ExportRecording);
            }
            let selection = rt.timeline().selection;
            if ui
                .add_enabled(
                    !busy && selection.is_some(),
                    egui::Button::new("Export selection as a clip"),
                )
                .on_hover_text(
                    "The selected range (Shift+drag on the timeline, or a bookmark's clip \
                     button): each retail frame beside the engine's view as PNG, an MP4 when \
                     ffmpeg is on the PATH, and the divergences and bookmarks in it (JSON, \
                     CSV), in a folder beside the recording",
                )
                .on_disabled_hover_text(if busy {
                    "A job is running"
                } else {
                    "Select a range first: Shift+drag on the timeline"
                })
                .clicked()
            {
                cmds.push(UiCommand::ExportClip);
            }
            if let Some(j) = &r.job {
                job_ui(ui, j, cmds);
            }
        });
        ui.separator();
    }
}

/// Audio shown around the cursor in the capture pane during a replay, ns.
const WAVEFORM_NS: i64 = 2_000_000_000;

/// The capture pane's section while a recording replays: what the capture side had sent
/// at the cursor: the JPEG decoded back (read from the recording off the UI thread), the
/// audio chunk's level, the waveform of the two seconds before the cursor, the counters,
/// the control channel's last reply and the last setting change.
pub fn sent_at_cursor_ui(ui: &mut egui::Ui, rec: &mut ReplaySource, cursor_ns: i64) {
    ui.heading("Sent at the cursor (recording)");
    let at = rec.capture.at(cursor_ns);
    rec.want_jpeg(at.video.as_ref());
    if rec.capture.is_empty() {
        ui.weak("Nothing was sent while this was recorded: the capture side was off.");
        ui.separator();
        return;
    }
    ui.horizontal(|ui| {
        ui.label("audio");
        match &at.audio {
            Some(a) => {
                level_meter_ui(ui, a.peak_dbfs, a.rms_dbfs, a.peak_dbfs > -0.1);
                ui.monospace(format!(
                    "peak {:.1} dBFS  rms {:.1} dBFS",
                    a.peak_dbfs, a.rms_dbfs
                ));
            }
            None => {
                ui.weak("nothing sent yet here");
            }
        }
    });
    let cols = (ui.available_width().min(400.0) / 2.0).max(1.0) as usize;
    waveform_ui(
        ui,
        &rec.capture
            .waveform(cursor_ns - WAVEFORM_NS, cursor_ns, cols),
    );
    let seq = |s: Option<u64>| s.map_or("–".into(), |s| s.to_string());
    ui.monospace(format!(
        "audio {} of {} chunks (seq {})  {}",
        at.audio_sent.0,
        at.audio_sent.1,
        seq(at.audio.as_ref().map(|a| a.seq)),
        human_bytes(at.audio_bytes)
    ));
    let empty = match (&at.video, &rec.jpeg_error) {
        (None, _) => "no frame sent yet here",
        (Some(_), Some(_)) => "cannot show this frame",
        (Some(_), None) => "reading the frame…",
    };
    let shown = rec.jpeg.clone().filter(|_| at.video.is_some());
    preview_image_ui(ui, shown.as_ref(), &mut rec.jpeg_tex, empty);
    ui.monospace(match &at.video {
        Some(v) => format!(
            "video {} of {} frames (seq {}, {}x{}, {:.1} KB)  {}",
            at.video_sent.0,
            at.video_sent.1,
            v.seq,
            v.size[0],
            v.size[1],
            v.jpeg_bytes as f32 / 1024.0,
            human_bytes(at.video_bytes)
        ),
        None => format!("video 0 of {} frames", at.video_sent.1),
    });
    if let Some(e) = &rec.jpeg_error {
        ui.colored_label(YELLOW, e);
    }
    ui.monospace(format!(
        "control {} requests, {} replies",
        at.control.0, at.control.1
    ));
    if !at.links.is_empty() {
        let text: Vec<String> = at.links.iter().map(|(c, s)| format!("{c} {s}")).collect();
        ui.monospace(format!("links: {}", text.join(" · ")));
    }
    let ago = |t: i64| (cursor_ns - t) as f64 / 1e9;
    if let Some(r) = &at.last_reply {
        ui.weak(format!(
            "last reply {:.1} s before: {}",
            ago(r.t_ns),
            r.text
        ));
    }
    if let Some((t, s)) = &at.last_setting {
        ui.weak(format!("last setting change {:.1} s before: {s}", ago(*t)));
    }
    if rec.capture.damaged > 0 {
        ui.colored_label(
            YELLOW,
            format!(
                "{} recorded capture messages did not decode",
                rec.capture.damaged
            ),
        );
    }
    ui.separator();
}

/// A min/max waveform, one column per value (`None`: nothing sent then); the right edge
/// is the cursor.
fn waveform_ui(ui: &mut egui::Ui, cols: &[Option<(f32, f32)>]) {
    let w = ui.available_width().min(400.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(w, 48.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, egui::Color32::from_gray(20));
    let mid = rect.center().y;
    let half = rect.height() / 2.0 - 1.0;
    let dx = rect.width() / cols.len().max(1) as f32;
    let stroke = egui::Stroke::new(dx.max(1.0), GREEN);
    for (i, c) in cols.iter().enumerate() {
        if let Some((lo, hi)) = c {
            let x = rect.left() + (i as f32 + 0.5) * dx;
            let (y0, y1) = (
                mid - hi.clamp(-1.0, 1.0) * half,
                mid - lo.clamp(-1.0, 1.0) * half,
            );
            p.line_segment([egui::pos2(x, y0), egui::pos2(x, y1.max(y0 + 1.0))], stroke);
        }
    }
    resp.on_hover_text("audio sent in the two seconds before the cursor");
}

/// Work on an opened recording, on its own thread: sending its capture side to a host
/// (paced as recorded), or exporting it with the standard schemas for Foxglove and Rerun.
pub struct RecordingJob {
    /// What it does, for the banner.
    pub what: String,
    /// Messages sent so far and the stop request (the send; unused by an export).
    pub progress: Arc<ToHostProgress>,
    /// Messages it will send (0: not counted).
    pub total: u64,
    /// When it started.
    pub started: Instant,
    rx: Receiver<Result<String, String>>,
    /// How it ended, once it did.
    pub outcome: Option<Result<String, String>>,
    /// A clip's frames written, and its cancel flag.
    pub clip: Option<Arc<capdeck_session::clip::ClipProgress>>,
}

impl RecordingJob {
    /// Sends the capture side of `session` to `host` (audio and video PULL ports), paced
    /// as recorded, the same bytes in the same order ([`to_host`]).
    pub fn send_to_host(
        session: &Path,
        host: &str,
        ports: (u16, u16),
        total: u64,
        waker: Option<egui::Context>,
    ) -> RecordingJob {
        let progress = Arc::new(ToHostProgress::default());
        let opts = ToHostOptions {
            host: host.to_owned(),
            audio_port: ports.0,
            video_port: ports.1,
            paced: true,
            speed: 1.0,
            send_timeout: std::time::Duration::from_secs(10),
            progress: progress.clone(),
        };
        let what = format!(
            "sending the capture side to {host} (audio {}, video {})",
            ports.0, ports.1
        );
        let session = session.to_owned();
        RecordingJob::spawn(what, progress, total, waker, move || {
            let rec = Recording::open(&session).map_err(|e| e.to_string())?;
            let r = to_host(&rec, &opts).map_err(|e| e.to_string())?;
            Ok(r.to_string())
        })
    }

    /// Exports `session` to `out` with the standard schemas ([`capdeck_record::foxglove`]).
    pub fn export(session: &Path, out: PathBuf, waker: Option<egui::Context>) -> RecordingJob {
        let what = format!("exporting to {}", out.display());
        let session = session.to_owned();
        RecordingJob::spawn(what, Default::default(), 0, waker, move || {
            let s = capdeck_record::foxglove::export(&session, &out).map_err(|e| e.to_string())?;
            Ok(format!(
                "exported {} messages to {} ({} left out); it opens in Foxglove, Rerun and `mcap info`",
                s.per_topic.values().sum::<u64>(),
                out.display(),
                s.skipped
            ))
        })
    }

    /// Exports the range `opts` names of `session` as a clip for a report
    /// ([`capdeck_session::clip`]), cancellable.
    pub fn clip(
        session: &Path,
        opts: capdeck_session::clip::ClipOptions,
        waker: Option<egui::Context>,
    ) -> RecordingJob {
        let what = format!("writing the clip {}", opts.out.display());
        let session = session.to_owned();
        let progress = Arc::new(capdeck_session::clip::ClipProgress::default());
        let p = progress.clone();
        let mut j = RecordingJob::spawn(what, Default::default(), 0, waker, move || {
            let rec = Recording::open(&session).map_err(|e| e.to_string())?;
            let c = capdeck_session::clip::export_clip(&rec, &opts, &p)
                .map_err(|e| format!("clip {}: {e}", opts.out.display()))?;
            Ok(format!(
                "clip written to {}: {} frames, {} divergences, {} bookmarks; {}",
                c.dir.display(),
                c.frames,
                c.divergences,
                c.bookmarks,
                c.video_note
                    .map_or_else(|| "clip.mp4".to_owned(), |n| format!("no video: {n}"))
            ))
        });
        j.clip = Some(progress);
        j
    }

    fn spawn(
        what: String,
        progress: Arc<ToHostProgress>,
        total: u64,
        waker: Option<egui::Context>,
        job: impl FnOnce() -> Result<String, String> + Send + 'static,
    ) -> RecordingJob {
        let (tx, rx) = sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("capdeck-recording-job".into())
            .spawn(move || {
                let r = job();
                match &r {
                    Ok(t) => tracing::info!("{t}"),
                    Err(e) => tracing::error!("{e}"),
                }
                let _ = tx.send(r);
                if let Some(w) = waker {
                    w.request_repaint();
                }
            });
        let mut j = RecordingJob {
            what,
            progress,
            total,
            started: Instant::now(),
            rx,
            outcome: None,
            clip: None,
        };
        if let Err(e) = spawned {
            j.outcome = Some(Err(format!("cannot start the job's thread: {e}")));
        }
        j
    }

    /// Takes the outcome once the thread is done.
    pub fn poll(&mut self) {
        if self.outcome.is_none() {
            match self.rx.try_recv() {
                Ok(r) => self.outcome = Some(r),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.outcome = Some(Err("the job's thread ended".into()))
                }
            }
        }
    }

    /// Whether it still runs.
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Asks a send to stop (it ends within 100 ms, after the message being sent), or a
    /// clip (its partial folder is removed).
    pub fn stop(&self) {
        self.progress.stop.stop();
        if let Some(c) = &self.clip {
            c.cancel.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for RecordingJob {
    fn drop(&mut self) {
        // a send or a clip stops with the replay it belongs to; an export finishes its file
        self.stop();
    }
}

/// The job's line in the replay banner.
fn job_ui(ui: &mut egui::Ui, j: &RecordingJob, cmds: &mut CommandQueue) {
    match &j.outcome {
        None if j.clip.is_some() => {
            let c = j.clip.as_deref();
            let (done, total) = c.map_or((0, 0), |c| {
                (
                    c.done.load(Ordering::Relaxed),
                    c.total.load(Ordering::Relaxed),
                )
            });
            let encoding = c.is_some_and(|c| c.encoding.load(Ordering::Relaxed));
            ui.label(&j.what);
            ui.add(
                egui::ProgressBar::new(if total > 0 {
                    done as f32 / total as f32
                } else {
                    0.0
                })
                .desired_width(160.0)
                .text(if encoding {
                    "encoding the video".to_owned()
                } else {
                    format!("{done} of {total} frames")
                }),
            );
            if ui.button("Cancel").clicked() {
                cmds.push(UiCommand::StopRecordingJob);
            }
        }
        None => {
            ui.add(egui::Spinner::new());
            let sent = j.progress.sent.load(Ordering::Relaxed);
            ui.label(if j.total > 0 {
                format!(
                    "{}: {sent} of {} messages, {:.0} s",
                    j.what,
                    j.total,
                    j.started.elapsed().as_secs_f32()
                )
            } else {
                format!("{} …", j.what)
            });
            if j.total > 0 && ui.button("Stop sending").clicked() {
                cmds.push(UiCommand::StopRecordingJob);
            }
        }
        Some(Ok(t)) => {
            ui.label(t);
        }
        Some(Err(e)) => {
            ui.colored_label(RED, e);
        }
    }
}
