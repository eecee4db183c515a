//! The rule table: how one feed's event text becomes a shared key.
//!
//! An event whose text is already a dotted name (`movie.logos.start`,
//! `cut_scene.intro.begin`) is its own key on either side: no rule is needed for names
//! both producers spell alike. A rule maps other spellings onto such a key:
//!
//! ```json
//! { "rules": [
//!   { "feed": "engine", "match": "^cut_scene\\.fullscreen\\.(start|end) (\\S+)$",
//!     "key": "movie.$2.$1", "strip": [".snm"] },
//!   { "feed": "retail", "match": "^telemetry\\.runtime$", "key": "" }
//! ] }
//! ```
//!
//! `feed` is `retail`, `engine` or `both` (the default); `match` a regular expression
//! (the `regex` crate's syntax: matching takes linear time, whatever the pattern);
//! `key` the shared key, with `$1` or `${name}` for what a group captured (an empty key
//! ignores the event); `strip` suffixes removed from each capture (`.snm` of a movie's file
//! name). Keys are lower case. The first rule that matches wins; a user's rules come
//! before the defaults ([`Rules::defaults`], for the game's telemetry shim and the
//! re-implementation engine).

use capdeck_grimstream::FeedRole;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// The largest rule file read (bytes).
pub const MAX_RULES_BYTES: usize = 1024 * 1024;
/// The most rules one file may hold.
pub const MAX_RULES: usize = 1000;
/// The compiled size limit of one pattern (bytes): a pattern over it is refused.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Over [`MAX_RULES_BYTES`].
    #[error("the rule file is {0} bytes, over the {MAX_RULES_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not the JSON shape of the module docs.
    #[error("not a rule file: {0}")]
    Json(String),
    /// Over [`MAX_RULES`].
    #[error("{0} rules, over the limit of {MAX_RULES}")]
    TooMany(usize),
    /// A rule's `feed` is not retail, engine or both.
    #[error("rule {index}: feed {feed:?} is not retail, engine or both")]
    Feed {
        /// The rule's place in the file, from 1.
        index: usize,
        /// What it said.
        feed: String,
    },
    /// A rule's pattern does not compile.
    #[error("rule {index}: {reason}")]
    Pattern {
        /// The rule's place in the file, from 1.
        index: usize,
        /// The regex crate's message.
        reason: String,
    },
    /// A rule's key names a group its pattern does not have.
    #[error("rule {index}: the key {key:?} names group {group:?}, which the pattern does not have")]
    Group {
        /// The rule's place in the file, from 1.
        index: usize,
        /// The key template.
        key: String,
        /// The group named.
        group: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    #[serde(default)]
    feed: Option<String>,
    #[serde(rename = "match")]
    pattern: String,
    key: String,
    #[serde(default)]
    strip: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rules: Vec<FileRule>,
}

/// One rule (see the module docs).
#[derive(Debug, Clone)]
pub struct Rule {
    feed: Option<FeedRole>,
    pattern: Regex,
    key: String,
    strip: Vec<String>,
}

/// The rule table: a user's rules, then the defaults.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::defaults()
    }
}

/// The defaults, as a rule file (the vocabulary of `mmontalbo/grim_rust`: the retail
/// telemetry shim's `intro.timeline` events, the engine's STATE_UPDATE `events`).
pub const DEFAULT_RULES: &str = r#"{ "rules": [
  { "feed": "retail", "match": "^telemetry\\.runtime$", "key": "" },
  { "feed": "retail", "match": "^intro\\.timeline$", "key": "" },
  { "feed": "engine", "match": "^cut_scene\\.fullscreen\\.(start|end) (\\S+)$", "key": "movie.$2.$1", "strip": [".snm"] },
  { "feed": "engine", "match": "^movie\\.start (\\S+)$", "key": "movie.$1.start", "strip": [".snm"] },
  { "feed": "engine", "match": "^movie\\.stop (\\S+)$", "key": "movie.$1.end", "strip": [".snm"] },
  { "feed": "engine", "match": "^event=cutscene phase=(start|end) movie=(\\S+)", "key": "movie.$2.$1", "strip": [".snm"] },
  { "feed": "engine", "match": "^dialog\\.(?:begin|say) (\\S+) /?([^/ ]+)/?$", "key": "dialog.$1.$2" }
] }"#;

impl Rules {
    /// The default table ([`DEFAULT_RULES`]).
    pub fn defaults() -> Self {
        match Self::parse(DEFAULT_RULES.as_bytes()) {
            Ok(r) => r,
            // the default table is a constant, parsed by a unit test
            Err(e) => unreachable!("the default rules do not parse: {e}"),
        }
    }

    /// No rules: only dotted names are keys.
    pub fn none() -> Self {
        Self { rules: Vec::new() }
    }

    /// A rule file's rules (without the defaults).
    pub fn parse(bytes: &[u8]) -> Result<Self, RulesError> {
        if bytes.len() > MAX_RULES_BYTES {
            return Err(RulesError::TooLarge(bytes.len()));
        }
        let file: File =
            serde_json::from_slice(bytes).map_err(|e| RulesError::Json(e.to_string()))?;
        if file.rules.len() > MAX_RULES {
            return Err(RulesError::TooMany(file.rules.len()));
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, r) in file.rules.into_iter().enumerate() {
            let index = i + 1;
            let feed = match r.feed.as_deref() {
                None | Some("both") => None,
                Some("retail") => Some(FeedRole::Retail),
                Some("engine") => Some(FeedRole::Engine),
                Some(other) => {
                    return Err(RulesError::Feed {
                        index,
                        feed: other.to_owned(),
                    });
                }
            };
            let pattern = RegexBuilder::new(&r.pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| RulesError::Pattern {
                    index,
                    reason: e.to_string(),
                })?;
            for group in groups_named(&r.key) {
                let known = match group.parse::<usize>() {
                    Ok(n) => n < pattern.captures_len(),
                    Err(_) => pattern.capture_names().flatten().any(|n| n == group),
                };
                if !known {
                    return Err(RulesError::Group {
                        index,
                        key: r.key.clone(),
                        group: group.to_owned(),
                    });
                }
            }
            rules.push(Rule {
                feed,
                pattern,
                key: r.key,
                strip: r.strip,
            });
        }
        Ok(Self { rules })
    }

    /// `self`'s rules first, then `then`'s.
    #[must_use]
    pub fn then(mut self, then: Rules) -> Self {
        self.rules.extend(then.rules);
        self
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The shared key of `text` seen on `feed`: the first matching rule's (None when it
    /// maps to the empty key: ignored), else the text itself when it is a dotted name,
    /// else None (not compared).
    pub fn key(&self, feed: FeedRole, text: &str) -> Option<String> {
        let text = text.trim();
        for r in &self.rules {
            if r.feed.is_some_and(|f| f != feed) {
                continue;
            }
            let Some(caps) = r.pattern.captures(text) else {
                continue;
            };
            if r.key.is_empty() {
                return None;
            }
            let mut out = String::with_capacity(r.key.len() + text.len());
            expand(&r.key, &caps, &r.strip, &mut out);
            return Some(out.to_lowercase()).filter(|k| !k.is_empty());
        }
        is_dotted_name(text).then(|| text.to_lowercase())
    }
}

/// Whether `s` is a dotted name: two or more parts of letters, digits, `_` or `-`.
pub fn is_dotted_name(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        if p.is_empty()
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// The groups a key template names (`$1`, `${name}`).
fn groups_named(key: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = key;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('{') {
            if let Some(end) = r.find('}') {
                out.push(&r[..end]);
                rest = &r[end + 1..];
            }
        } else {
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if n > 0 {
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
        }
    }
    out
}

/// Writes `template` with each `$group` replaced by its capture, minus the `strip`
/// suffixes (`$$` is a `$`).
fn expand(template: &str, caps: &regex::Captures<'_>, strip: &[String], out: &mut String) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => ("", rest),
            }
        } else if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        } else {
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            (&rest[..n], &rest[n..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let m = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(name),
        };
        let mut v = m.map_or("", |m| m.as_str());
        for s in strip {
            if let Some(x) = v.strip_suffix(s.as_str()) {
                v = x;
            }
        }
        out.push_str(v);
        rest = after;
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_map_the_engines_spellings_onto_the_games() {
        let r = Rules::defaults();
        let e = |t| r.key(FeedRole::Engine, t);
        let g = |t| r.key(FeedRole::Retail, t);
        assert_eq!(g("movie.logos.start").as_deref(), Some("movie.logos.start"));
        assert_eq!(
            e("cut_scene.fullscreen.start logos.snm").as_deref(),
            Some("movie.logos.start")
        );
        assert_eq!(
            e("movie.stop MO_TS.snm").as_deref(),
            Some("movie.mo_ts.end")
        );
        assert_eq!(
            e("event=cutscene phase=end movie=intro.snm playing=false").as_deref(),
            Some("movie.intro.end")
        );
        assert_eq!(e("event=cutscene phase=poll movie=intro.snm"), None);
        assert_eq!(
            e("dialog.begin manny /intma39/").as_deref(),
            Some("dialog.manny.intma39")
        );
        assert_eq!(g("telemetry.runtime"), None, "ignored");
        // an intro.timeline event without its data.event (the Lua shim's "data":{}) names
        // nothing
        assert_eq!(g("intro.timeline"), None);
        // dotted names are keys on both sides; free text is not compared
        assert_eq!(
            e("cut_scene.intro.begin").as_deref(),
            Some("cut_scene.intro.begin")
        );
        assert_eq!(e("inventory.add spork"), None);
        assert_eq!(e("sfx.play"), Some("sfx.play".into()));
        assert_eq!(e("nodot"), None);
    }

    #[test]
    fn a_users_rules_come_first_and_errors_say_which_rule() {
        let user = Rules::parse(
            br#"{"rules":[{"feed":"engine","match":"^inventory\\.add (?P<item>\\S+)$","key":"inventory.add.${item}"},
                         {"match":"^cut_scene\\.fullscreen","key":""}]}"#,
        )
        .unwrap();
        let r = user.then(Rules::defaults());
        assert_eq!(
            r.key(FeedRole::Engine, "inventory.add Spork").as_deref(),
            Some("inventory.add.spork")
        );
        assert_eq!(
            r.key(FeedRole::Engine, "cut_scene.fullscreen.start a.snm"),
            None
        );
        for (text, want) in [
            (&b"{"[..], "not a rule file"),
            (br#"{"rules":[{"match":"(","key":"x"}]}"#, "rule 1:"),
            (
                br#"{"rules":[{"match":"a","key":"x"},{"feed":"game","match":"a","key":"x"}]}"#,
                "rule 2: feed \"game\"",
            ),
            (
                br#"{"rules":[{"match":"(a)","key":"k.$2"}]}"#,
                "names group \"2\"",
            ),
            (
                br#"{"rules":[{"match":"a","key":"k","extra":1}]}"#,
                "unknown field",
            ),
        ] {
            let e = Rules::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        assert!(matches!(
            Rules::parse(&vec![b' '; MAX_RULES_BYTES + 1]),
            Err(RulesError::TooLarge(_))
        ));
    }

    #[test]
    fn templates_expand_groups_and_dollars() {
        let r = Rules::parse(br#"{"rules":[{"match":"^(\\w+) (\\w+)$","key":"a.$2.$$.${1}x"}]}"#)
            .unwrap();
        assert_eq!(
            r.key(FeedRole::Retail, "one two").as_deref(),
            Some("a.two.$.onex")
        );
    }
}
