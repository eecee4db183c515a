//! Real input devices through cpal: listing, choosing by stable id or name (or following the
//! system default), and opening in the device's native format (WASAPI opens nothing else),
//! with the callback only copying into the ring.

use super::AudioError;
use super::feed::{FeedReader, MonoClock, feed};
use super::source::{NativeFormat, RING_SECONDS, Running, Source};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use serde::Serialize;
use std::time::Duration;

/// One input device, as `capdeck devices` and the app's picker list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioDeviceInfo {
    /// Stable id, host-qualified (`pulse:<source>`, `alsa:plughw:CARD=…`, `wasapi:…`): pass
    /// it as `device:<id>`; a saved choice keeps naming the same device.
    pub id: String,
    /// The name the system's sound settings show (a PulseAudio source's description).
    pub name: String,
    /// Whether this is the system's default input.
    pub is_default: bool,
    /// Whether this input records what a sink plays (a PulseAudio or PipeWire monitor source)
    /// rather than a microphone or line input.
    pub is_monitor: bool,
    /// Native rate.
    pub rate: Option<u32>,
    /// Native channels.
    pub channels: Option<u16>,
    /// Native sample format, e.g. "f32".
    pub format: Option<String>,
}

impl AudioDeviceInfo {
    /// The name with what kind of input it is, for pickers: "Built-in Audio (default)",
    /// "Monitor of Speakers (monitor)".
    pub fn label(&self) -> String {
        let mut l = self.name.clone();
        if self.is_monitor {
            l.push_str(" (monitor)");
        }
        if self.is_default {
            l.push_str(" (default)");
        }
        l
    }
}

/// Lists the audio inputs. Never panics; empty when there is no backend or no device.
///
/// Linux: when a PulseAudio server (or PipeWire's pulse server) answers, its sources, by
/// their descriptions, monitors marked and last; the cards are the server's then, listed as
/// its sources. Otherwise the ALSA `default` device and the hardware devices (`plughw:`,
/// `hw:`), without the plugin PCMs (rate converters, JACK, OSS, `null`, ...) that ALSA's
/// configuration also names. Windows and macOS: the devices of the system's host.
/// `capdeck devices` and the app's picker both show this list.
pub fn list_devices() -> Vec<AudioDeviceInfo> {
    std::panic::catch_unwind(list_devices_inner).unwrap_or_default()
}

fn list_devices_inner() -> Vec<AudioDeviceInfo> {
    #[cfg(target_os = "linux")]
    match super::pulse::list_sources() {
        Ok(sources) => return sources,
        Err(e) => tracing::debug!("audio: {e}; listing the ALSA devices"),
    }
    let all = host_devices(&cpal::default_host());
    if cfg!(target_os = "linux") {
        alsa_hardware_only(all)
    } else {
        all
    }
}

/// Every input device of `host`, as cpal names them.
fn host_devices(host: &cpal::Host) -> Vec<AudioDeviceInfo> {
    let default_id = host
        .default_input_device()
        .and_then(|d| d.id().ok())
        .map(|i| i.to_string());
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in devices {
        let Ok(id) = d.id().map(|i| i.to_string()) else {
            continue;
        };
        let name = device_name(&d);
        let cfg = d.default_input_config().ok();
        out.push(AudioDeviceInfo {
            is_default: default_id.as_deref() == Some(id.as_str()),
            is_monitor: false,
            id,
            name,
            rate: cfg.as_ref().map(|c| c.sample_rate()),
            channels: cfg.as_ref().map(|c| c.channels()),
            format: cfg.as_ref().map(|c| format_name(c.sample_format())),
        });
    }
    out
}

/// Whether an ALSA PCM (its id without the `alsa:` prefix) is one an operator picks an input
/// from: the `default` device and the cards' hardware devices. Everything else ALSA's
/// configuration names is a plugin (rate converters, JACK, OSS, `null`, upmix, the card's
/// `front:`/`surround*:` output aliases, ...), which either cannot capture or duplicates a
/// card under another name.
pub fn alsa_pcm_is_listed(pcm_id: &str) -> bool {
    pcm_id == "default" || pcm_id.starts_with("plughw:") || pcm_id.starts_with("hw:")
}

/// ALSA devices cut down to [`alsa_pcm_is_listed`]; a card's `hw:` device (no conversions)
/// is named as such, and a card listed twice (by name and by number) appears once.
fn alsa_hardware_only(all: Vec<AudioDeviceInfo>) -> Vec<AudioDeviceInfo> {
    let mut out: Vec<AudioDeviceInfo> = Vec::new();
    for mut d in all {
        let bare = d.id.strip_prefix("alsa:").unwrap_or(&d.id);
        if !alsa_pcm_is_listed(bare) {
            continue;
        }
        if bare.starts_with("hw:") {
            d.name.push_str(" (hw, no conversions)");
        }
        if !out.iter().any(|o| o.name == d.name) {
            out.push(d);
        }
    }
    out
}

fn device_name(d: &cpal::Device) -> String {
    d.description()
        .map(|x| x.name().to_owned())
        .unwrap_or_else(|_| d.to_string())
}

fn format_name(f: SampleFormat) -> String {
    f.to_string()
}

/// Human-readable table of devices for `capdeck devices`.
pub fn format_devices(devices: &[AudioDeviceInfo]) -> String {
    if devices.is_empty() {
        return "no audio input devices found (no audio backend, or no device)\n".into();
    }
    let mut out = String::new();
    for d in devices {
        let fmt = match (d.rate, d.channels, &d.format) {
            (Some(r), Some(c), Some(f)) => format!("{r} Hz, {c} ch, {f}"),
            _ => "format unknown".into(),
        };
        out.push_str(&format!(
            "{} {:<28} {}{}  ({})\n",
            if d.is_default { "*" } else { " " },
            d.id,
            d.name,
            if d.is_monitor { " [monitor]" } else { "" },
            fmt
        ));
    }
    out.push_str(
        "(* = system default, [monitor] = what a sink plays; use --audio device:<id> or device:<name>)\n",
    );
    out
}

/// Which device to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// Whatever the system default input is at each (re)open.
    Default,
    /// A device by stable id (e.g. `alsa:hw:CARD=…`, or the id without its host prefix), or by
    /// exact name, or by a case-insensitive part of the name matching one device only.
    IdOrName(String),
    /// What the default output device plays: a loopback capture (WASAPI on Windows, the
    /// default sink's `.monitor` source on PulseAudio/PipeWire). The echo reference of the
    /// voice stage; macOS has no such capture here and says so.
    Output,
}

/// Whether a source opened with `selector` on device `open_id` must be reopened because the
/// system default is now `current_default` (None: unknown, e.g. no default right now).
/// A chosen device stays chosen; following the default reopens on a different default id.
///
/// Note: with ALSA the default is the `default` PCM whatever sound server sits behind it;
/// PulseAudio and PipeWire move a stream on that PCM to the new default source themselves
/// (tests/desktop/audio_default_follow.rs shows it), so the id only changes on hosts like WASAPI
/// and CoreAudio, where each device has its own id.
pub fn default_change(
    selector: &DeviceSelector,
    open_id: Option<&str>,
    current_default: Option<&str>,
) -> Option<String> {
    match (selector, current_default) {
        (DeviceSelector::Default, Some(now)) if Some(now) != open_id => {
            Some(format!("default input changed to {now}"))
        }
        _ => None,
    }
}

/// An input device captured through cpal.
pub struct CpalSource {
    selector: DeviceSelector,
    last_name: Option<String>,
    /// Id of the device currently open.
    open_id: Option<String>,
}

impl CpalSource {
    /// A source for this selector (nothing is opened yet).
    pub fn new(selector: DeviceSelector) -> Self {
        Self {
            selector,
            last_name: None,
            open_id: None,
        }
    }
}

/// Finds `want` among `listed`: by id (with or without its host prefix), by exact name, or
/// by a case-insensitive part of a name that matches one device only. `Ok(None)`: no match.
pub fn match_listed<'a>(
    listed: &'a [AudioDeviceInfo],
    want: &str,
) -> Result<Option<&'a AudioDeviceInfo>, AudioError> {
    let bare = |id: &'a str| id.split_once(':').map_or(id, |(_, b)| b);
    if let Some(d) = listed.iter().find(|d| d.id == want || bare(&d.id) == want) {
        return Ok(Some(d));
    }
    if let Some(d) = listed.iter().find(|d| d.name == want) {
        return Ok(Some(d));
    }
    let lw = want.to_lowercase();
    let partial: Vec<&AudioDeviceInfo> = listed
        .iter()
        .filter(|d| d.name.to_lowercase().contains(&lw))
        .collect();
    match partial.as_slice() {
        [d] => Ok(Some(d)),
        [] => Ok(None),
        many => Err(AudioError::Device(format!(
            "{want:?} matches {} devices ({}): use an id from `capdeck devices`",
            many.len(),
            many.iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What a selector resolved to.
enum Target {
    /// A PulseAudio source, read through ALSA's pulse plugin (see `pulse.rs` for why).
    #[cfg(target_os = "linux")]
    Pulse {
        source: String,
        name: String,
        rate: u32,
        channels: u16,
    },
    /// A device of a cpal host.
    Cpal(cpal::Device),
    /// A render device captured as a loopback (WASAPI).
    #[cfg(target_os = "windows")]
    CpalLoopback(cpal::Device),
}

/// A device of `host` by id, with or without its host prefix.
fn cpal_by_id(host: &cpal::Host, want: &str) -> Option<cpal::Device> {
    host.input_devices().ok()?.find(|d| {
        d.id()
            .is_ok_and(|i| i.to_string() == want || i.id() == want)
    })
}

#[cfg(target_os = "linux")]
fn pulse_target(source: &str, listed: Option<&AudioDeviceInfo>) -> Target {
    Target::Pulse {
        source: source.to_owned(),
        name: listed.map_or_else(|| source.to_owned(), |d| d.name.clone()),
        // a source that is not listed right now (unplugged) is asked for in a common format:
        // the server converts, and the open fails clearly while it is missing
        rate: listed.and_then(|d| d.rate).unwrap_or(48_000),
        channels: listed.and_then(|d| d.channels).unwrap_or(2),
    }
}

fn find_target(host: &cpal::Host, sel: &DeviceSelector) -> Result<Target, AudioError> {
    let want = match sel {
        DeviceSelector::Default => {
            // cpal's default input; on Linux ALSA's `default`, which PulseAudio and PipeWire
            // route to their default source and move when it changes
            return host
                .default_input_device()
                .map(Target::Cpal)
                .ok_or_else(|| AudioError::Device("no default input device".into()));
        }
        DeviceSelector::IdOrName(want) => want,
        DeviceSelector::Output => return output_target(host),
    };
    let listed = list_devices();
    if let Some(d) = match_listed(&listed, want)? {
        #[cfg(target_os = "linux")]
        if let Some(source) = d.id.strip_prefix(super::pulse::ID_PREFIX) {
            return Ok(pulse_target(source, Some(d)));
        }
        if let Some(dev) = cpal_by_id(host, &d.id) {
            return Ok(Target::Cpal(dev));
        }
    }
    // Not listed: a chosen PulseAudio source that is gone for now (the open fails and is
    // retried), or any device of the host by id (`default`, a plugin PCM chosen on purpose).
    #[cfg(target_os = "linux")]
    if let Some(source) = want.strip_prefix(super::pulse::ID_PREFIX) {
        return Ok(pulse_target(source, None));
    }
    cpal_by_id(host, want).map(Target::Cpal).ok_or_else(|| {
        AudioError::Device(format!(
            "no input device with id or name {want:?} (see `capdeck devices`)"
        ))
    })
}

/// The loopback of the default output device.
#[cfg(target_os = "linux")]
fn output_target(_host: &cpal::Host) -> Result<Target, AudioError> {
    let monitor = super::pulse::default_monitor().map_err(|e| {
        AudioError::Device(format!(
            "the default output's sound (its PulseAudio monitor) cannot be found: {e}"
        ))
    })?;
    let listed = list_devices();
    let d = listed
        .iter()
        .find(|d| d.id.strip_prefix(super::pulse::ID_PREFIX) == Some(monitor.as_str()));
    Ok(pulse_target(&monitor, d))
}

/// The loopback of the default output device: cpal 0.18 opens a WASAPI loopback when an
/// input stream is built on a render device.
#[cfg(target_os = "windows")]
fn output_target(host: &cpal::Host) -> Result<Target, AudioError> {
    host.default_output_device()
        .map(Target::CpalLoopback)
        .ok_or_else(|| AudioError::Device("no default output device".into()))
}

/// No loopback capture of the output on this system.
#[cfg(not(any(target_os = "linux", target_os = "windows")))]
fn output_target(_host: &cpal::Host) -> Result<Target, AudioError> {
    Err(AudioError::Device(
        "capturing what the output device plays is not available on this system; \
         choose a loopback input device (device:<id>) or none"
            .into(),
    ))
}

struct CpalRunning {
    _stream: cpal::Stream,
    format: NativeFormat,
}

impl Running for CpalRunning {
    fn format(&self) -> &NativeFormat {
        &self.format
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut f: super::feed::Feed,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let shared = f.shared().clone();
    device.build_input_stream::<T, _, _>(
        config,
        // the real-time callback: convert while copying into the ring, nothing else
        move |data: &[T], _: &cpal::InputCallbackInfo| f.push_map(data, f32::from_sample_),
        move |e: cpal::Error| {
            use cpal::ErrorKind as K;
            match e.kind() {
                K::Xrun => {
                    shared
                        .overrun_events
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                K::RealtimeDenied => tracing::debug!("audio: {e}"),
                _ => shared.set_lost(e.to_string()),
            }
        },
        Some(Duration::from_secs(3)),
    )
}

impl Source for CpalSource {
    fn changed(&mut self) -> Option<String> {
        if self.selector != DeviceSelector::Default {
            return None; // a chosen device stays chosen: do not even ask the host
        }
        let now = cpal::default_host()
            .default_input_device()
            .and_then(|d| d.id().ok())
            .map(|i| i.to_string());
        default_change(&self.selector, self.open_id.as_deref(), now.as_deref())
    }

    fn describe(&self) -> String {
        match (&self.selector, &self.last_name) {
            (DeviceSelector::Default, Some(n)) => format!("default input ({n})"),
            (DeviceSelector::Default, None) => "default input".into(),
            (DeviceSelector::IdOrName(s), Some(n)) if s != n => format!("device {s} ({n})"),
            (DeviceSelector::IdOrName(s), _) => format!("device {s}"),
            (DeviceSelector::Output, Some(n)) => format!("output loopback ({n})"),
            (DeviceSelector::Output, None) => "output loopback".into(),
        }
    }

    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        let host = cpal::default_host();
        match find_target(&host, &self.selector)? {
            #[cfg(target_os = "linux")]
            Target::Pulse {
                source,
                name,
                rate,
                channels,
            } => {
                let (running, reader) = super::pulse::open(&source, rate, channels, clock)?;
                self.last_name = Some(name);
                self.open_id = Some(format!("{}{source}", super::pulse::ID_PREFIX));
                Ok((Box::new(running), reader))
            }
            Target::Cpal(device) => self.open_cpal(&device, false, clock),
            #[cfg(target_os = "windows")]
            Target::CpalLoopback(device) => self.open_cpal(&device, true, clock),
        }
    }
}

impl CpalSource {
    fn open_cpal(
        &mut self,
        device: &cpal::Device,
        loopback: bool,
        clock: MonoClock,
    ) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        let name = device_name(device);
        let dev_err =
            |what: &str, e: cpal::Error| AudioError::Device(format!("{name}: {what}: {e}"));
        // a loopback captures the render device in the format it plays
        let supported = if loopback {
            device
                .default_output_config()
                .map_err(|e| dev_err("no output configuration", e))?
        } else {
            device
                .default_input_config()
                .map_err(|e| dev_err("no input configuration", e))?
        };
        let format = NativeFormat {
            rate: supported.sample_rate(),
            channels: supported.channels(),
            format: format_name(supported.sample_format()),
        };
        if !(8_000..=384_000).contains(&format.rate) || !(1..=32).contains(&format.channels) {
            return Err(AudioError::Device(format!(
                "{name}: unsupported format {format}"
            )));
        }
        // Ask for ~10 ms periods where the device allows a choice: the default period of
        // some backends (ALSA's pulse plugin) is around a second, which would deliver audio
        // in bursts and add that much latency. Fall back to the backend's default.
        let period = (format.rate / 100).max(64);
        let fixed = match supported.buffer_size() {
            cpal::SupportedBufferSize::Range { min, max } if *min <= period && period <= *max => {
                Some(period)
            }
            _ => None,
        };
        let attempt = |buffer_size: cpal::BufferSize| {
            let mut config = supported.config();
            config.buffer_size = buffer_size;
            let (f, reader) = feed(format.rate, format.channels, RING_SECONDS, clock);
            let stream = match supported.sample_format() {
                SampleFormat::F32 => build::<f32>(device, config, f),
                SampleFormat::F64 => build::<f64>(device, config, f),
                SampleFormat::I8 => build::<i8>(device, config, f),
                SampleFormat::I16 => build::<i16>(device, config, f),
                SampleFormat::I24 => build::<cpal::I24>(device, config, f),
                SampleFormat::I32 => build::<i32>(device, config, f),
                SampleFormat::U8 => build::<u8>(device, config, f),
                SampleFormat::U16 => build::<u16>(device, config, f),
                SampleFormat::U24 => build::<cpal::U24>(device, config, f),
                SampleFormat::U32 => build::<u32>(device, config, f),
                other => {
                    return Err(AudioError::Device(format!(
                        "{name}: unsupported sample format {other}"
                    )));
                }
            }
            .map_err(|e| dev_err("cannot open input stream", e))?;
            Ok((stream, reader))
        };
        let (stream, reader) = match fixed {
            Some(p) => match attempt(cpal::BufferSize::Fixed(p)) {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("{e}; retrying with the default buffer size");
                    attempt(cpal::BufferSize::Default)?
                }
            },
            None => attempt(cpal::BufferSize::Default)?,
        };
        stream.play().map_err(|e| dev_err("cannot start", e))?;
        self.last_name = Some(name);
        self.open_id = device.id().ok().map(|i| i.to_string());
        Ok((
            Box::new(CpalRunning {
                _stream: stream,
                format,
            }),
            reader,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, name: &str) -> AudioDeviceInfo {
        AudioDeviceInfo {
            id: id.into(),
            name: name.into(),
            is_default: false,
            is_monitor: false,
            rate: None,
            channels: None,
            format: None,
        }
    }

    /// The ALSA PCMs cpal lists on a Debian machine with libasound2-plugins: only `default`
    /// and the cards' hardware devices are kept, and a card named twice appears once.
    #[test]
    fn alsa_plugins_are_left_out() {
        let all = vec![
            info(
                "alsa:lavrate",
                "Rate Converter Plugin Using Libav/FFmpeg Library",
            ),
            info("alsa:jack", "JACK Audio Connection Kit"),
            info("alsa:oss", "Open Sound System"),
            info(
                "alsa:null",
                "Discard all samples (playback) or generate zero samples (capture)",
            ),
            info("alsa:pulse", "PulseAudio Sound Server"),
            info(
                "alsa:default",
                "Playback/recording through the PulseAudio sound server",
            ),
            info("alsa:front:CARD=PCH,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            info("alsa:dsnoop:CARD=PCH,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            info("alsa:hw:CARD=PCH,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            info("alsa:plughw:CARD=PCH,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            info("alsa:hw:CARD=0,DEV=0", "HDA Intel PCH, ALC892 Analog"),
            info("alsa:plughw:CARD=0,DEV=0", "HDA Intel PCH, ALC892 Analog"),
        ];
        let kept: Vec<(String, String)> = alsa_hardware_only(all)
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        assert_eq!(
            kept,
            vec![
                (
                    "alsa:default".to_owned(),
                    "Playback/recording through the PulseAudio sound server".to_owned()
                ),
                (
                    "alsa:hw:CARD=PCH,DEV=0".to_owned(),
                    "HDA Intel PCH, ALC892 Analog (hw, no conversions)".to_owned()
                ),
                (
                    "alsa:plughw:CARD=PCH,DEV=0".to_owned(),
                    "HDA Intel PCH, ALC892 Analog".to_owned()
                ),
            ]
        );
    }

    /// A saved choice is found by its id, its id without the host prefix, its exact name or a
    /// unique part of a name; an ambiguous part is an error naming the candidates.
    #[test]
    fn a_choice_is_found_by_id_or_name() {
        let listed = vec![
            info("pulse:alsa_input.usb-mic", "USB Microphone"),
            info("pulse:alsa_output.speakers.monitor", "Monitor of Speakers"),
            info("pulse:sine", "Sine source at 440 Hz"),
        ];
        let found = |w: &str| match_listed(&listed, w).map(|d| d.map(|d| d.id.clone()));
        assert_eq!(
            found("pulse:sine").ok().flatten().as_deref(),
            Some("pulse:sine")
        );
        assert_eq!(found("sine").ok().flatten().as_deref(), Some("pulse:sine"));
        assert_eq!(
            found("USB Microphone").ok().flatten().as_deref(),
            Some("pulse:alsa_input.usb-mic")
        );
        assert_eq!(
            found("speakers").ok().flatten().as_deref(),
            Some("pulse:alsa_output.speakers.monitor")
        );
        assert!(matches!(found("no such"), Ok(None)));
        let e = found("o").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("matches 3 devices"), "{e}");
    }

    /// Source names go to ALSA quoted, so dots and quotes reach the pulse plugin intact.
    #[cfg(target_os = "linux")]
    #[test]
    fn pulse_source_names_are_quoted_for_alsa() {
        assert_eq!(
            super::super::pulse::alsa_pcm_name("nullsink.monitor"),
            "pulse:DEVICE=\"nullsink.monitor\""
        );
        assert_eq!(
            super::super::pulse::alsa_pcm_name(r#"a"b\c"#),
            r#"pulse:DEVICE="a\"b\\c""#
        );
    }
}
