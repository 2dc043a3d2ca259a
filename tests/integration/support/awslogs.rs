//! The real legacy awslogs agent (PyPI `awscli` 1.46.3 + `awscli-cwlogs` 1.4.6, run as `aws
//! logs push --config-file CONF --endpoint-url URL`) and a private CloudWatch Logs endpoint
//! (`moto_server` of PyPI `moto[server]` 5.2.5) on 127.0.0.1, both in the venv
//! `$DG_AWSLOGS_VENV` (default /opt/dg-awslogs; .ci/run creates it), started by the test in
//! its own directory with its own `HOME` (the plugin registration) and fake credentials;
//! never the system service. With CI set, a missing venv fails the test; elsewhere it is
//! skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{eventually, Proc};

/// The venv holding the agent and moto, if present.
pub fn installed() -> Option<PathBuf> {
    let dir = std::env::var_os("DG_AWSLOGS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/dg-awslogs"));
    let ok = ["bin/aws", "bin/moto_server", "bin/python"]
        .iter()
        .all(|b| dir.join(b).exists())
        && Command::new(dir.join("bin/python"))
            .args(["-c", "import cwlogs, boto3"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the awslogs agent venv is missing in {}: `python3 -m venv` it and pip install \
             awscli==1.46.3 awscli-cwlogs==1.4.6 'moto[server]==5.2.5' there (.ci/run does)",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no awslogs agent venv in {} (see .ci/run)",
        dir.display()
    );
    None
}

/// The fake credentials and region every AWS client of the test uses.
fn aws_env(c: &mut Command, home: &Path) {
    c.env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE");
}

/// A private moto_server: the CloudWatch Logs endpoint.
pub struct Moto {
    pub proc: Proc,
    pub url: String,
    venv: PathBuf,
    home: PathBuf,
}

impl Moto {
    pub fn start(venv: &Path, dir: &Path) -> Moto {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // A free port: bound, then released for moto (nothing else binds it meanwhile).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = Command::new(venv.join("bin/moto_server"));
        c.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("moto.log")).unwrap());
        aws_env(&mut c, &home);
        let proc = Proc(c.spawn().expect("moto_server starts"));
        let up = eventually(Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "moto_server did not listen on {port}");
        Moto {
            proc,
            url: format!("http://127.0.0.1:{port}"),
            venv: venv.to_path_buf(),
            home,
        }
    }

    /// Every message moto holds in `group`/`stream`, oldest first (empty when the stream
    /// does not exist yet).
    pub fn messages(&self, group: &str, stream: &str) -> Vec<String> {
        let script = r#"
import sys, boto3
c = boto3.client("logs", endpoint_url=sys.argv[1])
try:
    kw = dict(logGroupName=sys.argv[2], logStreamName=sys.argv[3], startFromHead=True)
    seen = None
    while True:
        r = c.get_log_events(**kw)
        for e in r["events"]:
            print(e["message"])
        if r["nextForwardToken"] == seen:
            break
        seen = r["nextForwardToken"]
        kw["nextToken"] = seen
except c.exceptions.ResourceNotFoundException:
    pass
"#;
        let mut c = Command::new(self.venv.join("bin/python"));
        c.args(["-c", script, &self.url, group, stream]);
        aws_env(&mut c, &self.home);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "GetLogEvents failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Stops the endpoint (SIGSTOP): the agent's PutLogEvents call hangs in flight.
    pub fn pause(&self) {
        signal(self.proc.pid(), "-STOP");
    }

    pub fn resume(&self) {
        signal(self.proc.pid(), "-CONT");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // A stopped process is killed too, but resume it so it is reaped at once.
        signal(self.proc.pid(), "-CONT");
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// A running private agent; killed when dropped.
pub struct Agent {
    pub proc: Proc,
    pub conf: PathBuf,
    pub state: PathBuf,
    /// Its stdout and stderr (its log: the default logging goes to stderr).
    pub log: PathBuf,
}

impl Agent {
    /// Starts `aws logs push` with one section `app` tailing `file` (to group `g`, stream
    /// `s`) against `moto`; returns once its state file exists.
    pub fn start(venv: &Path, dir: &Path, moto: &Moto, file: &str) -> Agent {
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        // What `aws configure set plugins.cwlogs cwlogs` writes.
        std::fs::write(home.join(".aws/config"), "[plugins]\ncwlogs = cwlogs\n").unwrap();
        let conf = dir.join("awslogs.conf");
        let state = dir.join("agent-state");
        std::fs::write(
            &conf,
            format!(
                "[general]\nstate_file = {}\n\n[app]\nfile = {file}\nlog_group_name = g\n\
                 log_stream_name = s\ninitial_position = start_of_file\n",
                state.display()
            ),
        )
        .unwrap();
        let log = dir.join("agent.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut c = Command::new(venv.join("bin/python"));
        c.arg(venv.join("bin/aws"))
            .args(["logs", "push", "--config-file"])
            .arg(&conf)
            .args(["--endpoint-url", &moto.url])
            .current_dir(dir)
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        aws_env(&mut c, &home);
        let proc = Proc(c.spawn().expect("the awslogs agent starts"));
        assert!(
            eventually(Duration::from_secs(60), || state.exists()),
            "the agent did not create {}",
            state.display()
        );
        Agent {
            proc,
            conf,
            state,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }

    /// How many `Publish batch` lines it has logged.
    pub fn published(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Publish batch: ")
            .count()
    }
}
