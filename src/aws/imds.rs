//! The instance metadata service, IMDSv2 only.
//!
//! Every read carries a session token obtained with `PUT /latest/api/token` and the
//! `X-aws-ec2-metadata-token-ttl-seconds` header. The token is reused until shortly before
//! it expires, renewed then, and dropped when the service answers 401 (it expired early or
//! the service restarted). Every request has a timeout; transport errors, 429, 503 and other
//! 5xx answers are retried with exponential backoff and full jitter.
//!
//! HTTP client: `ureq` without default features — blocking (the drain loop is synchronous),
//! plain HTTP only (IMDS is `http://169.254.169.254`, so no TLS stack is pulled in), a
//! handful of small dependencies; the AWS SDK's own IMDS client would drag the async stack
//! into every metadata read and does not expose the lifecycle/spot paths' 404 semantics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The real service.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

/// How to talk to IMDS.
#[derive(Debug, Clone)]
pub struct ImdsConfig {
    pub endpoint: String,
    /// Lifetime asked for each token (IMDS allows 1 s to 6 h).
    pub token_ttl: Duration,
    /// Per-request timeout (connect + answer).
    pub timeout: Duration,
    /// Attempts per read, the first included.
    pub attempts: u32,
    /// Pause between attempts.
    pub backoff: Backoff,
}

/// Exponential backoff with full jitter: the n-th pause (from 0) is uniform in
/// [1 ms, min(max, base * 2^n)].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The pause before retry `n` (0 = the first retry).
    pub fn pause(&self, n: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(n.min(30)).unwrap_or(u32::MAX))
            .min(self.max);
        let ms = cap.as_millis().max(1) as u64;
        Duration::from_millis(fastrand::u64(1..=ms))
    }
}

impl Default for ImdsConfig {
    fn default() -> Self {
        ImdsConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token_ttl: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(2),
            attempts: 5,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(5),
            },
        }
    }
}

/// Why a metadata read failed.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    #[error("instance metadata at {endpoint} failed after {attempts} attempts: {last}")]
    Exhausted {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("instance metadata {path}: unexpected HTTP {status}")]
    Status { path: String, status: u16 },
    #[error(
        "instance metadata refused an IMDSv2 token (HTTP {0}); drainguard speaks IMDSv2 only: \
         check the instance's metadata options (HttpEndpoint enabled, HttpPutResponseHopLimit)"
    )]
    TokenRefused(u16),
}

/// One attempt's failure: retry or give up.
enum Attempt {
    Retry(String),
    Fatal(ImdsError),
}

/// An IMDSv2 client; cheap to share between threads.
#[derive(Debug)]
pub struct Imds {
    cfg: ImdsConfig,
    agent: ureq::Agent,
    token: Mutex<Option<(String, Instant)>>,
}

impl Imds {
    pub fn new(cfg: ImdsConfig) -> Imds {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .build()
            .into();
        Imds {
            cfg,
            agent,
            token: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.cfg.endpoint
    }

    /// Reads `path`; `Ok(None)` when the item does not exist (404).
    pub fn get(&self, path: &str) -> Result<Option<String>, ImdsError> {
        let mut last = String::new();
        for attempt in 0..self.cfg.attempts.max(1) {
            if attempt > 0 {
                let pause = self.cfg.backoff.pause(attempt - 1);
                tracing::debug!(path, attempt, pause_ms = pause.as_millis() as u64, error = %last, "retrying instance metadata");
                std::thread::sleep(pause);
            }
            match self.try_get(path) {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(why)) => last = why,
            }
        }
        Err(ImdsError::Exhausted {
            endpoint: self.cfg.endpoint.clone(),
            attempts: self.cfg.attempts.max(1),
            last,
        })
    }

    fn try_get(&self, path: &str) -> Result<Option<String>, Attempt> {
        let token = self.token()?;
        let url = format!("{}{path}", self.cfg.endpoint);
        let mut resp = self
            .agent
            .get(&url)
            .header(TOKEN_HEADER, &token)
            .call()
            .map_err(|e| Attempt::Retry(e.to_string()))?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .read_to_string()
                .map(Some)
                .map_err(|e| Attempt::Retry(e.to_string())),
            404 => Ok(None),
            401 => {
                // The token expired or the service forgot it: get a new one next attempt.
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(Attempt::Retry("token rejected (401)".into()))
            }
            s if retryable(s) => Err(Attempt::Retry(format!("HTTP {s}"))),
            status => Err(Attempt::Fatal(ImdsError::Status {
                path: path.to_string(),
                status,
            })),
        }
    }

    /// The cached token, or a new one when there is none or it expires soon.
    fn token(&self) -> Result<String, Attempt> {
        let mut slot = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tok, renew_at)) = slot.as_ref() {
            if Instant::now() < *renew_at {
                return Ok(tok.clone());
            }
        }
        let ttl = self.cfg.token_ttl.as_secs().clamp(1, 21600);
        let asked = Instant::now();
        let mut resp = self
            .agent
            .put(format!("{}{TOKEN_PATH}", self.cfg.endpoint))
            .header(TTL_HEADER, ttl.to_string())
            .send_empty()
            .map_err(|e| Attempt::Retry(format!("token request: {e}")))?;
        match resp.status().as_u16() {
            200 => {}
            s if retryable(s) => return Err(Attempt::Retry(format!("token request: HTTP {s}"))),
            s => return Err(Attempt::Fatal(ImdsError::TokenRefused(s))),
        }
        let tok = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| Attempt::Retry(format!("token body: {e}")))?;
        let tok = tok.trim().to_string();
        // Renew when three quarters of the lifetime have passed (measured from the request).
        let renew_at = asked + Duration::from_millis(ttl * 750);
        tracing::debug!(ttl_s = ttl, "new IMDSv2 token");
        *slot = Some((tok.clone(), renew_at));
        Ok(tok)
    }
}

fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for _ in 0..200 {
            assert!(b.pause(0) <= Duration::from_millis(100));
            assert!(b.pause(3) <= Duration::from_millis(800));
            assert!(b.pause(40) <= Duration::from_millis(1000));
        }
        // Jitter: not always the same pause.
        let pauses: std::collections::HashSet<_> = (0..50).map(|_| b.pause(4)).collect();
        assert!(pauses.len() > 1);
    }
}
