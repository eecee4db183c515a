//! [`LiveView`]: both feeds connected, decoded and stored; the handle the UI and the
//! headless tools poll.
//!
//! The UI calls [`LiveView::snapshot`] (cheap: status clones and usage) and
//! [`LiveView::with_store`] (read access to the history behind a short lock) every frame,
//! and drives the timeline model (`capdeck_timeline`) with [`LiveView::now_ns`] as the live edge.
//! Times are viewer-clock nanoseconds since the view's epoch (its creation).
//!
//! One view serves both feeds: one clock, one store (one memory budget), and per feed a
//! source that can be changed on its own while the history stays: a live connection
//! ([`LiveView::connect`]) or bytes handed in by the caller ([`LiveView::open_source`],
//! [`LiveView::ingest_bytes`]: recordings and scripted worlds), decoded and stored by
//! the same code as a socket's.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::FeedRole;
use super::clock::ClockEstimate;
use super::feed::{
    FeedCommand, FeedError, FeedHandle, FeedOptions, FeedState, FeedStatus, MessageTap, Shared,
    ViewClock,
};
use super::store::{DEFAULT_BUDGET_BYTES, Store, StoreUsage};
use super::transport::FeedAddr;
use capdeck_util::lock;
use capdeck_wire::grimstream::MovieControl;
use capdeck_wire::grimstream::decoder::{DecodeError, Decoder, DecoderConfig};

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
    /// Frames and state updates that never arrived, by the ids: retail.
    pub retail_missing: Missing,
    /// The same for the engine feed.
    pub engine_missing: Missing,
}

/// What a feed's ids say never arrived ([`crate::store::FeedStore::missing_frames`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    /// Frames (`frame_id` jumps).
    pub frames: u64,
    /// State updates (`seq` jumps).
    pub updates: u64,
}

/// Both feeds and their history. Dropping it stops the feed threads.
pub struct LiveView {
    shared: Arc<Mutex<Shared>>,
    clock: Arc<ViewClock>,
    tap: Option<Arc<dyn MessageTap>>,
    feeds: [Option<FeedHandle>; 2],
    /// Decoders of caller-fed sources ([`LiveView::ingest_bytes`]).
    decoders: [Option<Decoder>; 2],
    generations: [u64; 2],
}

/// Why bytes handed to [`LiveView::ingest_bytes`] were not all taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// No source is open on the feed ([`LiveView::open_source`]).
    #[error("{0} feed has no open source")]
    NoSource(&'static str),
    /// The stream is out of sync or over the cap: the source was closed (as a socket's
    /// connection would be) and must be opened again.
    #[error("{role} source closed: {error}")]
    Stream {
        /// Which feed.
        role: &'static str,
        /// The decoder's error.
        error: DecodeError,
    },
}

impl LiveView {
    /// A view with no feeds yet and a memory budget for their history.
    pub fn new(budget_bytes: usize) -> LiveView {
        LiveView {
            shared: Arc::new(Mutex::new(Shared {
                store: Store::new(budget_bytes),
                status: [FeedStatus::default(), FeedStatus::default()],
                waker: None,
            })),
            clock: Arc::new(ViewClock::new()),
            tap: None,
            feeds: [None, None],
            decoders: [None, None],
            generations: [0, 0],
        }
    }

    /// Start the configured feeds (each on its own named thread).
    pub fn start(opts: LiveOptions) -> io::Result<LiveView> {
        let mut view = LiveView::new(opts.budget_bytes);
        view.tap = opts.tap;
        for (o, role) in [
            (opts.retail, FeedRole::Retail),
            (opts.engine, FeedRole::Engine),
        ] {
            if let Some(mut o) = o {
                o.role = role;
                view.connect(o)?;
            }
        }
        Ok(view)
    }

    /// Set the recording seam for connections made from now on.
    pub fn set_tap(&mut self, tap: Option<Arc<dyn MessageTap>>) {
        self.tap = tap;
    }

    /// Connect a feed (`opts.role`) to a producer, replacing its current source. The
    /// history stays; the new connection starts a new generation.
    pub fn connect(&mut self, opts: FeedOptions) -> io::Result<()> {
        let role = opts.role;
        self.disconnect(role);
        let h = FeedHandle::spawn(
            opts,
            self.shared.clone(),
            self.clock.clone(),
            self.tap.clone(),
        )?;
        self.feeds[role.index()] = Some(h);
        Ok(())
    }

    /// Stop a feed's source (connection or caller-fed); its history stays.
    pub fn disconnect(&mut self, role: FeedRole) {
        let had_thread = match self.feeds[role.index()].take() {
            Some(mut h) => {
                h.stop();
                true
            }
            None => false,
        };
        let had_source = self.decoders[role.index()].take().is_some();
        if had_thread || had_source {
            let now = self.now_ns();
            let mut g = lock(&self.shared);
            g.store
                .end_generation(role, now, "disconnected by the viewer".into());
            g.status[role.index()].state = FeedState::Idle;
        }
    }

    /// Whether a feed has a source (connection or caller-fed).
    pub fn has_source(&self, role: FeedRole) -> bool {
        self.feeds[role.index()].is_some() || self.decoders[role.index()].is_some()
    }

    /// Open a caller-fed source on a feed (replacing any other): a new generation, as if
    /// a connection had been made at `at_ns`.
    pub fn open_source(&mut self, role: FeedRole, at_ns: i64, max_message_len: u32) {
        self.disconnect(role);
        self.decoders[role.index()] = Some(Decoder::new(DecoderConfig { max_message_len }));
        self.generations[role.index()] += 1;
        let generation = self.generations[role.index()];
        let mut g = lock(&self.shared);
        let Shared { store, status, .. } = &mut *g;
        let st = &mut status[role.index()];
        if st.connected {
            st.reconnects += 1;
        }
        st.connected = true;
        st.generation = generation;
        st.state = FeedState::Live;
        store.begin_generation(role, generation, at_ns);
    }

    /// Close a caller-fed source (the producer went away at `at_ns`).
    pub fn close_source(&mut self, role: FeedRole, at_ns: i64, reason: &str) {
        if self.decoders[role.index()].take().is_some() {
            let mut g = lock(&self.shared);
            g.store.end_generation(role, at_ns, reason.to_owned());
            g.status[role.index()].state = FeedState::Disconnected {
                reason: reason.to_owned(),
                retry_in_ms: 0,
            };
        }
    }

    /// Bytes of a caller-fed source that arrived at `at_ns`, in any split: decoded and
    /// stored exactly as a socket's bytes are (same decoder, same ingest path, same tap).
    pub fn ingest_bytes(
        &mut self,
        role: FeedRole,
        at_ns: i64,
        bytes: &[u8],
    ) -> Result<usize, IngestError> {
        let Some(dec) = self.decoders[role.index()].as_mut() else {
            return Err(IngestError::NoSource(role.name()));
        };
        dec.push(bytes);
        let generation = self.generations[role.index()];
        let mut n = 0;
        let mut g = lock(&self.shared);
        g.status[role.index()].bytes += bytes.len() as u64;
        loop {
            match dec.next_message() {
                Ok(Some(raw)) => {
                    let decoded = super::feed::decode_and_tap(
                        self.tap.as_deref(),
                        role,
                        generation,
                        at_ns,
                        &raw,
                    );
                    g.take_in(role, at_ns, raw.header.kind, decoded);
                    n += 1;
                }
                Ok(None) => break,
                Err(error) => {
                    let st = &mut g.status[role.index()];
                    st.count_stream_error(&error);
                    st.state = FeedState::Disconnected {
                        reason: error.to_string(),
                        retry_in_ms: 0,
                    };
                    g.store.end_generation(role, at_ns, error.to_string());
                    drop(g);
                    self.decoders[role.index()] = None;
                    return Err(IngestError::Stream {
                        role: role.name(),
                        error,
                    });
                }
            }
        }
        let waker = g.waker.clone();
        drop(g);
        if let (Some(w), true) = (waker, n > 0) {
            (w.0)();
        }
        Ok(n)
    }

    /// A message the viewer sent to a producer, read back from a recording (its `sent`
    /// topic: the whole message, header first) at `at_ns`: counted as the live feed counted
    /// it when it went out (viewer_ready, movie answers). Bytes that are not one whole
    /// message are ignored; returns whether it was taken.
    pub fn take_sent_bytes(&mut self, role: FeedRole, at_ns: i64, bytes: &[u8]) -> bool {
        use capdeck_wire::grimstream::{HEADER_LEN, Header, decode_payload};
        let Some((head, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return false;
        };
        let Ok(h) = Header::parse(head) else {
            return false;
        };
        if h.length as usize != payload.len() {
            return false;
        }
        match decode_payload(h.kind, bytes::Bytes::copy_from_slice(payload)) {
            Ok(m) => {
                lock(&self.shared).take_sent(role, at_ns, &m);
                true
            }
            Err(_) => false,
        }
    }

    /// Ask to be woken (from the storing thread, no lock held) whenever a message lands:
    /// a UI repaints at once instead of at its next timer tick.
    pub fn set_waker(&mut self, waker: Option<super::feed::Waker>) {
        lock(&self.shared).waker = waker;
    }

    /// Let a caller-fed source's feed notice silence at `now_ns` (the stall rule a live
    /// connection's thread applies every tick).
    pub fn tick_source(&mut self, role: FeedRole, now_ns: i64) {
        if self.decoders[role.index()].is_some() {
            lock(&self.shared).store.tick(role, now_ns);
        }
    }

    /// The viewer clock: ns since this view started (or the time it is held at).
    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    /// The clock itself (to hold it at a recording's time, or to read it elsewhere).
    pub fn clock(&self) -> &Arc<ViewClock> {
        &self.clock
    }

    /// The epoch of the viewer clock.
    pub fn epoch(&self) -> Instant {
        self.clock.epoch()
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
            retail_missing: Missing {
                frames: r.missing_frames,
                updates: r.missing_updates,
            },
            engine_missing: Missing {
                frames: e.missing_frames,
                updates: e.missing_updates,
            },
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

    /// Change the memory budget (evicts at once if the history is over it).
    pub fn set_budget(&self, bytes: usize) {
        lock(&self.shared).store.set_budget(bytes);
    }

    /// Whether the history is also on disk (a replayed recording): over budget the store
    /// then drops the oldest frames' pixels and keeps them listed ([`Store::set_paging`]).
    pub fn set_paging(&self, on: bool) {
        lock(&self.shared).store.set_paging(on);
    }

    /// Paging for the frames arriving from `since` on (a recording started then), or off
    /// ([`Store::set_paging_since`]).
    pub fn set_paging_since(&self, since: Option<i64>) {
        lock(&self.shared).store.set_paging_since(since);
    }

    /// Adds an operator's mark to the history ([`Store::add_operator_mark`]).
    pub fn add_operator_mark(&self, m: super::store::OperatorMark) {
        lock(&self.shared).store.add_operator_mark(m);
    }

    /// Removes an operator's mark ([`Store::remove_operator_mark`]).
    pub fn remove_operator_mark(&self, id: u64) -> bool {
        lock(&self.shared).store.remove_operator_mark(id)
    }

    /// Ask the engine feed to send MOVIE_CONTROL.
    pub fn send_movie_control(&self, m: MovieControl) -> Result<(), FeedError> {
        self.feeds[FeedRole::Engine.index()]
            .as_ref()
            .ok_or(FeedError::Stopped("engine"))?
            .command(FeedCommand::MovieControl(m))
    }

    /// Drop a feed's connection and reconnect at once.
    pub fn reconnect(&self, role: FeedRole) -> Result<(), FeedError> {
        self.feeds[role.index()]
            .as_ref()
            .ok_or(FeedError::Stopped(role.name()))?
            .command(FeedCommand::Reconnect)
    }

    /// Stop both feeds and wait for their threads.
    pub fn stop(&mut self) {
        for h in self.feeds.iter_mut().flatten() {
            h.stop();
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.stop();
    }
}
