//! [`LiveView`]: both feeds connected, decoded and stored; the handle the UI and the
//! headless tools poll.
//!
//! The UI calls [`LiveView::snapshot`] (cheap: status clones and usage) and
//! [`LiveView::with_store`] (read access to the history behind a short lock) every frame,
//! and drives a [`crate::timeline::Timeline`] with [`LiveView::now_ns`] as the live edge.
//! Times are viewer-clock nanoseconds since the view's epoch (its creation).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::FeedRole;
use super::clock::ClockEstimate;
use super::codec::MovieControl;
use super::decoder::DecoderConfig;
use super::feed::{
    FeedCommand, FeedError, FeedHandle, FeedOptions, FeedStatus, MessageTap, Shared, lock,
};
use super::store::{DEFAULT_BUDGET_BYTES, Store, StoreUsage};
use super::transport::FeedAddr;

/// What to connect to and how.
#[derive(Clone)]
pub struct LiveOptions {
    /// Retail feed, if any.
    pub retail: Option<FeedOptions>,
    /// Engine feed, if any.
    pub engine: Option<FeedOptions>,
    /// Memory budget for the history of both feeds.
    pub budget_bytes: usize,
    /// The recording seam (see [`MessageTap`]).
    pub tap: Option<Arc<dyn MessageTap>>,
}

impl LiveOptions {
    /// Both feeds with default tuning.
    pub fn new(retail: Option<FeedAddr>, engine: Option<FeedAddr>) -> LiveOptions {
        LiveOptions {
            retail: retail.map(|a| FeedOptions::new(FeedRole::Retail, a)),
            engine: engine.map(|a| FeedOptions::new(FeedRole::Engine, a)),
            budget_bytes: DEFAULT_BUDGET_BYTES,
            tap: None,
        }
    }

    /// Set the decoder cap on both feeds.
    pub fn with_max_message_len(mut self, cap: u32) -> LiveOptions {
        for f in [&mut self.retail, &mut self.engine].into_iter().flatten() {
            f.decoder = DecoderConfig {
                max_message_len: cap,
            };
        }
        self
    }
}

/// A per-frame summary for the UI.
#[derive(Clone, Debug)]
pub struct LiveSnapshot {
    /// Viewer clock now, ns.
    pub now_ns: i64,
    /// Retail status.
    pub retail: FeedStatus,
    /// Engine status.
    pub engine: FeedStatus,
    /// Clock estimates (current generation).
    pub retail_clock: Option<ClockEstimate>,
    /// Engine clock estimate.
    pub engine_clock: Option<ClockEstimate>,
    /// Manual nudges, ns.
    pub retail_nudge_ns: i64,
    /// Engine nudge, ns.
    pub engine_nudge_ns: i64,
    /// Memory use of the history.
    pub usage: StoreUsage,
    /// Earliest and latest time held.
    pub time_range: Option<(i64, i64)>,
    /// Gaps recorded on the retail feed.
    pub retail_gaps: u64,
    /// Gaps recorded on the engine feed.
    pub engine_gaps: u64,
}

/// Both feeds, running. Dropping it stops the feed threads.
pub struct LiveView {
    shared: Arc<Mutex<Shared>>,
    epoch: Instant,
    retail: Option<FeedHandle>,
    engine: Option<FeedHandle>,
}

impl LiveView {
    /// Start the configured feeds (each on its own named thread).
    pub fn start(opts: LiveOptions) -> io::Result<LiveView> {
        let epoch = Instant::now();
        let shared = Arc::new(Mutex::new(Shared {
            store: Store::new(opts.budget_bytes),
            status: [FeedStatus::default(), FeedStatus::default()],
        }));
        let spawn = |o: Option<FeedOptions>, role: FeedRole| -> io::Result<Option<FeedHandle>> {
            o.map(|mut o| {
                o.role = role;
                FeedHandle::spawn(o, shared.clone(), epoch, opts.tap.clone())
            })
            .transpose()
        };
        let retail = spawn(opts.retail, FeedRole::Retail)?;
        let engine = spawn(opts.engine, FeedRole::Engine)?;
        Ok(LiveView {
            shared,
            epoch,
            retail,
            engine,
        })
    }

    /// The viewer clock: ns since this view started.
    pub fn now_ns(&self) -> i64 {
        self.epoch.elapsed().as_nanos() as i64
    }

    /// The epoch of the viewer clock.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// One feed's status.
    pub fn status(&self, role: FeedRole) -> FeedStatus {
        lock(&self.shared).status(role).clone()
    }

    /// Everything the UI shows besides pixels, in one short lock.
    pub fn snapshot(&self) -> LiveSnapshot {
        let now_ns = self.now_ns();
        let g = lock(&self.shared);
        let r = g.store.feed(FeedRole::Retail);
        let e = g.store.feed(FeedRole::Engine);
        LiveSnapshot {
            now_ns,
            retail: g.status(FeedRole::Retail).clone(),
            engine: g.status(FeedRole::Engine).clone(),
            retail_clock: r.clock_estimate(),
            engine_clock: e.clock_estimate(),
            retail_nudge_ns: r.nudge_ns,
            engine_nudge_ns: e.nudge_ns,
            usage: g.store.usage(),
            time_range: g.store.time_range(),
            retail_gaps: r.gaps,
            engine_gaps: e.gaps,
        }
    }

    /// Read the history under the lock (keep `f` short: the feed threads wait for it).
    /// Clone what you need out (frames are `Bytes`: cloning them is cheap).
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&lock(&self.shared).store)
    }

    /// Nudge a feed's clock by hand (ns added to its times).
    pub fn set_nudge(&self, role: FeedRole, nudge_ns: i64) {
        lock(&self.shared).store.set_nudge(role, nudge_ns);
    }

    /// Change the memory budget.
    pub fn set_budget(&self, bytes: usize) {
        lock(&self.shared).store.set_budget(bytes);
    }

    /// Ask the engine feed to send MOVIE_CONTROL.
    pub fn send_movie_control(&self, m: MovieControl) -> Result<(), FeedError> {
        self.engine
            .as_ref()
            .ok_or(FeedError::Stopped("engine"))?
            .command(FeedCommand::MovieControl(m))
    }

    /// Drop a feed's connection and reconnect at once.
    pub fn reconnect(&self, role: FeedRole) -> Result<(), FeedError> {
        let h = match role {
            FeedRole::Retail => &self.retail,
            FeedRole::Engine => &self.engine,
        };
        h.as_ref()
            .ok_or(FeedError::Stopped(role.name()))?
            .command(FeedCommand::Reconnect)
    }

    /// Stop both feeds and wait for their threads.
    pub fn stop(&mut self) {
        for h in [&mut self.retail, &mut self.engine].into_iter().flatten() {
            h.stop();
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.stop();
    }
}
