//! The `aws watch` loop: poll the metadata for a termination, then stop the apps, run the
//! drain (the same one as `drainguard wait`), heartbeat the lifecycle hook meanwhile, and
//! complete the lifecycle action (CONTINUE) whatever the drain's outcome.

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use super::asg::{heartbeat_interval, Asg, AsgError, Target};
use super::imds::{Backoff, Imds};
use super::lifecycle::{self, Termination};
use crate::sources::DrainReport;
use crate::wait::StopFlag;

/// Where the instance id is.
pub const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";

/// The drain `aws watch` runs once termination is detected.
pub trait Drain {
    /// Drains until done or `deadline`; never fails: a drain that cannot run reports that.
    fn drain(&mut self, deadline: Duration) -> DrainResult;
}

/// What a drain ended with, for the log and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainResult {
    /// `drained`, `deadline`, `shipper-dead`, `interrupted`, `error`...
    pub outcome: String,
    /// One line: bytes left, elapsed, or the error.
    pub summary: String,
    pub exit: crate::exit::Exit,
}

impl DrainResult {
    /// The result of a drain that could not run (its sources could not be opened ...).
    pub fn error(summary: String) -> DrainResult {
        DrainResult {
            outcome: "error".into(),
            summary,
            exit: crate::exit::Exit::Behind,
        }
    }
}

impl From<&DrainReport> for DrainResult {
    /// The drain's outcome and exit; a drain that decided nothing is an error (exit 1): the
    /// instance goes anyway, the log says why.
    fn from(r: &DrainReport) -> DrainResult {
        match r {
            DrainReport::Failed(_) => DrainResult::error(r.summary()),
            _ => DrainResult {
                outcome: r.word().into(),
                summary: r.summary(),
                exit: r.exit(),
            },
        }
    }
}

/// How to stop the applications before draining (they must not write while we drain).
#[derive(Debug, Clone, Default)]
pub struct StopApps {
    /// `systemctl stop UNIT` for each.
    pub units: Vec<String>,
    /// Or a shell command (`sh -c`).
    pub command: Option<String>,
}

impl StopApps {
    /// Stops the apps; failures are logged, never fatal (the drain still runs).
    pub fn run(&self) {
        for unit in &self.units {
            report_stop(
                &format!("systemctl stop {unit}"),
                Command::new("systemctl").arg("stop").arg(unit).status(),
            );
        }
        if let Some(cmd) = &self.command {
            report_stop(cmd, Command::new("sh").arg("-c").arg(cmd).status());
        }
    }
}

fn report_stop(what: &str, status: std::io::Result<std::process::ExitStatus>) {
    match status {
        Ok(s) if s.success() => tracing::info!(command = what, "stopped the app"),
        Ok(s) => {
            tracing::warn!(command = what, status = %s, "stopping the app failed; draining anyway")
        }
        Err(e) => {
            tracing::warn!(command = what, error = %e, "cannot run the stop command; draining anyway")
        }
    }
}

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Metadata poll interval.
    pub poll: Duration,
    /// The drain's deadline (spot notices cap it).
    pub deadline: Duration,
    /// Time kept for the shutdown itself before a spot notice's time.
    pub spot_margin: Duration,
    pub stop: StopApps,
    /// Group name (else from the instance tag or the API).
    pub group: Option<String>,
    /// Hook name (else the group's EC2_INSTANCE_TERMINATING hook).
    pub hook: Option<String>,
    /// Read the group from the instance tag in IMDS first.
    pub use_tags: bool,
    /// Heartbeat interval override (else a third of the hook's timeout).
    pub heartbeat_every: Option<Duration>,
    /// Attempts for CompleteLifecycleAction (with backoff) before giving up.
    pub complete_attempts: u32,
    /// Backoff between API retries.
    pub retry: Backoff,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll: Duration::from_secs(5),
            deadline: crate::settings::DEFAULT_DEADLINE,
            spot_margin: Duration::from_secs(20),
            stop: StopApps::default(),
            group: None,
            hook: None,
            use_tags: true,
            heartbeat_every: None,
            complete_attempts: 10,
            retry: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
        }
    }
}

/// What one termination ended with.
#[derive(Debug, Clone)]
pub struct WatchReport {
    pub termination: Termination,
    pub deadline: Duration,
    /// Set when a spot notice shortened the configured deadline.
    pub capped_from: Option<Duration>,
    pub drain: DrainResult,
    /// The lifecycle action, when one holds this instance.
    pub target: Option<Target>,
    pub heartbeats_sent: u32,
    /// True when CompleteLifecycleAction succeeded.
    pub completed: bool,
}

/// Waits for a termination, then handles it (see the module docs). Returns `None` when
/// `stop` was raised before any termination (the service was stopped).
pub fn run(
    imds: &Imds,
    asg: Option<&Asg>,
    drain: &mut dyn Drain,
    opts: &WatchOptions,
    stop: &StopFlag,
) -> Option<WatchReport> {
    let instance_id = loop {
        if stop.is_stopped() {
            return None;
        }
        match imds.get(INSTANCE_ID_PATH) {
            Ok(Some(id)) => break id.trim().to_string(),
            Ok(None) => tracing::warn!("the instance metadata has no instance-id; retrying"),
            Err(e) => tracing::warn!(error = %e, "cannot read the instance id; retrying"),
        }
        pause(opts.poll, stop);
    };
    // Find the hook early so a too-short heartbeat timeout is reported at start; retried
    // again at termination if the API was not reachable now.
    let mut target = asg.and_then(|a| resolve(a, imds, &instance_id, opts));
    tracing::info!(instance = %instance_id, poll_s = opts.poll.as_secs_f64(), "watching for termination");
    let termination = loop {
        if stop.is_stopped() {
            return None;
        }
        match lifecycle::poll(imds) {
            Ok(Some(t)) => break t,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the lifecycle state; will retry"),
        }
        pause(opts.poll, stop);
    };
    match &termination {
        Termination::AutoScaling => tracing::warn!("Auto Scaling is terminating this instance"),
        Termination::Spot { action, time } => tracing::warn!(
            action = %action,
            time = %crate::display::timestamp(*time, false),
            "spot interruption notice"
        ),
    }
    if target.is_none() {
        target = asg.and_then(|a| resolve(a, imds, &instance_id, opts));
    }
    // Stop the apps, then drain until the (capped) deadline.
    let mut stop_and_drain = || {
        opts.stop.run();
        // The spot cap counts from now: stopping the apps used up notice time.
        let (deadline, capped_from) = lifecycle::cap_deadline(
            opts.deadline,
            &termination,
            SystemTime::now(),
            opts.spot_margin,
        );
        match capped_from {
            Some(was) => tracing::warn!(
                deadline_s = deadline.as_secs_f64(),
                configured_s = was.as_secs_f64(),
                margin_s = opts.spot_margin.as_secs_f64(),
                "spot interruption notice: drain deadline capped to the notice's time minus the margin"
            ),
            None => tracing::info!(deadline_s = deadline.as_secs_f64(), "draining"),
        }
        let result = drain.drain(deadline);
        tracing::info!(outcome = %result.outcome, summary = %result.summary, "drain finished");
        (result, deadline, capped_from)
    };
    let (((result, deadline, capped_from), completed), heartbeats_sent) = match (asg, &target) {
        // Heartbeats run from before the apps' stop through the completion's retries.
        (Some(asg), Some(t)) => with_heartbeats(asg, t, opts, || {
            let drained = stop_and_drain();
            (drained, complete(asg, t, opts))
        }),
        _ => {
            let drained = stop_and_drain();
            tracing::warn!("no lifecycle action to complete (no Auto Scaling group or hook found)");
            ((drained, false), 0)
        }
    };
    Some(WatchReport {
        termination,
        deadline,
        capped_from,
        drain: result,
        target,
        heartbeats_sent,
        completed,
    })
}

/// Finds group and hook; warns when the hook's heartbeat timeout is short. Logs failures.
fn resolve(asg: &Asg, imds: &Imds, instance_id: &str, opts: &WatchOptions) -> Option<Target> {
    let group = match &opts.group {
        Some(g) => g.clone(),
        None => match asg.group_of(opts.use_tags.then_some(imds), instance_id) {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "cannot find this instance's Auto Scaling group");
                return None;
            }
        },
    };
    let hook = match asg.termination_hook(&group, opts.hook.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(group = %group, error = %e, "cannot find the termination lifecycle hook");
            return None;
        }
    };
    if let Some(w) = heartbeat_warning(hook.heartbeat_timeout, opts) {
        tracing::warn!(group = %group, hook = %hook.name, "{w}");
    }
    if opts.deadline >= hook.global_timeout() {
        tracing::warn!(
            group = %group,
            hook = %hook.name,
            deadline_s = opts.deadline.as_secs(),
            global_timeout_s = hook.global_timeout().as_secs(),
            "the drain deadline reaches the hook's global timeout (min(48h, 100 x HeartbeatTimeout)): \
             Auto Scaling may terminate the instance before the deadline; raise HeartbeatTimeout"
        );
    }
    tracing::info!(group = %group, hook = %hook.name, heartbeat_timeout_s = hook.heartbeat_timeout.as_secs(), "lifecycle hook found");
    Some(Target {
        instance_id: instance_id.to_string(),
        group,
        hook,
    })
}

/// A warning when heartbeats cannot keep the hook alive comfortably: the interval must fit
/// the timeout with room for a failed call.
pub fn heartbeat_warning(timeout: Duration, opts: &WatchOptions) -> Option<String> {
    let every = opts
        .heartbeat_every
        .unwrap_or_else(|| heartbeat_interval(timeout, Duration::from_millis(100)));
    if every * 2 > timeout {
        Some(format!(
            "the hook's heartbeat timeout ({}s) is shorter than two heartbeat intervals ({}s): one \
             failed heartbeat lets Auto Scaling apply the default result; raise HeartbeatTimeout",
            timeout.as_secs(),
            every.as_secs_f64()
        ))
    } else if timeout < Duration::from_secs(60) {
        Some(format!(
            "the hook's heartbeat timeout is only {}s: heartbeats keep it alive, but a stalled \
             drainguard loses the instance within that time; 300s or more is advised",
            timeout.as_secs()
        ))
    } else {
        None
    }
}

/// Runs `work` on this thread while a scoped thread heartbeats the hook; returns its result
/// and the number of heartbeats recorded.
fn with_heartbeats<R>(
    asg: &Asg,
    t: &Target,
    opts: &WatchOptions,
    work: impl FnOnce() -> R,
) -> (R, u32) {
    let every = opts.heartbeat_every.unwrap_or_else(|| {
        heartbeat_interval(t.hook.heartbeat_timeout, Duration::from_millis(100))
    });
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let beats = s.spawn(move || {
            let mut sent = 0u32;
            let mut failures = 0u32;
            let mut wait = every;
            loop {
                match done_rx.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return sent,
                }
                match asg.heartbeat(t) {
                    Ok(()) => {
                        sent += 1;
                        failures = 0;
                        wait = every;
                        tracing::debug!(sent, "lifecycle heartbeat recorded");
                    }
                    Err(e) => {
                        // Retry soon, well inside the timeout.
                        wait = opts.retry.pause(failures).min(every / 4).max(Duration::from_millis(50));
                        failures += 1;
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "lifecycle heartbeat failed; retrying");
                    }
                }
            }
        });
        let result = work();
        let _ = done_tx.send(());
        let sent = beats.join().unwrap_or(0);
        (result, sent)
    })
}

/// CompleteLifecycleAction CONTINUE, retried with backoff on API errors.
fn complete(asg: &Asg, t: &Target, opts: &WatchOptions) -> bool {
    let attempts = opts.complete_attempts.max(1);
    for attempt in 0..attempts {
        if attempt > 0 {
            std::thread::sleep(opts.retry.pause(attempt - 1));
        }
        match asg.complete(t, "CONTINUE") {
            Ok(()) => {
                tracing::info!(instance = %t.instance_id, group = %t.group, hook = %t.hook.name, "lifecycle action completed (CONTINUE)");
                return true;
            }
            // No action to complete (already timed out or completed): retrying cannot help.
            Err(e @ AsgError::Api { .. }) if e.code() == Some("ValidationError") => {
                tracing::error!(error = %e, "the lifecycle action cannot be completed");
                return false;
            }
            Err(e) => {
                tracing::warn!(attempt = attempt + 1, attempts, error = %e, "CompleteLifecycleAction failed; retrying")
            }
        }
    }
    tracing::error!(instance = %t.instance_id, "CompleteLifecycleAction failed on every attempt; Auto Scaling applies the hook's default result at its timeout");
    false
}

/// Sleeps `d`, waking early when `stop` is raised.
fn pause(d: Duration, stop: &StopFlag) {
    let end = Instant::now() + d;
    while !stop.is_stopped() {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}
