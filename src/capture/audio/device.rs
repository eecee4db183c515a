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

/// One input device, as `capdeck devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioDeviceInfo {
    /// Stable id (host-qualified, e.g. `alsa:default`): pass it as `device:<id>`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Whether this is the system's default input.
    pub is_default: bool,
    /// Native rate.
    pub rate: Option<u32>,
    /// Native channels.
    pub channels: Option<u16>,
    /// Native sample format, e.g. "f32".
    pub format: Option<String>,
}

/// Lists the input devices of the default host. Never panics; empty when there is no
/// backend or no device.
pub fn list_devices() -> Vec<AudioDeviceInfo> {
    std::panic::catch_unwind(list_devices_inner).unwrap_or_default()
}

fn list_devices_inner() -> Vec<AudioDeviceInfo> {
    let host = cpal::default_host();
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
            id,
            name,
            rate: cfg.as_ref().map(|c| c.sample_rate()),
            channels: cfg.as_ref().map(|c| c.channels()),
            format: cfg.as_ref().map(|c| format_name(c.sample_format())),
        });
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
            "{} {:<28} {}  ({})\n",
            if d.is_default { "*" } else { " " },
            d.id,
            d.name,
            fmt
        ));
    }
    out.push_str("(* = system default; use --audio device:<id> or device:<name>)\n");
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
}

/// Whether a source opened with `selector` on device `open_id` must be reopened because the
/// system default is now `current_default` (None: unknown, e.g. no default right now).
/// A chosen device stays chosen; following the default reopens on a different default id.
///
/// Note: with ALSA the default is the `default` PCM whatever sound server sits behind it;
/// PulseAudio and PipeWire move a stream on that PCM to the new default source themselves
/// (tests/audio_default_follow.rs shows it), so the id only changes on hosts like WASAPI
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

fn find_device(host: &cpal::Host, sel: &DeviceSelector) -> Result<cpal::Device, AudioError> {
    match sel {
        DeviceSelector::Default => host
            .default_input_device()
            .ok_or_else(|| AudioError::Device("no default input device".into())),
        DeviceSelector::IdOrName(want) => {
            let devices: Vec<cpal::Device> = host
                .input_devices()
                .map_err(|e| AudioError::Device(format!("cannot list input devices: {e}")))?
                .collect();
            let ids: Vec<(String, String)> = devices
                .iter()
                .map(|d| {
                    let full = d.id().map(|i| i.to_string()).unwrap_or_default();
                    let bare = d.id().map(|i| i.id().to_owned()).unwrap_or_default();
                    (full, bare)
                })
                .collect();
            if let Some(i) = ids.iter().position(|(f, b)| f == want || b == want) {
                return Ok(devices[i].clone());
            }
            let names: Vec<String> = devices.iter().map(device_name).collect();
            if let Some(i) = names.iter().position(|n| n == want) {
                return Ok(devices[i].clone());
            }
            let lw = want.to_lowercase();
            let partial: Vec<usize> = (0..names.len())
                .filter(|&i| names[i].to_lowercase().contains(&lw))
                .collect();
            match partial.as_slice() {
                [i] => Ok(devices[*i].clone()),
                [] => Err(AudioError::Device(format!(
                    "no input device with id or name {want:?} (see `capdeck devices`)"
                ))),
                many => Err(AudioError::Device(format!(
                    "{want:?} matches {} devices ({}): use an id from `capdeck devices`",
                    many.len(),
                    many.iter()
                        .map(|&i| names[i].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
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
        }
    }

    fn open(&mut self, clock: MonoClock) -> Result<(Box<dyn Running>, FeedReader), AudioError> {
        let host = cpal::default_host();
        let device = find_device(&host, &self.selector)?;
        let name = device_name(&device);
        let dev_err =
            |what: &str, e: cpal::Error| AudioError::Device(format!("{name}: {what}: {e}"));
        let supported = device
            .default_input_config()
            .map_err(|e| dev_err("no input configuration", e))?;
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
                SampleFormat::F32 => build::<f32>(&device, config, f),
                SampleFormat::F64 => build::<f64>(&device, config, f),
                SampleFormat::I8 => build::<i8>(&device, config, f),
                SampleFormat::I16 => build::<i16>(&device, config, f),
                SampleFormat::I24 => build::<cpal::I24>(&device, config, f),
                SampleFormat::I32 => build::<i32>(&device, config, f),
                SampleFormat::U8 => build::<u8>(&device, config, f),
                SampleFormat::U16 => build::<u16>(&device, config, f),
                SampleFormat::U24 => build::<cpal::U24>(&device, config, f),
                SampleFormat::U32 => build::<u32>(&device, config, f),
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
