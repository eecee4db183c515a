// Retail view overlays, drawn by an egui_wgpu paint callback into the egui render pass.
//
// Textures: `cur` = frame at the cursor; `ref_tex` = pinned reference frame (difference,
// wipe); `prev1..prev3` = the three frames before the cursor (onion skin). Frames are
// RGBA8 uploaded as they arrive (stride honoured by the upload); sampled without sRGB
// decoding, like egui's own textures, so colours match the non-overlay path.

struct Params {
    // 0 = plain, 1 = onion skin, 2 = difference heat map, 3 = wipe
    mode: u32,
    // how many of prev1..prev3 hold frames
    n_prev: u32,
    // wipe: x position 0..1 of the split; onion: opacity of the newest previous frame
    amount: f32,
    // difference: gain applied before the colour ramp
    gain: f32,
    // part of the frame visible in the callback rect (fit = 0..1; 1:1 zoom = a window)
    uv_min: vec2<f32>,
    uv_max: vec2<f32>,
};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var samp: sampler;
@group(0) @binding(2) var cur: texture_2d<f32>;
@group(0) @binding(3) var ref_tex: texture_2d<f32>;
@group(0) @binding(4) var prev1: texture_2d<f32>;
@group(0) @binding(5) var prev2: texture_2d<f32>;
@group(0) @binding(6) var prev3: texture_2d<f32>;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A quad covering the viewport (the callback rect), two triangles, no vertex buffer.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let c = corners[i];
    var out: VsOut;
    out.pos = vec4<f32>(c.x * 2.0 - 1.0, 1.0 - c.y * 2.0, 0.0, 1.0);
    out.uv = mix(params.uv_min, params.uv_max, c);
    return out;
}

fn sample(t: texture_2d<f32>, uv: vec2<f32>) -> vec4<f32> {
    return textureSampleLevel(t, samp, uv, 0.0);
}

// Turbo-like ramp: black -> blue -> green -> yellow -> red.
fn heat(x: f32) -> vec3<f32> {
    let v = clamp(x, 0.0, 1.0);
    let r = smoothstep(0.45, 0.8, v);
    let g = smoothstep(0.15, 0.5, v) - smoothstep(0.8, 1.0, v) * 0.8;
    let b = smoothstep(0.0, 0.2, v) - smoothstep(0.35, 0.6, v);
    return vec3<f32>(r, max(g, 0.0), max(b, 0.0)) * smoothstep(0.0, 0.02, v);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let c = sample(cur, in.uv);
    switch params.mode {
        case 1u: {
            // onion skin: previous frames faded over the current one, older = fainter
            var col = c.rgb;
            if params.n_prev >= 3u { col = mix(col, sample(prev3, in.uv).rgb, params.amount * 0.25); }
            if params.n_prev >= 2u { col = mix(col, sample(prev2, in.uv).rgb, params.amount * 0.5); }
            if params.n_prev >= 1u { col = mix(col, sample(prev1, in.uv).rgb, params.amount); }
            return vec4<f32>(col, 1.0);
        }
        case 2u: {
            // difference heat map against the pinned reference, over a dimmed current frame
            let r = sample(ref_tex, in.uv);
            let d = length(c.rgb - r.rgb) / 1.7320508 * params.gain;
            let base = vec3<f32>(dot(c.rgb, vec3<f32>(0.299, 0.587, 0.114)) * 0.25);
            return vec4<f32>(max(base, heat(d)), 1.0);
        }
        case 3u: {
            // wipe: current frame left of the split, reference right, with a thin line
            let x = (in.uv.x - params.uv_min.x) / max(params.uv_max.x - params.uv_min.x, 1e-6);
            let edge = abs(x - params.amount);
            if edge < 0.002 { return vec4<f32>(1.0, 1.0, 1.0, 1.0); }
            if x < params.amount { return vec4<f32>(c.rgb, 1.0); }
            return vec4<f32>(sample(ref_tex, in.uv).rgb, 1.0);
        }
        default: {
            return vec4<f32>(c.rgb, 1.0);
        }
    }
}
