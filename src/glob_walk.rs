//! The one glob expander for paths a shipper's config names (input globs, `inputs.d`, Elastic
//! Agent run directories). A host may hold symlink loops under an input directory: two
//! self-links give 2^depth paths, and an unbounded `**` never ends. This walker is bounded:
//!
//! - `**` descends at most [`recursive_depth`] directory levels (Filebeat expands `**` to 8
//!   levels of `*`, so drainguard does the same for Filebeat; for the other shippers 32);
//! - a directory already on the current descent path (same device and inode: a symlink loop)
//!   is not entered again;
//! - a directory reached again through another alias is walked again only when it now has
//!   more depth left (so every file is found, each directory walked a bounded number of times).
//!
//! Components without wildcards are joined as they are; the others are matched per directory
//! entry with `glob::Pattern` (case-sensitive, `*` never crossing `/`, dot files matched, as
//! before). Symlinks are followed, as the shippers follow them. A file reached through several
//! aliases is listed once per alias here; callers dedupe by (device, inode).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::cursor::ShipperKind;

/// How many directory levels `**` may stand for, per shipper
/// ([`crate::adapters::ShipperInfo::glob_depth`]).
pub fn recursive_depth(shipper: ShipperKind) -> usize {
    shipper.info().glob_depth
}

/// The paths matching `pattern` (absolute or relative; `**` standing for 0 to `max_depth`
/// directory levels), in walk order. An invalid pattern gives an error naming it.
/// Directories that could not be read are left out: see [`expand_all`] for them.
pub fn expand(pattern: &str, max_depth: usize) -> Result<Vec<PathBuf>, String> {
    expand_all(pattern, max_depth).map(|e| e.paths)
}

/// What a walk found: the matching paths, and the directories it had to descend into (or
/// look in) but could not read, each said with the error and the fix. A directory that does
/// not exist, or a path component that is a file, is no error: nothing matches there.
#[derive(Debug, Default)]
pub struct Expanded {
    pub paths: Vec<PathBuf>,
    pub unreadable: Vec<String>,
}

/// [`expand`], with the directories that could not be read.
pub fn expand_all(pattern: &str, max_depth: usize) -> Result<Expanded, String> {
    let (start, rest) = match pattern.strip_prefix('/') {
        Some(rest) => (PathBuf::from("/"), rest),
        None => (PathBuf::from("."), pattern),
    };
    let comps = Comp::all(pattern, rest)?;
    let mut w = Walk::new(max_depth, false);
    let relative = pattern.strip_prefix('/').is_none();
    w.walk(&start, &comps, 0);
    if relative {
        // "./x" -> "x", as the glob crate returned them.
        for p in &mut w.out {
            if let Ok(s) = p.strip_prefix(".") {
                *p = s.to_path_buf();
            }
        }
    }
    Ok(Expanded {
        paths: w.out,
        unreadable: w.unreadable,
    })
}

/// True for the errors that mean "nothing there" (no such path; a file where the pattern
/// needs a directory).
fn nothing_there(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// Which children of a directory the walk of a pattern looked at.
#[derive(Debug, Clone)]
pub enum NameFilter {
    /// One name (a literal component).
    Name(std::ffi::OsString),
    /// The names a pattern component matches.
    Pattern(glob::Pattern),
    /// Every child (`**`).
    Any,
}

impl NameFilter {
    /// True when a change of the child `name` can change the pattern's matches.
    pub fn matches(&self, name: &std::ffi::OsStr) -> bool {
        match self {
            NameFilter::Name(n) => n == name,
            NameFilter::Pattern(p) => p.matches_with(&name.to_string_lossy(), MATCH),
            NameFilter::Any => true,
        }
    }
}

/// The existing directories the walk of an absolute `pattern` reads (lists, or looks a child
/// up in), each with the children it looks at: the pattern's matches change only when one of
/// those children is created, removed, renamed or changes type. A directory the walk would
/// look into but which does not exist is not listed: its parent (listed) looks it up.
pub fn dirs(pattern: &str, max_depth: usize) -> Result<Vec<(PathBuf, NameFilter)>, String> {
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err(format!("{pattern}: not an absolute pattern"));
    };
    let comps = Comp::all(pattern, rest)?;
    let mut w = Walk::new(max_depth, true);
    w.walk(Path::new("/"), &comps, 0);
    Ok(w.dirs.unwrap_or_default())
}

enum Comp {
    Literal(String),
    Pattern(glob::Pattern),
    Recursive,
}

impl Comp {
    /// The components of `rest` (the part of `pattern` after its root), errors naming it.
    fn all(pattern: &str, rest: &str) -> Result<Vec<Comp>, String> {
        rest.split('/')
            .filter(|c| !c.is_empty())
            .map(Comp::new)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{pattern}: {e}"))
    }

    fn new(c: &str) -> Result<Comp, String> {
        if c == "**" {
            return Ok(Comp::Recursive);
        }
        if !c.contains(['*', '?', '[']) {
            return Ok(Comp::Literal(c.to_string()));
        }
        if c.contains("**") {
            return Err("`**` must be a whole path component".into());
        }
        glob::Pattern::new(c)
            .map(Comp::Pattern)
            .map_err(|e| e.to_string())
    }
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

struct Walk {
    max_depth: usize,
    out: Vec<PathBuf>,
    /// The directories that could not be read, with the error and the fix.
    unreadable: Vec<String>,
    /// (dev, ino) of the directories `**` is inside of, outermost first.
    ancestors: Vec<(u64, u64)>,
    /// Per (dev, ino, pattern position): the most `**` depth a walk there had left.
    walked: HashMap<(u64, u64, usize), usize>,
    /// Set to collect the directories read ([`dirs`]).
    dirs: Option<Vec<(PathBuf, NameFilter)>>,
}

impl Walk {
    /// A walk to at most `max_depth` levels; with `dirs`, one that lists the directories it
    /// reads.
    fn new(max_depth: usize, dirs: bool) -> Walk {
        Walk {
            max_depth,
            out: Vec::new(),
            unreadable: Vec::new(),
            ancestors: Vec::new(),
            walked: HashMap::new(),
            dirs: dirs.then(Vec::new),
        }
    }

    /// Matches `comps` below `dir`; `used` levels of the current `**` are spent.
    fn walk(&mut self, dir: &Path, comps: &[Comp], used: usize) {
        let Some((first, rest)) = comps.split_first() else {
            match std::fs::metadata(dir) {
                Ok(_) => self.out.push(dir.to_path_buf()),
                Err(e) if nothing_there(&e) => {}
                // Cannot be looked at (its directory denies search, a link loop): it may be
                // there, unseen.
                Err(e) => self.cannot(dir.parent().unwrap_or(dir), &e),
            }
            return;
        };
        if let Some(dirs) = &mut self.dirs {
            // Nothing below a name that is not a directory matches (its parent looked it up).
            if !dir.is_dir() {
                return;
            }
            let filter = match first {
                Comp::Literal(name) => NameFilter::Name(name.into()),
                Comp::Pattern(p) => NameFilter::Pattern(p.clone()),
                Comp::Recursive => NameFilter::Any,
            };
            dirs.push((dir.to_path_buf(), filter));
        }
        match first {
            Comp::Literal(name) => self.walk(&dir.join(name), rest, 0),
            Comp::Pattern(p) => {
                for name in self.entries(dir) {
                    if p.matches_with(&name.to_string_lossy(), MATCH) {
                        self.walk(&dir.join(&name), rest, 0);
                    }
                }
            }
            Comp::Recursive => {
                let meta = match std::fs::metadata(dir) {
                    Ok(m) => m,
                    Err(e) if nothing_there(&e) => return,
                    Err(e) => return self.cannot(dir, &e),
                };
                if !meta.is_dir() {
                    return;
                }
                let id = (meta.dev(), meta.ino());
                if self.ancestors.contains(&id) {
                    return; // a symlink loop back to a directory being walked
                }
                let left = self.max_depth - used;
                let key = (id.0, id.1, comps.len());
                if self.walked.get(&key).is_some_and(|had| *had >= left) {
                    return; // reached again through another alias, with no more depth
                }
                self.walked.insert(key, left);
                // `**` as zero levels here, then one level deeper.
                self.walk(dir, rest, 0);
                if left == 0 {
                    return;
                }
                self.ancestors.push(id);
                for name in self.entries(dir) {
                    self.walk(&dir.join(&name), comps, used + 1);
                }
                self.ancestors.pop();
            }
        }
    }

    /// The entry names of `dir`, sorted; nothing when it cannot be listed (said in
    /// `unreadable` unless there is nothing there).
    fn entries(&mut self, dir: &Path) -> Vec<std::ffi::OsString> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if nothing_there(&e) => return Vec::new(),
            Err(e) => {
                self.cannot(dir, &e);
                return Vec::new();
            }
        };
        let mut v = Vec::new();
        for e in rd {
            match e {
                Ok(e) => v.push(e.file_name()),
                Err(e) => {
                    self.cannot(dir, &e);
                    break;
                }
            }
        }
        v.sort();
        v
    }

    fn cannot(&mut self, dir: &Path, e: &std::io::Error) {
        let said = format!(
            "cannot read directory {}: {e}: files the inputs name there are not seen; run \
             drainguard as root, or grant it read and search access to the directory",
            crate::display::path(dir)
        );
        if !self.unreadable.contains(&said) {
            self.unreadable.push(said);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "a.log",
            "x/b.log",
            "x/y/c.log",
            "x/y/z/d.txt",
            ".hidden.log",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "1\n").unwrap();
        }
        d
    }

    fn names(base: &Path, v: Vec<PathBuf>) -> Vec<String> {
        let mut v: Vec<String> = v
            .iter()
            .map(|p| p.strip_prefix(base).unwrap().display().to_string())
            .collect();
        v.sort();
        v
    }

    /// The directories read, with the children looked at: every existing directory on the
    /// way, none that does not exist (its parent looks it up).
    #[test]
    fn dirs_are_the_directories_the_walk_reads() {
        let d = tree();
        let b = d.path().display().to_string();
        let got = dirs(&format!("{b}/x/**/*.log"), 8).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|(p, f)| {
                let rel = p.strip_prefix(d.path()).map(|r| r.display().to_string());
                format!("{}:{f:?}", rel.unwrap_or_else(|_| p.display().to_string()))
            })
            .collect();
        assert!(names.contains(&"x:Any".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("x/y/z:")), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("x/y:Pattern")),
            "{names:?}"
        );
        // Every ancestor looks up the next name.
        let (root, f) = &got[0];
        assert_eq!(root, Path::new("/"));
        assert!(matches!(f, NameFilter::Name(_)));
        // A missing directory: its parent, not it.
        let got = dirs(&format!("{b}/missing/sub/*.log"), 8).unwrap();
        let (last, f) = got.last().unwrap();
        assert_eq!(last, d.path());
        assert!(f.matches(std::ffi::OsStr::new("missing")));
        assert!(!f.matches(std::ffi::OsStr::new("other")));
    }

    #[test]
    fn literal_star_and_recursive_components() {
        let d = tree();
        let b = d.path().display().to_string();
        assert_eq!(
            names(d.path(), expand(&format!("{b}/*.log"), 8).unwrap()),
            [".hidden.log", "a.log"]
        );
        assert_eq!(
            names(d.path(), expand(&format!("{b}/**/*.log"), 8).unwrap()),
            [".hidden.log", "a.log", "x/b.log", "x/y/c.log"]
        );
        assert_eq!(
            names(d.path(), expand(&format!("{b}/**/*.log"), 1).unwrap()),
            [".hidden.log", "a.log", "x/b.log"],
            "** is at most 1 level here"
        );
        assert_eq!(
            names(d.path(), expand(&format!("{b}/x/y/c.log"), 8).unwrap()),
            ["x/y/c.log"]
        );
        assert!(expand(&format!("{b}/x/nope.log"), 8).unwrap().is_empty());
        assert!(expand(&format!("{b}/a**/x"), 8).is_err());
    }

    #[test]
    fn self_links_end_and_each_file_is_found() {
        let d = tree();
        symlink(d.path(), d.path().join("x/loop1")).unwrap();
        symlink(d.path(), d.path().join("x/loop2")).unwrap();
        symlink("..", d.path().join("x/y/up")).unwrap();
        let b = d.path().display().to_string();
        let got = names(d.path(), expand(&format!("{b}/**/*.log"), 32).unwrap());
        assert_eq!(got, [".hidden.log", "a.log", "x/b.log", "x/y/c.log"]);
    }

    #[test]
    fn a_dag_of_aliases_is_walked_a_bounded_number_of_times() {
        // Each level links twice to the next: 2^20 paths to d/l20 without the alias rule.
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            let dir = d.path().join(format!("l{i}"));
            std::fs::create_dir(&dir).unwrap();
            let next = d.path().join(format!("l{}", i + 1));
            symlink(&next, dir.join("a")).unwrap();
            symlink(&next, dir.join("b")).unwrap();
        }
        std::fs::create_dir(d.path().join("l20")).unwrap();
        std::fs::write(d.path().join("l20/end.log"), "x\n").unwrap();
        let b = d.path().display().to_string();
        let got = expand(&format!("{b}/l0/**/*.log"), 32).unwrap();
        assert!(!got.is_empty() && got.len() < 64, "{} paths", got.len());
    }

    #[test]
    fn a_directory_that_cannot_be_read_is_said_and_a_missing_one_is_not() {
        let d = tree();
        // A link loop: the directory the pattern descends into cannot be read (ELOOP; as
        // root, a mode-000 directory would still be read).
        symlink(d.path().join("loop"), d.path().join("loop")).unwrap();
        let b = d.path().display().to_string();
        for pattern in ["loop/*.log", "loop/a.log", "**/*.log", "*/a.log"] {
            let e = expand_all(&format!("{b}/{pattern}"), 8).unwrap();
            assert!(
                e.unreadable
                    .iter()
                    .any(|u| u.contains("loop") && u.contains("run drainguard as root")),
                "{pattern}: {:?}",
                e.unreadable
            );
        }
        // Missing directories, and files where a directory is needed: nothing there.
        let d = tree();
        let b = d.path().display().to_string();
        for pattern in [
            "nope/*.log",
            "nope/a.log",
            "a.log/*.log",
            "a.log/x",
            "*/nope/*.log",
        ] {
            let e = expand_all(&format!("{b}/{pattern}"), 8).unwrap();
            assert!(e.unreadable.is_empty(), "{pattern}: {:?}", e.unreadable);
        }
    }
}
