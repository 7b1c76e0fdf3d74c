//! One timed extraction, and the median of several.

use std::time::Duration;

/// What one timed run moved.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    pub(crate) records: u64,
    pub(crate) requests: u64,
    pub(crate) elapsed: Duration,
}

impl Sample {
    /// Records per second.
    pub(crate) fn rate(&self) -> f64 {
        per_second(self.records, self.elapsed)
    }

    /// Requests per second.
    pub(crate) fn request_rate(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }
}

/// `n / elapsed`, 0 for an empty interval.
pub(crate) fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// Repetitions of one measurement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(pub(crate) Vec<Sample>);

impl Samples {
    /// The run with the median rate (the lower middle one for an even count).
    pub(crate) fn median(&self) -> Sample {
        let mut sorted = self.0.clone();
        sorted.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        sorted
            .get(sorted.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default()
    }

    /// Every run's rate, in run order.
    pub(crate) fn rates(&self) -> Vec<f64> {
        self.0.iter().map(Sample::rate).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(records: u64, millis: u64) -> Sample {
        Sample {
            records,
            requests: records / 100,
            elapsed: Duration::from_millis(millis),
        }
    }

    #[test]
    fn median_is_the_middle_rate() {
        let samples = Samples(vec![run(100, 1000), run(300, 1000), run(200, 1000)]);
        assert_eq!(samples.median().records, 200);
        assert_eq!(samples.rates(), [100.0, 300.0, 200.0]);
        // An even count takes the lower middle run.
        let even = Samples(vec![run(400, 1000), run(100, 1000)]);
        assert_eq!(even.median().records, 100);
        assert_eq!(Samples::default().median().records, 0);
    }

    #[test]
    fn rates_guard_against_empty_intervals() {
        assert_eq!(run(100, 0).rate(), 0.0);
        assert_eq!(run(500, 2000).request_rate(), 2.5);
    }
}
