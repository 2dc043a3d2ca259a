//! rsyslog imfile state files, named and formatted like `persistStrmState` (json-c spaced).

use std::io;
use std::path::{Path, PathBuf};

/// The state file name for a file with `ino` and its first bytes (`file id` when >= 512).
pub fn state_name(ino: u64, head: &[u8]) -> String {
    if head.len() >= 512 {
        format!(
            "imfile-state:{ino}:{}",
            crate::fingerprint::rsyslog_file_id(&head[..512])
        )
    } else {
        format!("imfile-state:{ino}")
    }
}

/// The JSON body; `segment` is a pending partial line (counted in `curr_offs`).
pub fn state_json(filename: &str, curr: u64, strt: u64, segment: Option<&str>) -> String {
    let seg = segment.map_or(String::new(), |s| {
        format!(", \"prev_line_segment\": {}", serde_json::Value::from(s))
    });
    format!(
        "{{ \"filename\": {}, \"prev_was_nl\": {}, \"curr_offs\": {curr}, \"strt_offs\": {strt}, \"inode_gen\": 0{seg} }}",
        serde_json::Value::from(filename),
        u8::from(segment.is_none())
    )
}

/// Writes a state file for `file` (read for its inode and head) into `work_dir`.
pub fn write_state(
    work_dir: &Path,
    file: &Path,
    curr: u64,
    segment: Option<&str>,
) -> io::Result<PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(file)?.ino();
    let mut head = Vec::new();
    std::fs::File::open(file)?
        .take(512)
        .read_to_end(&mut head)?;
    let out = work_dir.join(state_name(ino, &head));
    let strt = curr - segment.map_or(0, |s| s.len() as u64);
    std::fs::write(
        &out,
        state_json(&file.to_string_lossy(), curr, strt, segment),
    )?;
    Ok(out)
}
