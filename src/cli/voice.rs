//! `capdeck voice`: the voice stage offline, over files: a microphone WAV and the game's
//! sound as its echo reference (both 16 kHz mono 16-bit, starting at the same instant),
//! processed as the live chain does, to a WAV of what would be sent and a JSON report.
//! For trying settings on a recording of a desk before streaming with them.

use anyhow::{Context, bail};
use capdeck_capture::audio::voice::process_offline;
use clap::Args;
use std::path::{Path, PathBuf};

/// `capdeck voice`.
#[derive(Debug, Args)]
pub struct VoiceArgs {
    /// The microphone: a 16 kHz mono 16-bit WAV (`sox IN -r 16000 -c 1 -b 16 OUT.wav`).
    #[arg(long)]
    pub mic: PathBuf,
    /// The game's sound (the echo reference), same format; none: nothing removed.
    #[arg(long)]
    pub game: Option<PathBuf>,
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

/// Runs `capdeck voice`.
pub fn run(a: VoiceArgs) -> anyhow::Result<()> {
    let mic = read_16k_mono(&a.mic)?;
    let game = a.game.as_deref().map(read_16k_mono).transpose()?;
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
