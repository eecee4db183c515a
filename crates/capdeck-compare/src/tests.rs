#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

fn raw(feed: FeedRole, t_ns: i64, batch: u64, text: &str) -> RawEvent<'_> {
    RawEvent {
        feed,
        t_ns,
        batch,
        text,
    }
}

/// The intro as the game's telemetry shim and the engine tell it (their own spellings).
fn intro(engine_shift: i64) -> Vec<(FeedRole, i64, u64, &'static str)> {
    use FeedRole::{Engine as E, Retail as R};
    let e = |t: i64| t + engine_shift;
    vec![
        (R, 0, 0, "telemetry.runtime"),
        (R, S, 1, "cut_scene.logos.begin"),
        (R, S, 2, "movie.logos.start"),
        (R, 5 * S, 3, "movie.logos.end"),
        (R, 5 * S, 4, "cut_scene.logos.end"),
        (R, 6 * S, 5, "movie.intro.start"),
        (R, 30 * S, 6, "movie.intro.end"),
        (R, 31 * S, 7, "dialog.manny.intma39"),
        (E, e(S), 10, "cut_scene.logos.begin"),
        (E, e(S), 10, "cut_scene.fullscreen.start logos.snm"),
        // the same movie start again in the same update, as JSON: counted once
        (
            E,
            e(S),
            10,
            r#"{"label":"intro.timeline","data":{"event":"movie.logos.start"}}"#,
        ),
        (E, e(S), 10, "actor.manny.pos 1.000,2.000,0.000"),
        (E, e(5 * S), 11, "cut_scene.fullscreen.end logos.snm"),
        (E, e(5 * S), 11, "cut_scene.logos.end"),
        (
            E,
            e(6 * S),
            12,
            "event=cutscene phase=start movie=intro.snm playing=true",
        ),
        (
            E,
            e(6 * S + 16 * MS),
            13,
            "event=cutscene phase=poll movie=intro.snm",
        ),
        (E, e(30 * S), 14, "movie.stop intro.snm"),
        (E, e(31 * S), 15, "dialog.begin manny /intma39/"),
    ]
}

fn keyed(events: &[(FeedRole, i64, u64, &str)]) -> Keyed {
    key_events(
        events.iter().map(|&(f, t, b, x)| raw(f, t, b, x)),
        &Rules::defaults(),
    )
}

#[test]
fn the_intro_told_two_ways_is_one_story() {
    let k = keyed(&intro(0));
    let r = compare(&k, &CompareOptions::default());
    assert_eq!(r.counts.total, 0, "{:#?}", r.divergences);
    assert_eq!((r.game_events, r.engine_events), (7, 7));
    assert_eq!(r.pairs, 7);
    // telemetry.runtime ignored by rule; the actor position and the poll are free text
    assert_eq!(r.unmapped, [1, 2]);
    assert_eq!(r.skew_ms, Some(0.0));
    assert!(r.missing_keys.is_empty() && r.unexpected_keys.is_empty());
    let keys: Vec<&str> = r.keys.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cut_scene.logos.begin",
            "cut_scene.logos.end",
            "dialog.manny.intma39",
            "movie.intro.end",
            "movie.intro.start",
            "movie.logos.end",
            "movie.logos.start"
        ]
    );
}

#[test]
fn a_skipped_a_delayed_and_an_added_event_are_named() {
    let mut ev = intro(0);
    // the engine skips the dialog line, starts the intro movie 2 s late, adds a movie
    ev.retain(|e| e.3 != "dialog.begin manny /intma39/");
    for e in &mut ev {
        if e.3.starts_with("event=cutscene phase=start") {
            e.1 += 2 * S;
        }
    }
    ev.push((FeedRole::Engine, 20 * S, 20, "movie.start mo_ts.snm"));
    let r = compare(&keyed(&ev), &CompareOptions::default());
    let got: Vec<(DivergenceKind, &str, i64)> = r
        .divergences
        .iter()
        .map(|d| (d.kind, d.key.as_str(), d.at_ns))
        .collect();
    assert_eq!(
        got,
        [
            (DivergenceKind::Late, "movie.intro.start", 6 * S),
            (DivergenceKind::OnlyInEngine, "movie.mo_ts.start", 20 * S),
            (DivergenceKind::OnlyInGame, "dialog.manny.intma39", 31 * S),
        ]
    );
    assert_eq!(r.divergences[0].dt_ms, Some(2000.0));
    assert_eq!(r.counts.total, 3);
    assert_eq!(r.missing_keys, ["dialog.manny.intma39"]);
    assert_eq!(r.unexpected_keys, ["movie.mo_ts.start"]);
}

#[test]
fn two_events_swapped_within_the_tolerance_are_out_of_order() {
    use FeedRole::{Engine as E, Retail as R};
    let ev = [
        (R, S, 0, "a.one"),
        (R, S + 200 * MS, 1, "a.two"),
        (R, 3 * S, 2, "a.three"),
        (E, S + 200 * MS, 10, "a.one"),
        (E, S, 11, "a.two"),
        (E, 3 * S, 12, "a.three"),
        // jitter under the slack is not an inversion
        (R, 5 * S, 3, "b.one"),
        (R, 5 * S + MS, 4, "b.two"),
        (E, 5 * S + 2 * MS, 13, "b.one"),
        (E, 5 * S, 14, "b.two"),
    ];
    let r = compare(&keyed(&ev), &CompareOptions::default());
    assert_eq!(r.counts.out_of_order, 1, "{:#?}", r.divergences);
    assert_eq!(r.counts.total, 1);
    assert_eq!(r.divergences[0].kind, DivergenceKind::OutOfOrder);
}

#[test]
fn in_range_finds_the_divergences_of_a_range() {
    let mut ev = intro(0);
    ev.retain(|e| !e.3.starts_with("dialog.begin") && !e.3.starts_with("movie.stop"));
    let r = compare(&keyed(&ev), &CompareOptions::default());
    assert_eq!(r.counts.total, 2);
    assert_eq!(r.in_range(0, 29 * S).count(), 0);
    assert_eq!(r.in_range(30 * S, 30 * S).count(), 1);
    assert_eq!(r.in_range(0, 40 * S).count(), 2);
}

#[test]
fn untaken_takes_each_item_once() {
    // nothing seen: everything
    assert_eq!(
        untaken(&VecDeque::from(vec![1, 2, 2]), (i64::MIN, 0)),
        (0, (2, 2))
    );
    // two at 2 taken, a third at 2 and one at 3 arrived
    assert_eq!(
        untaken(&VecDeque::from(vec![1, 2, 2, 2, 3]), (2, 2)),
        (3, (3, 1))
    );
    // nothing new
    assert_eq!(untaken(&VecDeque::from(vec![1, 2, 2]), (2, 2)), (3, (2, 2)));
    // the oldest evicted, one new
    assert_eq!(untaken(&VecDeque::from(vec![2, 4]), (2, 2)), (1, (4, 1)));
    assert_eq!(untaken(&VecDeque::from(vec![]), (5, 1)), (0, (5, 1)));
}

#[test]
fn an_observer_keys_each_arrival_once_and_applies_the_nudge() {
    use capdeck_grimstream::store::Store;
    use capdeck_wire::grimstream::{Message, StateUpdate, Telemetry};
    let mut store = Store::new(usize::MAX / 4);
    let tele = |seq, event: &str| {
        Message::Telemetry(Telemetry {
            seq,
            label: "intro.timeline".into(),
            timestamp: None,
            data: rmpv::Value::Map(vec![("event".into(), event.into())]),
        })
    };
    let state = |seq, events: &[&str]| {
        Message::StateUpdate(StateUpdate {
            seq,
            host_time_ns: seq * 50_000_000,
            events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
            ..Default::default()
        })
    };
    store.begin_generation(FeedRole::Retail, 1, 0);
    store.begin_generation(FeedRole::Engine, 1, 0);
    let mut obs = Observer::new(Rules::defaults());
    store.ingest(FeedRole::Retail, S, tele(0, "movie.logos.start"));
    store.ingest(
        FeedRole::Engine,
        S,
        state(0, &["cut_scene.fullscreen.start logos.snm"]),
    );
    assert!(obs.update(&store));
    assert!(!obs.update(&store), "nothing new");
    // two messages at one arrival instant: both taken, once
    store.ingest(FeedRole::Retail, 2 * S, tele(1, "movie.logos.end"));
    store.ingest(FeedRole::Retail, 2 * S, tele(2, "a.b"));
    assert!(obs.update(&store));
    store.ingest(FeedRole::Retail, 2 * S, tele(3, "a.c"));
    assert!(obs.update(&store));
    assert_eq!(obs.events(), 5);
    let whole = compare(
        &observe(&store, &Rules::defaults()),
        &CompareOptions::default(),
    );
    assert_eq!(obs.report([0, 0], &CompareOptions::default()), whole);
    // a nudge moves the engine's times
    let r = obs.report([0, 3 * S], &CompareOptions::default());
    let k = r
        .keys
        .iter()
        .find(|k| k.key == "movie.logos.start")
        .unwrap();
    assert_eq!(k.paired, 1);
}

/// A stream of keyed events: increasing times (0.1 to 3 s apart), keys from a few.
fn stream() -> impl Strategy<Value = Vec<(i64, String)>> {
    prop::collection::vec((100i64..3000, 0usize..6), 1..60).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .map(|(dt, k)| {
                t += dt * MS;
                (t, format!("k.{k}"))
            })
            .collect()
    })
}

fn both(game: &[(i64, String)], engine: &[(i64, String)]) -> Keyed {
    let mut k = Keyed::default();
    for (feed, side) in [(FeedRole::Retail, game), (FeedRole::Engine, engine)] {
        for (t, key) in side {
            k.events.push(Event {
                feed,
                t_ns: *t,
                key: key.clone(),
            });
        }
    }
    k
}

proptest! {
    #[test]
    fn a_stream_compared_with_itself_has_no_divergence(s in stream()) {
        let r = compare(&both(&s, &s), &CompareOptions::default());
        prop_assert_eq!(r.counts.total, 0);
        prop_assert_eq!(r.pairs, s.len() as u64);
    }

    #[test]
    fn dropping_an_event_yields_exactly_that_divergence(s in stream(), pick in any::<prop::sample::Index>(), from_game in any::<bool>()) {
        let i = pick.index(s.len());
        let mut less = s.clone();
        let (t, key) = less.remove(i);
        let (game, engine) = if from_game { (&less, &s) } else { (&s, &less) };
        let r = compare(&both(game, engine), &CompareOptions::default());
        prop_assert_eq!(r.divergences.len(), 1, "{:#?}", r.divergences);
        let d = &r.divergences[0];
        let kind = if from_game { DivergenceKind::OnlyInEngine } else { DivergenceKind::OnlyInGame };
        prop_assert_eq!(d.kind, kind);
        prop_assert_eq!(&d.key, &key);
        prop_assert_eq!(d.at_ns, t);
    }

    #[test]
    fn shifting_one_side_keeps_the_pairs_with_that_dt(s in stream(), shift_ms in -3000i64..3000) {
        let shifted: Vec<_> = s.iter().map(|(t, k)| (t + shift_ms * MS, k.clone())).collect();
        let r = compare(&both(&s, &shifted), &CompareOptions::default());
        prop_assert_eq!(r.counts.total, 0, "{:#?}", r.divergences);
        prop_assert_eq!(r.pairs, s.len() as u64);
        prop_assert_eq!(r.skew_ms, Some(shift_ms as f64));
        for k in &r.keys {
            prop_assert_eq!(k.max_abs_dt_ms, Some(0.0));
        }
    }

    #[test]
    fn the_report_does_not_depend_on_the_input_order(s in stream(), seed in any::<u64>()) {
        let mut k = both(&s, &s[s.len() / 2..]);
        let a = compare(&k, &CompareOptions::default());
        // a deterministic shuffle
        let n = k.events.len();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            k.events.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = compare(&k, &CompareOptions::default());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn any_text_and_any_rule_file_never_panic(text in ".{0,80}", file in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Rules::defaults().key(FeedRole::Engine, &text);
        let _ = event_text(&text);
        if let Ok(r) = Rules::parse(&file) {
            let _ = r.key(FeedRole::Retail, &text);
        }
    }
}
