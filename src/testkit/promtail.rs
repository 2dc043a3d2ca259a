//! Promtail `positions.yaml` and Alloy `positions.yml`, in the layout yaml.v2 writes (keys
//! sorted, values quoted decimal strings, Alloy keys as `? path/labels` complex keys).

use std::io;
use std::path::Path;

/// A Promtail positions file; `entries` are (key, value) with values written verbatim.
pub fn promtail(entries: &[(&str, &str)]) -> String {
    let mut e = entries.to_vec();
    e.sort();
    let mut s = String::from("positions:\n");
    for (k, v) in e {
        s.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    s
}

/// An Alloy positions file: (path, labels, offset) entries.
pub fn alloy(entries: &[(&str, &str, u64)]) -> String {
    let mut s = String::from("positions:\n");
    for (p, labels, off) in entries {
        s.push_str(&format!(
            "  ? path: {p}\n    labels: '{labels}'\n  : \"{off}\"\n"
        ));
    }
    s
}

/// Writes like renameio: temp file in the same directory, then rename.
pub fn write(file: &Path, text: &str) -> io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, file)
}
