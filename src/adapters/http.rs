//! The client for shippers' own monitoring APIs (short timeouts, local endpoints only), and
//! the helpers their delivery signals share. What each API means is its adapter's
//! (`adapters::<name>::api`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::cursor::{Owed, QueueSignal, QueueState};

const TIMEOUT: Duration = Duration::from_secs(2);

type Documents = HashMap<String, Result<Value, String>>;

/// The HTTP client the readers share, handed to them in
/// [`SourceOptions::http`](super::SourceOptions::http). Within a [`round`](Http::round) each
/// URL is fetched at most once: the stores of one shipper that read the same monitoring API
/// in one round (several Fluent Bit inputs, Fluentd sources, Logstash inputs) see the same
/// document, and the API is asked once. Outside a round every call fetches.
#[derive(Debug, Clone, Default)]
pub struct Http {
    round: Arc<Mutex<Option<Documents>>>,
}

/// Ends the round it opened when dropped.
#[must_use = "the round ends when this is dropped"]
pub struct Round {
    http: Option<Http>,
}

impl Drop for Round {
    fn drop(&mut self) {
        if let Some(h) = &self.http {
            *h.lock() = None;
        }
    }
}

impl Http {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Documents>> {
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a round of reads (see the type's docs); a round opened inside another one is
    /// part of it.
    pub fn round(&self) -> Round {
        let mut g = self.lock();
        let opened = g.is_none();
        if opened {
            *g = Some(HashMap::new());
        }
        Round {
            http: opened.then(|| self.clone()),
        }
    }

    /// GETs `url` and parses JSON (once per URL within a round); the error is a one-line
    /// reason.
    pub fn get_json(&self, url: &str) -> Result<Value, String> {
        self.cached(url, || {
            serde_json::from_str(&fetch_text(url)?).map_err(|e| format!("not JSON: {e}"))
        })
    }

    /// GETs `url` as text (once per URL within a round: Prometheus metrics); the error is a
    /// one-line reason.
    pub fn get_text(&self, url: &str) -> Result<String, String> {
        self.cached(url, || fetch_text(url).map(Value::String))
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
    }

    fn cached(
        &self,
        url: &str,
        fetch: impl FnOnce() -> Result<Value, String>,
    ) -> Result<Value, String> {
        if let Some(hit) = self.lock().as_ref().and_then(|m| m.get(url).cloned()) {
            return hit;
        }
        // Not under the lock: the stores of other shippers may fetch meanwhile.
        let r = fetch();
        if let Some(m) = self.lock().as_mut() {
            m.insert(url.to_string(), r.clone());
        }
        r
    }
}

fn fetch_text(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let body = agent
        .get(url)
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(body)
}

/// The signal `source` gives: the state read, or unknown with the reason and `hint` (how to
/// enable the API).
pub fn signal(source: String, r: Result<QueueState, String>, hint: &str) -> QueueSignal {
    QueueSignal {
        source,
        state: r.unwrap_or_else(|e| QueueState::Unknown {
            hint: format!("{e}; {hint}"),
        }),
    }
}

/// Empty when nothing is pending, else the pending items as the detail and `owed` as the
/// numbers.
pub fn from_pending(pending: Vec<String>, owed: Owed) -> QueueState {
    if pending.is_empty() {
        QueueState::Empty
    } else {
        QueueState::owed(pending.join(", "), owed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// A local API answering `{}` to every request, counting them.
    fn api() -> (String, Arc<AtomicUsize>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api", l.local_addr().unwrap());
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                counter.fetch_add(1, SeqCst);
                let _ = s.read(&mut [0u8; 4096]);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
            }
        });
        (url, asked)
    }

    #[test]
    fn a_round_asks_each_url_once_and_outside_one_every_call_asks() {
        let (url, asked) = api();
        let http = Http::default();
        {
            let _round = http.round();
            let _inner = http.clone().round();
            assert_eq!(http.get_json(&url), Ok(serde_json::json!({})));
            assert_eq!(http.get_json(&url), Ok(serde_json::json!({})));
        }
        assert_eq!(asked.load(SeqCst), 1, "one request in the round");
        http.get_json(&url).unwrap();
        http.get_json(&url).unwrap();
        assert_eq!(asked.load(SeqCst), 3, "no cache once the round ended");
    }
}
