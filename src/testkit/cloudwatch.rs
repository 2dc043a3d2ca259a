//! CloudWatch agent state files as `rangeManager.save` writes them: `os.WriteFile` (truncate,
//! then write, no temp file, no rename), `<max end>\n<path>[\n<start>-<end>,...]`, named after
//! the tailed path with `/`, space and `:` replaced by `_`. Also the agent's configs.

use std::io;
use std::path::{Path, PathBuf};

/// A state file's content; `ranges` `None` gives the pre-v1.300057.0 two-line form.
pub fn state(max_end: u64, path: &str, ranges: Option<&[(u64, u64)]>) -> Vec<u8> {
    let mut s = format!("{max_end}\n{path}");
    if let Some(r) = ranges {
        let list: Vec<String> = r.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        s.push('\n');
        s.push_str(&list.join(","));
    }
    s.into_bytes()
}

/// The single-range tracker's file (`max_persist_state` 1, v1.300057.0 and later).
pub fn single(end: u64, path: &str) -> Vec<u8> {
    if end == 0 {
        state(0, path, None)
    } else {
        state(end, path, Some(&[(0, end)]))
    }
}

/// The state file of `path` in `folder`.
pub fn state_path(folder: &Path, path: &str) -> PathBuf {
    let name = crate::adapters::cloudwatch::state_file_name(path.as_bytes());
    folder.join(String::from_utf8(name).expect("test paths are UTF-8"))
}

/// Writes `content` in place, as the agent does (truncate + write, mode 0644).
pub fn write(folder: &Path, path: &str, content: &[u8]) -> io::Result<PathBuf> {
    let f = state_path(folder, path);
    std::fs::write(&f, content)?;
    Ok(f)
}

/// What a reader sees mid-write: the file truncated and only `cut` bytes written yet.
pub fn write_torn(folder: &Path, path: &str, content: &[u8], cut: usize) -> io::Result<PathBuf> {
    write(folder, path, &content[..cut.min(content.len())])
}

/// The generated TOML: `file_state_folder` and one `file_config` per (glob, publish_multi_logs).
pub fn toml(state_folder: &Path, logfile: &Path, files: &[(&str, bool)]) -> String {
    let mut s = format!(
        "[agent]\n  logfile = \"{}\"\n\n[inputs]\n\n  [[inputs.logfile]]\n    destination = \"cloudwatchlogs\"\n    file_state_folder = \"{}\"\n",
        logfile.display(),
        state_folder.display()
    );
    for (glob, multi) in files {
        s.push_str(&format!(
            "\n    [[inputs.logfile.file_config]]\n      file_path = \"{glob}\"\n      from_beginning = true\n      log_group_name = \"g\"\n      pipe = false\n      publish_multi_logs = {multi}\n"
        ));
    }
    s
}

/// The user JSON config with one `collect_list` entry per glob.
pub fn json(files: &[&str]) -> String {
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("{{\"file_path\":\"{f}\",\"log_group_name\":\"g\"}}"))
        .collect();
    format!(
        "{{\"logs\":{{\"logs_collected\":{{\"files\":{{\"collect_list\":[{}]}}}}}}}}",
        list.join(",")
    )
}
