//! `capdeck compare SESSION`: the game and its re-implementation compared event by event
//! in a recording (`capdeck_compare`), for scripts that gate on it: exit status 1 when the
//! divergences exceed `--max`, 2 when the recording or the rules cannot be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use capdeck_compare::{CompareOptions, Report, Rules, compare, observe};
use capdeck_grimstream::live::LiveView;
use capdeck_record::reader::Recording;
use capdeck_session::replay::into_view;

/// How the two feeds are compared (shared by `compare`, `probe` and `replay`).
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// A rule file (JSON) whose rules map feed events onto shared keys, tried before the
    /// defaults (the format: `capdeck_compare::rules`, README "Comparing the game and the
    /// engine").
    #[arg(long = "compare-rules", visible_alias = "rules", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// A pair further apart than this (after the skew) is late, ms.
    #[arg(long, default_value_t = CompareOptions::default().tolerance_ms)]
    pub tolerance_ms: u64,
    /// Occurrences further apart than this are never paired, ms.
    #[arg(long, default_value_t = CompareOptions::default().window_ms)]
    pub window_ms: u64,
}

impl CompareArgs {
    /// The rule table: the file's rules, then the defaults.
    pub fn rules(&self) -> anyhow::Result<Rules> {
        load_rules(self.rules.as_deref())
    }

    /// The pairing options.
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            tolerance_ms: self.tolerance_ms,
            window_ms: self.window_ms,
            ..CompareOptions::default()
        }
    }
}

/// `path`'s rules (read with a size cap), then the defaults; the defaults alone without it.
pub fn load_rules(path: Option<&Path>) -> anyhow::Result<Rules> {
    let Some(p) = path else {
        return Ok(Rules::defaults());
    };
    let len = std::fs::metadata(p)
        .with_context(|| format!("cannot read the rule file {}", p.display()))?
        .len();
    anyhow::ensure!(
        len <= capdeck_compare::rules::MAX_RULES_BYTES as u64,
        "the rule file {} is {len} bytes, over the {}-byte limit",
        p.display(),
        capdeck_compare::rules::MAX_RULES_BYTES
    );
    let bytes =
        std::fs::read(p).with_context(|| format!("cannot read the rule file {}", p.display()))?;
    let user = Rules::parse(&bytes).with_context(|| format!("rule file {}", p.display()))?;
    Ok(user.then(Rules::defaults()))
}

/// The comparison of a recording's two feeds, through the live view's own ingest path.
pub fn compare_recording(
    rec: &Recording,
    rules: &Rules,
    opts: &CompareOptions,
) -> anyhow::Result<Report> {
    let mut view = LiveView::new(usize::MAX / 4);
    into_view(rec, &mut view, 64 * 1024 * 1024)?;
    let report = view.with_store(|s| compare(&observe(s, rules), opts));
    view.stop();
    Ok(report)
}

/// `capdeck compare`.
#[derive(clap::Args, Debug)]
pub struct CompareCmdArgs {
    /// The session folder (a recording of both feeds: `probe --record` or the app's Record).
    pub session: PathBuf,
    /// Rules and tolerances.
    #[command(flatten)]
    pub cmp: CompareArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when there are more divergences than this.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
}

/// Runs `capdeck compare`: 0, 1 over `--max`, 2 on an error.
pub fn run(a: CompareCmdArgs) -> ExitCode {
    match report(&a) {
        Ok(r) => {
            let over = a.max.is_some_and(|m| r.counts.total > m);
            if over {
                eprintln!(
                    "capdeck compare: {} divergences, over --max {}",
                    r.counts.total,
                    a.max.unwrap_or_default()
                );
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("capdeck: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report(a: &CompareCmdArgs) -> anyhow::Result<Report> {
    let (rules, opts) = (a.cmp.rules()?, a.cmp.options());
    let rec =
        Recording::open(&a.session).with_context(|| format!("opening {}", a.session.display()))?;
    for p in &rec.problems {
        tracing::warn!("{p}");
    }
    let r = compare_recording(&rec, &rules, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_text(&r);
    }
    Ok(r)
}

fn print_text(r: &Report) {
    println!(
        "{} game events, {} engine events ({} and {} not compared), {} pairs, skew {}",
        r.game_events,
        r.engine_events,
        r.unmapped[0],
        r.unmapped[1],
        r.pairs,
        r.skew_ms
            .map_or_else(|| "unknown".to_owned(), |s| format!("{s:+.0} ms"))
    );
    println!(
        "{} divergences: {} only in the game, {} only in the engine, {} late, {} out of order",
        r.counts.total,
        r.counts.only_in_game,
        r.counts.only_in_engine,
        r.counts.late,
        r.counts.out_of_order
    );
    for d in &r.divergences {
        println!("  {}", d.describe());
    }
    if !r.missing_keys.is_empty() {
        println!("never in the engine: {}", r.missing_keys.join(", "));
    }
    if !r.unexpected_keys.is_empty() {
        println!("never in the game: {}", r.unexpected_keys.join(", "));
    }
}
