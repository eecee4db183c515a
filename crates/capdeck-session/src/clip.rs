//! A range of a recording exported for a report (a *clip*): every retail frame in the
//! range as a PNG beside the engine's top-down view at that instant (its trail, position
//! and heading) over a strip that marks the range's divergences and bookmarks; an MP4 of
//! them when `ffmpeg` is on the PATH (said when it is not); `report.json` and
//! `events.csv` with the divergences (the comparison of the whole recording, those in
//! the range) and the bookmarks in the range.
//!
//! Written into `OUT.partial` and renamed to `OUT` when complete: a cancelled or failed
//! clip leaves nothing behind. Runs on the caller's thread (the app's is a named worker),
//! with progress and a cancel flag.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use capdeck_compare::{CompareOptions, Divergence, DivergenceKind, Rules, compare, observe};
use capdeck_grimstream::live::LiveView;
use capdeck_grimstream::store::{OperatorMark, StoredFrame, StoredState};
use capdeck_record::reader::{ReadError, Recording};

use crate::replay::{into_view, load_frame};

/// What to export.
#[derive(Debug, Clone)]
pub struct ClipOptions {
    /// The range, ns from the recording's start (the replay's timeline).
    pub from_ns: i64,
    /// Its end (inclusive).
    pub to_ns: i64,
    /// The folder to create (must not exist).
    pub out: PathBuf,
    /// Encode `clip.mp4` with ffmpeg when it is on the PATH.
    pub video: bool,
    /// The comparison's rules.
    pub rules: Rules,
    /// The comparison's options.
    pub compare: CompareOptions,
}

/// Progress of a clip, shared with whoever shows it; `cancel` stops it.
#[derive(Debug, Default)]
pub struct ClipProgress {
    /// Frames written.
    pub done: AtomicU64,
    /// Frames in the range (known once the recording is read).
    pub total: AtomicU64,
    /// Set while the video is encoded.
    pub encoding: AtomicBool,
    /// Set to stop; the partial folder is removed.
    pub cancel: AtomicBool,
}

/// What a clip wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Clip {
    /// The folder.
    pub dir: PathBuf,
    /// PNG frames written (`frame_000000.png`, ...): the retail frames in the range.
    pub frames: u64,
    /// Frames whose pixels the recording no longer had (drawn black, counted).
    pub missing_pixels: u64,
    /// The video, when ffmpeg made one.
    pub video: Option<PathBuf>,
    /// Why there is no video, when there is none.
    pub video_note: Option<String>,
    /// Divergences in the range.
    pub divergences: usize,
    /// Bookmarks in the range.
    pub bookmarks: usize,
}

/// Why a clip was not written.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The recording could not be read.
    #[error("reading the recording: {0}")]
    Read(#[from] ReadError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output folder is there already.
    #[error("{0} exists already: choose another folder")]
    Exists(PathBuf),
    /// The range holds no retail frame.
    #[error("no retail frame between {from:.3} s and {to:.3} s")]
    Empty {
        /// Range start, s.
        from: f64,
        /// Range end, s.
        to: f64,
    },
    /// Frames of different sizes in the range (a video needs one size).
    #[error("the retail frame size changes in the range ({0}): export a shorter range")]
    Sizes(String),
    /// Cancelled.
    #[error("cancelled")]
    Cancelled,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClipError + '_ {
    move |source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Exports the range `opts` names of `rec` (see the module docs).
pub fn export_clip(
    rec: &Recording,
    opts: &ClipOptions,
    progress: &ClipProgress,
) -> Result<Clip, ClipError> {
    if opts.out.exists() {
        return Err(ClipError::Exists(opts.out.clone()));
    }
    let mut partial = opts.out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        // a clip killed before it could clean up
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let result = write_clip(rec, opts, progress, &partial);
    match result {
        Ok(mut clip) => {
            std::fs::rename(&partial, &opts.out).map_err(io(&opts.out))?;
            clip.dir = opts.out.clone();
            clip.video = clip
                .video
                .map(|v| opts.out.join(v.file_name().unwrap_or_default()));
            Ok(clip)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

/// Width of the engine panel relative to the frame height, and the strip's height.
const STRIP_H: u32 = 8;
/// How much of the engine's trail is drawn, ns.
const TRAIL_NS: i64 = 20_000_000_000;

fn write_clip(
    rec: &Recording,
    opts: &ClipOptions,
    progress: &ClipProgress,
    dir: &Path,
) -> Result<Clip, ClipError> {
    let mut view = LiveView::new(256 * 1024 * 1024);
    view.set_paging(true);
    into_view(rec, &mut view, 64 * 1024 * 1024)?;
    let (from, to) = (opts.from_ns.min(opts.to_ns), opts.from_ns.max(opts.to_ns));
    // a view of its own, so no nudge: times are the recording's
    let (frames, states, marks, report) = view.with_store(|s| {
        let r = s.feed(capdeck_grimstream::FeedRole::Retail);
        let frames: Vec<StoredFrame> = r
            .frames
            .iter()
            .filter(|f| f.t_ns >= from && f.t_ns <= to)
            .cloned()
            .collect();
        let e = s.feed(capdeck_grimstream::FeedRole::Engine);
        let states: Vec<(i64, [f32; 3], Option<f32>)> = e
            .states
            .iter()
            .filter(|st: &&StoredState| st.t_ns <= to)
            .filter_map(|st| Some((st.t_ns, st.state.position?, st.state.yaw)))
            .collect();
        let marks: Vec<OperatorMark> = s
            .operator_marks()
            .iter()
            .filter(|m| m.t_ns >= from && m.t_ns <= to)
            .cloned()
            .collect();
        (
            frames,
            states,
            marks,
            compare(&observe(s, &opts.rules), &opts.compare),
        )
    });
    view.stop();
    let divergences: Vec<Divergence> = report.in_range(from, to).cloned().collect();
    if frames.is_empty() {
        return Err(ClipError::Empty {
            from: from as f64 / 1e9,
            to: to as f64 / 1e9,
        });
    }
    let size = |f: &StoredFrame| f.config.map(|c| (c.width, c.height));
    let first = size(&frames[0]);
    if let Some(other) = frames.iter().map(size).find(|s| *s != first) {
        return Err(ClipError::Sizes(format!("{first:?} then {other:?}")));
    }
    let (w, h) = first.unwrap_or((0, 0));
    if w == 0 || h == 0 {
        return Err(ClipError::Sizes(
            "no STREAM_CONFIG before the frames".into(),
        ));
    }
    progress.total.store(frames.len() as u64, Ordering::Relaxed);
    let bounds = Bounds::of(&states);
    let mut missing = 0;
    let mut canvas = Canvas::new(w + h, h + STRIP_H);
    for (i, f) in frames.iter().enumerate() {
        if progress.cancel.load(Ordering::Relaxed) {
            return Err(ClipError::Cancelled);
        }
        let pixels = if f.paged_out {
            load_frame(rec, f)?
        } else {
            Some(f.data.clone())
        };
        canvas.clear();
        match (&pixels, f.config) {
            (Some(px), Some(c)) => canvas.blit_rgba(px, c.width, c.height, c.stride_bytes as usize),
            _ => missing += 1,
        }
        let t = f.t_ns;
        draw_engine(&mut canvas, w, h, &bounds, &states, t);
        draw_strip(&mut canvas, h, from, to, t, &divergences, &marks);
        let path = dir.join(format!("frame_{i:06}.png"));
        canvas.write_png(&path)?;
        progress.done.store(i as u64 + 1, Ordering::Relaxed);
    }
    let fps = frames
        .iter()
        .find_map(|f| f.config.and_then(|c| c.nominal_fps))
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or_else(|| {
            let span = (frames[frames.len() - 1].t_ns - frames[0].t_ns) as f64 / 1e9;
            if span > 0.0 {
                ((frames.len() - 1) as f64 / span) as f32
            } else {
                30.0
            }
        });
    let (video, video_note) = if opts.video {
        progress.encoding.store(true, Ordering::Relaxed);
        encode_video(dir, fps, progress)?
    } else {
        (None, Some("not asked for".to_owned()))
    };
    write_reports(
        dir,
        opts,
        from,
        to,
        frames.len() as u64,
        &divergences,
        &marks,
        video_note.as_deref(),
    )?;
    Ok(Clip {
        dir: dir.to_path_buf(),
        frames: frames.len() as u64,
        missing_pixels: missing,
        video,
        video_note,
        divergences: divergences.len(),
        bookmarks: marks.len(),
    })
}

/// ffmpeg over the PNGs: `clip.mp4` (H.264), or why there is none. Cancel kills it.
fn encode_video(
    dir: &Path,
    fps: f32,
    progress: &ClipProgress,
) -> Result<(Option<PathBuf>, Option<String>), ClipError> {
    let out = dir.join("clip.mp4");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-framerate"])
        .arg(format!("{fps:.3}"))
        .args([
            "-i",
            "frame_%06d.png",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ])
        // H.264 needs even sizes
        .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "clip.mp4"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((
                None,
                Some("ffmpeg is not on the PATH: PNG frames only".into()),
            ));
        }
        Err(e) => return Ok((None, Some(format!("ffmpeg could not start: {e}")))),
    };
    loop {
        if progress.cancel.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ClipError::Cancelled);
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok((Some(out), None)),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut err);
                }
                let _ = std::fs::remove_file(&out);
                return Ok((
                    None,
                    Some(format!("ffmpeg failed ({status}): {}", err.trim())),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Ok((None, Some(format!("ffmpeg: {e}")))),
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[allow(clippy::too_many_arguments)]
fn write_reports(
    dir: &Path,
    opts: &ClipOptions,
    from: i64,
    to: i64,
    frames: u64,
    divergences: &[Divergence],
    marks: &[OperatorMark],
    video_note: Option<&str>,
) -> Result<(), ClipError> {
    let json = serde_json::json!({
        "from_s": from as f64 / 1e9,
        "to_s": to as f64 / 1e9,
        "frames": frames,
        "video": video_note.is_none().then_some("clip.mp4"),
        "video_note": video_note,
        "divergences": divergences,
        "bookmarks": marks.iter().map(|m| serde_json::json!({
            "id": m.id, "kind": m.kind, "label": m.label, "note": m.note, "t_s": m.t_ns as f64 / 1e9,
        })).collect::<Vec<_>>(),
        "compare_options": opts.compare,
    });
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    let path = dir.join("events.csv");
    let mut csv = String::from("what,kind,name,t_s,dt_ms,note\n");
    for d in divergences {
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        csv.push_str(&format!(
            "divergence,{kind},{},{:.3},{},\n",
            csv_field(&d.key),
            d.at_ns as f64 / 1e9,
            d.dt_ms.map(|v| format!("{v:.1}")).unwrap_or_default()
        ));
    }
    for m in marks {
        csv.push_str(&format!(
            "bookmark,{},{},{:.3},,{}\n",
            m.kind.name(),
            csv_field(&m.label),
            m.t_ns as f64 / 1e9,
            csv_field(&m.note)
        ));
    }
    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
    f.write_all(csv.as_bytes()).map_err(io(&path))
}

/// The engine's world bounds over the clip (x, y), padded.
struct Bounds {
    min: [f32; 2],
    max: [f32; 2],
}

impl Bounds {
    fn of(states: &[(i64, [f32; 3], Option<f32>)]) -> Self {
        let mut min = [f32::MAX; 2];
        let mut max = [f32::MIN; 2];
        for (_, p, _) in states {
            for k in 0..2 {
                if p[k].is_finite() {
                    min[k] = min[k].min(p[k]);
                    max[k] = max[k].max(p[k]);
                }
            }
        }
        if min[0] > max[0] {
            return Self {
                min: [-1.0; 2],
                max: [1.0; 2],
            };
        }
        let span = (max[0] - min[0]).max(max[1] - min[1]).max(1e-3) * 0.55;
        let c = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
        Self {
            min: [c[0] - span, c[1] - span],
            max: [c[0] + span, c[1] + span],
        }
    }

    /// Pixel of world (x, y) in a square panel of side `side` at x offset `x0`.
    fn px(&self, x0: u32, side: u32, p: [f32; 2]) -> (i64, i64) {
        let s = side as f32;
        let u = (p[0] - self.min[0]) / (self.max[0] - self.min[0]);
        let v = (p[1] - self.min[1]) / (self.max[1] - self.min[1]);
        (x0 as i64 + (u * s) as i64, ((1.0 - v) * s) as i64)
    }
}

fn draw_engine(
    c: &mut Canvas,
    w: u32,
    h: u32,
    b: &Bounds,
    states: &[(i64, [f32; 3], Option<f32>)],
    t_ns: i64,
) {
    c.fill(w, 0, h, h, [24, 24, 28]);
    let end = states.partition_point(|s| s.0 <= t_ns);
    let start = states[..end].partition_point(|s| s.0 < t_ns - TRAIL_NS);
    let trail = &states[start..end];
    for pair in trail.windows(2) {
        let a = b.px(w, h, [pair[0].1[0], pair[0].1[1]]);
        let z = b.px(w, h, [pair[1].1[0], pair[1].1[1]]);
        c.line(a, z, [80, 150, 230]);
    }
    if let Some((_, p, yaw)) = trail.last() {
        let at = b.px(w, h, [p[0], p[1]]);
        c.fill(
            (at.0 - 3).max(0) as u32,
            (at.1 - 3).max(0) as u32,
            7,
            7,
            [250, 170, 40],
        );
        if let Some(y) = yaw {
            let r = y.to_radians();
            let (dx, dy) = (-r.sin(), r.cos());
            let tip = (at.0 + (dx * 16.0) as i64, at.1 - (dy * 16.0) as i64);
            c.line(at, tip, [250, 110, 40]);
        }
    }
}

fn kind_color(k: DivergenceKind) -> [u8; 3] {
    match k {
        DivergenceKind::OnlyInGame => [240, 90, 90],
        DivergenceKind::OnlyInEngine => [90, 170, 255],
        DivergenceKind::Late => [240, 190, 60],
        DivergenceKind::OutOfOrder => [200, 120, 255],
    }
}

/// The strip under both panels: the range, a tick per divergence (its kind's colour)
/// and bookmark (white), and the frame's place (yellow).
fn draw_strip(
    c: &mut Canvas,
    h: u32,
    from: i64,
    to: i64,
    t_ns: i64,
    divergences: &[Divergence],
    marks: &[OperatorMark],
) {
    let width = c.w;
    c.fill(0, h, width, STRIP_H, [40, 40, 40]);
    let span = (to - from).max(1) as f64;
    let x_of = |t: i64| (((t - from) as f64 / span).clamp(0.0, 1.0) * f64::from(width - 1)) as u32;
    for d in divergences {
        c.fill(x_of(d.at_ns), h, 2, STRIP_H, kind_color(d.kind));
    }
    for m in marks {
        c.fill(x_of(m.t_ns), h, 1, STRIP_H, [255, 255, 255]);
    }
    c.fill(x_of(t_ns), h, 2, STRIP_H, [255, 230, 90]);
}

/// An RGB image being drawn.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        Self {
            w,
            h,
            px: vec![0; (w * h * 3) as usize],
        }
    }

    fn clear(&mut self) {
        self.px.fill(0);
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.w && (y as u32) < self.h {
            let i = ((y as u32 * self.w + x as u32) * 3) as usize;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, c: [u8; 3]) {
        for yy in y..(y + h).min(self.h) {
            for xx in x..(x + w).min(self.w) {
                self.put(i64::from(xx), i64::from(yy), c);
            }
        }
    }

    /// A line from `a` to `b` (Bresenham).
    fn line(&mut self, a: (i64, i64), b: (i64, i64), c: [u8; 3]) {
        let (mut x, mut y) = a;
        let (dx, dy) = ((b.0 - x).abs(), -(b.1 - y).abs());
        let (sx, sy) = (if x < b.0 { 1 } else { -1 }, if y < b.1 { 1 } else { -1 });
        let mut err = dx + dy;
        for _ in 0..=(dx.max(-dy) + 1).min(1 << 16) {
            self.put(x, y, c);
            if (x, y) == b {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// The retail frame's RGBA rows (of `stride` bytes) at the top left, alpha dropped.
    fn blit_rgba(&mut self, rgba: &[u8], w: u32, h: u32, stride: usize) {
        for y in 0..h.min(self.h) as usize {
            let Some(row) = rgba.get(y * stride..y * stride + w as usize * 4) else {
                break;
            };
            for (x, p) in row.chunks_exact(4).enumerate().take(self.w as usize) {
                let i = (y * self.w as usize + x) * 3;
                self.px[i..i + 3].copy_from_slice(&p[..3]);
            }
        }
    }

    fn write_png(&self, path: &Path) -> Result<(), ClipError> {
        let f = std::fs::File::create(path).map_err(io(path))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), self.w, self.h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut wr = enc.write_header().map_err(|e| ClipError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        wr.write_image_data(&self.px).map_err(|e| ClipError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("a.b"), "a.b");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }

    #[test]
    fn lines_and_blits_stay_inside_the_canvas() {
        let mut c = Canvas::new(10, 6);
        c.line((-5, -5), (50, 50), [1, 2, 3]);
        c.line((3, 3), (3, 3), [9, 9, 9]);
        c.blit_rgba(&[255; 4 * 20 * 20], 20, 20, 80);
        c.fill(8, 4, 100, 100, [7, 7, 7]);
        assert_eq!(&c.px[..3], &[255, 255, 255]);
        let last = c.px.len() - 3;
        assert_eq!(&c.px[last..], &[7, 7, 7]);
    }
}
