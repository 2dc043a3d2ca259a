//! `drainguard exporter`: the backlog as Prometheus metrics over HTTP, and
//! `status --format prometheus` / `--textfile` for one-shot use (cron, node_exporter's textfile
//! collector). docs/metrics.md lists the metrics.
//!
//! The HTTP server is tiny_http (synchronous, no async runtime). One thread assesses, on
//! demand: a scrape asks for a fresh assessment unless the last one is younger than
//! `--min-interval`, and every scrape waiting meanwhile is served that same assessment. A
//! scrape that would wait longer than `--scrape-timeout` is served the last result, with its
//! age in `drainguard_assessment_age_seconds`. Between scrapes nothing runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::source::SourceArgs;
use crate::cmd::Global;
use crate::exit::Exit;
use crate::metrics::observer::{Discovery, Observer, DEFAULT_STATE_DIR};
use crate::metrics::{self, Options};

/// The exporter's default port, outside 9100-9999; not checked against Prometheus' "default
/// port allocations" list, which could not be read (docs/metrics.md says more).
pub const DEFAULT_PORT: u16 = 10133;
/// The default listen address: loopback only, as the labels name paths of the host.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10133";

/// The output format of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
}

/// `status`'s metrics flags.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusMetricsArgs {
    /// Output format (`--json` is `--format json`).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the metrics (Prometheus text format) to this file for node_exporter's textfile
    /// collector instead of stdout: a `.prom` file in its --collector.textfile.directory
    /// (Debian: /var/lib/prometheus/node-exporter), written atomically.
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
    /// Per-file series (drainguard_file_backlog_bytes) for the N files most behind; 0: none.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub per_file_top: usize,
    /// drainguard's state directory: the drain log and the abandoned-bytes counters.
    #[arg(long, value_name = "DIR", env = "DRAINGUARD_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

impl StatusMetricsArgs {
    /// True when `status` should print metrics instead of the report.
    pub fn wanted(&self) -> bool {
        self.format == Format::Prometheus || self.textfile.is_some()
    }
}

/// `drainguard exporter`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Address to listen on (repeatable): `HOST:PORT`, `[V6]:PORT`, or `:PORT` for every
    /// interface. Default loopback only: the labels name paths of this host.
    #[arg(long = "web.listen-address", value_name = "ADDR", default_value = DEFAULT_LISTEN, value_parser = parse_listen)]
    pub listen: Vec<SocketAddr>,
    /// Path of the metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,
    /// Assess at most this often: scrapes closer together are served the last assessment,
    /// and concurrent scrapes share one.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    pub min_interval: Duration,
    /// A scrape that would wait longer than this for an assessment is served the last one,
    /// with its age (drainguard_assessment_age_seconds). Keep it below Prometheus'
    /// scrape_timeout (10s by default).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "8s", value_name = "DURATION")]
    pub scrape_timeout: Duration,
    /// Per-file series (drainguard_file_backlog_bytes) for the N files most behind; 0: none.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub per_file_top: usize,
    /// drainguard's state directory: the drain log and the abandoned-bytes counters.
    #[arg(long, value_name = "DIR", env = "DRAINGUARD_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Where the exporter keeps its abandoned-bytes counters (default: the state directory).
    /// drainguard-exporter.service passes its own StateDirectory= ($STATE_DIRECTORY); links
    /// in it (a dynamic user's state directory is one, into /var/lib/private) are resolved
    /// once, at start.
    #[arg(long, value_name = "DIR")]
    pub counter_dir: Option<PathBuf>,
    /// Find the stores again (shippers installed or started since, stores gone) before a
    /// scrape at most this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", value_name = "DURATION")]
    pub discover_interval: Duration,
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|e| format!("{s}: not HOST:PORT, [V6]:PORT or :PORT with a numeric address ({e})"))
}

fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s == "/" || s.contains(['?', '#', ' ']) {
        return Err(format!(
            "{s}: a path below / (e.g. /metrics); / is the landing page"
        ));
    }
    Ok(s.to_string())
}

/// `status --format prometheus` and `status --textfile FILE`.
pub fn status_metrics(
    global: &Global,
    source: &SourceArgs,
    m: &StatusMetricsArgs,
) -> anyhow::Result<Exit> {
    let sources = source.open(global)?;
    let root = sources.root.clone();
    let mut obs = Observer::new(
        sources,
        source.shipper_pid,
        m.state_dir.clone(),
        m.textfile.is_some(),
    );
    let scrape = obs.scrape();
    let text = metrics::encode(
        &scrape,
        &Options {
            per_file_top: m.per_file_top,
        },
    );
    match &m.textfile {
        Some(file) => write_textfile(&root, file, &text)?,
        None => super::print_report(|out| {
            use std::io::Write;
            out.write_all(text.as_bytes())
        }),
    }
    let drained =
        scrape.failed.is_empty() && scrape.assessment.verdict == crate::backlog::Verdict::Drained;
    Ok(if drained { Exit::Ok } else { Exit::Behind })
}

/// Writes `text` to `file` (below the root) atomically: a temporary file in the same
/// directory that node_exporter ignores (not `*.prom`), fsync, rename.
fn write_textfile(root: &crate::root::Root, file: &Path, text: &str) -> anyhow::Result<()> {
    if file.extension().is_none_or(|e| e != "prom") {
        anyhow::bail!(
            "--textfile {}: node_exporter's textfile collector reads only *.prom files; name it e.g. drainguard.prom",
            crate::display::path(file)
        );
    }
    let host = crate::install::beneath::lexical(&std::path::absolute(file)?);
    crate::install::beneath::Beneath::open(root)
        .and_then(|b| b.write_atomic(&host, text.as_bytes(), 0o644, false))
        .with_context(|| {
            format!(
                "writing the textfile {} (its directory must exist: node_exporter's \
                 --collector.textfile.directory)",
                crate::display::path(&root.host_to_local(&host))
            )
        })
}

/// The abandoned-bytes counters in `status`'s table, when any byte was counted: those of
/// `status --textfile` runs (and of an exporter run by hand) in the state directory, and
/// those of drainguard-exporter.service in its own state directory.
pub fn write_abandoned(
    out: &mut impl std::io::Write,
    root: &crate::root::Root,
    state_dir: &Path,
) -> std::io::Result<()> {
    let unit_dir = Path::new("/var/lib").join(crate::install::exporter::STATE_DIRECTORY);
    write_counters(out, root, state_dir, "--textfile runs")?;
    match crate::metrics::observer::resolve_dir(root, &unit_dir) {
        Ok(dir) => write_counters(out, root, &dir, "drainguard-exporter.service"),
        Err(_) => Ok(()), // not installed, or never started
    }
}

/// One directory's counters, when any byte was counted there.
fn write_counters(
    out: &mut impl std::io::Write,
    root: &crate::root::Root,
    dir: &Path,
    counted_by: &str,
) -> std::io::Result<()> {
    let a = match metrics::abandoned::Abandoned::load(root, dir) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the abandoned-bytes counters");
            return Ok(());
        }
    };
    if a.total() == 0 {
        return Ok(());
    }
    let parts: Vec<String> = a
        .counters
        .iter()
        .flat_map(|(s, m)| {
            m.iter()
                .filter(|(_, n)| **n > 0)
                .map(move |(r, n)| format!("{s} {r} {}", crate::display::bytes(*n)))
        })
        .collect();
    writeln!(
        out,
        "abandoned (undelivered when their file was deleted, rotated away or truncated; \
         counted by {counted_by}): {}",
        parts.join(", ")
    )
}

/// A finished assessment, encoded.
struct Done {
    body: String,
    /// When its reads began.
    at: Instant,
}

#[derive(Default)]
struct State {
    last: Option<Arc<Done>>,
    /// A scrape asked for a fresh assessment.
    wanted: bool,
    /// Finished assessments so far.
    generation: u64,
    /// Scrapes waiting for an assessment now.
    waiting: usize,
    /// An assessment is running: a scrape arriving meanwhile waits for it, and asks for none.
    running: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    min_interval: Duration,
    scrape_timeout: Duration,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The assessment a scrape is served: the last one when young enough, else a fresh one,
    /// else (past the timeout) the last one; `None` before the first ever finished.
    fn serve(&self, timeout: Duration) -> Option<Arc<Done>> {
        let mut st = self.lock();
        if let Some(l) = &st.last {
            if l.at.elapsed() < self.min_interval {
                return Some(l.clone());
            }
        }
        let generation = st.generation;
        if !st.running {
            st.wanted = true;
            self.cv.notify_all();
        }
        // At most a day: an outside `--scrape-timeout 1000y` cannot overflow the clock.
        let until = Instant::now() + timeout.min(self.scrape_timeout).min(DAY);
        st.waiting += 1;
        while st.generation == generation {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .cv
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        st.waiting -= 1;
        st.last.clone()
    }

    /// The assessing thread: waits for a scrape to want one, assesses (`assess` returns the
    /// encoded metrics), publishes.
    fn assess_forever(&self, mut assess: impl FnMut() -> String) {
        loop {
            {
                let mut st = self.lock();
                while !st.wanted {
                    st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.wanted = false;
                st.running = true;
            }
            let at = Instant::now();
            // A bug in an adapter must not end the assessing thread with `running` left set
            // (every later scrape would get the last body, ever older, or 503): the panic is
            // said, the waiting scrapes get the last result, and the next scrape assesses
            // again.
            let body = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut assess));
            let mut st = self.lock();
            match body {
                Ok(body) => st.last = Some(Arc::new(Done { body, at })),
                Err(e) => {
                    let what = e
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| e.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(
                        panic = %what,
                        "internal error: an assessment panicked; the scrape is served the \
                         last result, the next scrape assesses again (please report this bug)"
                    );
                }
            }
            st.generation += 1;
            st.running = false;
            self.cv.notify_all();
        }
    }
}

/// One assessment for a scrape, encoded.
fn assess(obs: &mut Observer, opts: &Options) -> String {
    let scrape = obs.scrape();
    tracing::debug!(
        cost_ms = scrape.duration.as_secs_f64() * 1000.0,
        bytes_behind = scrape.assessment.bytes_behind,
        "assessed for a scrape"
    );
    metrics::encode(&scrape, opts)
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Requests handled at once; more get 503 (a scrape storm cannot pile up threads).
const MAX_IN_FLIGHT: usize = 32;

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    if args.listen.is_empty() {
        anyhow::bail!("--web.listen-address: give at least one address");
    }
    // A named shipper whose store does not exist yet (not started since it was installed)
    // is not an error: it appears when it does (and its series go when it goes).
    let sources = args.source.open_with(global, true)?;
    let counter_dir = match &args.counter_dir {
        Some(d) => crate::metrics::observer::resolve_dir(&sources.root, d).with_context(|| {
            format!(
                "--counter-dir {}: cannot resolve it (it must be an existing directory)",
                crate::display::path(d)
            )
        })?,
        None => args.state_dir.clone(),
    };
    tracing::info!(dir = %crate::display::path(&counter_dir), "abandoned-bytes counters");
    let mut obs = Observer::new(
        sources,
        args.source.shipper_pid,
        args.state_dir.clone(),
        true,
    )
    .with_discovery(Discovery {
        selection: crate::sources::Selection {
            missing_ok: true,
            ..args.source.selection()
        },
        root: crate::root::Root::new(global.root.clone()),
        settings_path: global.settings.clone(),
        every: args.discover_interval,
        last: None,
    });
    obs.counter_dir = counter_dir;
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        cv: Condvar::new(),
        min_interval: args.min_interval,
        scrape_timeout: args.scrape_timeout,
    });
    let mut servers = Vec::new();
    for addr in &args.listen {
        let server = listen(*addr)
            .and_then(|l| tiny_http::Server::from_listener(l, None))
            .map_err(|e| anyhow::anyhow!("--web.listen-address {addr}: cannot listen: {e}"))?;
        let local = server
            .server_addr()
            .to_ip()
            .map(|a| a.to_string())
            .unwrap_or_else(|| addr.to_string());
        tracing::info!(address = %local, path = %args.telemetry_path, "serving metrics");
        // The bound address on stdout, one line each (port 0 picks a free one: tests).
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {local}").and_then(|()| out.flush());
        }
        servers.push(Arc::new(server));
    }
    {
        let shared = shared.clone();
        let opts = Options {
            per_file_top: args.per_file_top,
        };
        std::thread::Builder::new()
            .name("assess".into())
            .spawn(move || {
                let mut obs = obs;
                shared.assess_forever(|| assess(&mut obs, &opts))
            })
            .context("starting the assessing thread")?;
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let path: Arc<str> = args.telemetry_path.into();
    let mut threads = Vec::new();
    for server in servers {
        let (shared, in_flight, path) = (shared.clone(), in_flight.clone(), path.clone());
        threads.push(std::thread::spawn(move || {
            for req in server.incoming_requests() {
                if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let _ = req.respond(text(503, "too many scrapes at once\n"));
                    continue;
                }
                let (shared, in_flight, path) = (shared.clone(), in_flight.clone(), path.clone());
                std::thread::spawn(move || {
                    handle(req, &shared, &path);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(Exit::Behind)
}

/// How long writing a response may block (a client that never reads): past it the write
/// fails and the request's thread ends, so slow clients cannot hold every request slot.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listening socket, with a [`WRITE_TIMEOUT`] send timeout that every accepted
/// connection inherits (Linux copies `SO_SNDTIMEO` on accept; tiny_http does not expose the
/// connections' streams). No receive timeout: on a listener it would time out `accept`.
fn listen(
    addr: SocketAddr,
) -> Result<std::net::TcpListener, Box<dyn std::error::Error + Send + Sync>> {
    let l = std::net::TcpListener::bind(addr)?;
    rustix::net::sockopt::set_socket_timeout(
        &l,
        rustix::net::sockopt::Timeout::Send,
        Some(WRITE_TIMEOUT),
    )?;
    Ok(l)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid static header")
}

fn text(code: u16, body: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// The time this scrape may wait: 80 % of the timeout Prometheus announces in
/// `X-Prometheus-Scrape-Timeout-Seconds` (the rest for the transfer), else unbounded here
/// (`--scrape-timeout` applies either way).
fn scrape_timeout(req: &tiny_http::Request) -> Duration {
    req.headers()
        .iter()
        .find(|h| h.field.equiv("X-Prometheus-Scrape-Timeout-Seconds"))
        .and_then(|h| h.value.as_str().trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s * 0.8).ok())
        .unwrap_or(Duration::MAX)
}

fn handle(req: tiny_http::Request, shared: &Shared, path: &str) {
    use tiny_http::Method;
    if !matches!(req.method(), Method::Get | Method::Head) {
        let _ = req.respond(text(405, "only GET and HEAD\n"));
        return;
    }
    let url = req.url().split('?').next().unwrap_or_default().to_string();
    if url == "/" {
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>drainguard exporter</title></head><body>\n\
             <h1>drainguard exporter</h1>\n<p>What every log shipper on this host still owes.</p>\n\
             <p><a href=\"{path}\">Metrics</a></p>\n<p>drainguard {}</p>\n</body></html>\n",
            env!("CARGO_PKG_VERSION")
        );
        let _ = req.respond(
            tiny_http::Response::from_string(html)
                .with_header(header("Content-Type", "text/html; charset=utf-8")),
        );
        return;
    }
    if url != path {
        let _ = req.respond(text(
            404,
            "not found; the metrics are at the telemetry path\n",
        ));
        return;
    }
    match shared.serve(scrape_timeout(&req)) {
        Some(done) => {
            let mut body = String::with_capacity(done.body.len() + 256);
            body.push_str(&done.body);
            body.push_str(&metrics::encode_age(done.at.elapsed()));
            let _ = req.respond(
                tiny_http::Response::from_string(body)
                    .with_header(header("Content-Type", metrics::CONTENT_TYPE)),
            );
        }
        None => {
            let _ = req.respond(text(
                503,
                "the first assessment is still running (longer than --scrape-timeout)\n",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn shared(min_interval: Duration, scrape_timeout: Duration) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::default(),
            cv: Condvar::new(),
            min_interval,
            scrape_timeout,
        })
    }

    /// An assessing thread whose assessments each wait for a release; returns the releaser
    /// and the count of assessments started.
    fn assessor(s: &Arc<Shared>) -> (mpsc::Sender<()>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::channel::<()>();
        let n = Arc::new(AtomicUsize::new(0));
        let (s, n2) = (s.clone(), n.clone());
        std::thread::spawn(move || {
            s.assess_forever(|| {
                let i = n2.fetch_add(1, Ordering::SeqCst);
                let _ = rx.recv();
                format!("assessment {i}\n")
            })
        });
        (tx, n)
    }

    fn waiting(s: &Shared) -> usize {
        s.lock().waiting
    }

    #[test]
    fn concurrent_scrapes_share_one_assessment() {
        let s = shared(Duration::ZERO, Duration::from_secs(600));
        let (release, started) = assessor(&s);
        let scrapes: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.serve(Duration::MAX).unwrap().body.clone())
            })
            .collect();
        while waiting(&s) < 8 {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        for t in scrapes {
            assert_eq!(t.join().unwrap(), "assessment 0\n");
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one assessment for 8 scrapes"
        );
    }

    #[test]
    fn an_assessment_that_panics_does_not_stop_the_next() {
        let s = shared(Duration::ZERO, Duration::from_secs(5));
        let n = Arc::new(AtomicUsize::new(0));
        let (s2, n2) = (s.clone(), n.clone());
        std::thread::spawn(move || {
            s2.assess_forever(|| {
                let i = n2.fetch_add(1, Ordering::SeqCst);
                assert!(i != 1, "a bug in an adapter");
                format!("assessment {i}\n")
            })
        });
        assert_eq!(s.serve(Duration::MAX).unwrap().body, "assessment 0\n");
        // The second panics: its scrape is served the last result, without waiting out the
        // timeout; the third assesses again.
        assert_eq!(s.serve(Duration::MAX).unwrap().body, "assessment 0\n");
        assert_eq!(s.serve(Duration::MAX).unwrap().body, "assessment 2\n");
    }

    #[test]
    fn accepted_connections_have_the_write_timeout() {
        let l = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (conn, _) = l.accept().unwrap();
        assert_eq!(conn.write_timeout().unwrap(), Some(WRITE_TIMEOUT));
    }

    #[test]
    fn a_scrape_within_min_interval_is_served_the_last_assessment() {
        let s = shared(Duration::from_secs(600), Duration::from_secs(600));
        let (release, started) = assessor(&s);
        release.send(()).unwrap();
        assert_eq!(s.serve(Duration::MAX).unwrap().body, "assessment 0\n");
        assert_eq!(s.serve(Duration::MAX).unwrap().body, "assessment 0\n");
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_scrape_past_the_timeout_is_served_the_last_result_or_none_before_the_first() {
        let s = shared(Duration::ZERO, Duration::from_millis(50));
        let (release, _) = assessor(&s);
        // The first assessment hangs: nothing to serve yet.
        assert!(s.serve(Duration::MAX).is_none());
        release.send(()).unwrap();
        // The second hangs too: the first is served, with its age.
        let mut served = None;
        while served.is_none() {
            served = s.serve(Duration::MAX);
        }
        let done = served.unwrap();
        assert_eq!(done.body, "assessment 0\n");
        assert!(s
            .serve(Duration::MAX)
            .is_some_and(|d| Arc::ptr_eq(&d, &done)));
        assert!(
            metrics::encode_age(done.at.elapsed()).contains("drainguard_assessment_age_seconds ")
        );
    }

    #[test]
    fn listen_addresses_and_paths_are_checked() {
        assert_eq!(parse_listen(":10133").unwrap().to_string(), "0.0.0.0:10133");
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_listen("localhost:9").is_err());
        assert!(parse_telemetry_path("/").is_err());
        assert!(parse_telemetry_path("metrics").is_err());
        assert_eq!(parse_telemetry_path("/metrics").unwrap(), "/metrics");
    }
}
