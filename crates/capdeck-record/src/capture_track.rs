//! What the capture side sent, indexed by time for a replay: per audio chunk its level and
//! a small min/max envelope (so the waveform at any cursor is drawn from memory), per video
//! frame where it is in the recording (so the JPEG at the cursor is read back through the
//! chunk index, never held), and the control exchanges. Built while a recording opens
//! (`session::replay::into_view_with_progress`), in the same pass over the file.
//!
//! Memory: an audio chunk costs about 100 bytes (36,000 chunks an hour of 100 ms chunks:
//! 3.6 MB), a video frame 40 bytes; control replies keep at most [`REPLY_KEEP`] bytes each.

use std::ops::ControlFlow;

use bytes::Bytes;

use crate::reader::{ReadError, ReadEvent, RecordedMessage, Recording};
use crate::{Topic, split_parts};
use capdeck_wire::capture::{self, Header};

/// Envelope columns kept per audio chunk (min/max pairs).
pub const ENVELOPE: usize = 16;
/// Bytes of a control reply kept for display.
pub const REPLY_KEEP: usize = 512;

/// One audio chunk as it left.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSent {
    /// Replay time (ns since the recording's start) it left at.
    pub t_ns: i64,
    /// Its wire sequence number.
    pub seq: u64,
    /// Samples in it.
    pub samples: u32,
    /// Wire bytes of the message (all parts).
    pub bytes: u32,
    /// Peak, dBFS.
    pub peak_dbfs: f32,
    /// RMS, dBFS.
    pub rms_dbfs: f32,
    /// Min and max of each of [`ENVELOPE`] equal slices of the chunk, full scale = 1.
    pub envelope: [(f32, f32); ENVELOPE],
}

/// One video frame as it left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoSent {
    /// Replay time it left at.
    pub t_ns: i64,
    /// Log time in the recording (to read it back).
    pub log_time_ns: u64,
    /// Its wire sequence number.
    pub seq: u64,
    /// Encoded size.
    pub size: [u32; 2],
    /// JPEG bytes.
    pub jpeg_bytes: u32,
    /// Wire bytes of the message (all parts).
    pub bytes: u32,
}

/// One control message.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSent {
    /// Replay time.
    pub t_ns: i64,
    /// A reply from the host (else a request to it).
    pub reply: bool,
    /// The JSON text, cut at [`REPLY_KEEP`] bytes.
    pub text: String,
}

/// The capture side of a recording.
#[derive(Debug, Clone, Default)]
pub struct CaptureTrack {
    /// Audio chunks in time order.
    pub audio: Vec<AudioSent>,
    /// Video frames in time order.
    pub video: Vec<VideoSent>,
    /// Control requests and replies in time order.
    pub control: Vec<ControlSent>,
    /// Setting changes (replay time, the JSON cut at [`REPLY_KEEP`] bytes) in time order.
    pub settings: Vec<(i64, String)>,
    /// Link state changes: replay time, channel, state (with its reason when it has one).
    pub links: Vec<(i64, String, String)>,
    /// Recorded capture messages that did not decode (left out).
    pub damaged: u64,
    audio_bytes_before: Vec<u64>,
    video_bytes_before: Vec<u64>,
}

/// What had been sent by a point of the replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentAt {
    /// Audio chunks sent so far (of the recording's total).
    pub audio_sent: (usize, usize),
    /// Audio wire bytes so far.
    pub audio_bytes: u64,
    /// The last audio chunk sent.
    pub audio: Option<AudioSent>,
    /// Video frames sent so far (of the total).
    pub video_sent: (usize, usize),
    /// Video wire bytes so far.
    pub video_bytes: u64,
    /// The last video frame sent.
    pub video: Option<VideoSent>,
    /// Control requests and replies so far.
    pub control: (usize, usize),
    /// The last control reply.
    pub last_reply: Option<ControlSent>,
    /// The last setting change (replay time, JSON).
    pub last_setting: Option<(i64, String)>,
    /// Each link's state at that point: channel and state, in the order first seen.
    pub links: Vec<(String, String)>,
}

impl CaptureTrack {
    /// Takes one recorded message (others than the capture topics are ignored). `t_ns` is
    /// its replay time.
    pub fn push(&mut self, m: &RecordedMessage<'_>, t_ns: i64) {
        match m.topic {
            Some(Topic::CaptureAudio) | Some(Topic::CaptureVideo)
                if self.push_media(m, t_ns).is_none() =>
            {
                self.damaged += 1;
            }
            Some(t @ (Topic::ControlRequest | Topic::ControlReply)) => {
                self.control.push(ControlSent {
                    t_ns,
                    reply: t == Topic::ControlReply,
                    text: kept_text(m.data),
                });
            }
            Some(Topic::Settings) => self.settings.push((t_ns, kept_text(m.data))),
            Some(Topic::Links) => {
                if let Some((channel, state)) = link_state(m.data) {
                    self.links.push((t_ns, channel, state));
                }
            }
            _ => {}
        }
    }

    fn push_media(&mut self, m: &RecordedMessage<'_>, t_ns: i64) -> Option<()> {
        let parts: Vec<Bytes> = split_parts(m.data)
            .ok()?
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();
        let bytes = parts
            .iter()
            .map(Bytes::len)
            .sum::<usize>()
            .min(u32::MAX as usize) as u32;
        let d = capture::decode(&parts).ok()?;
        match d.header {
            Header::Audio(h) => {
                let before = self.audio_bytes_before.last().copied().unwrap_or(0)
                    + self.audio.last().map_or(0, |a| a.bytes as u64);
                self.audio_bytes_before.push(before);
                self.audio.push(audio_sent(t_ns, h.seq, bytes, &d.payload));
            }
            Header::Video(h) => {
                let before = self.video_bytes_before.last().copied().unwrap_or(0)
                    + self.video.last().map_or(0, |v| v.bytes as u64);
                self.video_bytes_before.push(before);
                self.video.push(VideoSent {
                    t_ns,
                    log_time_ns: m.log_time_ns,
                    seq: h.seq,
                    size: [h.w, h.h],
                    jpeg_bytes: d.payload.len().min(u32::MAX as usize) as u32,
                    bytes,
                });
            }
        }
        Some(())
    }

    /// Whether the recording has a capture side at all.
    pub fn is_empty(&self) -> bool {
        self.audio.is_empty() && self.video.is_empty() && self.control.is_empty()
    }

    /// What had been sent at replay time `t_ns` (everything that left at or before it).
    pub fn at(&self, t_ns: i64) -> SentAt {
        let na = self.audio.partition_point(|a| a.t_ns <= t_ns);
        let nv = self.video.partition_point(|v| v.t_ns <= t_ns);
        let nc = self.control.partition_point(|c| c.t_ns <= t_ns);
        let done = &self.control[..nc];
        let audio = na.checked_sub(1).and_then(|i| self.audio.get(i));
        let video = nv.checked_sub(1).and_then(|i| self.video.get(i));
        SentAt {
            audio_sent: (na, self.audio.len()),
            audio_bytes: na
                .checked_sub(1)
                .and_then(|i| self.audio_bytes_before.get(i))
                .map_or(0, |b| b + audio.map_or(0, |a| a.bytes as u64)),
            audio: audio.cloned(),
            video_sent: (nv, self.video.len()),
            video_bytes: nv
                .checked_sub(1)
                .and_then(|i| self.video_bytes_before.get(i))
                .map_or(0, |b| b + video.map_or(0, |v| v.bytes as u64)),
            video: video.copied(),
            control: (
                done.iter().filter(|c| !c.reply).count(),
                done.iter().filter(|c| c.reply).count(),
            ),
            last_reply: done.iter().rev().find(|c| c.reply).cloned(),
            last_setting: self.settings[..self.settings.partition_point(|s| s.0 <= t_ns)]
                .last()
                .cloned(),
            links: {
                let mut now: Vec<(String, String)> = Vec::new();
                for (_, ch, st) in &self.links[..self.links.partition_point(|l| l.0 <= t_ns)] {
                    match now.iter_mut().find(|(c, _)| c == ch) {
                        Some(slot) => slot.1.clone_from(st),
                        None => now.push((ch.clone(), st.clone())),
                    }
                }
                now
            },
        }
    }

    /// The waveform of what was sent in `from_ns..to_ns`: for each of `columns` equal
    /// slices of the window, the min and max sample (full scale = 1), `None` where nothing
    /// was sent. Drawn from the chunks' envelopes, without reading the file.
    pub fn waveform(&self, from_ns: i64, to_ns: i64, columns: usize) -> Vec<Option<(f32, f32)>> {
        let mut out = vec![None; columns];
        let span = to_ns.saturating_sub(from_ns);
        if columns == 0 || span <= 0 {
            return out;
        }
        let first = self.audio.partition_point(|a| a.t_ns < from_ns);
        // a chunk leaves after its samples were taken: it covers the time before its t_ns
        let first = first.saturating_sub(1);
        for a in &self.audio[first..] {
            let dur = a.samples as i64 * 1_000_000_000 / capture::AUDIO_SAMPLE_RATE as i64;
            let start = a.t_ns - dur;
            if start > to_ns {
                break;
            }
            for (k, &(lo, hi)) in a.envelope.iter().enumerate() {
                let t = start + dur * k as i64 / ENVELOPE as i64;
                if t < from_ns || t >= to_ns {
                    continue;
                }
                let col = ((t - from_ns) as i128 * columns as i128 / span as i128) as usize;
                if let Some(c) = out.get_mut(col) {
                    *c = Some(match *c {
                        Some((l, h)) => (l.min(lo), h.max(hi)),
                        None => (lo, hi),
                    });
                }
            }
        }
        out
    }
}

/// A recorded link state change (`{"channel": "audio", "state": {"state": "streaming",
/// ...}}`) as channel and a short label: the state, and its reason when it has one.
fn link_state(json: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let channel = v.get("channel")?.as_str()?.to_owned();
    let st = v.get("state")?;
    let mut label = st.get("state")?.as_str()?.replace('_', " ");
    if let Some(r) = st.get("reason").and_then(|r| r.as_str()) {
        label = format!("{label}: {r}");
    }
    Some((channel, label))
}

/// A JSON record as text, cut at [`REPLY_KEEP`] bytes on a character boundary.
fn kept_text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..floor_char_boundary(b, REPLY_KEEP)]).into_owned()
}

fn floor_char_boundary(b: &[u8], max: usize) -> usize {
    if b.len() <= max {
        return b.len();
    }
    // back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx)
    let mut i = max;
    while i > 0 && b[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    i
}

fn audio_sent(t_ns: i64, seq: u64, bytes: u32, payload: &[u8]) -> AudioSent {
    let n = payload.len() / 2;
    let sample =
        |i: usize| i16::from_le_bytes([payload[2 * i], payload[2 * i + 1]]) as f32 / 32768.0;
    let mut envelope = [(0.0f32, 0.0f32); ENVELOPE];
    let mut peak = 0.0f32;
    let mut sum_sq = 0.0f64;
    for (k, e) in envelope.iter_mut().enumerate() {
        let (a, b) = (n * k / ENVELOPE, n * (k + 1) / ENVELOPE);
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for i in a..b {
            let s = sample(i);
            lo = lo.min(s);
            hi = hi.max(s);
            peak = peak.max(s.abs());
            sum_sq += (s as f64) * (s as f64);
        }
        *e = if a < b { (lo, hi) } else { (0.0, 0.0) };
    }
    let db = |x: f64| {
        if x > 0.0 {
            (20.0 * x.log10()) as f32
        } else {
            -120.0
        }
    };
    AudioSent {
        t_ns,
        seq,
        samples: n.min(u32::MAX as usize) as u32,
        bytes,
        peak_dbfs: db(peak as f64).max(-120.0),
        rms_dbfs: db((sum_sq / n.max(1) as f64).sqrt()).max(-120.0),
        envelope,
    }
}

/// Reads the JPEG of a sent video frame back from the recording, through the chunk index
/// (one chunk read). `Ok(None)` when it is no longer there (a damaged chunk).
pub fn load_jpeg(rec: &Recording, v: &VideoSent) -> Result<Option<Bytes>, ReadError> {
    let mut found = None;
    rec.read(
        v.log_time_ns,
        v.log_time_ns,
        &[Topic::CaptureVideo],
        &mut |ev| {
            let ReadEvent::Message(m) = ev else {
                return ControlFlow::Continue(());
            };
            let Ok(parts) = split_parts(m.data) else {
                return ControlFlow::Continue(());
            };
            let parts: Vec<Bytes> = parts.into_iter().map(Bytes::copy_from_slice).collect();
            if let Ok(d) = capture::decode(&parts)
                && let Header::Video(h) = d.header
                && h.seq == v.seq
            {
                found = Some(d.payload);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    )?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use capdeck_wire::capture::{AudioHeader, Framing, VideoHeader, encode};

    /// A message's parts as the recorder writes them.
    fn recorded(parts: &[Bytes]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::Payload::Parts(parts.to_vec()).write_to(&mut out);
        out
    }

    fn msg(topic: Topic, data: &[u8], log: u64) -> RecordedMessage<'_> {
        RecordedMessage {
            topic: Some(topic),
            topic_name: topic.name(),
            log_time_ns: log,
            publish_time_ns: log,
            sequence: 0,
            data,
        }
    }

    #[test]
    fn levels_counters_and_waveform_at_the_cursor() {
        let mut track = CaptureTrack::default();
        // 100 ms chunks: chunk k is a square wave of amplitude (k+1)/10 full scale
        let mut datas = Vec::new();
        for k in 0..5u64 {
            let amp = ((k + 1) as f32 / 10.0 * 32767.0) as i16;
            let pcm: Vec<u8> = (0..1600)
                .flat_map(|i| if i % 2 == 0 { amp } else { -amp }.to_le_bytes())
                .collect();
            let w = encode(
                &Header::Audio(AudioHeader::new(0, k)),
                Bytes::from(pcm),
                Framing::Framed,
            );
            datas.push(recorded(&w.parts));
        }
        let jpeg = Bytes::from_static(b"\xff\xd8 not really a jpeg \xff\xd9");
        let v = encode(
            &Header::Video(VideoHeader::new(0, 7, 64, 48, 70)),
            jpeg.clone(),
            Framing::Multipart,
        );
        let vdata = recorded(&v.parts);
        for (k, d) in datas.iter().enumerate() {
            let t = (k as i64 + 1) * 100_000_000;
            track.push(&msg(Topic::CaptureAudio, d, t as u64), t);
        }
        track.push(&msg(Topic::CaptureVideo, &vdata, 250_000_000), 250_000_000);
        track.push(
            &msg(Topic::ControlReply, br#"{"ok":true}"#, 260_000_000),
            260_000_000,
        );
        track.push(
            &msg(
                Topic::CaptureAudio,
                b"\x01\x00\x00\x00\x05\x00\x00\x00junk",
                1,
            ),
            1,
        );
        assert_eq!(track.damaged, 1);

        let at = track.at(320_000_000);
        assert_eq!(at.audio_sent, (3, 5));
        let a = at.audio.expect("an audio chunk");
        assert_eq!(a.seq, 2);
        assert!(
            (a.peak_dbfs - 20.0 * 0.3f32.log10()).abs() < 0.01,
            "{}",
            a.peak_dbfs
        );
        assert!(
            (a.rms_dbfs - a.peak_dbfs).abs() < 0.01,
            "square wave: rms = peak"
        );
        assert_eq!(at.audio_bytes, 3 * (datas[0].len() as u64 - 8));
        assert_eq!(at.video_sent, (1, 1));
        let v = at.video.expect("a video frame");
        assert_eq!(
            (v.seq, v.size, v.jpeg_bytes as usize),
            (7, [64, 48], jpeg.len())
        );
        assert_eq!(at.video_bytes, vdata.len() as u64 - 12);
        assert_eq!(at.control, (0, 1));
        assert_eq!(at.last_reply.expect("a reply").text, r#"{"ok":true}"#);
        track.push(
            &msg(Topic::Settings, br#"{"changed":{"gain_db":3.0}}"#, 9),
            300_000_000,
        );
        assert_eq!(track.at(299_999_999).last_setting, None);
        track.push(
            &msg(
                Topic::Links,
                br#"{"channel":"audio","state":{"state":"connecting"}}"#,
                1,
            ),
            10,
        );
        track.push(
            &msg(
                Topic::Links,
                br#"{"channel":"control","state":{"state":"ok"}}"#,
                1,
            ),
            20,
        );
        track.push(
            &msg(
                Topic::Links,
                br#"{"channel":"audio","state":{"state":"disconnected","reason":"gone"}}"#,
                1,
            ),
            30,
        );
        let links = |t| track.at(t).links;
        assert_eq!(links(5), vec![]);
        assert_eq!(
            links(25),
            vec![
                ("audio".into(), "connecting".into()),
                ("control".into(), "ok".into())
            ]
        );
        assert_eq!(links(30)[0], ("audio".into(), "disconnected: gone".into()));
        assert_eq!(
            track.at(300_000_000).last_setting,
            Some((300_000_000, r#"{"changed":{"gain_db":3.0}}"#.into()))
        );
        let before = track.at(50_000_000);
        assert_eq!((before.audio_sent.0, before.video_sent.0), (0, 0));
        assert!(before.audio.is_none() && before.last_reply.is_none());

        // the window 0..500 ms in 5 columns: column k holds chunk k's samples (chunk k
        // left at (k+1)*100 ms and covers the 100 ms before)
        let w = track.waveform(0, 500_000_000, 5);
        for (k, c) in w.iter().enumerate() {
            let (lo, hi) = c.expect("sound in every column");
            let amp = (k + 1) as f32 / 10.0;
            assert!(
                (hi - amp).abs() < 0.001 && (lo + amp).abs() < 0.001,
                "{k}: {lo} {hi}"
            );
        }
        // nothing was sent after 500 ms
        assert!(
            track
                .waveform(600_000_000, 700_000_000, 4)
                .iter()
                .all(|c| c.is_none())
        );
    }

    #[test]
    fn a_reply_is_cut_on_a_character_boundary() {
        let long = "é".repeat(REPLY_KEEP);
        let mut track = CaptureTrack::default();
        track.push(&msg(Topic::ControlReply, long.as_bytes(), 5), 5);
        let text = &track.control[0].text;
        assert!(text.len() <= REPLY_KEEP && text.chars().all(|c| c == 'é'));
    }
}
