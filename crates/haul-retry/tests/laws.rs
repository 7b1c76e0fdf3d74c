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

proptest! {
    /// `Retry-After` as an HTTP-date, read by the classifier from a 429 or a
    /// 503, is waited exactly, or refused with the wait it asked for when it
    /// passes the cap.
    #[test]
    fn http_date_retry_after_is_honored_up_to_its_cap(
        ahead in 0u64..2_000, cap in 0u64..1_000, throttled in any::<bool>(),
    ) {
        use haul_core::Response;
        use haul_retry::{Classifier, HttpClassifier, Outcome};
        use std::time::SystemTime;

        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let status = if throttled { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::SERVICE_UNAVAILABLE };
        let date = httpdate::fmt_http_date(now + Duration::from_secs(ahead));
        let response = Response::new(status, "https://api.example.com/items".parse().unwrap(), "")
            .with_header("retry-after", &date);
        let class = HttpClassifier.classify(Outcome::Response(&response), now);
        prop_assert_eq!(class.retry_after(), Some(Duration::from_secs(ahead)));
        let is_throttled = matches!(class, Classification::Throttled { .. });
        prop_assert!(is_throttled, "{:?}", class);
        let policy = ExponentialBackoff::default()
            .max_retry_after(Duration::from_secs(cap))
            .max_elapsed(Duration::MAX)
            .budget(None);
        let req = get();
        let ctx = RetryContext { attempt: 1, elapsed: Duration::ZERO, request: &req, classification: &class };
        let expected = if ahead <= cap {
            RetryDecision::RetryAfter(Duration::from_secs(ahead))
        } else {
            RetryDecision::GiveUp(GiveUp::RetryAfterTooLong {
                asked: Duration::from_secs(ahead),
                cap: Duration::from_secs(cap),
            })
        };
        prop_assert_eq!(policy.decide(&ctx), expected);
    }

    /// Policies sharing one budget (one per stream) together retry no more
    /// than it pays for; the first refusal is `BudgetExhausted`, for every
    /// stream alike.
    #[test]
    fn policies_sharing_a_budget_retry_no_more_than_it_pays_for(
        capacity in 0u32..100, cost in 1u32..10, turns in proptest::collection::vec(0usize..4, 1..100),
    ) {
        let budget = Arc::new(RetryBudget::new(capacity, cost, cost * 2));
        let policies: Vec<ExponentialBackoff> = (0..4)
            .map(|seed| {
                ExponentialBackoff::default()
                    .seed(seed)
                    .max_attempts(u32::MAX)
                    .max_elapsed(Duration::MAX)
                    .budget(Some(budget.clone()))
            })
            .collect();
        let req = get();
        let class = server_error(None);
        let mut attempts = [0u32; 4];
        let mut retries = 0u32;
        for stream in turns.iter().copied() {
            attempts[stream] += 1;
            let ctx = RetryContext { attempt: attempts[stream], elapsed: Duration::ZERO, request: &req, classification: &class };
            match policies[stream].decide(&ctx) {
                RetryDecision::RetryAfter(_) => retries += 1,
                RetryDecision::GiveUp(why) => {
                    prop_assert_eq!(why, GiveUp::BudgetExhausted);
                    prop_assert!(budget.available() < cost);
                }
            }
        }
        prop_assert_eq!(retries, (capacity / cost).min(turns.len() as u32));
        prop_assert_eq!(budget.available(), capacity - retries * cost);
    }
}
