//! Verdicts: per shipper (do its offsets and queues prove delivery?) and over all shippers.

use super::{Assessment, ShipperBacklog, Verdict};
use crate::cursor::{OffsetMeaning, QueueState};

/// The source of the signal that says an input directory could not be read (its hint
/// names the directory, the error and the fix).
pub const UNREADABLE_INPUT: &str = "input directory";

/// One shipper's verdict and the sentence that explains what proved (or did not prove) it.
pub fn shipper_verdict(b: &ShipperBacklog) -> (Verdict, String) {
    match offsets_and_queues(b) {
        // Files in a directory the walk could not read are not seen: even offsets that
        // prove delivery cannot say nothing else is owed.
        (Verdict::Drained, why) if unreadable_inputs(b).is_some() => (
            Verdict::Unconfirmed,
            format!(
                "{why}, but untracked files may be unseen: {}",
                unreadable_inputs(b).unwrap_or_default()
            ),
        ),
        (Verdict::Drained, _) if tracks_nothing_provably(b) => (
            // An empty store is no proof that nothing was to ship: its checkpoint may be
            // gone, or the shipper has not written it yet, and without the inputs no file
            // can be found.
            Verdict::Unconfirmed,
            "the store tracks no file and the shipper's inputs are not known, so nothing \
             proves there is nothing to ship: give the shipper's config (--config, or \
             `config` in the settings file) so that its inputs are checked"
                .into(),
        ),
        v => v,
    }
}

/// The hints of the unreadable input directories, joined; `None` when there is none.
fn unreadable_inputs(b: &ShipperBacklog) -> Option<String> {
    let hints: Vec<&str> = b
        .queues
        .iter()
        .filter(|q| q.source == UNREADABLE_INPUT)
        .filter_map(|q| match &q.state {
            QueueState::Unknown { hint } => Some(hint.as_str()),
            _ => None,
        })
        .collect();
    (!hints.is_empty()).then(|| hints.join("; "))
}

/// The verdict from the files, the queues and what the offsets mean.
fn offsets_and_queues(b: &ShipperBacklog) -> (Verdict, String) {
    if b.totals.blocking_files > 0 {
        return (
            Verdict::Behind,
            format!(
                "{} file(s) still have {} to ship",
                b.totals.blocking_files,
                crate::display::bytes(b.totals.bytes_behind)
            ),
        );
    }
    if let Some(q) = b
        .queues
        .iter()
        .find(|q| matches!(q.state, QueueState::Pending { .. }))
    {
        let QueueState::Pending { detail, .. } = &q.state else {
            unreachable!()
        };
        let lead = if b.totals.files == 0 {
            "no file is tracked"
        } else {
            "every file is read"
        };
        return (
            Verdict::Behind,
            format!("{lead}, but {} still holds data: {detail}", q.source),
        );
    }
    let offsets_say = match b.offset_meaning {
        OffsetMeaning::Delivered => {
            return (
                Verdict::Drained,
                "every offset is acknowledged by the output".into(),
            )
        }
        OffsetMeaning::InDiskQueue => "offsets prove only that data reached the disk queue",
        OffsetMeaning::Buffered => "offsets prove only that data entered the shipper's buffer",
        OffsetMeaning::SentOrGivenUp => {
            "offsets prove only that the destination accepted the data or the shipper gave it up"
        }
        OffsetMeaning::Read => "offsets prove only that data was read",
    };
    let unknown: Vec<&str> = b
        .queues
        .iter()
        .filter_map(|q| match &q.state {
            QueueState::Unknown { hint } => Some(hint.as_str()),
            _ => None,
        })
        .collect();
    if b.queues.is_empty() || !unknown.is_empty() {
        let how = if unknown.is_empty() {
            "no delivery signal is configured".to_string()
        } else {
            unknown.join("; ")
        };
        // A store drainguard cannot read at all tracks no file: nothing is "read" there.
        if b.totals.files == 0 {
            return (
                Verdict::Unconfirmed,
                format!("no file is tracked, but delivery is unconfirmed: {how}"),
            );
        }
        return (
            Verdict::Unconfirmed,
            format!("every file is read, but delivery is unconfirmed: {offsets_say}; {how}"),
        );
    }
    let sources: Vec<&str> = b.queues.iter().map(|q| q.source.as_str()).collect();
    (
        Verdict::Drained,
        format!("{offsets_say}, and {} is empty", sources.join(", ")),
    )
}

/// The verdict over every shipper: behind if any is, else unconfirmed if any is, else drained.
pub fn combine(shippers: Vec<ShipperBacklog>) -> Assessment {
    let verdict = shippers
        .iter()
        .map(|s| s.verdict)
        .max_by_key(|v| match v {
            Verdict::Drained => 0,
            Verdict::Unconfirmed => 1,
            Verdict::Behind => 2,
        })
        .unwrap_or(Verdict::Drained);
    // Stores of one process share its signals (its TCP send queues): each counts once.
    let mut unique: Vec<crate::cursor::QueueSignal> = Vec::new();
    for q in shippers.iter().flat_map(|s| s.queues.iter()) {
        if !unique.contains(q) {
            unique.push(q.clone());
        }
    }
    let queue = super::QueueTotals::of(&unique);
    Assessment {
        verdict,
        bytes_behind: shippers
            .iter()
            .map(|s| s.totals.bytes_behind)
            .fold(0, u64::saturating_add),
        queue,
        shippers,
    }
}

/// True when this shipper's store can prove delivery at all: its offsets mean "delivered",
/// or it has delivery-side signals and every one of them can be read.
pub fn delivery_provable(b: &ShipperBacklog) -> bool {
    !tracks_nothing_provably(b)
        && crate::cursor::signal_gaps(b.offset_meaning, &b.queues).is_empty()
}

/// True when the store tracks no file and no input says which files there are: nothing
/// proves delivery, whatever the offsets would mean.
fn tracks_nothing_provably(b: &ShipperBacklog) -> bool {
    b.totals.files == 0 && !b.inputs_known
}
