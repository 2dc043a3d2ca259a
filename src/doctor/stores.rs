//! Stores that can never prove delivery as their shipper is configured: the boot check and
//! doctor warn about each, with the fix, from the adapters' own snapshots.

use super::findings::{finding, Finding, Severity};
use crate::cursor::StoreSnapshot;
use crate::root::Root;

/// What a store that cannot prove delivery does to every shutdown.
pub const CONSEQUENCE: &str =
    "Delivery can never be proven this way: every shutdown will hold until the deadline, then exit 2.";

/// One DG014 warning per reason a store read in `snaps` cannot prove delivery.
pub fn check(root: &Root, snaps: &[StoreSnapshot]) -> Vec<Finding> {
    snaps
        .iter()
        .flat_map(|s| {
            let store = crate::display::path(&root.local_to_host(&s.store));
            s.unprovable().into_iter().map(move |u| {
                finding(
                    "DG014",
                    Severity::Warning,
                    format!("{} store {store}: {}", s.shipper, u.why),
                    CONSEQUENCE,
                    u.fix,
                )
            })
        })
        .collect()
}
