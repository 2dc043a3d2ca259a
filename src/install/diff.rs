//! `--dry-run`: the plan as text, with a unified diff for every file that would change.

use std::fs;

use super::apply::{Action, Plan};
use crate::display::path as show;
use crate::root::Root;

/// The plan as text: notes first, then each action; files as unified diffs against what is
/// on disk now.
pub fn preview(root: &Root, plan: &Plan) -> String {
    let mut out = String::new();
    for n in &plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    for a in &plan.actions {
        match a {
            Action::WriteFile {
                path,
                content,
                mode,
            } => {
                let old = fs::read_to_string(root.host_to_local(path)).unwrap_or_default();
                if old == *content {
                    out.push_str(&format!("unchanged {}\n", show(path)));
                    continue;
                }
                out.push_str(&format!("write {} (mode {mode:o})\n", show(path)));
                let diff = similar::TextDiff::from_lines(&old, content);
                let (a, b) = (format!("a{}", show(path)), format!("b{}", show(path)));
                out.push_str(&diff.unified_diff().header(&a, &b).to_string());
            }
            Action::Symlink { path, target } => {
                let local = root.host_to_local(path);
                match fs::read_link(&local) {
                    Ok(t) if t == *target => {
                        out.push_str(&format!("unchanged {} -> {}\n", show(path), show(target)))
                    }
                    Ok(t) => out.push_str(&format!(
                        "relink {} -> {} (was -> {}, saved for uninstall)\n",
                        show(path),
                        show(target),
                        show(&t)
                    )),
                    Err(_) => out.push_str(&format!("link {} -> {}\n", show(path), show(target))),
                }
            }
            Action::Rename { from, to } => {
                out.push_str(&format!("move {} -> {}\n", show(from), show(to)))
            }
            Action::Remove { path } => out.push_str(&format!("remove {}\n", show(path))),
            Action::Run { argv, .. } => out.push_str(&format!("run {}\n", argv.join(" "))),
        }
    }
    out
}
