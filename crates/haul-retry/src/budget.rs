//! [`RetryBudget`]: a shared token bucket that stops retry storms.

use std::sync::Mutex;
use std::sync::PoisonError;

/// A retry quota shared by every stream of a run, in the spirit of the AWS
/// SDK's retry quota: each retry withdraws tokens (more for timeouts, which
/// tie up connections), each first-try success deposits one back. When the
/// bucket is empty, retries stop with [`GiveUp::BudgetExhausted`](crate::GiveUp)
/// instead of hammering an API that is down.
///
/// ```
/// use haul_retry::RetryBudget;
/// let budget = RetryBudget::new(10, 5, 10);
/// assert!(budget.withdraw(false));  // 5 left
/// assert!(!budget.withdraw(true));  // a retry after a timeout costs 10: refused
/// budget.deposit();
/// assert_eq!(budget.available(), 6);
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    tokens: Mutex<u32>,
}

impl RetryBudget {
    /// A full bucket of `capacity` tokens; a retry costs `retry_cost`, a retry after a timeout `timeout_cost`.
    pub fn new(capacity: u32, retry_cost: u32, timeout_cost: u32) -> Self {
        Self {
            capacity,
            retry_cost,
            timeout_cost,
            tokens: Mutex::new(capacity),
        }
    }

    /// Takes the cost of one retry; `false` (and nothing taken) when the bucket cannot pay.
    pub fn withdraw(&self, after_timeout: bool) -> bool {
        let cost = if after_timeout {
            self.timeout_cost
        } else {
            self.retry_cost
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if *tokens >= cost {
            *tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Returns one token (a success), up to capacity.
    pub fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        *tokens = (*tokens + 1).min(self.capacity);
    }

    /// Tokens currently available.
    pub fn available(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RetryBudget {
    /// 500 tokens, 5 per retry, 10 per retry after a timeout (the AWS SDK's standard quota).
    fn default() -> Self {
        Self::new(500, 5, 10)
    }
}
