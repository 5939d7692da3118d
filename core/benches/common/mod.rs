//! What the interleaved-median benchmarks share.

use std::time::Instant;

/// Rounds per case (each a batch of calls); the median is reported.
pub const ROUNDS: usize = 21;

/// A named case: one call of the thing measured.
pub type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Runs every case in turn, ROUNDS times (5 with `quick`), in batches sized
/// on the first case; returns each case's median ns per call.
pub fn measure(mut cases: Vec<Case<'_>>, quick: bool) -> Vec<f64> {
    let budget_ns = if quick { 2e6 } else { 2e7 };
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            (cases[0].1)();
        }
        if t.elapsed().as_nanos() as f64 > budget_ns / 4.0 || iters > 1 << 24 {
            break;
        }
        iters *= 2;
    }
    let mut samples: Vec<Vec<f64>> = vec![vec![]; cases.len()];
    for _ in 0..if quick { 5 } else { ROUNDS } {
        for (i, (_, f)) in cases.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            samples[i].push(t.elapsed().as_nanos() as f64 / iters as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| a.partial_cmp(b).unwrap());
            s[s.len() / 2]
        })
        .collect()
}
