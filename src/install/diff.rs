//! `--dry-run`: the plan as text, with a unified diff for every file that would change, and
//! every other path install would write: directories it would create, originals it would
//! save, the manifest. Paths are resolved as `apply` resolves them ([`Beneath`]), so a dry run
//! fails where the install would (a linked directory, a tampered manifest).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::apply::{Action, ApplyError, Plan};
use super::beneath::Beneath;
use super::manifest::{Manifest, CHECKSUM, MANIFEST};
use crate::display::path as show;
use crate::root::Root;

/// The largest file shown in a diff (ours are far smaller).
const DIFF_LIMIT: u64 = 1 << 20;

struct Preview<'a> {
    b: &'a Beneath,
    m: Manifest,
    out: String,
    /// Directories already announced.
    made: BTreeSet<PathBuf>,
}

impl Preview<'_> {
    fn line(&mut self, s: String) {
        self.out.push_str(&s);
        self.out.push('\n');
    }

    fn parents(&mut self, host: &Path) -> Result<(), ApplyError> {
        for d in self.b.missing_parents(host)? {
            if self.made.insert(d.clone()) {
                self.line(format!("create directory {}", show(&d)));
            }
        }
        Ok(())
    }

    /// An existing `path` install does not own: announces where it is saved.
    fn save(&mut self, path: &Path) -> Result<(), ApplyError> {
        if self.b.meta(path)?.is_some() && !self.m.owns(path) {
            let backup = Manifest::backup_path(path);
            self.parents(&backup)?;
            self.line(format!(
                "save {} to {} (restored by uninstall)",
                show(path),
                show(&backup)
            ));
        }
        Ok(())
    }
}

/// The plan as text: notes first, then each action; files as unified diffs against what is
/// on disk now.
pub fn preview(root: &Root, plan: &Plan) -> Result<String, ApplyError> {
    let b = Beneath::open(root)?;
    let shown_root = root
        .dir()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut p = Preview {
        m: Manifest::load(&b, &shown_root)?,
        b: &b,
        out: String::new(),
        made: BTreeSet::new(),
    };
    for n in &plan.notes {
        p.line(format!("note: {n}"));
    }
    for a in &plan.actions {
        match a {
            Action::WriteFile {
                path,
                content,
                mode,
            } => {
                let old = match b.read(path, DIFF_LIMIT) {
                    Ok(Some((c, meta))) => {
                        Some((String::from_utf8_lossy(&c).into_owned(), meta.mode))
                    }
                    Ok(None) => None,
                    // A link, FIFO or huge file there is replaced, not read.
                    Err(super::beneath::BeneathError::NotRegular { .. })
                    | Err(super::beneath::BeneathError::TooLarge { .. }) => {
                        Some((String::new(), 0))
                    }
                    Err(e) => return Err(e.into()),
                };
                if old.as_ref().is_some_and(|(c, m)| c == content && m == mode) {
                    p.line(format!("unchanged {}", show(path)));
                    continue;
                }
                p.parents(path)?;
                p.save(path)?;
                p.line(format!("write {} (mode {mode:o})", show(path)));
                let old = old.map(|(c, _)| c).unwrap_or_default();
                let diff = similar::TextDiff::from_lines(&old, content);
                let (a, bb) = (format!("a{}", show(path)), format!("b{}", show(path)));
                p.out
                    .push_str(&diff.unified_diff().header(&a, &bb).to_string());
            }
            Action::Symlink { path, target } => match b.read_link(path)? {
                Some(t) if t == *target => {
                    p.line(format!("unchanged {} -> {}", show(path), show(target)))
                }
                Some(t) => {
                    p.save(path)?;
                    p.line(format!(
                        "relink {} -> {} (was -> {})",
                        show(path),
                        show(target),
                        show(&t)
                    ))
                }
                None => {
                    p.parents(path)?;
                    p.save(path)?;
                    p.line(format!("link {} -> {}", show(path), show(target)))
                }
            },
            Action::Rename { from, to } => {
                if b.meta(from)?.is_some() {
                    p.line(format!("move {} -> {}", show(from), show(to)))
                }
            }
            Action::Remove { path } => {
                if b.meta(path)?.is_some() {
                    if !p.m.owns(path) {
                        p.save(path)?;
                    }
                    p.line(format!("remove {}", show(path)))
                }
            }
            Action::Run { argv, .. } => p.line(format!("run {}", argv.join(" "))),
        }
    }
    p.parents(Path::new(MANIFEST))?;
    p.line(format!(
        "record {} and {}",
        show(Path::new(MANIFEST)),
        show(Path::new(CHECKSUM))
    ));
    Ok(p.out)
}
