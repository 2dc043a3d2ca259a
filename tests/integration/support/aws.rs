//! Local fakes of the AWS endpoints `aws watch` talks to, on 127.0.0.1 only:
//! an instance metadata service that enforces IMDSv2, and an Auto Scaling API speaking the
//! AWS query protocol (form-encoded POST `Action=...`, XML answers) that records heartbeats
//! and completions and enforces the hook's heartbeat timeout.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tiny_http::{Header, Method, Request, Response, Server};

/// A fault injected into the next request(s).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status (429, 503, 500...).
    Status(u16),
    /// Answer only after this long (slower than the client's timeout).
    Delay(Duration),
    /// Auto Scaling: an error response with this status and code.
    ApiError(u16, &'static str),
}

fn respond(req: Request, status: u16, body: String, ctype: &str) {
    let resp = Response::from_string(body)
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", ctype).unwrap());
    let _ = req.respond(resp);
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn serve<S: Send + 'static>(
    state: Arc<Mutex<S>>,
    handle: fn(&Arc<Mutex<S>>, Request),
) -> (Arc<Server>, String) {
    let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let s = Arc::clone(&server);
    std::thread::spawn(move || {
        for req in s.incoming_requests() {
            let st = Arc::clone(&state);
            std::thread::spawn(move || handle(&st, req));
        }
    });
    (server, url)
}

// ---------------------------------------------------------------- IMDS

#[derive(Debug, Default)]
pub struct ImdsState {
    tokens: HashMap<String, Instant>,
    next_token: u64,
    pub instance_id: String,
    pub target_state: String,
    pub spot: Option<String>,
    pub group_tag: Option<String>,
    /// Token PUTs refused with 403 (IMDSv2 not available).
    pub refuse_tokens: bool,
    pub faults: VecDeque<Fault>,
    pub token_puts: u32,
    pub rejected_401: u32,
    pub faults_served: u32,
    pub ok_reads: u32,
}

/// The metadata service fake.
pub struct FakeImds {
    server: Arc<Server>,
    pub url: String,
    pub state: Arc<Mutex<ImdsState>>,
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

impl FakeImds {
    pub fn start(instance_id: &str) -> FakeImds {
        let state = Arc::new(Mutex::new(ImdsState {
            instance_id: instance_id.to_string(),
            target_state: "InService".into(),
            ..ImdsState::default()
        }));
        let (server, url) = serve(Arc::clone(&state), imds_handle);
        FakeImds { server, url, state }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut ImdsState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Auto Scaling starts terminating the instance.
    pub fn terminate(&self) {
        self.with(|s| s.target_state = "Terminated".into());
    }

    /// Posts a spot interruption notice for `at`.
    pub fn spot_notice(&self, action: &str, at: SystemTime) {
        let time = humantime::format_rfc3339_seconds(at).to_string();
        self.with(|s| s.spot = Some(format!(r#"{{"action": "{action}", "time": "{time}"}}"#)));
    }

    /// Forgets every token (as after a restart of the service).
    pub fn forget_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }
}

fn imds_handle(st: &Arc<Mutex<ImdsState>>, req: Request) {
    let fault = st.lock().unwrap().faults.pop_front();
    if let Some(f) = fault {
        st.lock().unwrap().faults_served += 1;
        match f {
            Fault::Status(code) | Fault::ApiError(code, _) => {
                return respond(req, code, String::new(), "text/plain")
            }
            Fault::Delay(d) => std::thread::sleep(d),
        }
    }
    let path = req.url().to_string();
    let mut s = st.lock().unwrap();
    if *req.method() == Method::Put && path == "/latest/api/token" {
        if s.refuse_tokens {
            drop(s);
            return respond(req, 403, String::new(), "text/plain");
        }
        let ttl = header(&req, "X-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| (1..=21600).contains(t));
        let Some(ttl) = ttl else {
            drop(s);
            return respond(
                req,
                400,
                "missing or invalid TTL header".into(),
                "text/plain",
            );
        };
        s.next_token += 1;
        s.token_puts += 1;
        let tok = format!("token-{}-{}", s.next_token, std::process::id());
        s.tokens
            .insert(tok.clone(), Instant::now() + Duration::from_secs(ttl));
        drop(s);
        return respond(req, 200, tok, "text/plain");
    }
    if *req.method() != Method::Get {
        drop(s);
        return respond(req, 405, String::new(), "text/plain");
    }
    let valid = header(&req, "X-aws-ec2-metadata-token")
        .and_then(|t| s.tokens.get(t))
        .is_some_and(|exp| Instant::now() < *exp);
    if !valid {
        s.rejected_401 += 1;
        drop(s);
        return respond(req, 401, String::new(), "text/plain");
    }
    let body = match path.as_str() {
        "/latest/meta-data/instance-id" => Some(s.instance_id.clone()),
        "/latest/meta-data/autoscaling/target-lifecycle-state" => Some(s.target_state.clone()),
        "/latest/meta-data/spot/instance-action" => s.spot.clone(),
        "/latest/meta-data/tags/instance/aws:autoscaling:groupName" => s.group_tag.clone(),
        _ => None,
    };
    match body {
        Some(b) => {
            s.ok_reads += 1;
            drop(s);
            respond(req, 200, b, "text/plain")
        }
        None => {
            drop(s);
            respond(req, 404, String::new(), "text/html")
        }
    }
}

// ---------------------------------------------------------------- Auto Scaling

#[derive(Debug, Clone)]
pub struct HookDef {
    pub name: String,
    pub group: String,
    pub transition: String,
    pub heartbeat_timeout: Duration,
    pub default_result: String,
}

/// What happened to the instance's lifecycle action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionState {
    Pending,
    /// CompleteLifecycleAction with this result.
    Completed(String),
    /// No heartbeat or completion within the heartbeat timeout: the default result applied.
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub instance: String,
    pub group: String,
    pub hook: String,
    pub expires: Instant,
    pub state: ActionState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub instance: String,
    pub group: String,
    pub hook: String,
    pub result: String,
}

#[derive(Debug, Default)]
pub struct AsgState {
    pub instances: HashMap<String, String>,
    pub hooks: Vec<HookDef>,
    pub action: Option<Action>,
    pub heartbeats: Vec<Instant>,
    pub completions: Vec<Completion>,
    /// Faults per Action name, served in order.
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub calls: Vec<String>,
    /// Every call answers AccessDenied.
    pub deny: bool,
}

impl AsgState {
    fn expire(&mut self) {
        if let Some(a) = &mut self.action {
            if a.state == ActionState::Pending && Instant::now() >= a.expires {
                a.state = ActionState::TimedOut;
            }
        }
    }
}

pub struct FakeAsg {
    server: Arc<Server>,
    pub url: String,
    pub state: Arc<Mutex<AsgState>>,
}

impl Drop for FakeAsg {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

impl FakeAsg {
    /// A group with one instance and one termination hook.
    pub fn start(instance: &str, group: &str, hook: &str, heartbeat_timeout: Duration) -> FakeAsg {
        let state = Arc::new(Mutex::new(AsgState::default()));
        {
            let mut s = state.lock().unwrap();
            s.instances.insert(instance.into(), group.into());
            s.hooks.push(HookDef {
                name: "launch-warmup".into(),
                group: group.into(),
                transition: "autoscaling:EC2_INSTANCE_LAUNCHING".into(),
                heartbeat_timeout: Duration::from_secs(300),
                default_result: "ABANDON".into(),
            });
            s.hooks.push(HookDef {
                name: hook.into(),
                group: group.into(),
                transition: "autoscaling:EC2_INSTANCE_TERMINATING".into(),
                heartbeat_timeout,
                default_result: "CONTINUE".into(),
            });
        }
        let (server, url) = serve(Arc::clone(&state), asg_handle);
        FakeAsg { server, url, state }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut AsgState) -> R) -> R {
        let mut s = self.state.lock().unwrap();
        s.expire();
        f(&mut s)
    }

    /// Auto Scaling puts the instance into Terminating:Wait under the termination hook.
    pub fn begin_termination(&self, instance: &str) {
        self.with(|s| {
            let group = s.instances[instance].clone();
            let hook = s
                .hooks
                .iter()
                .find(|h| h.group == group && h.transition.ends_with("TERMINATING"))
                .unwrap()
                .clone();
            s.action = Some(Action {
                instance: instance.into(),
                group,
                hook: hook.name,
                expires: Instant::now() + hook.heartbeat_timeout,
                state: ActionState::Pending,
            });
        })
    }

    pub fn action_state(&self) -> Option<ActionState> {
        self.with(|s| s.action.as_ref().map(|a| a.state.clone()))
    }

    pub fn fail(&self, action: &str, faults: &[Fault]) {
        self.with(|s| {
            s.faults
                .entry(action.into())
                .or_default()
                .extend(faults.iter().cloned())
        });
    }
}

const NS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn ok_xml(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>fake-0001</RequestId></ResponseMetadata></{action}Response>"
    )
}

fn err_xml(code: &str, msg: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>fake-0002</RequestId></ErrorResponse>",
        xml_escape(msg)
    )
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn asg_handle(st: &Arc<Mutex<AsgState>>, mut req: Request) {
    let mut body = String::new();
    let _ = req.as_reader().read_to_string(&mut body);
    let p = form(&body);
    let action = p.get("Action").cloned().unwrap_or_default();
    let signed = header(&req, "Authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"));
    let mut s = st.lock().unwrap();
    s.expire();
    s.calls.push(action.clone());
    if !signed || *req.method() != Method::Post {
        drop(s);
        return respond(
            req,
            403,
            err_xml("MissingAuthenticationToken", "unsigned"),
            "text/xml",
        );
    }
    if p.get("Version").map(String::as_str) != Some("2011-01-01") {
        drop(s);
        return respond(
            req,
            400,
            err_xml("InvalidAction", "bad Version"),
            "text/xml",
        );
    }
    if s.deny {
        drop(s);
        return respond(
            req,
            403,
            err_xml(
                "AccessDenied",
                &format!("not authorized to perform: autoscaling:{action}"),
            ),
            "text/xml",
        );
    }
    if let Some(f) = s.faults.get_mut(&action).and_then(|q| q.pop_front()) {
        drop(s);
        return match f {
            Fault::Status(code) => respond(
                req,
                code,
                err_xml("InternalFailure", "injected"),
                "text/xml",
            ),
            Fault::ApiError(code, c) => respond(req, code, err_xml(c, "injected"), "text/xml"),
            Fault::Delay(d) => {
                std::thread::sleep(d);
                respond(req, 503, err_xml("ServiceUnavailable", "slow"), "text/xml")
            }
        };
    }
    let list = |prefix: &str| -> Vec<String> {
        (1..)
            .map_while(|i| p.get(&format!("{prefix}.member.{i}")).cloned())
            .collect()
    };
    let (status, xml) = match action.as_str() {
        "DescribeAutoScalingInstances" => {
            let members: String = list("InstanceIds")
                .iter()
                .filter_map(|id| s.instances.get(id).map(|g| (id, g)))
                .map(|(id, g)| {
                    let state = match &s.action {
                        Some(a) if a.instance == *id && a.state == ActionState::Pending => "Terminating:Wait",
                        _ => "InService",
                    };
                    format!(
                        "<member><InstanceId>{id}</InstanceId><AutoScalingGroupName>{g}</AutoScalingGroupName>\
                         <AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>{state}</LifecycleState>\
                         <HealthStatus>HEALTHY</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
                    )
                })
                .collect();
            (
                200,
                ok_xml(
                    &action,
                    &format!("<AutoScalingInstances>{members}</AutoScalingInstances>"),
                ),
            )
        }
        "DescribeLifecycleHooks" => {
            let group = p.get("AutoScalingGroupName").cloned().unwrap_or_default();
            let names = list("LifecycleHookNames");
            let members: String = s
                .hooks
                .iter()
                .filter(|h| h.group == group && (names.is_empty() || names.contains(&h.name)))
                .map(|h| {
                    format!(
                        "<member><LifecycleHookName>{}</LifecycleHookName><AutoScalingGroupName>{}</AutoScalingGroupName>\
                         <LifecycleTransition>{}</LifecycleTransition><HeartbeatTimeout>{}</HeartbeatTimeout>\
                         <GlobalTimeout>{}</GlobalTimeout><DefaultResult>{}</DefaultResult></member>",
                        h.name,
                        h.group,
                        h.transition,
                        h.heartbeat_timeout.as_secs(),
                        (h.heartbeat_timeout.as_secs() * 100).min(172800),
                        h.default_result
                    )
                })
                .collect();
            (
                200,
                ok_xml(
                    &action,
                    &format!("<LifecycleHooks>{members}</LifecycleHooks>"),
                ),
            )
        }
        "RecordLifecycleActionHeartbeat" | "CompleteLifecycleAction" => {
            let (inst, group, hook) = (
                p.get("InstanceId").cloned().unwrap_or_default(),
                p.get("AutoScalingGroupName").cloned().unwrap_or_default(),
                p.get("LifecycleHookName").cloned().unwrap_or_default(),
            );
            let result = p.get("LifecycleActionResult").cloned();
            let timeout = s
                .hooks
                .iter()
                .find(|h| h.name == hook && h.group == group)
                .map(|h| h.heartbeat_timeout);
            let active = matches!(&s.action, Some(a) if a.instance == inst && a.group == group
                && a.hook == hook && a.state == ActionState::Pending);
            if !active {
                (
                    400,
                    err_xml(
                        "ValidationError",
                        &format!("No active Lifecycle Action found with instance ID {inst}"),
                    ),
                )
            } else if action == "CompleteLifecycleAction" {
                match result.as_deref() {
                    Some(r @ ("CONTINUE" | "ABANDON")) => {
                        s.action.as_mut().unwrap().state = ActionState::Completed(r.into());
                        s.completions.push(Completion {
                            instance: inst,
                            group,
                            hook,
                            result: r.into(),
                        });
                        (200, ok_xml(&action, ""))
                    }
                    _ => (
                        400,
                        err_xml(
                            "ValidationError",
                            "LifecycleActionResult must be CONTINUE or ABANDON",
                        ),
                    ),
                }
            } else {
                s.action.as_mut().unwrap().expires = Instant::now() + timeout.unwrap();
                s.heartbeats.push(Instant::now());
                (200, ok_xml(&action, ""))
            }
        }
        _ => (
            400,
            err_xml("InvalidAction", &format!("unknown action {action}")),
        ),
    };
    drop(s);
    respond(req, status, xml, "text/xml");
}

/// Points a drainguard command at the fakes, with test credentials and nothing from the host.
pub fn env_for(cmd: &mut std::process::Command, imds: &FakeImds, asg: &FakeAsg) {
    cmd.env("DRAINGUARD_IMDS_ENDPOINT", &imds.url)
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &asg.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
}
