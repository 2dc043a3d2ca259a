//! `queue.disk`: the registry then proves only "in the disk queue"; delivery also needs the
//! queue to hold no segment (`*.seg`) with unacknowledged frames. Segments are deleted once
//! the output has acknowledged all their frames, so "no `*.seg`" is the drained signal.

use std::path::Path;

use crate::cursor::{QueueSignal, QueueState};
use crate::display;
use crate::root::Root;

/// The disk queue's state, read from its directory (local path).
pub fn signal(root: &Root, dir: &Path) -> QueueSignal {
    let source = format!(
        "filebeat disk queue {}",
        display::path(&root.local_to_host(dir))
    );
    let state = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => QueueState::Empty,
        Err(e) => QueueState::Unknown {
            hint: format!("cannot list it ({e}); run drainguard as root or the filebeat user"),
        },
        Ok(entries) => {
            let (mut count, mut bytes) = (0u64, 0u64);
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "seg") {
                    count += 1;
                    bytes += e.metadata().map_or(0, |m| m.len());
                }
            }
            if count == 0 {
                QueueState::Empty
            } else {
                QueueState::owed(
                    format!(
                        "{count} segment file(s), {} not yet acknowledged by the output",
                        display::bytes(bytes)
                    ),
                    crate::cursor::Owed {
                        queued_bytes: Some(bytes),
                        queue_files: Some(count),
                        ..Default::default()
                    },
                )
            }
        }
    };
    QueueSignal { source, state }
}
