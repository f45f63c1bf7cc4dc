//! How many requests a client keeps in flight: `--max-concurrent` at most, lowered to what the
//! server says it can run at once (llama.cpp's slot count), halved when requests time out and
//! raised again one at a time as they succeed (additive increase, multiplicative decrease, as
//! TCP does). A CPU server with 2 slots queues the rest, and a queued request can time out
//! before it starts; past that point more requests in flight only cost retries.
//!
//! Hand-written: a counting semaphore whose bound changes while it is held is a few lines over
//! a mutex and a condition variable, and no maintained crate offers that for blocking threads.

use std::sync::{Condvar, Mutex};

#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Requests allowed in flight now.
    limit: usize,
    /// The most ever allowed (`--max-concurrent`, or the server's slots).
    ceiling: usize,
    in_flight: usize,
    /// Successes since the limit last changed.
    successes: usize,
    /// Bumped when the limit is halved: permits taken before count one halving between them,
    /// not one each (a wave of queued requests times out together).
    epoch: u64,
}

/// One request's place in flight, given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    gate: &'a Gate,
    epoch: u64,
}

impl Gate {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Gate {
            state: Mutex::new(State {
                limit,
                ceiling: limit,
                in_flight: 0,
                successes: 0,
                epoch: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the counters half-updated: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    /// Lowers the ceiling (and the limit) to `most`, e.g. the server's slot count. Returns
    /// whether anything changed.
    pub fn cap(&self, most: usize) -> bool {
        let mut s = self.state();
        let most = most.max(1);
        if most >= s.ceiling {
            return false;
        }
        s.ceiling = most;
        s.limit = s.limit.min(most);
        true
    }

    /// Waits until a request may start.
    pub fn acquire(&self) -> Permit<'_> {
        let mut s = self.state();
        while s.in_flight >= s.limit {
            s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.in_flight += 1;
        Permit {
            gate: self,
            epoch: s.epoch,
        }
    }
}

impl Permit<'_> {
    /// The request succeeded: after as many successes in a row as the limit, one more may run.
    pub fn succeeded(self) {
        let mut s = self.gate.state();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < s.ceiling {
            s.limit += 1;
            s.successes = 0;
            self.gate.freed.notify_one();
        }
    }

    /// The request timed out: halve the limit, once per wave. Returns the new limit when it
    /// was lowered.
    pub fn timed_out(self) -> Option<usize> {
        let mut s = self.gate.state();
        s.successes = 0;
        if self.epoch != s.epoch || s.limit == 1 {
            return None;
        }
        s.limit = (s.limit / 2).max(1);
        s.epoch += 1;
        Some(s.limit)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.gate.state();
        s.in_flight -= 1;
        drop(s);
        self.gate.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_wave_of_timeouts_halves_once_and_successes_raise_it_back() {
        let gate = Gate::new(16);
        let wave: Vec<Permit> = (0..16).map(|_| gate.acquire()).collect();
        let lowered: Vec<Option<usize>> = wave.into_iter().map(Permit::timed_out).collect();
        assert_eq!(lowered[0], Some(8));
        assert!(lowered[1..].iter().all(Option::is_none), "{lowered:?}");
        // A later timeout, from a permit taken after the halving, halves again.
        assert_eq!(gate.acquire().timed_out(), Some(4));
        for _ in 0..4 {
            gate.acquire().succeeded();
        }
        assert_eq!(gate.limit(), 5);
        for _ in 0..1000 {
            gate.acquire().succeeded();
        }
        assert_eq!(gate.limit(), 16, "never above the ceiling");
    }

    #[test]
    fn the_server_cap_bounds_requests_in_flight() {
        let gate = Gate::new(16);
        assert!(gate.cap(2));
        assert!(!gate.cap(4), "only ever lowered");
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..5 {
                        let permit = gate.acquire();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        running.fetch_sub(1, Ordering::SeqCst);
                        permit.succeeded();
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
