//! Termination signals in the instance metadata: Auto Scaling's target lifecycle state and
//! the spot interruption notice.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::imds::{Imds, ImdsError};

pub const TARGET_STATE_PATH: &str = "/latest/meta-data/autoscaling/target-lifecycle-state";
pub const SPOT_ACTION_PATH: &str = "/latest/meta-data/spot/instance-action";

/// Why this instance is going away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Termination {
    /// Auto Scaling moved the instance towards `Terminated` (scale-in, health replacement...).
    AutoScaling,
    /// A spot interruption notice: `action` (terminate, stop, hibernate) at `time`.
    Spot { action: String, time: SystemTime },
}

/// The spot notice's JSON, e.g. `{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`.
#[derive(Debug, Deserialize)]
struct SpotNotice {
    action: String,
    time: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Imds(#[from] ImdsError),
    #[error("spot notice at {SPOT_ACTION_PATH} is not the documented JSON ({what}): {text:?}")]
    BadSpotNotice { what: String, text: String },
}

/// Parses the spot notice.
pub fn parse_spot(text: &str) -> Result<Termination, LifecycleError> {
    let bad = |what: String| LifecycleError::BadSpotNotice {
        what,
        text: text.chars().take(200).collect(),
    };
    let n: SpotNotice = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let time = humantime::parse_rfc3339_weak(&n.time)
        .map_err(|e| bad(format!("time {:?}: {e}", n.time)))?;
    Ok(Termination::Spot {
        action: n.action,
        time,
    })
}

/// Looks once for a termination signal. The spot notice wins: it carries a hard time.
pub fn poll(imds: &Imds) -> Result<Option<Termination>, LifecycleError> {
    if let Some(text) = imds.get(SPOT_ACTION_PATH)? {
        return parse_spot(&text).map(Some);
    }
    match imds.get(TARGET_STATE_PATH)? {
        // `Warmed:Terminated`: an instance of a warm pool going away, same hook.
        Some(state) if matches!(state.trim(), "Terminated" | "Warmed:Terminated") => {
            Ok(Some(Termination::AutoScaling))
        }
        _ => Ok(None),
    }
}

/// The drain deadline for `termination`: for a spot notice, no later than the notice's time
/// minus `margin` (the shutdown itself needs that much). Returns the deadline and, when it
/// was capped, the deadline it replaces.
pub fn cap_deadline(
    deadline: Duration,
    termination: &Termination,
    now: SystemTime,
    margin: Duration,
) -> (Duration, Option<Duration>) {
    match termination {
        Termination::AutoScaling => (deadline, None),
        Termination::Spot { time, .. } => {
            let left = time
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
                .saturating_sub(margin);
            if left < deadline {
                (left, Some(deadline))
            } else {
                (deadline, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spot_notice() {
        let t = parse_spot(r#"{"action": "terminate", "time": "2017-09-18T08:22:00Z"}"#).unwrap();
        let Termination::Spot { action, time } = t else {
            panic!("not spot")
        };
        assert_eq!(action, "terminate");
        assert_eq!(
            time.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(1505722920)
        );
        let err = parse_spot("{\"action\": \"stop\"}").unwrap_err();
        assert!(err.to_string().contains("time"), "{err}");
    }

    #[test]
    fn spot_caps_the_deadline_minus_margin() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let spot = Termination::Spot {
            action: "terminate".into(),
            time: now + Duration::from_secs(120),
        };
        let (d, was) = cap_deadline(
            Duration::from_secs(1500),
            &spot,
            now,
            Duration::from_secs(20),
        );
        assert_eq!(d, Duration::from_secs(100));
        assert_eq!(was, Some(Duration::from_secs(1500)));
        // A shorter deadline stays.
        let (d, was) = cap_deadline(Duration::from_secs(30), &spot, now, Duration::from_secs(20));
        assert_eq!((d, was), (Duration::from_secs(30), None));
        // A notice already past: nothing left.
        let late = now + Duration::from_secs(500);
        assert_eq!(
            cap_deadline(
                Duration::from_secs(30),
                &spot,
                late,
                Duration::from_secs(20)
            )
            .0,
            Duration::ZERO
        );
        assert_eq!(
            cap_deadline(
                Duration::from_secs(30),
                &Termination::AutoScaling,
                now,
                Duration::ZERO
            ),
            (Duration::from_secs(30), None)
        );
    }
}
