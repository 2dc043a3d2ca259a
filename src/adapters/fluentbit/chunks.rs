//! Filesystem-buffered chunks (`storage.path`): what Fluent Bit still holds on disk.

use std::path::{Path, PathBuf};

use crate::cursor::{QueueSignal, QueueState};

/// Pending while the input's chunk directory `<storage>/<instance>/` holds `*.flb` files
/// (`instance` `None`: every `tail.*` directory): Fluent Bit deletes a chunk once every
/// output it is routed to has flushed it. Listed read-only, never opened. Fluent Bit creates
/// the input's directory when the input starts, so a `storage.path` without it means the
/// instance number is not the one Fluent Bit uses: unknown, never "empty".
pub fn chunk_signal(storage: &Path, instance: Option<&str>, host_storage: &Path) -> QueueSignal {
    let shown = match instance {
        Some(i) => host_storage.join(i),
        None => host_storage.join("tail.*"),
    };
    let source = format!("fluent-bit chunks {}", shown.display());
    let unreadable = |dir: &Path, e: std::io::Error| QueueState::Unknown {
        hint: format!("cannot list {}: {e}; run drainguard as root", dir.display()),
    };
    let dirs: Result<Vec<PathBuf>, QueueState> = match std::fs::read_dir(storage) {
        // Fluent Bit has never buffered anything on disk here.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(unreadable(storage, e)),
        Ok(rd) => match instance {
            Some(i) if storage.join(i).is_dir() => Ok(vec![storage.join(i)]),
            Some(i) => Err(QueueState::Unknown {
                hint: format!(
                    "{} has no {i}/ although Fluent Bit creates it when the input starts: the \
                     input is numbered differently (inputs from an include or another config?); \
                     point --config at the config Fluent Bit runs",
                    host_storage.display()
                ),
            }),
            None => Ok(rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().as_encoded_bytes().starts_with(b"tail."))
                .map(|e| e.path())
                .collect()),
        },
    };
    let state = match dirs {
        Err(state) => state,
        Ok(dirs) => {
            let mut total = (0, 0);
            let mut failed = None;
            for dir in dirs {
                match std::fs::read_dir(&dir) {
                    Ok(rd) => {
                        let (n, b) = flb_files(rd);
                        total = (total.0 + n, total.1 + b);
                    }
                    Err(e) => failed = Some(unreadable(&dir, e)),
                }
            }
            match (failed, total) {
                (Some(f), _) => f,
                (None, (0, _)) => QueueState::Empty,
                (None, (n, bytes)) => QueueState::owed(
                    format!(
                        "{n} chunk file(s), {} not yet flushed",
                        crate::display::bytes(bytes)
                    ),
                    crate::cursor::Owed {
                        queued_bytes: Some(bytes),
                        queue_files: Some(n as u64),
                        ..Default::default()
                    },
                ),
            }
        }
    };
    QueueSignal { source, state }
}

/// `storage.keep.rejected`: chunks the outputs refused are copied here; they were not
/// delivered, whatever the queue says.
pub(super) fn rejected_note(dir: &Path) -> Option<String> {
    let (n, bytes) = flb_files(std::fs::read_dir(dir).ok()?);
    (n > 0).then(|| {
        format!(
            "{} holds {n} rejected chunk file(s) ({bytes} bytes): outputs refused them, they were not delivered",
            dir.display()
        )
    })
}

fn flb_files(rd: std::fs::ReadDir) -> (usize, u64) {
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().as_encoded_bytes().ends_with(b".flb"))
        .fold((0, 0), |(n, b), e| {
            (n + 1, b + e.metadata().map(|m| m.len()).unwrap_or(0))
        })
}
