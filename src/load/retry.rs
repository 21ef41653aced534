//! Retry rules, pure: which answers are retried, how long to back off (exponential, full jitter), `Retry-After`.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Why an attempt is retried (a label for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    Connect,
    Timeout,
    Status(u16),
}

impl std::fmt::Display for RetryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryReason::Connect => f.write_str("connect error"),
            RetryReason::Timeout => f.write_str("timeout"),
            RetryReason::Status(s) => write!(f, "HTTP {s}"),
        }
    }
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the batch is acknowledged.
    Delivered,
    /// Try again, after `after` when the server said so.
    Retry {
        reason: RetryReason,
        after: Option<Duration>,
    },
    /// A 4xx other than 408 and 429: retrying cannot help; dead-letter it.
    Reject { status: u16 },
}

/// Classifies an HTTP status (with the `Retry-After` it came with).
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: RetryReason::Status(status),
            after: retry_after,
        },
        _ => Outcome::Reject { status },
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date, relative to `now`. Past dates give zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date: awc::http::header::HttpDate = value.parse().ok()?;
    let at: SystemTime = date.into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter: uniform in `[0, min(max, initial × 2^(failures−1))]`.
pub fn backoff(failures: u32, initial: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let cap = initial.saturating_mul(1u32 << exp).min(max);
    let ms = cap.as_millis() as u64;
    Duration::from_millis(if ms == 0 { 0 } else { rng.random_range(0..=ms) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_per_the_design() {
        assert_eq!(classify_status(200, None), Outcome::Delivered);
        assert_eq!(classify_status(204, None), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify_status(s, None), Outcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 415, 422] {
            assert_eq!(classify_status(s, None), Outcome::Reject { status: s });
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 09 Sep 2001 01:46:50 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sat, 01 Jan 2000 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut rng = rand::rng();
        let (i, m) = (Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..100 {
            assert!(backoff(1, i, m, &mut rng) <= i);
            assert!(backoff(3, i, m, &mut rng) <= i * 4);
            assert!(backoff(50, i, m, &mut rng) <= m);
        }
        let big = (0..200).map(|_| backoff(4, i, m, &mut rng)).max().unwrap();
        assert!(
            big > i,
            "full jitter over [0, 800ms] should exceed 100ms in 200 draws"
        );
    }
}
