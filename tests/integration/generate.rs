//! `drainguard generate man|completions DIR`: the pages render with the real `man -l` (groff)
//! without a warning, and the completion scripts load in the real bash, zsh and fish.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// A tool, or `None` (skip) outside CI; in CI a missing one fails the test.
fn tool(cmd: &str, package: &str) -> Option<PathBuf> {
    let found = which(cmd);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {cmd} (package {package})"
        );
        eprintln!("{cmd} not installed: skipped outside CI");
    }
    found
}

fn generate(what: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let out = support::drainguard()
        .args(["generate", what])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // What it printed is what it wrote.
    let printed: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let mut sorted = printed.clone();
    sorted.sort();
    assert_eq!(sorted, files);
    (dir, files)
}

#[test]
fn every_man_page_renders_with_man_l_without_warnings() {
    let Some(man) = tool("man", "man-db") else {
        return;
    };
    let (_dir, pages) = generate("man");
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"drainguard.1".to_string()), "{names:?}");
    assert!(
        names.contains(&"drainguard-wait.1".to_string()),
        "{names:?}"
    );
    for page in &pages {
        let out = Command::new(&man)
            .args(["--warnings", "-P", "cat", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {}", page.display(), text(&out));
        assert!(
            out.stderr.is_empty(),
            "{}: groff warned: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("NAME"), "{}: {stdout}", page.display());
        assert!(
            stdout.contains("drainguard"),
            "{}: {stdout}",
            page.display()
        );
    }
    // The top page lists the subcommands and the exit codes.
    let top = Command::new(&man)
        .args(["-P", "cat", "-l"])
        .arg(pages.iter().find(|p| p.ends_with("drainguard.1")).unwrap())
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    for want in ["uninstall", "doctor", "Exit codes"] {
        assert!(top.contains(want), "drainguard(1) lacks {want}: {top}");
    }
}

#[test]
fn bash_completion_loads_and_registers_drainguard() {
    let Some(bash) = tool("bash", "bash") else {
        return;
    };
    let (_dir, files) = generate("completions");
    let script = files
        .iter()
        .find(|p| p.ends_with("drainguard.bash"))
        .unwrap();
    let out = Command::new(bash)
        .arg("-c")
        .arg(r#"source "$1" && complete -p drainguard"#)
        .arg("bash")
        .arg(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("-F _drainguard"), "{shown}");
    assert!(shown.trim_end().ends_with(" drainguard"), "{shown}");
}

#[test]
fn bash_completion_offers_the_subcommands() {
    let Some(bash) = tool("bash", "bash") else {
        return;
    };
    let (_dir, files) = generate("completions");
    let script = files
        .iter()
        .find(|p| p.ends_with("drainguard.bash"))
        .unwrap();
    // What bash would offer after `drainguard un<TAB>`.
    let out = Command::new(bash)
        .arg("-c")
        .arg(
            r#"source "$1"; COMP_WORDS=(drainguard un); COMP_CWORD=1; COMP_LINE="drainguard un";
               COMP_POINT=${#COMP_LINE}; _drainguard drainguard un drainguard;
               printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "uninstall");
}

#[test]
fn zsh_and_fish_completions_parse() {
    let (_dir, files) = generate("completions");
    if let Some(zsh) = tool("zsh", "zsh") {
        let f = files.iter().find(|p| p.ends_with("_drainguard")).unwrap();
        let out = Command::new(zsh).arg("-n").arg(f).output().unwrap();
        assert!(out.status.success(), "zsh -n: {}", text(&out));
    }
    if let Some(fish) = tool("fish", "fish") {
        let f = files
            .iter()
            .find(|p| p.ends_with("drainguard.fish"))
            .unwrap();
        let out = Command::new(fish)
            .arg("--no-execute")
            .arg(f)
            .output()
            .unwrap();
        assert!(out.status.success(), "fish --no-execute: {}", text(&out));
    }
}
