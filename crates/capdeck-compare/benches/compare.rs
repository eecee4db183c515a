//! An hour of both feeds compared: the game's telemetry (an event every 500 ms, 40 keys),
//! the engine's STATE_UPDATEs (every 50 ms, each with a free-text event the rules leave
//! out, and the game's events in the engine's spellings, 1 % skipped, 1 % 2 s late, 1 %
//! added). Keying through the default rules, then pairing. Goal (issue 30): an hour-long
//! recording compared in under 10 s.
#![allow(clippy::unwrap_used)]

use capdeck_compare::{CompareOptions, Feed, RawEvent, Rules, compare, key_events};
use criterion::{Criterion, criterion_group, criterion_main};

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

fn hour() -> Vec<(Feed, i64, u64, String)> {
    let mut out = Vec::new();
    let mut batch = 0u64;
    for i in 0..7200i64 {
        let t = i * 500 * MS;
        let (game, engine) = if i % 2 == 0 {
            let m = format!("m{}", i % 20);
            (
                format!("movie.{m}.start"),
                format!("cut_scene.fullscreen.start {m}.snm"),
            )
        } else {
            let k = format!("script.k{}.start", i % 20);
            (k.clone(), k)
        };
        out.push((Feed::Retail, t, batch, game));
        batch += 1;
        match i % 100 {
            7 => {}                                                  // skipped
            8 => out.push((Feed::Engine, t + 2 * S, batch, engine)), // late
            9 => {
                out.push((Feed::Engine, t, batch, engine));
                out.push((
                    Feed::Engine,
                    t + 100 * MS,
                    batch + 1,
                    "movie.start extra.snm".into(),
                ));
            }
            _ => out.push((Feed::Engine, t, batch, engine)),
        }
    }
    for j in 0..72_000i64 {
        out.push((
            Feed::Engine,
            j * 50 * MS,
            1_000_000 + j as u64,
            format!("actor.manny.pos {}.000,2.000,0.000", j % 97),
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let events = hour();
    let rules = Rules::defaults();
    let opts = CompareOptions::default();
    let key_all = || {
        key_events(
            events.iter().map(|(feed, t_ns, batch, text)| RawEvent {
                feed: *feed,
                t_ns: *t_ns,
                batch: *batch,
                text,
            }),
            &rules,
        )
    };
    let keyed = key_all();
    let r = compare(&keyed, &opts);
    assert_eq!(r.counts.only_in_game, 72);
    assert_eq!(r.counts.late, 72);
    assert_eq!(r.counts.only_in_engine, 72);
    let mut g = c.benchmark_group("compare_an_hour");
    g.sample_size(10);
    g.bench_function("key_events (default rules)", |b| {
        b.iter(key_all);
    });
    g.bench_function("compare (pairing)", |b| b.iter(|| compare(&keyed, &opts)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
