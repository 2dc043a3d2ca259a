//! The Auto Scaling API (official AWS SDK, default credential chain = the instance profile):
//! which group and termination hook hold this instance, heartbeats, and completion.
//!
//! The SDK is async; drainguard's drain is synchronous, so each call is run to completion on
//! a small private tokio runtime. [`Asg`] is `Sync`: the heartbeat thread and the drain share it.

use std::time::Duration;

use aws_sdk_autoscaling::error::DisplayErrorContext;
use aws_sdk_autoscaling::Client;

use super::imds::Imds;

/// The lifecycle transition drainguard holds.
pub const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// Instance tag IMDS exposes when "instance metadata tags" are enabled.
pub const GROUP_TAG_PATH: &str = "/latest/meta-data/tags/instance/aws:autoscaling:groupName";
/// Auto Scaling's default heartbeat timeout.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AsgError {
    #[error("Auto Scaling {op} failed: {message}")]
    Api {
        op: &'static str,
        /// The service's error code (AccessDenied, ValidationError, Throttling...), if any.
        code: Option<String>,
        message: String,
    },
    #[error(
        "instance {0} is not in any Auto Scaling group (DescribeAutoScalingInstances is empty)"
    )]
    NotInGroup(String),
    #[error(
        "Auto Scaling group {0} has no lifecycle hook for {TERMINATING}: nothing holds the \
         instance while it drains; create one (see docs/aws.md) or name it with --hook"
    )]
    NoHook(String),
    #[error("Auto Scaling group {group} has no lifecycle hook named {hook}")]
    HookNotFound { group: String, hook: String },
    #[error("cannot start the async runtime for the AWS SDK: {0}")]
    Runtime(std::io::Error),
}

impl AsgError {
    pub fn code(&self) -> Option<&str> {
        match self {
            AsgError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

fn api_error<E>(op: &'static str, e: aws_sdk_autoscaling::error::SdkError<E>) -> AsgError
where
    E: std::error::Error + aws_sdk_autoscaling::error::ProvideErrorMetadata + 'static,
{
    use aws_sdk_autoscaling::error::ProvideErrorMetadata;
    // A service error: its code, message and status; anything else (transport, timeout,
    // credentials): the whole chain of causes.
    let message = match (e.code(), e.raw_response()) {
        (Some(code), Some(raw)) => format!(
            "{code}: {} (HTTP {})",
            e.message().unwrap_or("no message"),
            raw.status().as_u16()
        ),
        _ => DisplayErrorContext(&e).to_string(),
    };
    AsgError::Api {
        op,
        code: e.code().map(str::to_string),
        message,
    }
}

/// The lifecycle hook that holds a terminating instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    pub heartbeat_timeout: Duration,
    pub default_result: Option<String>,
}

impl Hook {
    /// How long Auto Scaling holds an instance at most, heartbeats or not: 48 hours or 100
    /// heartbeat timeouts, whichever is less.
    pub fn global_timeout(&self) -> Duration {
        Duration::from_secs(48 * 3600).min(self.heartbeat_timeout * 100)
    }
}

/// The lifecycle action drainguard completes: instance, group and hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub instance_id: String,
    pub group: String,
    pub hook: Hook,
}

/// The Auto Scaling API client.
#[derive(Debug)]
pub struct Asg {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Asg {
    /// Loads the default AWS configuration (environment, profile, instance profile; region
    /// from the environment or IMDS); `endpoint` overrides the service endpoint (tests).
    /// AWS_ENDPOINT_URL_AUTO_SCALING is honoured by the SDK itself.
    pub fn new(endpoint: Option<&str>) -> Result<Asg, AsgError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(AsgError::Runtime)?;
        // rustls with ring rather than the SDK's default aws-lc: the same TLS, without
        // aws-lc-sys, the single slowest crate of the build (about 2 CPU minutes).
        use aws_smithy_http_client::tls;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let shared = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(http)
                .load(),
        );
        let mut conf = aws_sdk_autoscaling::config::Builder::from(&shared);
        if let Some(url) = endpoint {
            conf = conf.endpoint_url(url);
        }
        Ok(Asg {
            rt,
            client: Client::from_conf(conf.build()),
        })
    }

    /// The group of `instance_id`: the `aws:autoscaling:groupName` instance tag from IMDS when
    /// `use_tags` (needs instance metadata tags enabled), else DescribeAutoScalingInstances.
    pub fn group_of(&self, imds: Option<&Imds>, instance_id: &str) -> Result<String, AsgError> {
        if let Some(imds) = imds {
            match imds.get(GROUP_TAG_PATH) {
                Ok(Some(g)) if !g.trim().is_empty() => return Ok(g.trim().to_string()),
                Ok(_) => tracing::debug!("no group tag in the instance metadata; asking the API"),
                Err(e) => tracing::warn!(error = %e, "cannot read the group tag; asking the API"),
            }
        }
        let out = self
            .rt
            .block_on(
                self.client
                    .describe_auto_scaling_instances()
                    .instance_ids(instance_id)
                    .send(),
            )
            .map_err(|e| api_error("DescribeAutoScalingInstances", e))?;
        out.auto_scaling_instances()
            .iter()
            .find_map(|i| i.auto_scaling_group_name().map(str::to_string))
            .ok_or_else(|| AsgError::NotInGroup(instance_id.to_string()))
    }

    /// The group's termination hook: the one named `name`, else the only (first) hook whose
    /// transition is EC2_INSTANCE_TERMINATING.
    pub fn termination_hook(&self, group: &str, name: Option<&str>) -> Result<Hook, AsgError> {
        let mut call = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(group);
        if let Some(n) = name {
            call = call.lifecycle_hook_names(n);
        }
        let out = self
            .rt
            .block_on(call.send())
            .map_err(|e| api_error("DescribeLifecycleHooks", e))?;
        let found = out.lifecycle_hooks().iter().find(|h| match name {
            Some(n) => h.lifecycle_hook_name() == Some(n),
            None => h.lifecycle_transition() == Some(TERMINATING),
        });
        let Some(h) = found else {
            return Err(match name {
                Some(n) => AsgError::HookNotFound {
                    group: group.to_string(),
                    hook: n.to_string(),
                },
                None => AsgError::NoHook(group.to_string()),
            });
        };
        Ok(Hook {
            name: h.lifecycle_hook_name().unwrap_or_default().to_string(),
            heartbeat_timeout: h
                .heartbeat_timeout()
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_HEARTBEAT_TIMEOUT),
            default_result: h.default_result().map(str::to_string),
        })
    }

    /// RecordLifecycleActionHeartbeat: restarts the hook's heartbeat timeout.
    pub fn heartbeat(&self, t: &Target) -> Result<(), AsgError> {
        self.rt
            .block_on(
                self.client
                    .record_lifecycle_action_heartbeat()
                    .auto_scaling_group_name(&t.group)
                    .lifecycle_hook_name(&t.hook.name)
                    .instance_id(&t.instance_id)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| api_error("RecordLifecycleActionHeartbeat", e))
    }

    /// CompleteLifecycleAction with `result` (CONTINUE): lets the termination proceed.
    pub fn complete(&self, t: &Target, result: &str) -> Result<(), AsgError> {
        self.rt
            .block_on(
                self.client
                    .complete_lifecycle_action()
                    .auto_scaling_group_name(&t.group)
                    .lifecycle_hook_name(&t.hook.name)
                    .instance_id(&t.instance_id)
                    .lifecycle_action_result(result)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| api_error("CompleteLifecycleAction", e))
    }
}

/// How often to heartbeat for a hook: a third of its timeout (so two may fail in a row),
/// at least every `floor`.
pub fn heartbeat_interval(timeout: Duration, floor: Duration) -> Duration {
    (timeout / 3).max(floor)
}
