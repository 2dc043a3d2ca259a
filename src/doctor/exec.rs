//! What a unit's or script's commands run: the program of an `ExecStart=`/`ExecStop=` line (as
//! systemd reads it: prefixes, quotes, `%%`), whether that program exists and is executable
//! under the root, and whether a command or the script it runs calls `drainguard wait`.

use std::path::{Path, PathBuf};

use crate::root::Root;

/// Where systemd looks for a program named without a directory (`ExecStart=true`).
const SEARCH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The program of one command line: a unit file's `ExecStop=` value or `systemctl show`'s
/// `{ path=... ; argv[]=... }` form. `None` for an empty line.
pub fn program(cmd: &str) -> Option<String> {
    let cmd = cmd.trim();
    if let Some(rest) = cmd.strip_prefix('{') {
        let rest = rest.trim_start().strip_prefix("path=")?;
        return Some(rest.split(" ;").next()?.trim().to_string());
    }
    let cmd = cmd.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut out = String::new();
    let mut chars = cmd.chars().peekable();
    let quote = match chars.peek() {
        Some('"') | Some('\'') => chars.next(),
        _ => None,
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote.is_some() => out.extend(chars.next()),
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                out.push('%');
            }
            '$' if chars.peek() == Some(&'$') => {
                chars.next();
                out.push('$');
            }
            c if Some(c) == quote => break,
            c if quote.is_none() && c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Why the program `prog` (a host path, or a bare name systemd searches for) cannot be run
/// under `root`; `None` when it is an executable regular file.
pub fn not_runnable(root: &Root, prog: &str) -> Option<String> {
    if !prog.starts_with('/') {
        if prog.contains('/') {
            return Some(format!("{prog} is a relative path, which systemd refuses"));
        }
        let found = SEARCH
            .iter()
            .map(|d| Path::new(d).join(prog))
            .find(|p| resolve(root, p).is_some());
        return match found {
            Some(p) => not_runnable(root, &p.to_string_lossy()),
            None => Some(format!("{prog} is in none of {}", SEARCH.join(", "))),
        };
    }
    let Some(local) = resolve(root, Path::new(prog)) else {
        return Some(format!("{prog} does not exist"));
    };
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(&local) {
        Ok(m) if !m.is_file() => Some(format!("{prog} is not a regular file")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some(format!(
            "{prog} is not executable (mode {:o})",
            m.permissions().mode() & 0o7777
        )),
        Ok(_) => None,
        Err(e) => Some(format!("{prog} cannot be examined: {e}")),
    }
}

/// The local path of host path `p` with every symlink followed inside `root` (an absolute link
/// target is a host path), or `None` when something on the way does not exist. At most 40
/// links, as the kernel allows.
pub(super) fn resolve(root: &Root, p: &Path) -> Option<PathBuf> {
    let mut host = p.to_path_buf();
    for _ in 0..40 {
        let local = root.host_to_local(&host);
        let m = std::fs::symlink_metadata(&local).ok()?;
        if !m.file_type().is_symlink() {
            return Some(local);
        }
        let target = std::fs::read_link(&local).ok()?;
        host = if target.is_absolute() {
            target
        } else {
            host.parent()?.join(target)
        };
    }
    None
}

/// True when a line of `text` that is not a comment runs drainguard's `wait` (`drainguard
/// wait`, `"$DRAINGUARD" wait`, `/usr/bin/drainguard wait --deadline 10m`).
pub fn runs_wait(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        if l.starts_with('#') {
            return false;
        }
        let lower = l.to_ascii_lowercase();
        lower.match_indices("drainguard").any(|(at, _)| {
            // The rest of this one command (a `;`, `&` or `|` starts another).
            let command = lower[at..].split([';', '&', '|']).next().unwrap_or("");
            command
                .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\''))
                .skip(1)
                .any(|w| w == "wait")
        })
    })
}

/// The text of every script a command names: its program or an argument that is an absolute
/// path to a text file under `root` (symlinks followed inside it).
pub fn named_texts<'a>(root: &'a Root, cmd: &'a str) -> impl Iterator<Item = String> + 'a {
    cmd.split_whitespace()
        .map(|w| {
            w.trim_matches(['"', '\''])
                .trim_start_matches(['-', '@', ':', '+', '!'])
        })
        .filter(|w| w.starts_with('/'))
        .filter(|w| !is_elf(root, Path::new(w)))
        .filter_map(|w| super::read_host(root, Path::new(w)))
}

/// True when host path `p` under `root` is a compiled program (an ELF file: the first four
/// bytes), which is not a script doctor could read, so not worth a warning that it is not
/// text (`/lib/systemd/systemd-update-utmp` in a unit's `ExecStart=`). Read through
/// [`crate::safe_read::open`]: regular files only, never a blocking open.
fn is_elf(root: &Root, p: &Path) -> bool {
    use std::io::Read;
    let Some(local) = resolve(root, p) else {
        return false;
    };
    let Ok((f, _)) = crate::safe_read::open(&local) else {
        return false;
    };
    let mut magic = [0u8; 4];
    f.take(4).read_exact(&mut magic).is_ok() && magic == *b"\x7fELF"
}

/// True when the command `cmd` runs `drainguard wait`, itself or through a script it names.
pub fn command_runs_wait(root: &Root, cmd: &str) -> bool {
    runs_wait(cmd) || named_texts(root, cmd).any(|t| runs_wait(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_as_systemd_reads_them() {
        assert_eq!(
            program("/usr/local/bin/drainguard wait").as_deref(),
            Some("/usr/local/bin/drainguard")
        );
        assert_eq!(program("-/bin/true").as_deref(), Some("/bin/true"));
        assert_eq!(program("!!/sbin/x y").as_deref(), Some("/sbin/x"));
        assert_eq!(
            program("\"/opt/my tools/drain%%guard\" wait").as_deref(),
            Some("/opt/my tools/drain%guard")
        );
        assert_eq!(
            program(
                "{ path=/usr/bin/drainguard ; argv[]=/usr/bin/drainguard wait ; ignore_errors=no }"
            )
            .as_deref(),
            Some("/usr/bin/drainguard")
        );
        assert_eq!(program("  "), None);
    }

    #[test]
    fn what_counts_as_running_the_wait() {
        assert!(runs_wait("/usr/local/bin/drainguard wait"));
        assert!(runs_wait("  \"$DRAINGUARD\" wait\n"));
        assert!(runs_wait("/bin/sh -c 'drainguard wait --deadline 5m'"));
        assert!(!runs_wait(
            "# drainguard wait\npython3 /home/ec2-user/script/shutdown-filebeat.py"
        ));
        assert!(!runs_wait("/usr/local/bin/drainguard check"));
        assert!(!runs_wait("/usr/local/bin/wait-for-filebeat"));
        assert!(
            !runs_wait("drainguard status; wait"),
            "the shell's wait is not drainguard's"
        );
        // systemctl show's form of a loaded ExecStop.
        assert!(runs_wait(
            "{ path=/usr/local/bin/drainguard ; argv[]=/usr/local/bin/drainguard wait ; ignore_errors=no }"
        ));
    }

    #[test]
    fn missing_and_non_executable_programs() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(Some(d.path().to_path_buf()));
        let bin = d.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("dg"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("dg"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(not_runnable(&root, "/usr/bin/dg")
            .unwrap()
            .contains("not executable (mode 644)"));
        std::fs::set_permissions(bin.join("dg"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(not_runnable(&root, "/usr/bin/dg"), None);
        // An absolute link target is a host path: followed inside the root.
        symlink("/usr/bin/dg", bin.join("alias")).unwrap();
        assert_eq!(not_runnable(&root, "/usr/bin/alias"), None);
        assert_eq!(
            not_runnable(&root, "dg"),
            None,
            "a bare name is searched for"
        );
        symlink("/nowhere", bin.join("dangling")).unwrap();
        assert!(not_runnable(&root, "/usr/bin/dangling")
            .unwrap()
            .contains("does not exist"));
        assert!(not_runnable(&root, "/usr/local/bin/drainguard")
            .unwrap()
            .contains("does not exist"));
        assert!(not_runnable(&root, "/usr")
            .unwrap()
            .contains("not a regular file"));
        assert!(not_runnable(&root, "nope").unwrap().contains("in none of"));
    }

    /// What a tracing subscriber writes, for the test to read.
    #[derive(Clone, Default)]
    struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Logged {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn named_scripts_are_read_and_compiled_programs_skipped_without_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(Some(d.path().to_path_buf()));
        let bin = d.path().join("usr/lib");
        std::fs::create_dir_all(&bin).unwrap();
        // An ELF program (not UTF-8 past its magic, as systemd's helpers in a unit's ExecStart).
        std::fs::write(
            bin.join("helper"),
            b"\x7fELF\x02\x01\x01\x00\xff\xfe drainguard wait",
        )
        .unwrap();
        std::fs::write(bin.join("hook.sh"), "#!/bin/sh\nexec drainguard wait\n").unwrap();
        // A script that is not UTF-8 is not a program: doctor still says it could not read it.
        std::fs::write(bin.join("latin1.sh"), b"#!/bin/sh\n# caf\xe9\n").unwrap();
        let logged = Logged::default();
        let sink = logged.clone();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_writer(move || sink.clone())
                .with_ansi(false)
                .finish(),
        );
        let read = |cmd: &str| -> (Vec<String>, String) {
            logged.0.lock().unwrap().clear();
            let texts = tracing::dispatcher::with_default(&dispatch, || {
                named_texts(&root, cmd).collect::<Vec<_>>()
            });
            (
                texts,
                String::from_utf8_lossy(&logged.0.lock().unwrap()).into_owned(),
            )
        };
        let (texts, log) = read("/usr/lib/helper --flag /usr/lib/hook.sh");
        assert_eq!(texts, ["#!/bin/sh\nexec drainguard wait\n"]);
        assert_eq!(log, "", "no warning for a compiled program");
        assert!(!command_runs_wait(&root, "/usr/lib/helper"));
        assert!(command_runs_wait(&root, "/bin/sh /usr/lib/hook.sh"));
        let (texts, log) = read("/bin/sh /usr/lib/latin1.sh");
        assert!(texts.is_empty());
        assert!(log.contains("not valid UTF-8"), "{log}");
    }
}
