use capdeck::capture::audio::*;
use std::time::*;
fn main() {
    let spec: AudioSourceSpec = std::env::args()
        .nth(1)
        .unwrap_or("default".into())
        .parse()
        .unwrap();
    let t0 = Instant::now();
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let p = start(
        &spec,
        AudioControl::new(100),
        Box::new(move |c: AudioChunk| {
            println!(
                "{:6} ms seq {} ts-now {} peak {:.1} rms {:.1}",
                t0.elapsed().as_millis(),
                c.seq,
                c.ts_ms as i64 - now() as i64,
                c.peak_dbfs,
                c.rms_dbfs
            );
        }),
    )
    .unwrap();
    let secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        eprintln!("{}", serde_json::to_string(&p.stats()).unwrap());
    }
    p.stop();
}
