//! The release artifacts in dist/, built by `scripts/dist.sh` (scripts/test-all.sh runs it
//! before the tests): the packaged binary needs glibc 2.17 at most and runs in a real Debian 11
//! (bullseye, glibc 2.31) chroot made with debootstrap (cached); the .deb passes lintian with
//! no error and only the warnings docs/packaging.md justifies, installs and removes with dpkg in
//! that chroot; the .rpm's file list, scriptlets and gzip payload are what `rpm -qp` reports,
//! and it installs into an empty `rpm --root` database. Outside CI a missing dist/ or tool skips;
//! in CI it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const ARCH: &str = "x86_64";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use crate::support::text;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// Skips outside CI (false), fails in CI, when `what` is missing.
fn need(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must provide {what}");
        eprintln!("{what} missing: skipped outside CI");
    }
    ok
}

fn tools(names: &[(&str, &str)]) -> bool {
    names
        .iter()
        .all(|(cmd, pkg)| need(which(cmd).is_some(), &format!("{cmd} (package {pkg})")))
}

fn artifact(name: &str) -> Option<PathBuf> {
    let p = repo().join("dist").join(name);
    need(p.is_file(), &format!("dist/{name} (run scripts/dist.sh)")).then_some(p)
}

fn tarball() -> Option<PathBuf> {
    artifact(&format!("drainguard-{VERSION}-{ARCH}-linux.tar.gz"))
}

fn deb() -> Option<PathBuf> {
    artifact(&format!("drainguard_{VERSION}-1_amd64.deb"))
}

fn rpm() -> Option<PathBuf> {
    artifact(&format!("drainguard-{VERSION}-1.{ARCH}.rpm"))
}

/// The man pages and completions the packages must carry: what the binary generates.
fn generated() -> (Vec<String>, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    let list = |what: &str| -> Vec<String> {
        let out = run(Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .args(["generate", what])
            .arg(d.path().join(what)));
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                Path::new(l)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    };
    (list("man"), list("completions"))
}

/// Every file under the repository's contrib/ (the Prometheus rules and their promtool tests,
/// the Grafana dashboard: docs/metrics.md), relative to contrib/, sorted: all of them are
/// packaged, so a new one that the packaging misses fails here.
fn contrib_files() -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut v = Vec::new();
    walk(&repo().join("contrib"), "", &mut v);
    v.sort();
    assert!(
        v.contains(&"prometheus/drainguard.rules.yml".to_string()),
        "{v:?}"
    );
    v
}

/// Where both packages put contrib/: the distributions' place for a package's examples.
const EXAMPLES: &str = "/usr/share/doc/drainguard/examples";

/// The documentation every artifact ships, relative to the repository (and to the tarball's
/// top directory, and to the packages' /usr/share/doc/drainguard): README.md and every
/// docs/*.md, so a new page that the packaging misses fails here.
fn doc_files() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    v.sort();
    assert!(v.contains(&"docs/packaging.md".to_string()), "{v:?}");
    v.insert(0, "README.md".into());
    v
}

/// The files a package installs (besides its copyright and licence), from what `generate`
/// writes, contrib/ as examples and the docs. The test binary is built without `aws`, the package with it: its `aws` pages
/// come on top.
fn expected_files(zsh_dir: &str) -> Vec<String> {
    let (man, completions) = generated();
    let mut v = vec!["/usr/bin/drainguard".to_string()];
    v.extend(contrib_files().iter().map(|f| format!("{EXAMPLES}/{f}")));
    v.extend(
        doc_files()
            .iter()
            .map(|f| format!("/usr/share/doc/drainguard/{f}")),
    );
    v.extend(man.iter().map(|m| format!("/usr/share/man/man1/{m}.gz")));
    for c in completions {
        v.push(match c.as_str() {
            "drainguard.bash" => "/usr/share/bash-completion/completions/drainguard".into(),
            "_drainguard" => format!("{zsh_dir}/_drainguard"),
            "drainguard.fish" => "/usr/share/fish/vendor_completions.d/drainguard.fish".into(),
            other => panic!("unexpected completion {other}"),
        });
    }
    v
}

/// The newest `GLIBC_x.y[.z]` symbol version a binary needs.
fn newest_glibc(bin: &Path) -> Vec<u32> {
    let dump = stdout(Command::new("objdump").arg("-T").arg(bin));
    dump.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .map(|v| {
            v.split('.')
                .map(|n| n.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        })
        .max()
        .expect("no GLIBC_ symbol versions: not a dynamically linked glibc binary?")
}

/// The packaged binary, extracted from the .deb.
fn deb_binary(deb: &Path, into: &Path) -> PathBuf {
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(into));
    into.join("usr/bin/drainguard")
}

#[test]
fn packaged_binary_needs_glibc_2_17_at_most() {
    let (Some(deb), true) = (
        deb(),
        tools(&[("objdump", "binutils"), ("dpkg-deb", "dpkg")]),
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let bin = deb_binary(&deb, d.path());
    let newest = newest_glibc(&bin);
    assert!(
        newest <= vec![2, 17],
        "the packaged binary needs GLIBC_{newest:?}"
    );
    // The build's own binary (this machine's glibc) would not pass: the check can fail.
    assert!(newest_glibc(Path::new(env!("CARGO_BIN_EXE_drainguard"))) > vec![2, 17]);
}

#[test]
fn one_binary_in_all_three_artifacts_and_sha256sums_match() {
    let (Some(tgz), Some(deb), Some(rpm), Some(_)) =
        (tarball(), deb(), rpm(), artifact("SHA256SUMS"))
    else {
        return;
    };
    if !tools(&[("rpm", "rpm"), ("sha256sum", "coreutils"), ("tar", "tar")]) {
        return;
    }
    run(Command::new("sha256sum")
        .args(["--check", "--ignore-missing", "SHA256SUMS"])
        .current_dir(repo().join("dist")));
    let sums = fs::read_to_string(repo().join("dist/SHA256SUMS")).unwrap();
    for a in [&tgz, &deb, &rpm] {
        let name = a.file_name().unwrap().to_string_lossy();
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {name}"))),
            "{name} not in SHA256SUMS"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let sha = |p: &Path| stdout(Command::new("sha256sum").arg(p))[..64].to_string();
    let from_deb = sha(&deb_binary(&deb, &d.path().join("deb")));
    let top = format!("drainguard-{VERSION}-{ARCH}-linux");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(d.path()));
    assert_eq!(sha(&d.path().join(&top).join("drainguard")), from_deb);
    // rpm --dump: path size mtime digest mode ...
    let dump = stdout(Command::new("rpm").arg("-qp").arg("--dump").arg(&rpm));
    let line = dump
        .lines()
        .find(|l| l.starts_with("/usr/bin/drainguard "))
        .unwrap();
    assert_eq!(
        line.split_whitespace().nth(3),
        Some(from_deb.as_str()),
        "{line}"
    );
}

#[test]
fn tarball_holds_binary_man_pages_completions_contrib_docs_readme_license() {
    let Some(tgz) = tarball() else {
        return;
    };
    let list = stdout(Command::new("tar").arg("-tvzf").arg(&tgz));
    let top = format!("drainguard-{VERSION}-{ARCH}-linux");
    let (man, completions) = generated();
    let mut want: Vec<String> = vec![format!("{top}/drainguard"), format!("{top}/LICENSE")];
    want.extend(doc_files().iter().map(|f| format!("{top}/{f}")));
    want.extend(man.iter().map(|m| format!("{top}/man/{m}")));
    want.extend(completions.iter().map(|c| format!("{top}/completions/{c}")));
    want.extend(contrib_files().iter().map(|f| format!("{top}/contrib/{f}")));
    for w in &want {
        assert!(
            list.lines().any(|l| l.ends_with(&format!(" {w}"))),
            "{w} missing:\n{list}"
        );
    }
    let bin = list
        .lines()
        .find(|l| l.ends_with(&format!(" {top}/drainguard")))
        .unwrap();
    assert!(bin.starts_with("-rwxr-xr-x 0/0 "), "{bin}");
    assert!(fs::read_to_string(repo().join("LICENSE"))
        .unwrap()
        .contains("Apache License"));
}

#[test]
fn deb_passes_lintian_with_only_the_documented_warnings() {
    let (Some(deb), true) = (deb(), tools(&[("lintian", "lintian")])) else {
        return;
    };
    let out = Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    let doc = fs::read_to_string(repo().join("docs/packaging.md")).unwrap();
    for w in report
        .lines()
        .filter(|l| l.starts_with("W:") || l.starts_with("I:"))
    {
        // "W: drainguard: tag-name [detail]"
        let tag = w.split_whitespace().nth(2).unwrap();
        assert!(
            doc.contains(&format!("`{tag}`")),
            "lintian {w}: not justified in docs/packaging.md"
        );
    }
}

/// The maintainer both packages name (.deb Maintainer, .rpm Vendor): `DRAINGUARD_MAINTAINER`
/// when dist.sh was given one (and so is this test), else Cargo.toml's
/// `[package.metadata.deb] maintainer`.
fn maintainer() -> String {
    if let Ok(m) = std::env::var("DRAINGUARD_MAINTAINER") {
        return m;
    }
    let manifest: toml::Table = fs::read_to_string(repo().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["package"]["metadata"]["deb"]["maintainer"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn deb_and_rpm_name_the_one_configured_maintainer() {
    let (Some(deb), Some(rpm), true) =
        (deb(), rpm(), tools(&[("dpkg-deb", "dpkg"), ("rpm", "rpm")]))
    else {
        return;
    };
    let want = maintainer();
    let field = stdout(
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .arg("Maintainer"),
    );
    assert_eq!(field.trim(), want);
    // cargo-generate-rpm 0.21 sets no Packager: the maintainer is the rpm's Vendor.
    let vendor = stdout(
        Command::new("rpm")
            .arg("-qp")
            .args(["--qf", "%{VENDOR}"])
            .arg(&rpm),
    );
    assert_eq!(vendor, want);
}

#[test]
fn dist_sh_refuses_a_maintainer_it_cannot_write_into_both_packages() {
    // Checked first, before anything is built or installed: this costs no build. (The target
    // is one dist.sh refuses too, so a missing check fails here on the message, not by
    // starting a build.)
    for bad in [
        "",
        "no address",
        "Ops <ops@example.com>\nX: y",
        "Ops \"quoted\" <o@e.x>",
    ] {
        let out = Command::new("bash")
            .arg(repo().join("scripts/dist.sh"))
            .env("DRAINGUARD_MAINTAINER", bad)
            .env("DG_DIST_TARGET", "riscv64gc-unknown-linux-gnu.2.17")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("DRAINGUARD_MAINTAINER"), "{bad:?}: {err}");
    }
}

#[test]
fn deb_payload_is_gzip() {
    // gzip, not cargo-deb's default xz: dpkg unpacks it several times faster (the whole
    // `dpkg -i` is timed in the systemd-package VM boot), and every dpkg reads it.
    let (Some(deb), true) = (deb(), tools(&[("ar", "binutils")])) else {
        return;
    };
    let members = stdout(Command::new("ar").arg("t").arg(&deb));
    let members: Vec<&str> = members.lines().collect();
    assert_eq!(members, ["debian-binary", "control.tar.gz", "data.tar.gz"]);
}

#[test]
fn deb_installs_the_files_at_debian_paths_and_only_files() {
    let (Some(deb), true) = (deb(), tools(&[("dpkg-deb", "dpkg")])) else {
        return;
    };
    let list = stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let files: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.'))
        .collect();
    for want in expected_files("/usr/share/zsh/vendor-completions") {
        assert!(files.contains(&want.as_str()), "{want} missing:\n{list}");
    }
    for f in &files {
        assert!(
            f.starts_with("/usr/bin/") || f.starts_with("/usr/share/"),
            "{f}: outside /usr"
        );
    }
    assert!(
        files.contains(&"/usr/share/doc/drainguard/copyright"),
        "{list}"
    );
    // Maintainer scripts: prerm (tells about `uninstall`) and postinst (try-restart on
    // upgrade); neither stops, drains or uninstalls (what they do: the Debian 11 chroot tests).
    let d = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(d.path()));
    for s in ["preinst", "postrm"] {
        assert!(!d.path().join(s).exists(), "the .deb has a {s}");
    }
    let prerm = fs::read_to_string(d.path().join("prerm")).unwrap();
    assert!(prerm.contains("drainguard uninstall"), "{prerm}");
    assert_runs_no_service_action(&prerm, &[]);
    let postinst = fs::read_to_string(d.path().join("postinst")).unwrap();
    assert_runs_no_service_action(
        &postinst,
        &[
            "deb-systemd-invoke try-restart \"$UNIT\"",
            "systemctl try-restart \"$UNIT\"",
        ],
    );
    assert!(postinst.contains("UNIT=drainguard.service"), "{postinst}");
}

/// A maintainer script's code (comments and messages aside) runs no service action and no
/// drainguard, except the `allowed` command lines.
fn assert_runs_no_service_action(script: &str, allowed: &[&str]) {
    let code: Vec<&str> = script
        .lines()
        .map(str::trim_start)
        // Messages to the user: heredoc lines and echoes starting "drainguard:".
        .filter(|l| {
            !l.starts_with('#') && !l.trim_start_matches("echo \"").starts_with("drainguard:")
        })
        .filter(|l| !allowed.iter().any(|a| l.contains(a)))
        .collect();
    for never in [
        "systemctl",
        "service ",
        "invoke-rc.d",
        "deb-systemd-invoke",
        "update-rc.d",
    ] {
        // `command -v deb-systemd-invoke` only looks.
        assert!(
            !code
                .iter()
                .any(|l| l.contains(never) && !l.contains(&format!("command -v {never}"))),
            "runs {never}: {script}"
        );
    }
    assert!(
        !code.iter().any(|l| matches!(
            l.split_whitespace().next(),
            Some("drainguard" | "/usr/bin/drainguard")
        )),
        "runs drainguard: {script}"
    );
}

#[test]
fn rpm_file_list_scriptlets_and_gzip_payload() {
    let (Some(rpm), true) = (rpm(), tools(&[("rpm", "rpm")])) else {
        return;
    };
    let q = |fmt: &str| stdout(Command::new("rpm").arg("-qp").args(["--qf", fmt]).arg(&rpm));
    assert_eq!(q("%{PAYLOADCOMPRESSOR}"), "gzip");
    assert_eq!(
        q("%{NAME} %{VERSION} %{RELEASE} %{ARCH}"),
        format!("drainguard {VERSION} 1 {ARCH}")
    );
    // rpm's own dependency scan: no glibc symbol version newer than 2.17 (CentOS 7's).
    let requires = stdout(Command::new("rpm").arg("-qpR").arg(&rpm));
    for r in requires.lines().filter(|r| r.contains("(GLIBC_")) {
        let v = r
            .split("(GLIBC_")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap();
        let v: Vec<u32> = v.split('.').map(|n| n.parse().unwrap()).collect();
        assert!(v <= vec![2, 17], "the rpm requires {r}");
    }
    let list = stdout(Command::new("rpm").arg("-qpl").arg(&rpm));
    for want in expected_files("/usr/share/zsh/site-functions") {
        assert!(list.lines().any(|l| l == want), "{want} missing:\n{list}");
    }
    for l in list.lines() {
        assert!(
            l.starts_with("/usr/bin/") || l.starts_with("/usr/share/"),
            "{l}: outside /usr"
        );
    }
    let scripts = stdout(Command::new("rpm").arg("-qp").arg("--scripts").arg(&rpm));
    assert!(scripts.contains("preuninstall scriptlet"), "{scripts}");
    assert!(scripts.contains("drainguard uninstall"), "{scripts}");
    assert!(scripts.contains("postuninstall scriptlet"), "{scripts}");
    for other in ["preinstall", "postinstall"] {
        assert!(
            !scripts.contains(&format!("{other} scriptlet")),
            "{other}: {scripts}"
        );
    }
    let preun = q("%{PREUN}");
    assert_runs_no_service_action(&preun, &[]);
    let postun = q("%{POSTUN}");
    assert_runs_no_service_action(&postun, &["systemctl try-restart \"$UNIT\""]);
    assert!(postun.contains("UNIT=drainguard.service"), "{postun}");
    // %preun on this host: an upgrade (1) and a removal (0) both exit 0. (%postun acts on this
    // host's systemd for an upgrade, so it runs in the Debian 11 chroot only.)
    for arg in ["0", "1"] {
        run(Command::new("sh")
            .arg("-c")
            .arg(&preun)
            .args(["preun", arg]));
    }
}

#[test]
fn rpm_installs_into_an_empty_rpm_root_database() {
    let (Some(rpm), true) = (rpm(), tools(&[("rpm", "rpm")])) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    run(rpm_in(root).arg("--initdb"));
    // --nodeps: the empty database has no glibc package; --noscripts: nor a /bin/sh to run
    // the (removal-only) scriptlet with (run in the bullseye chroot below).
    run(rpm_in(root)
        .args(["-i", "--nodeps", "--noscripts"])
        .arg(&rpm));
    assert_eq!(
        stdout(rpm_in(root).args(["-q", "drainguard"])).trim(),
        format!("drainguard-{VERSION}-1.{ARCH}")
    );
    run(rpm_in(root).args(["-V", "--nodeps", "drainguard"]));
    assert!(root.join("usr/bin/drainguard").is_file());
    assert!(root
        .join("usr/share/zsh/site-functions/_drainguard")
        .is_file());
    run(rpm_in(root).args(["-e", "--nodeps", "--noscripts", "drainguard"]));
    assert!(!root.join("usr/bin/drainguard").exists());
}

/// A Debian 11 (bullseye) minbase tree made with debootstrap, built once and kept under
/// `${DG_DIST_CACHE:-/var/cache/drainguard-dist}/bullseye` (like the VM images); a copy per
/// test run, so the cache stays clean.
fn bullseye() -> Option<PathBuf> {
    static TREE: OnceLock<Option<PathBuf>> = OnceLock::new();
    TREE.get_or_init(|| {
        let cache = PathBuf::from(
            std::env::var_os("DG_DIST_CACHE").unwrap_or("/var/cache/drainguard-dist".into()),
        );
        let tree = cache.join("bullseye");
        if tree.join(".complete").exists() {
            return Some(tree);
        }
        if !tools(&[("debootstrap", "debootstrap"), ("chroot", "coreutils")]) {
            return None;
        }
        let tmp = cache.join("bullseye.tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&cache).unwrap();
        let mirror = std::env::var("MIRROR").unwrap_or("http://deb.debian.org/debian".into());
        let out = Command::new("debootstrap")
            .args(["--variant=minbase", "bullseye"])
            .arg(&tmp)
            .arg(mirror)
            .output()
            .unwrap();
        assert!(out.status.success(), "debootstrap bullseye: {}", text(&out));
        fs::write(tmp.join(".complete"), "").unwrap();
        let _ = fs::remove_dir_all(&tree);
        fs::rename(&tmp, &tree).unwrap();
        Some(tree)
    })
    .clone()
}

fn chroot(root: &Path, args: &[&str]) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .output()
        .unwrap()
}

const MANIFEST: &str = "var/lib/drainguard/install-manifest.json";

/// The .deb, the .rpm, and a fresh copy of the cached bullseye tree (in a temp dir beside the
/// cache, removed when dropped) at `root`; None (skipped) when an artifact, rpm or the tree
/// is missing outside CI.
fn bullseye_copy() -> Option<(PathBuf, PathBuf, tempfile::TempDir, PathBuf)> {
    let (Some(deb), Some(rpm)) = (deb(), rpm()) else {
        return None;
    };
    if !tools(&[("rpm", "rpm")]) {
        return None;
    }
    let cached = bullseye()?;
    let d = tempfile::tempdir_in(cached.parent().unwrap()).unwrap();
    let root = d.path().join("root");
    run(Command::new("cp").arg("-a").arg(&cached).arg(&root));
    Some((deb, rpm, d, root))
}

/// `rpm --root ROOT`.
fn rpm_in(root: &Path) -> Command {
    let mut c = Command::new("rpm");
    c.arg("--root").arg(root);
    c
}

#[test]
fn packages_install_run_and_remove_in_a_debian_11_chroot() {
    let Some((deb, rpm, _d, root)) = bullseye_copy() else {
        return;
    };
    let glibc = chroot(&root, &["ldd", "--version"]);
    assert!(
        String::from_utf8_lossy(&glibc.stdout).contains("2.31"),
        "{}",
        text(&glibc)
    );

    // dpkg -i: files only, nothing started or asked.
    fs::copy(&deb, root.join("tmp/drainguard.deb")).unwrap();
    let out = chroot(&root, &["dpkg", "-i", "/tmp/drainguard.deb"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = chroot(&root, &["drainguard", "--version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("drainguard {VERSION}"),
        "{}",
        text(&out)
    );
    status_on_a_store(&root);
    let out = chroot(&root, &["drainguard", "aws", "--help"]);
    assert!(
        out.status.success(),
        "the packaged binary lacks `aws`: {}",
        text(&out)
    );

    // Removal without an install manifest: silent. With one: the user is told, nothing run.
    let out = chroot(&root, &["dpkg", "-r", "drainguard"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("drainguard uninstall"),
        "{}",
        text(&out)
    );
    assert!(!root.join("usr/bin/drainguard").exists());
    let out = chroot(&root, &["dpkg", "-i", "/tmp/drainguard.deb"]);
    assert!(out.status.success(), "{}", text(&out));
    fs::create_dir_all(root.join(MANIFEST).parent().unwrap()).unwrap();
    fs::write(root.join(MANIFEST), r#"{"version":1,"records":[]}"#).unwrap();
    let out = chroot(&root, &["dpkg", "-r", "drainguard"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Run 'drainguard uninstall' first"),
        "{}",
        text(&out)
    );
    assert!(root.join(MANIFEST).exists(), "removal touched the manifest");
    fs::remove_file(root.join(MANIFEST)).unwrap();

    // The .rpm, with this host's rpm into the chroot (its scriptlet runs there, in bullseye's sh).
    run(rpm_in(&root).arg("--initdb"));
    run(rpm_in(&root).args(["-i", "--nodeps"]).arg(&rpm));
    let out = chroot(&root, &["drainguard", "--version"]);
    assert!(out.status.success(), "{}", text(&out));
    status_on_a_store(&root);
    fs::write(root.join(MANIFEST), r#"{"version":1,"records":[]}"#).unwrap();
    let out = rpm_in(&root)
        .args(["-e", "--nodeps", "drainguard"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Run 'drainguard uninstall' first"),
        "{}",
        text(&out)
    );
    assert!(!root.join("usr/bin/drainguard").exists());
}

/// The upgrade's restart, in a Debian 11 chroot with `deb-systemd-invoke` and `systemctl`
/// replaced by recorders: an active-looking host (`/run/systemd/system`) with the unit
/// `drainguard install` writes gets exactly one `try-restart drainguard.service` per upgrade
/// (.deb postinst, .rpm %postun), and nothing on a first install, without systemd running,
/// without the unit, or on removal; a failed restart is reported and never fails the package.
#[test]
fn package_upgrade_try_restarts_the_installed_unit_and_nothing_else() {
    let Some((deb, rpm, _d, root)) = bullseye_copy() else {
        return;
    };
    let recorder = "#!/bin/sh\necho \"${0##*/} $*\" >> /dg-calls\nexit \"$(cat /dg-rc 2>/dev/null || echo 0)\"\n";
    for tool in ["usr/bin/deb-systemd-invoke", "usr/bin/systemctl"] {
        fs::write(root.join(tool), recorder).unwrap();
        run(Command::new("chmod").arg("755").arg(root.join(tool)));
    }
    fs::copy(&deb, root.join("tmp/drainguard.deb")).unwrap();
    let calls = || fs::read_to_string(root.join("dg-calls")).unwrap_or_default();
    let dpkg_i = |want_calls: &str, why: &str| -> String {
        let out = chroot(&root, &["dpkg", "-i", "/tmp/drainguard.deb"]);
        assert!(out.status.success(), "{why}: {}", text(&out));
        assert_eq!(calls(), want_calls, "{why}: {}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Without a policy-rc.d: systemctl itself (what deb-systemd-invoke would run).
    let restart = "systemctl try-restart drainguard.service\n";

    dpkg_i("", "first install");
    dpkg_i("", "upgrade without systemd running");
    fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    dpkg_i("", "upgrade without the unit");
    fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    fs::write(
        root.join("etc/systemd/system/drainguard.service"),
        "[Service]\n",
    )
    .unwrap();
    dpkg_i(restart, "upgrade with the unit");
    fs::write(root.join("dg-rc"), "1").unwrap();
    let stderr = dpkg_i(&restart.repeat(2), "upgrade with a failing restart");
    assert!(
        stderr.contains("restarting drainguard.service after the upgrade failed"),
        "{stderr}"
    );
    fs::remove_file(root.join("dg-rc")).unwrap();
    // With a policy-rc.d, through deb-systemd-invoke, which asks it.
    fs::write(root.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 0\n").unwrap();
    run(Command::new("chmod")
        .arg("755")
        .arg(root.join("usr/sbin/policy-rc.d")));
    let invoked = "deb-systemd-invoke try-restart drainguard.service\n";
    let before = restart.repeat(2);
    dpkg_i(&format!("{before}{invoked}"), "upgrade with a policy-rc.d");
    fs::remove_file(root.join("usr/sbin/policy-rc.d")).unwrap();
    let out = chroot(&root, &["dpkg", "-r", "drainguard"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        calls(),
        format!("{before}{invoked}"),
        "dpkg -r: {}",
        text(&out)
    );
    fs::remove_file(root.join("dg-calls")).unwrap();

    // rpm: the old package's %postun runs after the new files are in place ($1 = 1).
    let rpm_root = |args: &[&str]| {
        let out = rpm_in(&root).args(args).arg(&rpm).output().unwrap();
        assert!(out.status.success(), "rpm {args:?}: {}", text(&out));
    };
    run(rpm_in(&root).arg("--initdb"));
    rpm_root(&["-i", "--nodeps"]);
    assert_eq!(calls(), "", "rpm -i");
    rpm_root(&["-U", "--replacepkgs", "--nodeps"]);
    assert_eq!(
        calls(),
        "systemctl try-restart drainguard.service\n",
        "rpm -U"
    );
    let out = rpm_in(&root)
        .args(["-e", "--nodeps", "drainguard"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        calls(),
        "systemctl try-restart drainguard.service\n",
        "rpm -e"
    );
}

/// `status` inside the chroot on a Filebeat registry (the legacy data.json format) tracking one
/// file 40 bytes behind.
fn status_on_a_store(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let demo = root.join("demo");
    let _ = fs::remove_dir_all(&demo);
    fs::create_dir_all(demo.join("data/registry/filebeat")).unwrap();
    fs::write(demo.join("app.log"), "x".repeat(99) + "\n").unwrap();
    let m = fs::metadata(demo.join("app.log")).unwrap();
    let state = drainguard::testkit::filebeat::legacy_state("/demo/app.log", 60, m.ino(), m.dev());
    drainguard::testkit::filebeat::write_data_json(&demo.join("data/registry/filebeat"), &[state])
        .unwrap();
    let out = chroot(
        root,
        &[
            "drainguard",
            "--settings",
            "",
            "status",
            "--data-path",
            "/demo/data",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("/demo/app.log") && report.contains("40 B"),
        "{}",
        text(&out)
    );
}
