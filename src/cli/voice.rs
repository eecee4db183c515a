//! `capdeck voice`: the voice stage offline, over files: a microphone WAV and the game's
//! sound as its echo reference (both 16 kHz mono 16-bit, starting at the same instant), or a
//! recorded session's microphone and game sound (recorded beside what was sent whenever a
//! voice stage ran), processed as the live chain does, to a WAV of what would be sent and a
//! JSON report. For trying other settings on a desk's sound before streaming with them.

use anyhow::{Context, bail};
use capdeck_capture::audio::voice::process_offline;
use clap::Args;
use std::path::{Path, PathBuf};

/// `capdeck voice`.
#[derive(Debug, Args)]
pub struct VoiceArgs {
    /// The microphone: a 16 kHz mono 16-bit WAV (`sox IN -r 16000 -c 1 -b 16 OUT.wav`).
    #[arg(
        long,
        required_unless_present = "recording",
        conflicts_with = "recording"
    )]
    pub mic: Option<PathBuf>,
    /// The game's sound (the echo reference), same format; none: nothing removed.
    #[arg(long, conflicts_with = "recording")]
    pub game: Option<PathBuf>,
    /// A recorded session (its folder) whose microphone and game sound were recorded
    /// (`/capture/audio/microphone`, `/capture/audio/game`): process them again.
    #[arg(long)]
    pub recording: Option<PathBuf>,
    /// WebRTC noise suppression: on | off.
    #[arg(long, default_value = "off", value_parser = super::parse_on_off, action = clap::ArgAction::Set)]
    pub noise_suppression: bool,
    /// Where the processed microphone goes (16 kHz mono 16-bit WAV).
    #[arg(long)]
    pub out: PathBuf,
}

fn read_16k_mono(p: &Path) -> anyhow::Result<Vec<i16>> {
    let r = hound::WavReader::open(p).with_context(|| format!("cannot read {}", p.display()))?;
    let s = r.spec();
    if s.sample_rate != 16_000
        || s.channels != 1
        || s.bits_per_sample != 16
        || s.sample_format != hound::SampleFormat::Int
    {
        bail!(
            "{} is {} Hz, {} channel(s), {} bits: capdeck voice reads 16 kHz mono 16-bit \
             (convert with `sox IN -r 16000 -c 1 -b 16 OUT.wav`)",
            p.display(),
            s.sample_rate,
            s.channels,
            s.bits_per_sample
        );
    }
    r.into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is damaged", p.display()))
}

/// The recorded microphone and game sound of a session, as 16 kHz sample arrays from the
/// microphone's first chunk on (gaps are silence).
fn read_recording(dir: &Path) -> anyhow::Result<(Vec<i16>, Option<Vec<i16>>)> {
    use capdeck_record::Topic;
    use capdeck_record::reader::{ReadEvent, Recording};
    use std::ops::ControlFlow;
    let rec = Recording::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let mut chunks: Vec<(Topic, u64, u64, Vec<i16>)> = Vec::new();
    let mut bad = 0usize;
    rec.read(
        0,
        u64::MAX,
        &[Topic::CaptureMicrophone, Topic::CaptureGameAudio],
        &mut |ev| {
            if let ReadEvent::Message(m) = ev
                && let Some(t) = m.topic
            {
                let decoded = capdeck_record::split_parts(m.data).ok().and_then(|p| {
                    let parts: Vec<bytes::Bytes> =
                        p.into_iter().map(bytes::Bytes::copy_from_slice).collect();
                    capdeck_wire::capture::decode(&parts).ok()
                });
                match decoded {
                    Some(d) => {
                        let pcm = d
                            .payload
                            .chunks_exact(2)
                            .map(|b| i16::from_le_bytes([b[0], b[1]]))
                            .collect();
                        chunks.push((t, d.header.ts(), d.header.seq(), pcm));
                    }
                    None => bad += 1,
                }
            }
            ControlFlow::Continue(())
        },
    )?;
    if bad > 0 {
        tracing::warn!("{bad} recorded audio messages could not be decoded (skipped)");
    }
    let t0 = chunks
        .iter()
        .filter(|c| c.0 == Topic::CaptureMicrophone)
        .map(|c| c.1)
        .min()
        .with_context(|| {
            format!(
                "{} has no recorded microphone: it was recorded without --game-audio or \
                 --noise-suppression (nothing but what was sent)",
                dir.display()
            )
        })?;
    // four hours at 16 kHz: refuse what a damaged stamp would make of a recording
    const MAX: usize = 16_000 * 3600 * 4;
    /// One stream laid out on the microphone's timeline: the next chunk (seq + 1) continues
    /// it sample for sample; after lost chunks the stamp places it.
    #[derive(Default)]
    struct Track {
        samples: Vec<i16>,
        end: Option<(u64, usize)>,
    }
    impl Track {
        fn place(&mut self, t0: u64, ts: u64, seq: u64, pcm: &[i16]) {
            let at = match self.end {
                Some((last, end)) if last.wrapping_add(1) == seq => end,
                _ => match ts.checked_sub(t0) {
                    Some(ms) => ms as usize * 16,
                    None => return, // before the microphone's first chunk
                },
            };
            if at + pcm.len() > MAX {
                return;
            }
            if self.samples.len() < at + pcm.len() {
                self.samples.resize(at + pcm.len(), 0);
            }
            self.samples[at..at + pcm.len()].copy_from_slice(pcm);
            self.end = Some((seq, at + pcm.len()));
        }
    }
    let (mut mic, mut game) = (Track::default(), Track::default());
    for (t, ts, seq, pcm) in &chunks {
        match t {
            Topic::CaptureMicrophone => mic.place(t0, *ts, *seq, pcm),
            _ => game.place(t0, *ts, *seq, pcm),
        }
    }
    let (mic, game) = (mic.samples, game.samples);
    Ok((mic, (!game.is_empty()).then_some(game)))
}

/// Runs `capdeck voice`.
pub fn run(a: VoiceArgs) -> anyhow::Result<()> {
    let (mic, game) = match (&a.recording, &a.mic) {
        (Some(dir), _) => read_recording(dir)?,
        (None, Some(mic)) => (
            read_16k_mono(mic)?,
            a.game.as_deref().map(read_16k_mono).transpose()?,
        ),
        (None, None) => bail!("give --mic FILE or --recording SESSION"),
    };
    let (out, metas) = process_offline(&mic, game.as_deref(), a.noise_suppression);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let tmp = a.out.with_extension("wav.part");
    let mut w = hound::WavWriter::create(&tmp, spec)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    for s in &out {
        w.write_sample(*s)?;
    }
    w.finalize()?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("cannot write {}", a.out.display()))?;
    let n = metas.len().max(1) as f64;
    let speech = metas.iter().map(|m| f64::from(m.speech)).sum::<f64>() / n;
    let game_frac = game.as_ref().map(|_| {
        metas
            .iter()
            .filter_map(|m| m.game)
            .map(f64::from)
            .sum::<f64>()
            / n
    });
    let report = serde_json::json!({
        "out": a.out,
        "chunks": metas.len(),
        "seconds": out.len() as f64 / 16_000.0,
        "speech": speech,
        "game": game_frac,
        "speech_per_chunk": metas.iter().map(|m| m.speech).collect::<Vec<_>>(),
        "game_per_chunk": metas.iter().map(|m| m.game).collect::<Vec<_>>(),
    });
    println!("{report}");
    Ok(())
}
