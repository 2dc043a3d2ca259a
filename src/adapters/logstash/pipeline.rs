//! The `file {}` inputs of Logstash pipeline configs: which files each tails and where it keeps
//! its sincedb.
//!
//! Only blocks inside `input {}` count (`output { file { path => .. } }` is a file Logstash
//! writes). Comments (`#` to the end of the line) and quoted strings are honoured while the
//! braces are matched.

use md5::{Digest, Md5};

/// One `file {}` block of an `input {}` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInput {
    /// `path`: globs, as written (their order names the default sincedb).
    pub paths: Vec<String>,
    /// `exclude`: file name patterns, matched against the base name.
    pub exclude: Vec<String>,
    /// `sincedb_path`, when set.
    pub sincedb_path: Option<String>,
}

impl FileInput {
    /// The sincedb file name the input uses without `sincedb_path`: `.sincedb_` and the MD5
    /// of its paths joined by `,` (logstash-input-file `build_random_sincedb_filename`), in
    /// `<path.data>/plugins/inputs/file/`.
    pub fn default_sincedb_name(&self) -> String {
        format!(
            ".sincedb_{}",
            hex::encode(Md5::digest(self.paths.join(",").as_bytes()))
        )
    }

    /// The exclusions as globs over the full path (Logstash matches the base name).
    pub fn exclude_globs(&self) -> Vec<String> {
        self.exclude.iter().map(|e| format!("*/{e}")).collect()
    }
}

/// Every `file {}` input of a pipeline config, in order.
pub fn file_inputs(text: &str) -> Vec<FileInput> {
    let text = strip_comments(text);
    blocks(&text)
        .into_iter()
        .filter(|(name, _)| *name == "input")
        .flat_map(|(_, body)| blocks(body))
        .filter(|(name, _)| *name == "file")
        .map(|(_, body)| settings(body))
        .collect()
}

/// `path`, `exclude` and `sincedb_path` of a plugin block's body (its own settings only:
/// nested blocks such as a codec's are skipped).
fn settings(body: &str) -> FileInput {
    let mut input = FileInput::default();
    let mut rest = body;
    while let Some(i) = rest.find("=>") {
        let key = rest[..i]
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '{' || c == '}')
            .next()
            .unwrap_or("");
        let value = rest[i + 2..].trim_start();
        let (values, used) = if let Some(list) = value.strip_prefix('[') {
            let end = matching(list, '[', ']').unwrap_or(list.len());
            (quoted(&list[..end]), end + 1)
        } else if value.starts_with('"') || value.starts_with('\'') {
            let q = quoted(value);
            let len = q.first().map_or(0, |v| v.len() + 2);
            (q.into_iter().take(1).collect(), len)
        } else {
            // A bareword, a number, or a nested block (`codec => multiline { .. }`).
            let end = value
                .find(|c: char| c.is_whitespace() || c == '{')
                .unwrap_or(value.len());
            let after = &value[end..];
            let skip = match after.trim_start().strip_prefix('{') {
                Some(inner) => {
                    after.len() - inner.len()
                        + matching(inner, '{', '}').map_or(inner.len(), |e| e + 1)
                }
                None => 0,
            };
            (vec![value[..end].to_string()], end + skip)
        };
        match key {
            "path" => input.paths.extend(values),
            "exclude" => input.exclude.extend(values),
            "sincedb_path" => input.sincedb_path = values.into_iter().next(),
            _ => {}
        }
        let consumed = i + 2 + (rest.len() - i - 2 - value.len()) + used.min(value.len());
        rest = &rest[consumed.min(rest.len())..];
    }
    input
}

/// The quoted strings of `s`, in order.
fn quoted(s: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '"' || c == '\'' {
            v.push(it.by_ref().take_while(|x| *x != c).collect());
        }
    }
    v
}

/// `name { body }` blocks at the top level of `text`.
fn blocks(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = find_outside_quotes(rest, '{') {
        let name = rest[..open]
            .trim_end()
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .next()
            .unwrap_or("");
        let inner = &rest[open + 1..];
        let Some(close) = matching(inner, '{', '}') else {
            break;
        };
        out.push((name, &inner[..close]));
        rest = &inner[close + 1..];
    }
    out
}

/// The index in `s` of the bracket that closes an already opened one, skipping quoted text.
fn matching(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    outside_quotes(s, |c| {
        if c == open {
            depth += 1;
        } else if c == close {
            if depth == 0 {
                return true;
            }
            depth -= 1;
        }
        false
    })
}

fn find_outside_quotes(s: &str, target: char) -> Option<usize> {
    outside_quotes(s, |c| c == target)
}

/// The index of the first character outside quoted strings for which `hit` is true (`hit`
/// sees every such character in order).
fn outside_quotes(s: &str, mut hit: impl FnMut(char) -> bool) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if hit(c) => return Some(i),
            None => {}
        }
    }
    None
}

/// The text without `#` comments (a `#` inside a quoted string is kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let cut = find_outside_quotes(line, '#').unwrap_or(line.len());
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}
