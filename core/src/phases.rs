//! Where a long job's time goes: a [`Progress`] wrapper that attributes wall time to the stages
//! the job reports (read, copy, compress, hash, verify …), for benchmarks and diagnostics.
//!
//! Jobs report progress after doing the work, so the time between two updates belongs to the
//! stage of the later one (work before a stage's first update, such as opening a file, counts for
//! that stage). The clock is passed in because `std::time::Instant` is unavailable on
//! `wasm32-unknown-unknown` (the browser worker uses `performance.now()`).

use std::sync::Mutex;

use crate::io::Progress;

/// Stage times of a job, in milliseconds, in the order the stages first appeared.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseTimes {
    /// `(stage, milliseconds)`; a stage that recurs is summed.
    pub phases: Vec<(String, f64)>,
}

impl PhaseTimes {
    /// Sum of all stages.
    pub fn total_ms(&self) -> f64 {
        self.phases.iter().map(|p| p.1).sum()
    }

    /// One line per stage: name, milliseconds, share of the total.
    pub fn table(&self) -> String {
        let total = self.total_ms().max(1e-9);
        self.phases
            .iter()
            .map(|(s, ms)| format!("{s:<28} {ms:>9.1} ms {:>5.1} %\n", 100.0 * ms / total))
            .collect()
    }
}

struct State {
    last: f64,
    times: PhaseTimes,
}

/// Wraps `inner`, forwarding every update and cancellation check, and times the stages.
pub struct PhaseTimer<'a> {
    inner: &'a dyn Progress,
    clock: fn() -> f64,
    state: Mutex<State>,
}

impl<'a> PhaseTimer<'a> {
    /// Start timing now; `clock` returns milliseconds from any fixed origin.
    pub fn new(inner: &'a dyn Progress, clock: fn() -> f64) -> Self {
        PhaseTimer {
            inner,
            clock,
            state: Mutex::new(State {
                last: clock(),
                times: PhaseTimes::default(),
            }),
        }
    }

    /// Charge the time since the last update to `stage`.
    pub fn mark(&self, stage: &str) {
        let now = (self.clock)();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dt = (now - st.last).max(0.0);
        st.last = now;
        match st.times.phases.iter_mut().find(|p| p.0 == stage) {
            Some(p) => p.1 += dt,
            None => st.times.phases.push((stage.to_string(), dt)),
        }
    }

    /// The times so far; the time since the last update is charged to `tail`.
    pub fn finish(&self, tail: &str) -> PhaseTimes {
        self.mark(tail);
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.times.clone()
    }
}

impl Progress for PhaseTimer<'_> {
    fn update(&self, stage: &str, done: u64, total: u64) {
        self.mark(stage);
        self.inner.update(stage, done, total);
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// Milliseconds since the first call, from `std::time::Instant` (native builds).
#[cfg(not(target_arch = "wasm32"))]
pub fn native_clock() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::NoProgress;
    use std::sync::atomic::{AtomicU64, Ordering};

    static NOW: AtomicU64 = AtomicU64::new(0);
    fn fake() -> f64 {
        NOW.load(Ordering::SeqCst) as f64
    }

    #[test]
    fn time_goes_to_the_stage_reported_after_it() {
        NOW.store(100, Ordering::SeqCst);
        let t = PhaseTimer::new(&NoProgress, fake);
        NOW.store(130, Ordering::SeqCst);
        t.update("read", 1, 2);
        NOW.store(150, Ordering::SeqCst);
        t.update("write", 1, 2);
        NOW.store(155, Ordering::SeqCst);
        t.update("read", 2, 2);
        NOW.store(160, Ordering::SeqCst);
        let p = t.finish("end");
        assert_eq!(
            p.phases,
            vec![
                ("read".to_string(), 35.0),
                ("write".to_string(), 20.0),
                ("end".to_string(), 5.0)
            ]
        );
        assert_eq!(p.total_ms(), 60.0);
        assert!(p.table().starts_with("read"));
    }
}
