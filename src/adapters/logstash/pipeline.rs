//! The `file {}` inputs of Logstash pipeline configs: which files each tails and where it keeps
//! its sincedb.
//!
//! Only blocks inside `input {}` count (`output { file { path => .. } }` is a file Logstash
//! writes). Comments (`#` to the end of the line) and quoted strings are honoured while the
//! braces are matched.

use md5::{Digest, Md5};

use crate::cursor::ExcludeRule;

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

    /// The exclusions as rules over the full path: Logstash matches each pattern against
    /// the file's base name (`File.fnmatch?`), so `*` never crosses a `/`.
    pub fn exclude_rules(&self) -> Vec<ExcludeRule> {
        self.exclude
            .iter()
            .map(|e| ExcludeRule::Regex(format!("(^|/){}$", basename_regex(e))))
            .collect()
    }
}

/// Every `file {}` input of a pipeline config, in order. Conditionals inside `input {}`
/// (which Logstash ignores there: every input runs) are looked into.
pub fn file_inputs(text: &str) -> Vec<FileInput> {
    fn find_files(body: &str, out: &mut Vec<FileInput>) {
        for (name, inner) in blocks(body) {
            if name == "file" {
                out.push(settings(inner));
            } else {
                find_files(inner, out);
            }
        }
    }
    let text = strip_comments(text);
    let mut out = Vec::new();
    for (name, body) in blocks(&text) {
        if name == "input" {
            find_files(body, &mut out);
        }
    }
    out
}

/// `path`, `exclude` and `sincedb_path` of a plugin block's body (its own settings only:
/// nested blocks such as a codec's are skipped). Setting names may be quoted.
fn settings(body: &str) -> FileInput {
    let mut input = FileInput::default();
    let mut rest = body;
    while let Some(i) = find_arrow(rest) {
        let key = rest[..i]
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '{' || c == '}')
            .next()
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'');
        let value = rest[i + 2..].trim_start();
        let (values, used) = if let Some(list) = value.strip_prefix('[') {
            let end = matching(list, '[', ']').unwrap_or(list.len());
            (quoted(&list[..end]), end + 1)
        } else if let Some((v, end)) = first_string(value) {
            (vec![v], end)
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
        let consumed = rest.len() - value.len() + used.min(value.len());
        rest = &rest[consumed.max(i + 2).min(rest.len())..];
    }
    input
}

/// How Logstash's grammar reads literals: `"…"` and `'…'` (a backslash escapes the next
/// character, so `\"` does not end the string), and regular expressions `/…/` after `=~`
/// or `!~`. Fed one character at a time, it says whether that character is outside them.
#[derive(Default)]
struct Lexer {
    literal: Option<char>,
    escaped: bool,
    /// The last non-space character outside literals.
    prev: char,
}

impl Lexer {
    fn outside(&mut self, c: char) -> bool {
        if let Some(end) = self.literal {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == end {
                self.literal = None;
                self.prev = c;
            }
            return false;
        }
        if c == '"' || c == '\'' || (c == '/' && self.prev == '~') {
            self.literal = Some(c);
            return false;
        }
        if !c.is_whitespace() {
            self.prev = c;
        }
        true
    }
}

/// The quoted strings of `s`, in order (backslash escapes kept as written).
fn quoted(s: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(['"', '\'']) {
        match first_string(&rest[start..]) {
            Some((text, end)) => {
                v.push(text);
                rest = &rest[start + end..];
            }
            None => break,
        }
    }
    v
}

/// The quoted string `s` starts with, and the byte index just after its closing quote.
fn first_string(s: &str) -> Option<(String, usize)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut lexer = Lexer::default();
    for (i, c) in s.char_indices() {
        lexer.outside(c);
        if i > 0 && lexer.literal.is_none() {
            return Some((s[1..i].to_string(), i + quote.len_utf8()));
        }
    }
    Some((s[1..].to_string(), s.len())) // unterminated: the rest of the text
}

/// `name { body }` blocks at the top level of `text`.
fn blocks(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = outside_literals(rest, |c| c == '{') {
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

/// The index in `s` of the bracket that closes an already opened one, skipping literals.
fn matching(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    outside_literals(s, |c| {
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

/// The index of the next `=>` outside literals.
fn find_arrow(s: &str) -> Option<usize> {
    let mut after_eq = false;
    outside_literals(s, |c| {
        let hit = after_eq && c == '>';
        after_eq = c == '=';
        hit
    })
    .map(|i| i - 1)
}

/// The index of the first character outside literals for which `hit` is true (`hit` sees
/// every such character in order).
fn outside_literals(s: &str, mut hit: impl FnMut(char) -> bool) -> Option<usize> {
    let mut lexer = Lexer::default();
    s.char_indices()
        .find(|&(_, c)| lexer.outside(c) && hit(c))
        .map(|(i, _)| i)
}

/// The text without `#` comments, read in one pass so that a string spanning lines keeps
/// its `#`s and a quote inside a comment opens nothing.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lexer = Lexer::default();
    let mut comment = false;
    for c in text.chars() {
        if comment {
            if c == '\n' {
                comment = false;
                out.push(c);
            }
            continue;
        }
        if c == '#' && lexer.literal.is_none() {
            comment = true;
            continue;
        }
        lexer.outside(c);
        out.push(c);
    }
    out
}

/// A file-name glob (`*`, `?`, `[...]`) as a regular expression over one path component.
fn basename_regex(glob: &str) -> String {
    let mut re = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let class = class
                    .strip_prefix('!')
                    .map_or(class.clone(), |c| format!("^{c}"));
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\"));
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re
}
