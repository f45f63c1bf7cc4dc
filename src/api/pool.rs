//! Bounded concurrency for blocking HTTP requests: scoped threads pulling job numbers from a
//! shared counter. Not rayon: the jobs block on I/O and must not occupy its CPU workers.

use crate::error::Result;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `job(i)` for every `i` in `0..count` on at most `workers` threads and returns the
/// results in order. After `give_up_after` failures in a row no new job starts; the jobs not
/// started come back as `None`. `on_done` is called after each finished job (progress).
pub fn map_bounded<T: Send>(
    count: usize,
    workers: usize,
    give_up_after: usize,
    job: impl Fn(usize) -> Result<T> + Sync,
    on_done: impl Fn() + Sync,
) -> Vec<Option<Result<T>>> {
    let mut results: Vec<Option<Result<T>>> = (0..count).map(|_| None).collect();
    if count == 0 {
        return results;
    }
    let next = AtomicUsize::new(0);
    let failures_in_a_row = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Result<T>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, count) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let result = job(i);
                if result.is_ok() {
                    failures_in_a_row.store(0, Ordering::SeqCst);
                } else if failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1
                    >= give_up_after.max(1)
                {
                    stop.store(true, Ordering::SeqCst);
                }
                on_done();
                done.lock().unwrap().push((i, result));
            });
        }
    });
    for (i, r) in done.into_inner().unwrap() {
        results[i] = Some(r);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn keeps_order_and_gives_up() {
        let out = map_bounded(50, 4, 1, |i| Ok(i * 2), || {});
        let got: Vec<usize> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(got, (0..50).map(|i| i * 2).collect::<Vec<_>>());

        // One worker, every job fails: it stops after 3 in a row.
        let out = map_bounded(
            10,
            1,
            3,
            |_| -> Result<()> { Err(Error::Usage("x".into())) },
            || {},
        );
        assert_eq!(out.iter().filter(|r| r.is_some()).count(), 3);
    }
}
