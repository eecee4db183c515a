//! A user's rule file and both feeds' event texts, as `capdeck compare --rules` and the
//! live view's comparison meet them: bytes up to the first NUL are the rule file (refused
//! or used before the defaults), the rest are events, one a line: `r|e TIME_NS TEXT`.
//! Parsing, keying and pairing must end in a report or a clear error, never a panic or an
//! overflow.
#![no_main]

use capdeck_compare::{CompareOptions, Feed, RawEvent, Rules, compare, key_events};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// Compiled once: the defaults' patterns are constants, not what is fuzzed.
static DEFAULTS: LazyLock<Rules> = LazyLock::new(Rules::defaults);

fuzz_target!(|data: &[u8]| {
    let (rules, events) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let rules = match Rules::parse(rules) {
        Ok(r) => r.then(DEFAULTS.clone()),
        Err(e) => {
            let _ = e.to_string();
            DEFAULTS.clone()
        }
    };
    let text = String::from_utf8_lossy(events);
    let raw: Vec<RawEvent<'_>> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let mut it = line.splitn(3, ' ');
            let feed = match it.next()? {
                "r" => Feed::Retail,
                "e" => Feed::Engine,
                _ => return None,
            };
            let t_ns = it.next()?.parse().ok()?;
            Some(RawEvent {
                feed,
                t_ns,
                batch: i as u64 / 2,
                text: it.next().unwrap_or(""),
            })
        })
        .collect();
    let keyed = key_events(raw, &rules);
    let report = compare(&keyed, &CompareOptions::default());
    let _ = report.in_range(i64::MIN, i64::MAX).count();
});
