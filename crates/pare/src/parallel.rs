//! Running independent jobs at once, the one way pare does it. CPU-bound work (reading .debs,
//! deflating gzip blocks) goes to rayon's global pool. Work that blocks goes here instead: network
//! transfers, and layer writers, which wait for their gzip blocks on the rayon pool and so must not
//! run inside a rayon worker (two blocked workers on two cores would wait for each other). [`map`]
//! runs it on at most `jobs` scoped threads that take items in order; the first error wins and stops
//! the items not yet started.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::{Error, Result};

/// Runs `work` over `items` on up to `jobs` threads and returns the results in the items' order,
/// or the first error.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                match work(item) {
                    Ok(r) => results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(r),
                    Err(e) => {
                        failure
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(e);
                        next.store(items.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Input("a parallel job ended without a result".into())))
        .collect()
}

/// Runs `work` over `items` on up to `jobs` threads; the first error wins.
pub fn run<T: Sync>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    map(items, jobs, work).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_order_and_the_first_error_wins() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            map(&items, 7, |&i| Ok(i * 2)).unwrap(),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        let err = map(&items, 3, |&i| {
            if i == 40 {
                Err(Error::Input("forty".into()))
            } else {
                Ok(i)
            }
        });
        assert_eq!(err.unwrap_err().to_string(), "forty");
        assert!(map(&Vec::<u32>::new(), 4, |&i| Ok(i)).unwrap().is_empty());
    }
}
