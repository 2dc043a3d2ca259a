//! [`drain`]: the one drain `wait` and `aws watch` run over the selected sources.

use super::{nothing_found, Sources};
use crate::exit::Exit;
use crate::wait::{self, Outcome, StopFlag, WaitError, WaitOptions, WaitReport};

/// What a drain ended with.
#[derive(Debug)]
pub enum DrainReport {
    /// No shipper was named, no store exists and no shipper process runs: nothing to drain
    /// (the message says what was looked for).
    NothingFound(String),
    /// The wait ran to an outcome.
    Waited(WaitReport),
    /// No outcome could be decided: the stores' first read failed, or the drain stopped (a
    /// bug).
    Failed(WaitError),
}

impl DrainReport {
    /// The process exit code of `wait`: the outcome's; 0 when nothing was found; 2 when the
    /// stores cannot be read; 1 for an internal error.
    pub fn exit(&self) -> Exit {
        match self {
            DrainReport::NothingFound(_) => Exit::Ok,
            DrainReport::Waited(r) => r.outcome.exit(),
            DrainReport::Failed(WaitError::Store(_)) => Exit::Usage,
            DrainReport::Failed(WaitError::Internal(_)) => Exit::Behind,
        }
    }

    /// A short word for logs: the outcome's ([`Outcome::word`]), `nothing-found` or `error`.
    pub fn word(&self) -> &'static str {
        match self {
            DrainReport::NothingFound(_) => "nothing-found",
            DrainReport::Waited(r) => r.outcome.word(),
            DrainReport::Failed(_) => "error",
        }
    }

    /// One line: what is left and how long it took, or why nothing was decided.
    pub fn summary(&self) -> String {
        match self {
            DrainReport::NothingFound(why) => why.clone(),
            DrainReport::Waited(r) => {
                let secs = r.elapsed.as_secs_f64();
                match &r.outcome {
                    Outcome::Drained => format!("every tracked byte delivered after {secs:.1}s"),
                    _ => format!(
                        "{} after {secs:.1}s with {} still unshipped",
                        r.outcome.word(),
                        r.final_assessment.owed_phrase()
                    ),
                }
            }
            DrainReport::Failed(e) => crate::display::error_chain(e),
        }
    }
}

/// Waits until the shippers of `sources` have delivered everything, the deadline passes, a
/// shipper dies, or `stop` is raised (by a caught signal: interrupted), under `opts`'s rules
/// (see [`crate::wait`]). The drain runs on a worker thread ([`wait::drain_bounded`]): a read
/// blocked in the kernel cannot hold it past its deadline or a signal; `sources` is given
/// back when the drain returns (left without readers when it is still blocked), holding the
/// drain's copy of its last full assessment ([`Sources::published`]).
pub fn drain(sources: &mut Sources, opts: &WaitOptions, stop: &StopFlag) -> DrainReport {
    if sources.readers.is_empty() {
        return DrainReport::NothingFound(nothing_found());
    }
    tracing::info!(
        deadline_s = opts.deadline.as_secs(),
        shippers = sources.readers.len(),
        "waiting until every shipper has delivered everything"
    );
    let (root, settings) = (sources.root.clone(), sources.settings.clone());
    let (result, back, published) = wait::drain_bounded_keep(std::mem::take(sources), opts, stop);
    *sources = back.unwrap_or_else(|| Sources {
        root,
        settings,
        ..Sources::default()
    });
    sources.published = published;
    match result {
        Ok(r) => DrainReport::Waited(r),
        Err(e) => DrainReport::Failed(e),
    }
}
