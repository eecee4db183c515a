//! The retail view on the GPU: frames uploaded as wgpu textures (stride honoured by the
//! upload itself, no row copy) and drawn by `shaders/overlay.wgsl` through an egui_wgpu
//! paint callback, with the overlay modes (onion skin, difference heat map, wipe).
//!
//! Textures live in a small cache keyed by frame identity, so stepping, onion skin and a
//! pinned reference re-use uploads; only a frame not seen before is uploaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, RenderState, ScreenDescriptor};
use eframe::wgpu;

use capdeck_grimstream::store::StoredFrame;

/// Overlay mode of the retail view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OverlayMode {
    /// The frame at the cursor.
    #[default]
    Plain,
    /// Previous frames faded over the current one.
    Onion,
    /// Heat map of the difference against the pinned reference.
    Difference,
    /// Wipe between the current frame and the pinned reference.
    Wipe,
}

impl OverlayMode {
    /// All modes, in picker order.
    pub const ALL: [OverlayMode; 4] = [Self::Plain, Self::Onion, Self::Difference, Self::Wipe];
    /// Label in the picker.
    pub fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Onion => "onion skin",
            Self::Difference => "difference",
            Self::Wipe => "wipe",
        }
    }
    fn code(self) -> u32 {
        self as u32
    }
    /// Whether the mode needs a pinned reference frame.
    pub fn needs_reference(self) -> bool {
        matches!(self, Self::Difference | Self::Wipe)
    }
}

/// Count of frame texture uploads, shared with the HUD and the benchmark.
#[derive(Debug, Clone, Default)]
pub struct UploadCounter(Arc<AtomicU64>);

impl UploadCounter {
    /// Uploads so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

const CACHE: usize = 8;
const UNIFORM_SIZE: u64 = 32;

type Key = (u64, u64, usize);

struct Cached {
    key: Key,
    size: (u32, u32),
    tex: wgpu::Texture,
    view: wgpu::TextureView,
    last_used: u64,
    /// Bumped when the slot's texture is created anew (another frame size).
    texture_gen: u64,
}

/// What a bind group binds: per slot, the cache entry and its texture's generation. A new
/// frame uploaded into the same texture keeps the bind group (no per-frame GPU objects).
type Bound = Vec<Option<(usize, u64)>>;

/// GPU resources of the retail view, stored in egui_wgpu's callback resources.
pub struct OverlayResources {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    uniform: wgpu::Buffer,
    dummy: wgpu::TextureView,
    cache: Vec<Cached>,
    bind_group: Option<(Bound, wgpu::BindGroup)>,
    /// Texture generations handed out.
    texture_gens: u64,
    tick: u64,
    uploads: UploadCounter,
}

/// Creates the pipeline and registers it with the renderer. Returns the upload counter.
pub fn install(rs: &RenderState) -> UploadCounter {
    let device = &rs.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("capdeck overlay.wgsl"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../../shaders/overlay.wgsl").into()),
    });
    let tex_entry = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            multisampled: false,
            sample_type: wgpu::TextureSampleType::Float { filterable: true },
            view_dimension: wgpu::TextureViewDimension::D2,
        },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("capdeck overlay layout"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: std::num::NonZeroU64::new(UNIFORM_SIZE),
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
            tex_entry(2),
            tex_entry(3),
            tex_entry(4),
            tex_entry(5),
            tex_entry(6),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("capdeck overlay pipeline layout"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("capdeck overlay pipeline"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: rs.target_format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        }),
        multiview_mask: None,
        cache: None,
    });
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("capdeck overlay sampler"),
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        ..Default::default()
    });
    let uniform = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("capdeck overlay params"),
        size: UNIFORM_SIZE,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let dummy = create_texture(device, 1, 1).create_view(&wgpu::TextureViewDescriptor::default());
    let uploads = UploadCounter::default();
    let res = OverlayResources {
        pipeline,
        layout,
        sampler,
        uniform,
        dummy,
        cache: Vec::new(),
        bind_group: None,
        texture_gens: 0,
        tick: 0,
        uploads: uploads.clone(),
    };
    rs.renderer.write().callback_resources.insert(res);
    uploads
}

fn create_texture(device: &wgpu::Device, w: u32, h: u32) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("capdeck retail frame"),
        size: wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

impl OverlayResources {
    /// Makes sure `frame` is in the cache; uploads it if not. Returns its cache index, or
    /// `None` for a frame that cannot be drawn (its shape is refused before any upload).
    fn ensure(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frame: &StoredFrame,
    ) -> Option<usize> {
        self.tick += 1;
        let key = frame.key();
        if let Some(i) = self.cache.iter().position(|c| c.key == key) {
            self.cache[i].last_used = self.tick;
            return Some(i);
        }
        let (width, height, stride) = frame.rgba_geometry().ok()?;
        let max = device.limits().max_texture_dimension_2d;
        if width > max || height > max {
            return None;
        }
        let size = (width, height);
        let i = if self.cache.len() < CACHE {
            let tex = create_texture(device, size.0, size.1);
            let view = tex.create_view(&wgpu::TextureViewDescriptor::default());
            self.texture_gens += 1;
            self.cache.push(Cached {
                key,
                size,
                tex,
                view,
                last_used: 0,
                texture_gen: self.texture_gens,
            });
            self.cache.len() - 1
        } else {
            let i = (0..self.cache.len())
                .min_by_key(|&i| self.cache[i].last_used)
                .unwrap_or(0);
            if self.cache[i].size != size {
                let tex = create_texture(device, size.0, size.1);
                self.cache[i].view = tex.create_view(&wgpu::TextureViewDescriptor::default());
                self.cache[i].tex = tex;
                self.cache[i].size = size;
                self.texture_gens += 1;
                self.cache[i].texture_gen = self.texture_gens;
            }
            self.cache[i].key = key;
            i
        };
        self.cache[i].last_used = self.tick;
        // The upload reads rows `stride` bytes apart straight from the frame's buffer.
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.cache[i].tex,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &frame.data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(stride),
                rows_per_image: Some(height),
            },
            wgpu::Extent3d {
                width: size.0,
                height: size.1,
                depth_or_array_layers: 1,
            },
        );
        self.uploads.bump();
        Some(i)
    }
}

/// Uploads `frame` into the retail view's texture cache now (normally done when the view
/// is painted; also used to pre-load and by the benchmark). Returns false when the overlay
/// resources are not installed or the frame cannot be drawn.
pub fn preupload(rs: &RenderState, frame: &StoredFrame) -> bool {
    let mut r = rs.renderer.write();
    let Some(res) = r.callback_resources.get_mut::<OverlayResources>() else {
        return false;
    };
    res.ensure(&rs.device, &rs.queue, frame).is_some()
}

/// One retail view draw: the frames it needs and the shader parameters.
pub struct RetailCallback {
    /// Frame at the cursor.
    pub current: StoredFrame,
    /// Pinned reference (difference, wipe).
    pub reference: Option<StoredFrame>,
    /// Up to three previous frames, newest first (onion skin).
    pub previous: Vec<StoredFrame>,
    /// Mode.
    pub mode: OverlayMode,
    /// Wipe position or onion opacity.
    pub amount: f32,
    /// Difference gain.
    pub gain: f32,
    /// Visible part of the frame, in texture coordinates.
    pub uv: egui::Rect,
    /// Records the frame's arrival-to-screen latency when it is drawn (following live).
    pub probe: Option<super::latency::PresentProbe>,
}

impl CallbackTrait for RetailCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(res) = resources.get_mut::<OverlayResources>() else {
            return Vec::new();
        };
        let Some(cur) = res.ensure(device, queue, &self.current) else {
            res.bind_group = None;
            return Vec::new();
        };
        let refi = self
            .reference
            .as_ref()
            .and_then(|f| res.ensure(device, queue, f));
        let prev: Vec<usize> = self
            .previous
            .iter()
            .take(3)
            .filter_map(|f| res.ensure(device, queue, f))
            .collect();
        let slots = [
            Some(cur),
            refi,
            prev.first().copied(),
            prev.get(1).copied(),
            prev.get(2).copied(),
        ];
        let keys: Bound = slots
            .iter()
            .map(|s| s.map(|i| (i, res.cache[i].texture_gen)))
            .collect();
        if res.bind_group.as_ref().is_none_or(|(k, _)| *k != keys) {
            let views: Vec<&wgpu::TextureView> = slots
                .iter()
                .map(|s| s.map_or(&res.dummy, |i| &res.cache[i].view))
                .collect();
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("capdeck overlay bind group"),
                layout: &res.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: res.uniform.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Sampler(&res.sampler),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(views[0]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::TextureView(views[1]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: wgpu::BindingResource::TextureView(views[2]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 5,
                        resource: wgpu::BindingResource::TextureView(views[3]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 6,
                        resource: wgpu::BindingResource::TextureView(views[4]),
                    },
                ],
            });
            res.bind_group = Some((keys, bg));
        }
        let mode = if self.mode.needs_reference() && refi.is_none() {
            OverlayMode::Plain
        } else {
            self.mode
        };
        let mut p = [0u8; UNIFORM_SIZE as usize];
        p[0..4].copy_from_slice(&mode.code().to_le_bytes());
        p[4..8].copy_from_slice(&(prev.len() as u32).to_le_bytes());
        p[8..12].copy_from_slice(&self.amount.to_le_bytes());
        p[12..16].copy_from_slice(&self.gain.to_le_bytes());
        for (i, v) in [self.uv.min.x, self.uv.min.y, self.uv.max.x, self.uv.max.y]
            .into_iter()
            .enumerate()
        {
            p[16 + i * 4..20 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        queue.write_buffer(&res.uniform, 0, &p);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(res) = resources.get::<OverlayResources>() else {
            return;
        };
        let Some((_, bg)) = &res.bind_group else {
            return;
        };
        pass.set_pipeline(&res.pipeline);
        pass.set_bind_group(0, bg, &[]);
        pass.draw(0..6, 0..1);
        if let Some(p) = &self.probe {
            p.presented();
        }
    }
}

/// Wraps a [`RetailCallback`] into an egui paint callback for `rect`.
pub fn paint_callback(rect: egui::Rect, cb: RetailCallback) -> egui::PaintCallback {
    egui_wgpu::Callback::new_paint_callback(rect, cb)
}
