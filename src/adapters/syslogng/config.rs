//! The syslog-ng configuration: `source { file(...); wildcard-file(...); }`, `destination`,
//! `log { ... flags(flow-control); }`, `options { stats-level(..); }` and `@include`.
//!
//! The grammar is read as a tree of words, strings, `( )` and `{ }` groups (comments and
//! `@` pragmas dropped); the statements drainguard needs are picked from it. Nesting and
//! includes are bounded ([`safe_read::MAX_NESTING`], [`MAX_INCLUDE_DEPTH`],
//! [`MAX_INCLUDED_FILES`]); every file is read through [`safe_read`].

use std::path::{Path, PathBuf};

use crate::error::{Position, StoreError};
use crate::root::Root;
use crate::safe_read::{self, Limit};

/// How deep `@include`s may nest (syslog-ng's own limit is 32).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// The most files one configuration may include.
pub const MAX_INCLUDED_FILES: usize = 512;

/// A `file()` or `wildcard-file()` driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    /// The `source` statement holding it (`None`: inline in a log path).
    pub source: Option<String>,
    /// `file()`: the path; `wildcard-file()`: `base-dir/filename-pattern` as a glob.
    pub glob: String,
    pub wildcard: bool,
    pub recursive: bool,
    pub persist_name: Option<String>,
}

/// A `destination` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    /// It has a `disk-buffer()`.
    pub disk_buffer: bool,
    /// Some driver sends off the host (anything but `file`, `pipe`, `usertty`).
    pub forwards: bool,
}

/// A `log` statement (nested ones folded into their own entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPath {
    pub sources: Vec<String>,
    /// Inline `source { file(...) }` blocks of this path (indices into `files`).
    pub inline_files: Vec<usize>,
    pub destinations: Vec<String>,
    pub flow_control: bool,
}

/// What the syslog-ng configuration tells drainguard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyslogNgConf {
    pub files: Vec<FileSource>,
    pub destinations: Vec<Destination>,
    pub log_paths: Vec<LogPath>,
    pub stats_level: Option<u32>,
    /// `@define name "value"` pragmas, in order (the last of a name wins).
    pub defines: Vec<(String, String)>,
    /// Includes not followed and other things worth saying.
    pub notes: Vec<String>,
}

impl SyslogNgConf {
    /// The log paths that carry a file source's messages.
    pub fn file_paths(&self) -> impl Iterator<Item = &LogPath> {
        let named: Vec<&str> = self
            .files
            .iter()
            .filter_map(|f| f.source.as_deref())
            .collect();
        self.log_paths.iter().filter(move |l| {
            !l.inline_files.is_empty() || l.sources.iter().any(|s| named.contains(&s.as_str()))
        })
    }

    /// True when every log path of a file source has `flags(flow-control)`: its acked offsets
    /// then wait for the destination's write (or a reliable disk buffer).
    pub fn flow_controlled(&self) -> bool {
        let mut any = false;
        for l in self.file_paths() {
            if !l.flow_control {
                return false;
            }
            any = true;
        }
        any
    }

    /// The destinations of file sources' log paths, by name.
    pub fn file_destinations(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .file_paths()
            .flat_map(|l| l.destinations.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// True when a destination of a file source buffers on disk.
    pub fn disk_buffered(&self) -> bool {
        let used = self.file_destinations();
        self.destinations
            .iter()
            .any(|d| d.disk_buffer && used.contains(&d.name))
    }

    /// True when some destination sends off the host.
    pub fn forwards(&self) -> bool {
        self.destinations.iter().any(|d| d.forwards)
    }

    /// Substitutes the `@define`d `` `name` `` references in the file sources' paths, as
    /// syslog-ng does; a reference left (an environment variable, an undefined name) stays,
    /// and [`Self::unexpanded`] says so.
    ///
    /// A value may name other defines (expanded in turn, at most [`MAX_DEFINE_DEPTH`] deep);
    /// a path whose expansion would pass [`MAX_EXPANDED`] bytes (defines that double each
    /// other) is left as written, so it stays unexpanded rather than growing without bound.
    pub fn expand(&mut self) {
        for f in &mut self.files {
            let mut out = String::new();
            if expand_refs(&f.glob, &self.defines, 0, &mut out) {
                f.glob = out;
            }
        }
    }

    /// The file sources whose path still holds a `` `name` `` reference drainguard cannot
    /// expand (an environment variable, or a name defined nowhere it read).
    pub fn unexpanded(&self) -> Vec<&FileSource> {
        self.files.iter().filter(|f| f.glob.contains('`')).collect()
    }
}

/// The longest path an expansion may produce (Linux's `PATH_MAX`).
pub const MAX_EXPANDED: usize = 4096;
/// How deep defines may name other defines.
pub const MAX_DEFINE_DEPTH: usize = 8;

/// Appends `text` to `out` with its `` `name` `` references replaced by their `@define`d
/// values (the last define of a name wins); an undefined name, an empty one or one nested
/// too deep stays as written. False when `out` would pass [`MAX_EXPANDED`] bytes.
fn expand_refs(text: &str, defines: &[(String, String)], depth: usize, out: &mut String) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        let value = (!name.is_empty() && depth < MAX_DEFINE_DEPTH)
            .then(|| defines.iter().rev().find(|(n, _)| n == name))
            .flatten();
        match value {
            Some((_, v)) => {
                if !expand_refs(v, defines, depth + 1, out) {
                    return false;
                }
            }
            None => out.push_str(&rest[open..open + close + 2]),
        }
        if out.len() > MAX_EXPANDED {
            return false;
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.len() <= MAX_EXPANDED
}

/// One element of the configuration's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum El {
    Word(String),
    Str(String),
    Paren(Vec<El>),
    Block(Vec<El>),
    Semi,
}

/// A syntax error: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u64,
    pub byte: u64,
    pub what: String,
}

/// What one config text holds: its tree, the `@include` targets and `@define`s it names.
type Parsed = (Vec<El>, Vec<String>, Vec<(String, String)>);

/// Parses one config text into its tree, with the `@include` targets and `@define`s.
fn tree(text: &str) -> Result<Parsed, SyntaxError> {
    let b = text.as_bytes();
    let mut includes = Vec::new();
    let mut defines = Vec::new();
    let mut stack: Vec<(u8, Vec<El>, u64, usize)> = vec![(0, Vec::new(), 1, 0)];
    let mut line = 1u64;
    let mut i = 0usize;
    let mut line_start = true;
    let err = |line: u64, at: usize, what: String| SyntaxError {
        line,
        byte: at as u64,
        what,
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'@' && line_start {
            // A pragma: `@version: x`, `@include "file"`, `@define n "v"`: one line.
            let end = b[i..]
                .iter()
                .position(|&x| x == b'\n')
                .map_or(b.len(), |e| i + e);
            let l = &text[i..end];
            if let Some(rest) = l.strip_prefix("@include") {
                let rest = rest.trim();
                let target = rest
                    .strip_prefix('"')
                    .and_then(|r| r.split_once('"'))
                    .map(|(t, _)| t)
                    .or_else(|| {
                        rest.strip_prefix('\'')
                            .and_then(|r| r.split_once('\''))
                            .map(|(t, _)| t)
                    });
                if let Some(t) = target {
                    includes.push(t.to_string());
                }
            }
            if let Some(rest) = l.strip_prefix("@define") {
                let rest = rest.trim();
                if let Some((name, value)) = rest.split_once(char::is_whitespace) {
                    let v = value.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|x| x.strip_suffix('"'))
                        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                        .unwrap_or(v);
                    defines.push((name.to_string(), v.to_string()));
                }
            }
            i = end;
            continue;
        }
        line_start = false;
        let top = &mut stack.last_mut().expect("the stack keeps its root").1;
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let start_line = line;
                let mut s = Vec::new();
                i += 1;
                loop {
                    let Some(&x) = b.get(i) else {
                        return Err(err(start_line, i, "unterminated string".into()));
                    };
                    i += 1;
                    if x == c {
                        break;
                    }
                    if x == b'\n' {
                        line += 1;
                    }
                    if x == b'\\' && c == b'"' {
                        if let Some(&y) = b.get(i) {
                            i += 1;
                            s.push(match y {
                                b'n' => b'\n',
                                b't' => b'\t',
                                other => other,
                            });
                            continue;
                        }
                    }
                    s.push(x);
                }
                top.push(El::Str(String::from_utf8_lossy(&s).into_owned()));
                continue;
            }
            b'(' | b'{' => {
                if stack.len() > safe_read::MAX_NESTING {
                    return Err(err(
                        line,
                        i,
                        format!("nested deeper than {} levels", safe_read::MAX_NESTING),
                    ));
                }
                stack.push((c, Vec::new(), line, i));
            }
            b')' | b'}' => {
                let want = if c == b')' { b'(' } else { b'{' };
                let (open, items, _, _) = stack.pop().expect("the stack keeps its root");
                if open != want {
                    return Err(err(line, i, format!("unexpected '{}'", c as char)));
                }
                let el = if c == b')' {
                    El::Paren(items)
                } else {
                    El::Block(items)
                };
                stack
                    .last_mut()
                    .expect("the stack keeps its root")
                    .1
                    .push(el);
            }
            b';' | b',' => {
                if c == b';' {
                    top.push(El::Semi);
                }
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"(){};,\"'#".contains(&b[i]) {
                    i += 1;
                }
                top.push(El::Word(text[start..i].to_string()));
                continue;
            }
        }
        i += 1;
    }
    if stack.len() > 1 {
        let (open, _, l, at) = stack.pop().expect("checked");
        return Err(err(l, at, format!("'{}' is never closed", open as char)));
    }
    Ok((
        stack.pop().map(|s| s.1).unwrap_or_default(),
        includes,
        defines,
    ))
}

/// syslog-ng treats `-` and `_` alike in keywords.
fn kw(w: &str) -> String {
    w.replace('_', "-").to_ascii_lowercase()
}

/// The first string or word of a `( )` group.
fn first_value(args: &[El]) -> Option<String> {
    args.iter().find_map(|e| match e {
        El::Str(s) | El::Word(s) => Some(s.clone()),
        _ => None,
    })
}

/// The value of option `name(...)` inside `args`.
fn option(args: &[El], name: &str) -> Option<String> {
    args.windows(2).find_map(|w| match w {
        [El::Word(k), El::Paren(v)] if kw(k) == name => first_value(v),
        _ => None,
    })
}

fn yes(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "1" | "on" | "true"))
}

/// Whether `els` (any depth) holds the word `name`.
fn mentions(els: &[El], name: &str) -> bool {
    els.iter().any(|e| match e {
        El::Word(w) => kw(w) == name,
        El::Paren(v) | El::Block(v) => mentions(v, name),
        _ => false,
    })
}

/// The file drivers of a source block.
fn file_drivers(block: &[El], source: Option<&str>, out: &mut Vec<FileSource>) -> Vec<usize> {
    let mut found = Vec::new();
    for w in block.windows(2) {
        let [El::Word(d), El::Paren(args)] = w else {
            continue;
        };
        let driver = kw(d);
        let persist_name = option(args, "persist-name");
        let fs = match driver.as_str() {
            "file" => {
                let Some(path) = args.iter().find_map(|e| match e {
                    El::Str(s) => Some(s.clone()),
                    _ => None,
                }) else {
                    continue;
                };
                FileSource {
                    source: source.map(str::to_string),
                    glob: path,
                    wildcard: false,
                    recursive: false,
                    persist_name,
                }
            }
            "wildcard-file" => {
                let Some(dir) = option(args, "base-dir") else {
                    continue;
                };
                let pattern = option(args, "filename-pattern").unwrap_or_else(|| "*".into());
                FileSource {
                    source: source.map(str::to_string),
                    glob: format!("{}/{pattern}", dir.trim_end_matches('/')),
                    wildcard: true,
                    recursive: yes(option(args, "recursive")),
                    persist_name,
                }
            }
            _ => continue,
        };
        found.push(out.len());
        out.push(fs);
    }
    found
}

/// Drivers that write on this host only.
const LOCAL_DRIVERS: [&str; 3] = ["file", "pipe", "usertty"];

fn destination(name: &str, block: &[El]) -> Destination {
    let forwards = block.windows(2).any(|w| match w {
        [El::Word(d), El::Paren(_)] => !LOCAL_DRIVERS.contains(&kw(d).as_str()),
        _ => false,
    });
    Destination {
        name: name.to_string(),
        disk_buffer: mentions(block, "disk-buffer"),
        forwards,
    }
}

/// One `log { }` block (and its nested ones), `inherited`: an enclosing path's flow-control.
fn log_path(block: &[El], inherited: bool, conf: &mut SyslogNgConf) {
    let flow_control = inherited
        || block.windows(2).any(|w| match w {
            [El::Word(f), El::Paren(v)] if kw(f) == "flags" => mentions(v, "flow-control"),
            _ => false,
        });
    let mut path = LogPath {
        flow_control,
        ..Default::default()
    };
    let mut nested = Vec::new();
    for w in block.windows(2) {
        match w {
            [El::Word(k), El::Paren(v)] if kw(k) == "source" => {
                path.sources.extend(first_value(v));
            }
            [El::Word(k), El::Paren(v)] if kw(k) == "destination" => {
                path.destinations.extend(first_value(v));
            }
            [El::Word(k), El::Block(b)] if kw(k) == "source" => {
                let idx = file_drivers(b, None, &mut conf.files);
                path.inline_files.extend(idx);
            }
            [El::Word(k), El::Block(b)] if kw(k) == "destination" => {
                // syslog-ng's own name for it is `#anon-destinationN` in the order it
                // initialises them; the counters are matched without relying on N.
                let n = conf
                    .destinations
                    .iter()
                    .filter(|d| d.name.starts_with('#'))
                    .count();
                let name = format!("#anon-destination{n}");
                path.destinations.push(name.clone());
                conf.destinations.push(destination(&name, b));
            }
            [El::Word(k), El::Block(b)]
                if matches!(kw(k).as_str(), "log" | "junction" | "channel") =>
            {
                nested.push(b.clone());
            }
            _ => {}
        }
    }
    conf.log_paths.push(path);
    for b in nested {
        log_path(&b, flow_control, conf);
    }
}

/// Reads the statements of one config's tree into `conf`.
fn statements(els: &[El], conf: &mut SyslogNgConf) {
    let mut i = 0;
    while i < els.len() {
        match (&els[i], els.get(i + 1), els.get(i + 2)) {
            (El::Word(k), Some(El::Word(name)), Some(El::Block(b))) if kw(k) == "source" => {
                file_drivers(b, Some(name), &mut conf.files);
                i += 3;
            }
            (El::Word(k), Some(El::Word(name)), Some(El::Block(b))) if kw(k) == "destination" => {
                conf.destinations.push(destination(name, b));
                i += 3;
            }
            (El::Word(k), Some(El::Block(b)), _) if kw(k) == "log" => {
                log_path(b, false, conf);
                i += 2;
            }
            (El::Word(k), Some(El::Block(b)), _) if kw(k) == "options" => {
                if let Some(l) = option(b, "stats-level").or_else(|| {
                    // 4.x: `stats(level(1))`.
                    b.windows(2).find_map(|w| match w {
                        [El::Word(s), El::Paren(v)] if kw(s) == "stats" => option(v, "level"),
                        _ => None,
                    })
                }) {
                    conf.stats_level = l.parse().ok();
                }
                i += 2;
            }
            // `block source name() { ... }` definitions are templates, not sources.
            (El::Word(k), _, _) if kw(k) == "block" => {
                i += 1;
                while i < els.len() && !matches!(els[i], El::Block(_)) {
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// Parses one config text (includes not followed: see [`load`]).
pub fn parse(text: &str) -> Result<SyslogNgConf, SyntaxError> {
    let (els, _, defines) = tree(text)?;
    let mut conf = SyslogNgConf {
        defines,
        ..Default::default()
    };
    statements(&els, &mut conf);
    conf.expand();
    Ok(conf)
}

/// The include path of Debian's and the upstream build's syslog-ng.
const INCLUDE_DIRS: [&str; 2] = ["/etc/syslog-ng", "/usr/share/syslog-ng/include"];

/// Reads the config at host path `path` and everything it includes (in order, as syslog-ng
/// does); missing includes are noted, never guessed.
pub fn load(root: &Root, path: &Path) -> Result<SyslogNgConf, StoreError> {
    let mut conf = SyslogNgConf::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    load_into(root, path, 0, &mut seen, &mut conf)?;
    conf.expand();
    Ok(conf)
}

fn load_into(
    root: &Root,
    path: &Path,
    depth: usize,
    seen: &mut Vec<PathBuf>,
    conf: &mut SyslogNgConf,
) -> Result<(), StoreError> {
    let local = root.host_to_local(path);
    if seen.contains(&local) {
        conf.notes.push(format!(
            "{} is included twice (an include loop?): read once",
            path.display()
        ));
        return Ok(());
    }
    if seen.len() >= MAX_INCLUDED_FILES {
        return Err(StoreError::corrupt(
            &local,
            Position::default(),
            format!("more than {MAX_INCLUDED_FILES} included files: not a real syslog-ng config"),
        ));
    }
    seen.push(local.clone());
    let text = safe_read::read_text(&local, Limit::CONFIG)?;
    let (els, includes, defines) = tree(&text).map_err(|e| {
        StoreError::corrupt(
            &local,
            Position {
                line: Some(e.line),
                byte: Some(e.byte),
            },
            e.what,
        )
    })?;
    conf.defines.extend(defines);
    // Includes first, in order: syslog-ng reads them where they stand, and the statements
    // drainguard needs do not depend on their order.
    for inc in includes {
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(StoreError::corrupt(
                &local,
                Position::default(),
                format!("@include nested deeper than {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
        // The SCL: block definitions only, no source of its own.
        if inc == "scl.conf" || inc.starts_with("scl/") {
            continue;
        }
        let targets = resolve(root, path, &inc);
        if targets.is_empty() && !inc.contains('*') && !inc.contains('?') {
            conf.notes.push(format!(
                "{}: @include \"{inc}\" found nothing",
                path.display()
            ));
        }
        for t in targets {
            load_into(root, &t, depth + 1, seen, conf)?;
        }
    }
    statements(&els, conf);
    Ok(())
}

/// The host paths `@include "inc"` of the config at `from` names: a file, every file of a
/// directory, or a glob; relative ones in the config's directory, then the include path.
fn resolve(root: &Root, from: &Path, inc: &str) -> Vec<PathBuf> {
    let bases: Vec<PathBuf> = if Path::new(inc).is_absolute() {
        vec![PathBuf::from(inc)]
    } else {
        from.parent()
            .into_iter()
            .map(Path::to_path_buf)
            .chain(INCLUDE_DIRS.iter().map(PathBuf::from))
            .map(|d| d.join(inc))
            .collect()
    };
    for host in bases {
        let local = root.host_to_local(&host);
        let mut found: Vec<PathBuf> = if inc.contains('*') || inc.contains('?') {
            glob::glob(&local.to_string_lossy())
                .map(|g| g.filter_map(Result::ok).collect())
                .unwrap_or_default()
        } else if local.is_dir() {
            std::fs::read_dir(&local)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name().is_some_and(|n| {
                                let n = n.to_string_lossy();
                                !n.starts_with('.') && !n.ends_with('~')
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else if std::fs::symlink_metadata(&local).is_ok() {
            vec![local]
        } else {
            Vec::new()
        };
        // Directories are not read; anything else is, so that a FIFO or device is refused
        // with its name rather than skipped (its sources would go unseen).
        found.retain(|p| !p.is_dir());
        if !found.is_empty() {
            found.sort();
            return found.iter().map(|p| root.local_to_host(p)).collect();
        }
    }
    Vec::new()
}
