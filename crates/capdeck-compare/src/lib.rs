//! The game and its re-implementation compared event by event (pure code: events in,
//! a report out).
//!
//! 1. **Keys.** Each feed's events become shared keys through the [`rules::Rules`] table:
//!    the game's TELEMETRY (`intro.timeline` events by their `data.event`, other labels by
//!    the label) and the engine's STATE_UPDATE `events` (a JSON `intro.timeline` entry by
//!    its `data.event`). One engine update that names a happening twice (a JSON line and
//!    a `cut_scene.fullscreen.*` line for one movie) counts once.
//! 2. **Pairs.** Per key, the game's occurrences are paired in order with the engine's on
//!    the aligned clock (the view's: each feed's clock estimate plus its nudge), after
//!    taking out the skew between the two (the median time difference of the keys both
//!    sides saw equally often). An occurrence with no partner within the window is *only
//!    in the game* or *only in the engine*.
//! 3. **Divergences.** A pair more than the tolerance from the skew is *late* (or early: its
//!    `dt_ms` says which); a pair in the other order than its neighbours on the engine side
//!    (by more than the order slack) is *out of order*. Plus the keys only one side ever
//!    produced (the engine's coverage of what the game did, and what it added).
//!
//! Deterministic: the same events give the same report, whatever their input order within
//! one instant.

pub mod rules;

use std::collections::{BTreeMap, VecDeque};

use capdeck_grimstream::FeedRole;
use capdeck_grimstream::store::{EventKind, Store};
use serde::Serialize;

pub use capdeck_grimstream::FeedRole as Feed;
pub use rules::{Rules, RulesError};

/// One keyed event of one feed on the aligned clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Which feed.
    pub feed: FeedRole,
    /// Aligned time, ns (the view's timeline).
    pub t_ns: i64,
    /// The shared key.
    pub key: String,
}

/// One event's text as a feed sent it, before the rules.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Which feed.
    pub feed: FeedRole,
    /// Aligned time, ns.
    pub t_ns: i64,
    /// Events of one message (one STATE_UPDATE) share a batch: a key counts once in it.
    pub batch: u64,
    /// The text: a dotted name, an engine event string, a telemetry label.
    pub text: &'a str,
}

/// Keyed events, and how many raw events of each feed no rule or name made a key.
#[derive(Debug, Clone, Default)]
pub struct Keyed {
    /// The events, in input order.
    pub events: Vec<Event>,
    /// Raw events not compared, per feed ([`FeedRole::index`]).
    pub unmapped: [u64; 2],
}

/// Applies `rules` to raw events.
pub fn key_events<'a>(raw: impl IntoIterator<Item = RawEvent<'a>>, rules: &Rules) -> Keyed {
    let mut out = Keyed::default();
    let mut batch: Option<(FeedRole, u64)> = None;
    let mut in_batch: Vec<String> = Vec::new();
    for r in raw {
        if batch != Some((r.feed, r.batch)) {
            batch = Some((r.feed, r.batch));
            in_batch.clear();
        }
        let text = event_text(r.text);
        match rules.key(r.feed, &text) {
            Some(key) if in_batch.contains(&key) => {}
            Some(key) => {
                in_batch.push(key.clone());
                out.events.push(Event {
                    feed: r.feed,
                    t_ns: r.t_ns,
                    key,
                });
            }
            None => out.unmapped[r.feed.index()] += 1,
        }
    }
    out
}

/// An engine event that is a JSON `{"label":"intro.timeline","data":{"event":...}}` line
/// is its `data.event`; any other text is itself.
fn event_text(text: &str) -> std::borrow::Cow<'_, str> {
    let t = text.trim();
    if t.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
        && v["label"] == "intro.timeline"
        && let Some(e) = v["data"]["event"].as_str()
    {
        return e.to_owned().into();
    }
    text.into()
}

/// The text of a game TELEMETRY: an `intro.timeline` event's `data.event`, else its label.
pub fn telemetry_text(t: &capdeck_wire::grimstream::Telemetry) -> &str {
    if t.label == "intro.timeline"
        && let rmpv::Value::Map(m) = &t.data
        && let Some(e) = m
            .iter()
            .find(|(k, _)| k.as_str() == Some("event"))
            .and_then(|(_, v)| v.as_str())
    {
        return e;
    }
    &t.label
}

/// The keyed events a view's store holds: the game's TELEMETRY and the engine's
/// STATE_UPDATE `events`, on the view's timeline (each feed's nudge applied).
pub fn observe(store: &Store, rules: &Rules) -> Keyed {
    let mut o = Observer::new(rules.clone());
    o.update(store);
    let nudge = FeedRole::ALL.map(|r| store.feed(r).nudge_ns);
    let mut k = o.keyed;
    for e in &mut k.events {
        e.t_ns = e.t_ns.saturating_add(nudge[e.feed.index()]);
    }
    k
}

/// What [`observe`] does, incrementally, for a view whose store keeps growing (and
/// forgetting its oldest items under the memory budget): each [`Observer::update`] keys
/// only what arrived since the last one, and the comparison covers everything observed,
/// evicted or not. Times are kept before the nudge; [`Observer::report`] applies the
/// current nudges.
#[derive(Debug, Clone)]
pub struct Observer {
    rules: Rules,
    /// Per feed: the arrival (viewer clock) of the last item taken, and how many items
    /// with exactly that arrival were taken.
    seen: [(i64, usize); 2],
    /// Keyed events, times without the nudge.
    keyed: Keyed,
    batch: u64,
}

/// [`Arrivals::untaken`] over plain arrival times (the unit tests).
#[cfg(test)]
fn untaken(arrivals: &VecDeque<i64>, seen: (i64, usize)) -> (usize, (i64, usize)) {
    Arrivals(arrivals, |&a| a).untaken(seen)
}

/// The arrivals of a feed's items, as a sorted view without copying.
struct Arrivals<'a, T>(&'a VecDeque<T>, fn(&T) -> i64);

impl<T> Arrivals<'_, T> {
    /// The first index not yet taken by `seen` (the arrival of the last item taken, and
    /// how many items with exactly that arrival were taken), and the new `seen` after
    /// taking the rest. O(log n) when nothing arrived; an evicted item only makes fewer
    /// of the taken ones remain.
    fn untaken(&self, seen: (i64, usize)) -> (usize, (i64, usize)) {
        let (items, at) = (self.0, self.1);
        let after = items.partition_point(|x| at(x) <= seen.0);
        let equal = items
            .range(..after)
            .rev()
            .take_while(|x| at(x) == seen.0)
            .count();
        let start = after - equal.saturating_sub(seen.1);
        let next = match items.back().map(at) {
            None => seen,
            Some(last) => {
                let at_last = items.iter().rev().take_while(|x| at(x) == last).count();
                if last == seen.0 {
                    (last, seen.1.max(at_last))
                } else {
                    (last, at_last)
                }
            }
        };
        (start, next)
    }
}

impl Observer {
    /// Nothing observed yet.
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            seen: [(i64::MIN, 0); 2],
            keyed: Keyed::default(),
            batch: 0,
        }
    }

    /// Keys what arrived in `store` since the last call; whether anything new was keyed.
    pub fn update(&mut self, store: &Store) -> bool {
        let before = (self.keyed.events.len(), self.keyed.unmapped);
        let retail = store.feed(FeedRole::Retail);
        let (start, next) = Arrivals(&retail.events, |e| e.arrival_ns).untaken(self.seen[0]);
        self.seen[0] = next;
        let mut raw: Vec<RawEvent<'_>> = Vec::new();
        for e in retail.events.iter().skip(start) {
            if let EventKind::Telemetry(t) = &e.kind {
                self.batch += 1;
                raw.push(RawEvent {
                    feed: FeedRole::Retail,
                    t_ns: e.t_ns,
                    batch: self.batch,
                    text: telemetry_text(t),
                });
            }
        }
        let engine = store.feed(FeedRole::Engine);
        let (start, next) = Arrivals(&engine.states, |s| s.arrival_ns).untaken(self.seen[1]);
        self.seen[1] = next;
        for s in engine.states.iter().skip(start) {
            self.batch += 1;
            for text in s.state.events.iter().flatten() {
                raw.push(RawEvent {
                    feed: FeedRole::Engine,
                    t_ns: s.t_ns,
                    batch: self.batch,
                    text,
                });
            }
        }
        let new = key_events(raw, &self.rules);
        self.keyed.events.extend(new.events);
        self.keyed.unmapped[0] += new.unmapped[0];
        self.keyed.unmapped[1] += new.unmapped[1];
        (self.keyed.events.len(), self.keyed.unmapped) != before
    }

    /// The comparison of everything observed, with each feed's nudge (ns, by
    /// [`FeedRole::index`]) added to its times.
    pub fn report(&self, nudge_ns: [i64; 2], opts: &CompareOptions) -> Report {
        if nudge_ns == [0, 0] {
            return compare(&self.keyed, opts);
        }
        let mut k = self.keyed.clone();
        for e in &mut k.events {
            e.t_ns = e.t_ns.saturating_add(nudge_ns[e.feed.index()]);
        }
        compare(&k, opts)
    }

    /// Keyed events observed.
    pub fn events(&self) -> usize {
        self.keyed.events.len()
    }
}

/// How events are paired and judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompareOptions {
    /// A pair further than this from the skew is late (or early), ms.
    pub tolerance_ms: u64,
    /// Occurrences further apart than this are never paired, ms.
    pub window_ms: u64,
    /// An inversion of order smaller than this is jitter, not out of order, ms.
    pub order_slack_ms: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            tolerance_ms: 500,
            window_ms: 5000,
            order_slack_ms: 100,
        }
    }
}

/// What kind of divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceKind {
    /// The game did it; the engine did not (within the window).
    OnlyInGame,
    /// The engine did it; the game did not.
    OnlyInEngine,
    /// Both did it, but further apart than the tolerance (after the skew).
    Late,
    /// Both did it in time, but in another order than its neighbours.
    OutOfOrder,
}

impl DivergenceKind {
    /// Every kind.
    pub const ALL: [DivergenceKind; 4] = [
        Self::OnlyInGame,
        Self::OnlyInEngine,
        Self::Late,
        Self::OutOfOrder,
    ];

    /// Words for a list or a tooltip.
    pub fn text(self) -> &'static str {
        match self {
            Self::OnlyInGame => "only in the game",
            Self::OnlyInEngine => "only in the engine",
            Self::Late => "late",
            Self::OutOfOrder => "out of order",
        }
    }
}

/// One divergence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// What kind.
    pub kind: DivergenceKind,
    /// The shared key.
    pub key: String,
    /// Where it sits on the timeline, ns: the game's time when the game saw it, else the
    /// engine's.
    pub at_ns: i64,
    /// The game's occurrence, ns.
    pub game_ns: Option<i64>,
    /// The engine's occurrence, ns.
    pub engine_ns: Option<i64>,
    /// Engine minus game, minus the skew, ms (pairs only).
    pub dt_ms: Option<f64>,
}

impl Divergence {
    /// One line: kind, key, time and Δt.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} at {:.3} s",
            self.kind.text(),
            self.key,
            self.at_ns as f64 / 1e9
        );
        if let Some(dt) = self.dt_ms {
            s.push_str(&format!(" (engine {dt:+.0} ms)"));
        }
        s
    }
}

/// One key's counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyReport {
    /// The shared key.
    pub key: String,
    /// Occurrences in the game.
    pub game: u64,
    /// Occurrences in the engine.
    pub engine: u64,
    /// Paired.
    pub paired: u64,
    /// The largest |Δt| of its pairs after the skew, ms.
    pub max_abs_dt_ms: Option<f64>,
}

/// Divergences per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// [`DivergenceKind::OnlyInGame`].
    pub only_in_game: u64,
    /// [`DivergenceKind::OnlyInEngine`].
    pub only_in_engine: u64,
    /// [`DivergenceKind::Late`].
    pub late: u64,
    /// [`DivergenceKind::OutOfOrder`].
    pub out_of_order: u64,
    /// All of them.
    pub total: u64,
}

/// The comparison of the two feeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Keyed events of the game.
    pub game_events: u64,
    /// Keyed events of the engine.
    pub engine_events: u64,
    /// Raw events no rule or name made a key (not compared): retail, engine.
    pub unmapped: [u64; 2],
    /// Pairs made.
    pub pairs: u64,
    /// The engine's time minus the game's that the pairs share (median), ms.
    pub skew_ms: Option<f64>,
    /// Divergences per kind.
    pub counts: Counts,
    /// Every divergence, in time order.
    pub divergences: Vec<Divergence>,
    /// Per key.
    pub keys: Vec<KeyReport>,
    /// Keys the game produced and the engine never did (its coverage gap).
    pub missing_keys: Vec<String>,
    /// Keys the engine produced and the game never did.
    pub unexpected_keys: Vec<String>,
    /// The options used.
    pub options: CompareOptions,
}

impl Report {
    /// Divergences whose time lies in `[from_ns, to_ns]`.
    pub fn in_range(&self, from_ns: i64, to_ns: i64) -> impl Iterator<Item = &Divergence> {
        let a = self.divergences.partition_point(|d| d.at_ns < from_ns);
        let b = self.divergences.partition_point(|d| d.at_ns <= to_ns);
        self.divergences[a..b.max(a)].iter()
    }
}

/// The median of `v` (sorted in place); the mean of the middle two for an even count.
fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        v[n / 2 - 1] / 2 + v[n / 2] / 2 + (v[n / 2 - 1] % 2 + v[n / 2] % 2) / 2
    })
}

/// Pairs two sorted time lists within `window` (engine times already shifted by the skew):
/// an occurrence is left alone when the other side's next one is a closer partner.
/// Returns the pairs (indices) and the unpaired of each side.
fn pair(g: &[i64], e: &[i64], window: i64) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let (mut i, mut j) = (0, 0);
    let (mut pairs, mut only_g, mut only_e) = (Vec::new(), Vec::new(), Vec::new());
    while i < g.len() && j < e.len() {
        let d = e[j].saturating_sub(g[i]).saturating_abs();
        if d > window {
            if g[i] <= e[j] {
                only_g.push(i);
                i += 1;
            } else {
                only_e.push(j);
                j += 1;
            }
            continue;
        }
        if g.get(i + 1)
            .is_some_and(|&g1| e[j].saturating_sub(g1).saturating_abs() < d)
        {
            only_g.push(i);
            i += 1;
        } else if e
            .get(j + 1)
            .is_some_and(|&e1| e1.saturating_sub(g[i]).saturating_abs() < d)
        {
            only_e.push(j);
            j += 1;
        } else {
            pairs.push((i, j));
            i += 1;
            j += 1;
        }
    }
    only_g.extend(i..g.len());
    only_e.extend(j..e.len());
    (pairs, only_g, only_e)
}

/// Indices of a longest non-decreasing subsequence of `v`.
fn longest_non_decreasing(v: &[i64]) -> Vec<usize> {
    // tails[k]: index of the smallest tail of a run of length k + 1
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; v.len()];
    for (i, &x) in v.iter().enumerate() {
        let k = tails.partition_point(|&t| v[t] <= x);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(i) = at {
        out.push(i);
        at = prev[i];
    }
    out.reverse();
    out
}

/// Compares the two feeds' keyed events.
pub fn compare(keyed: &Keyed, opts: &CompareOptions) -> Report {
    let ms = 1_000_000i64;
    let window = i64::try_from(opts.window_ms)
        .unwrap_or(i64::MAX / ms)
        .saturating_mul(ms);
    let tolerance = i64::try_from(opts.tolerance_ms)
        .unwrap_or(i64::MAX / ms)
        .saturating_mul(ms);
    let slack = i64::try_from(opts.order_slack_ms)
        .unwrap_or(i64::MAX / ms)
        .saturating_mul(ms);
    // per key: each side's times, sorted
    let mut by_key: BTreeMap<&str, [Vec<i64>; 2]> = BTreeMap::new();
    let mut counts = [0u64; 2];
    for e in &keyed.events {
        by_key.entry(&e.key).or_default()[e.feed.index()].push(e.t_ns);
        counts[e.feed.index()] += 1;
    }
    for sides in by_key.values_mut() {
        sides[0].sort_unstable();
        sides[1].sort_unstable();
    }
    // the skew: keys both sides saw equally often, paired in order
    let mut dts: Vec<i64> = by_key
        .values()
        .filter(|[g, e]| g.len() == e.len())
        .flat_map(|[g, e]| g.iter().zip(e).map(|(a, b)| b.saturating_sub(*a)))
        .filter(|d| d.saturating_abs() <= window)
        .collect();
    let skew = median(&mut dts).unwrap_or(0);

    let mut divergences = Vec::new();
    let mut keys = Vec::with_capacity(by_key.len());
    // (game time, engine time, key) of every pair that is not late
    let mut in_time: Vec<(i64, i64, &str)> = Vec::new();
    let mut pairs_made = 0u64;
    for (&key, [g, e]) in &by_key {
        let shifted: Vec<i64> = e.iter().map(|t| t.saturating_sub(skew)).collect();
        let (pairs, only_g, only_e) = pair(g, &shifted, window);
        let mut max_dt: Option<i64> = None;
        for &(i, j) in &pairs {
            let dt = shifted[j].saturating_sub(g[i]);
            max_dt = Some(max_dt.map_or(dt.saturating_abs(), |m| m.max(dt.saturating_abs())));
            if dt.saturating_abs() > tolerance {
                divergences.push(Divergence {
                    kind: DivergenceKind::Late,
                    key: key.to_owned(),
                    at_ns: g[i],
                    game_ns: Some(g[i]),
                    engine_ns: Some(e[j]),
                    dt_ms: Some(dt as f64 / 1e6),
                });
            } else {
                in_time.push((g[i], e[j], key));
            }
        }
        pairs_made += pairs.len() as u64;
        for i in only_g {
            divergences.push(Divergence {
                kind: DivergenceKind::OnlyInGame,
                key: key.to_owned(),
                at_ns: g[i],
                game_ns: Some(g[i]),
                engine_ns: None,
                dt_ms: None,
            });
        }
        for j in only_e {
            divergences.push(Divergence {
                kind: DivergenceKind::OnlyInEngine,
                key: key.to_owned(),
                at_ns: e[j],
                game_ns: None,
                engine_ns: Some(e[j]),
                dt_ms: None,
            });
        }
        keys.push(KeyReport {
            key: key.to_owned(),
            game: g.len() as u64,
            engine: e.len() as u64,
            paired: pairs.len() as u64,
            max_abs_dt_ms: max_dt.map(|d| d as f64 / 1e6),
        });
    }

    // out of order: pairs in time whose engine order breaks the longest run that keeps
    // the game's order, by more than the slack against the run's neighbours
    in_time.sort_unstable();
    let engine_times: Vec<i64> = in_time.iter().map(|p| p.1).collect();
    let run = longest_non_decreasing(&engine_times);
    let mut in_run = vec![false; in_time.len()];
    for &i in &run {
        in_run[i] = true;
    }
    for (i, &(g, e, key)) in in_time.iter().enumerate() {
        if in_run[i] {
            continue;
        }
        // the run's members just before and after this pair in the game's order
        let k = run.partition_point(|&r| r < i);
        let before = k.checked_sub(1).map(|k| in_time[run[k]].1);
        let after = run.get(k).map(|&r| in_time[r].1);
        let inverted = before.is_some_and(|b| e < b.saturating_sub(slack))
            || after.is_some_and(|a| e > a.saturating_add(slack));
        if inverted {
            divergences.push(Divergence {
                kind: DivergenceKind::OutOfOrder,
                key: key.to_owned(),
                at_ns: g,
                game_ns: Some(g),
                engine_ns: Some(e),
                dt_ms: Some(e.saturating_sub(skew).saturating_sub(g) as f64 / 1e6),
            });
        }
    }
    divergences.sort_by(|a, b| {
        (a.at_ns, a.kind, &a.key, a.engine_ns).cmp(&(b.at_ns, b.kind, &b.key, b.engine_ns))
    });
    let mut c = Counts::default();
    for d in &divergences {
        match d.kind {
            DivergenceKind::OnlyInGame => c.only_in_game += 1,
            DivergenceKind::OnlyInEngine => c.only_in_engine += 1,
            DivergenceKind::Late => c.late += 1,
            DivergenceKind::OutOfOrder => c.out_of_order += 1,
        }
    }
    c.total = divergences.len() as u64;
    let missing_keys = keys
        .iter()
        .filter(|k| k.game > 0 && k.engine == 0)
        .map(|k| k.key.clone())
        .collect();
    let unexpected_keys = keys
        .iter()
        .filter(|k| k.engine > 0 && k.game == 0)
        .map(|k| k.key.clone())
        .collect();
    Report {
        game_events: counts[0],
        engine_events: counts[1],
        unmapped: keyed.unmapped,
        pairs: pairs_made,
        skew_ms: (!dts.is_empty()).then_some(skew as f64 / 1e6),
        counts: c,
        divergences,
        keys,
        missing_keys,
        unexpected_keys,
        options: *opts,
    }
}

#[cfg(test)]
mod tests;
