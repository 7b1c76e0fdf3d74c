//! The limiter's work per request against a server that advertises nothing
//! and never throttles: reserve, release, observe. Compares `HeaderAdaptive`
//! alone (the default) with `HeaderAdaptive` + `AdaptiveRate`.
//!
//! ```text
//! cargo run --release -p haul-ratelimit --example hot_path -- [header|both] [requests]
//! valgrind --tool=callgrind target/release/examples/hot_path both 100000
//! ```

#![allow(clippy::print_stdout)] // a measuring program: its output is the point

use std::time::{Duration, Instant, SystemTime};

use haul_core::Response;
use haul_ratelimit::{AdaptiveRate, AllOf, HeaderAdaptive, RateLimiter, Reservation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let requests: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let limiter: Box<dyn RateLimiter> = match which.as_str() {
        "header" => Box::new(HeaderAdaptive::new()),
        "both" => Box::new(
            AllOf::new()
                .with(HeaderAdaptive::new())
                .with(AdaptiveRate::new()),
        ),
        other => return Err(format!("unknown limiter {other:?}: header or both").into()),
    };
    let response = Response::new(http::StatusCode::OK, "http://127.0.0.1/items".parse()?, "");
    let wall = SystemTime::now();
    // 6,000 requests a second, about what the sequential bench row sends.
    let step = Duration::from_micros(166);
    let started = Instant::now();
    let mut now = Duration::ZERO;
    for _ in 0..requests {
        match limiter.reserve(now) {
            Reservation::At(at) if at <= now => {}
            other => return Err(format!("throttled without a reason: {other:?}").into()),
        }
        limiter.release();
        limiter.observe(&response, now, wall);
        now += step;
    }
    let elapsed = started.elapsed();
    println!(
        "{which}: {requests} requests, {:.1} ns each",
        elapsed.as_nanos() as f64 / requests as f64
    );
    Ok(())
}
