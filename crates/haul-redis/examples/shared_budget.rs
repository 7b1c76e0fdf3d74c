//! Two workers share one Redis budget of 20 requests per second: together
//! they get 20 slots a second, not 40. A 429 seen by one pauses both.
//!
//! `cargo run -p haul-redis --example shared_budget` (skips without Redis on
//! 127.0.0.1:6379; `REDIS_URL` overrides it).

#![allow(clippy::print_stderr)] // an example reports on stderr

use std::time::Duration;

use haul_redis::{BudgetConfig, BudgetError, OutagePolicy, RedisBudget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BudgetError> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("haul:example:{}:", std::process::id());
    let config = BudgetConfig::new("api", 20, Duration::from_secs(1))
        .prefix(prefix)
        .outage(OutagePolicy::Fail);
    let a = RedisBudget::connect(&url, config.clone()).await?;
    let b = RedisBudget::connect(&url, config).await?;
    match a.reserve(1).await {
        Err(BudgetError::Unavailable { source, .. }) => {
            eprintln!("skipped: Redis is unreachable at {url}: {source}");
            return Ok(());
        }
        other => drop(other?),
    }
    let start = std::time::Instant::now();
    for _ in 0..10 {
        a.acquire(1).await?;
        b.acquire(1).await?;
    }
    // 21 slots at 50.5 ms (1 s plus the 10 ms lateness allowance, over 20).
    let took = start.elapsed();
    eprintln!("21 slots across two workers took {took:?}");
    assert!(took >= Duration::from_millis(950));

    // A 429 with `Retry-After: 1` seen by `a` pauses `b` too.
    a.penalize(Duration::from_secs(1)).await?;
    match b.reserve_within(1, Duration::ZERO).await? {
        haul_redis::Reserved::TooLong { wait } => {
            eprintln!("b is told to wait {wait:?}");
            assert!(wait > Duration::from_millis(900));
        }
        granted => panic!("b was granted during the pause: {granted:?}"),
    }
    Ok(())
}
