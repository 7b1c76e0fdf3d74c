//! Property laws of the default retry policy.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use haul_core::Request;
use haul_retry::{
    Classification, ExponentialBackoff, GiveUp, RetryBudget, RetryContext, RetryDecision,
    RetryPolicy,
};
use http::StatusCode;
use proptest::prelude::*;

fn get() -> Request {
    Request::get("https://api.example.com/items".parse().unwrap())
}

fn server_error(retry_after: Option<Duration>) -> Classification {
    Classification::ServerError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after,
    }
}

proptest! {
    #[test]
    fn delays_stay_within_the_jitter_ceiling_and_cap(
        seed in any::<u64>(), base_ms in 1u64..5_000, cap_ms in 1u64..120_000, attempt in 1u32..40,
    ) {
        let policy = ExponentialBackoff::default()
            .seed(seed)
            .base(Duration::from_millis(base_ms))
            .cap(Duration::from_millis(cap_ms))
            .max_attempts(u32::MAX)
            .max_elapsed(Duration::MAX)
            .budget(None);
        let req = get();
        let class = server_error(None);
        let ctx = RetryContext { attempt, elapsed: Duration::ZERO, request: &req, classification: &class };
        match policy.decide(&ctx) {
            RetryDecision::RetryAfter(d) => {
                prop_assert!(d <= Duration::from_millis(cap_ms));
                prop_assert!(d <= policy.ceiling(attempt));
            }
            other => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn attempts_and_total_time_are_bounded(seed in any::<u64>(), max_attempts in 1u32..10, max_secs in 1u64..600) {
        let policy = ExponentialBackoff::default()
            .seed(seed)
            .max_attempts(max_attempts)
            .max_elapsed(Duration::from_secs(max_secs))
            .budget(None);
        let req = get();
        let class = server_error(None);
        let mut elapsed = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let ctx = RetryContext { attempt, elapsed, request: &req, classification: &class };
            match policy.decide(&ctx) {
                RetryDecision::RetryAfter(d) => {
                    elapsed += d;
                    attempt += 1;
                }
                RetryDecision::GiveUp(_) => break,
            }
            prop_assert!(attempt <= max_attempts);
            prop_assert!(elapsed <= Duration::from_secs(max_secs));
        }
    }

    #[test]
    fn retry_after_is_honored_up_to_its_cap(asked in 0u64..1_000, cap in 0u64..1_000) {
        let policy = ExponentialBackoff::default()
            .max_retry_after(Duration::from_secs(cap))
            .max_elapsed(Duration::MAX)
            .budget(None);
        let req = get();
        let class = server_error(Some(Duration::from_secs(asked)));
        let ctx = RetryContext { attempt: 1, elapsed: Duration::ZERO, request: &req, classification: &class };
        let decision = policy.decide(&ctx);
        if asked <= cap {
            prop_assert_eq!(decision, RetryDecision::RetryAfter(Duration::from_secs(asked)));
        } else {
            let expected = RetryDecision::GiveUp(GiveUp::RetryAfterTooLong {
                asked: Duration::from_secs(asked),
                cap: Duration::from_secs(cap),
            });
            prop_assert_eq!(decision, expected);
        }
    }
}

#[test]
fn non_idempotent_requests_are_not_retried_unless_they_opt_in() {
    let policy = ExponentialBackoff::default().seed(1);
    let post = Request::post_json("https://api.example.com/graphql".parse().unwrap(), "{}");
    let class = server_error(None);
    let ctx = RetryContext {
        attempt: 1,
        elapsed: Duration::ZERO,
        request: &post,
        classification: &class,
    };
    assert_eq!(
        policy.decide(&ctx),
        RetryDecision::GiveUp(GiveUp::NotIdempotent)
    );
    let mut opted_in = post.clone();
    opted_in.retry_non_idempotent = true;
    let ctx = RetryContext {
        attempt: 1,
        elapsed: Duration::ZERO,
        request: &opted_in,
        classification: &class,
    };
    assert!(matches!(policy.decide(&ctx), RetryDecision::RetryAfter(_)));
}

#[test]
fn client_errors_are_not_retried() {
    let policy = ExponentialBackoff::default();
    let req = get();
    let ctx = RetryContext {
        attempt: 1,
        elapsed: Duration::ZERO,
        request: &req,
        classification: &Classification::Permanent,
    };
    assert_eq!(
        policy.decide(&ctx),
        RetryDecision::GiveUp(GiveUp::NotRetryable)
    );
}

#[test]
fn an_empty_budget_stops_retries_and_successes_refill_it() {
    let budget = Arc::new(RetryBudget::new(10, 5, 10));
    let policy = ExponentialBackoff::default()
        .base(Duration::from_millis(1))
        .max_attempts(100)
        .budget(Some(budget.clone()));
    let req = get();
    let class = server_error(None);
    let ctx = |attempt| RetryContext {
        attempt,
        elapsed: Duration::ZERO,
        request: &req,
        classification: &class,
    };
    assert!(matches!(
        policy.decide(&ctx(1)),
        RetryDecision::RetryAfter(_)
    ));
    assert!(matches!(
        policy.decide(&ctx(2)),
        RetryDecision::RetryAfter(_)
    ));
    assert_eq!(
        policy.decide(&ctx(3)),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
    for _ in 0..5 {
        policy.on_success(1);
    }
    assert!(matches!(
        policy.decide(&ctx(3)),
        RetryDecision::RetryAfter(_)
    ));
}
