//! Divergences between the game and its re-implementation in the live view (and a
//! replayed recording, the same way): the comparison kept up to date from the store
//! ([`capdeck_compare::Observer`], incremental), its lane under the two feed lanes, the
//! list (filter by kind or key, click to seek), `D` / Shift+`D` to jump to the next or
//! previous one, and the HUD count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use capdeck_compare::{CompareOptions, DivergenceKind, Observer, Report, Rules};
use capdeck_grimstream::store::MarkKind;
use capdeck_timeline::Command;
use egui::{Color32, Pos2, Rect, Stroke};

use super::LiveFrame;
use crate::ui::command::{CommandQueue, UiCommand};

/// How often the comparison is brought up to date.
pub const REFRESH: Duration = Duration::from_millis(500);

/// The comparison of the view's two feeds (on the UI thread; each update keys only what
/// arrived since the last, under the store's lock for that long).
pub struct Comparison {
    rules: Rules,
    observer: Observer,
    opts: CompareOptions,
    report: Option<Arc<Report>>,
    last: Option<Instant>,
    nudges: [i64; 2],
    /// Something arrived (or a nudge moved) since the report.
    stale: bool,
}

/// Sessions with fewer keyed events than this are compared again as soon as one arrives.
const SMALL: usize = 20_000;

impl Comparison {
    /// Nothing compared yet, with these rules.
    pub fn new(rules: Rules) -> Self {
        Self {
            observer: Observer::new(rules.clone()),
            rules,
            opts: CompareOptions::default(),
            report: None,
            last: None,
            nudges: [0, 0],
            stale: false,
        }
    }

    /// Forget what was observed (the view's store was replaced).
    pub fn reset(&mut self) {
        *self = Self::new(self.rules.clone());
    }

    /// Other rules: everything is compared again with them.
    pub fn set_rules(&mut self, rules: Rules) {
        *self = Self::new(rules);
    }

    /// Keys what arrived (`update` runs the observer over the store: O(log n) when
    /// nothing did) and compares again when something did or a nudge moved: at once for
    /// a small session, at most every [`REFRESH`] for a large one (an hour of events is
    /// compared in about 1 ms; bench `compare_an_hour`).
    pub fn refresh(
        &mut self,
        now: Instant,
        nudges: [i64; 2],
        update: impl FnOnce(&mut Observer) -> bool,
    ) {
        self.stale |= update(&mut self.observer) || nudges != self.nudges;
        let small = self.observer.events() < SMALL;
        let due = self.last.is_none_or(|l| now.duration_since(l) >= REFRESH);
        if self.report.is_none() || (self.stale && (small || due)) {
            self.last = Some(now);
            self.stale = false;
            self.nudges = nudges;
            self.report = Some(Arc::new(self.observer.report(nudges, &self.opts)));
        }
    }

    /// The latest report (cheap to clone).
    pub fn report(&self) -> Option<Arc<Report>> {
        self.report.clone()
    }
}

/// The colour of a kind on the lane and in the list.
pub fn color(kind: DivergenceKind) -> Color32 {
    match kind {
        DivergenceKind::OnlyInGame => Color32::from_rgb(240, 90, 90),
        DivergenceKind::OnlyInEngine => Color32::from_rgb(90, 170, 255),
        DivergenceKind::Late => Color32::from_rgb(240, 190, 60),
        DivergenceKind::OutOfOrder => Color32::from_rgb(200, 120, 255),
    }
}

/// Draws the divergence lane in `lane` (ticks between `lo` and `hi`, placed by `x_of`);
/// returns the hover text of the tick under `pointer` and how many ticks it drew.
pub fn lane_paint(
    painter: &egui::Painter,
    lane: Rect,
    frame: &LiveFrame,
    x_of: impl Fn(i64) -> f32,
    pointer: Option<Pos2>,
) -> (Option<String>, usize) {
    let Some(r) = &frame.comparison else {
        return (None, 0);
    };
    let (lo, hi) = frame.range;
    let mut hover = None;
    let mut n = 0;
    for d in r.in_range(lo, hi) {
        let x = x_of(d.at_ns);
        painter.line_segment(
            [Pos2::new(x, lane.top()), Pos2::new(x, lane.bottom())],
            Stroke::new(2.0, color(d.kind)),
        );
        n += 1;
        if pointer.is_some_and(|p| (p.x - x).abs() < 3.0 && lane.y_range().contains(p.y)) {
            hover = Some(d.describe());
        }
    }
    (hover, n)
}

/// The time of the next divergence after `cursor_ns` (or the previous one before it).
pub fn neighbour(frame: &LiveFrame, cursor_ns: i64, forward: bool) -> Option<i64> {
    let r = frame.comparison.as_ref()?;
    if forward {
        // past the cursor by more than a millisecond, so a jump lands on the next one
        r.divergences
            .iter()
            .map(|d| d.at_ns)
            .find(|&t| t > cursor_ns + 1_000_000)
    } else {
        r.divergences
            .iter()
            .rev()
            .map(|d| d.at_ns)
            .find(|&t| t < cursor_ns - 1_000_000)
    }
}

/// The HUD's count: total and per kind.
pub fn hud_text(frame: &LiveFrame) -> Option<String> {
    let r = frame
        .comparison
        .as_ref()
        .filter(|r| r.game_events + r.engine_events > 0)?;
    let c = r.counts;
    Some(format!(
        "divergences {} (game only {}, engine only {}, late {}, order {})",
        c.total, c.only_in_game, c.only_in_engine, c.late, c.out_of_order
    ))
}

/// The list of divergences: a kind filter, a key filter, one row each (click to seek).
pub fn list_ui(ui: &mut egui::Ui, frame: &LiveFrame, cmds: &mut CommandQueue) {
    // nothing to compare yet: no list
    let Some(r) = frame
        .comparison
        .as_ref()
        .filter(|r| r.game_events + r.engine_events > 0)
    else {
        return;
    };
    let id = ui.make_persistent_id("divergence_filter");
    let mut filter: (String, [bool; 4]) = ui
        .data_mut(|d| d.get_temp(id))
        .unwrap_or_else(|| (String::new(), [true; 4]));
    egui::CollapsingHeader::new(format!("Divergences ({})", r.counts.total))
        .id_salt("divergences")
        .default_open(true)
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for (i, k) in DivergenceKind::ALL.into_iter().enumerate() {
                    ui.checkbox(
                        &mut filter.1[i],
                        egui::RichText::new(k.text()).color(color(k)),
                    );
                }
            });
            ui.horizontal(|ui| {
                ui.label("key");
                ui.add(
                    egui::TextEdit::singleline(&mut filter.0)
                        .hint_text("part of a key")
                        .desired_width(140.0),
                );
            });
            if r.counts.total == 0 {
                ui.weak(format!(
                    "none: {} pairs, {} game and {} engine events compared",
                    r.pairs, r.game_events, r.engine_events
                ));
            }
            let needle = filter.0.to_lowercase();
            let shown = r.divergences.iter().filter(|d| {
                let i = DivergenceKind::ALL
                    .iter()
                    .position(|k| *k == d.kind)
                    .unwrap_or(0);
                filter.1[i] && (needle.is_empty() || d.key.contains(&needle))
            });
            egui::ScrollArea::vertical()
                .id_salt("divergence_list")
                .max_height(180.0)
                .show(ui, |ui| {
                    for (i, d) in shown.enumerate() {
                        ui.horizontal(|ui| {
                            if ui
                                .small_button("bookmark")
                                .on_hover_text("Bookmark it")
                                .clicked()
                            {
                                cmds.push(UiCommand::AddBookmark {
                                    t_ns: d.at_ns,
                                    label: d.key.clone(),
                                    note: d.describe(),
                                    kind: MarkKind::Divergence,
                                });
                            }
                            let row = ui
                                .push_id(i, |ui| {
                                    ui.add(
                                        egui::Button::new(
                                            egui::RichText::new(d.describe()).color(color(d.kind)),
                                        )
                                        .frame(false),
                                    )
                                })
                                .inner
                                .on_hover_text("Seek here");
                            if row.clicked() {
                                cmds.push(UiCommand::Timeline(Command::Seek { t_ns: d.at_ns }));
                            }
                        });
                    }
                });
        });
    ui.data_mut(|d| d.insert_temp(id, filter));
}
