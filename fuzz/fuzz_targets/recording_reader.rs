//! Fuzz the recording reader: any bytes as a segment file (a recording from another
//! machine, a damaged disk, a hand-made file) are opened, verified and read through every
//! path a replay takes (the index when there is a summary, the linear recovery pass when
//! there is not, paged-out frame lookups, the capture track): no input may panic, hang or allocate without
//! bound; damage is a gap or an error.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;

use capdeck_record::capture_track::CaptureTrack;
use capdeck_record::reader::{ReadEvent, Recording, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempdir() else {
        return;
    };
    let seg = dir.join("seg-000001.mcap");
    if std::fs::write(&seg, data).is_err() {
        return;
    }
    for path in [seg.as_path(), dir.as_path()] {
        if let Ok(rec) = Recording::open(path) {
            let _ = rec.time_range();
            let _ = rec.per_topic();
            let mut n = 0u64;
            // the capture track a replay builds from the same messages, and its queries
            let mut track = CaptureTrack::default();
            let _ = rec.read_all(&mut |ev| {
                if let ReadEvent::Message(m) = ev {
                    n += m.data.len() as u64;
                    track.push(&m, (m.log_time_ns % (1 << 40)) as i64);
                }
                ControlFlow::Continue(())
            });
            for t in [0, 1 << 20, i64::MAX] {
                let _ = track.at(t);
            }
            let _ = track.waveform(0, 1 << 40, 64);
            if let Some((a, b)) = rec.time_range() {
                let mid = a / 2 + b / 2;
                let _ = rec.read(mid, mid, &[], &mut |_| ControlFlow::Break(()));
            }
        }
    }
    let _ = verify(&dir);
    let _ = std::fs::remove_dir_all(&dir);
});

/// A fresh folder under the system temp dir (no tempfile crate in this minimal build).
fn tempdir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "capdeck-fuzz-rec-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
