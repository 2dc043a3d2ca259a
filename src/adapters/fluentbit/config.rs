//! The parts of a Fluent Bit config (classic `[SECTION]` or YAML) that locate its tail inputs,
//! their DBs and chunk directories, and its HTTP API.

use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// One `tail` input of a Fluent Bit config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailInput {
    /// The instance name Fluent Bit gives it, `tail.<N>` with N its position among *all*
    /// inputs of the config (flb_input.c `instance_id`); its chunk directory is named so.
    pub instance: String,
    /// `Alias`: the name the HTTP API reports it under instead, when set.
    pub alias: Option<String>,
    pub path: Vec<String>,
    pub exclude: Vec<String>,
    pub db: Option<PathBuf>,
    /// `storage.type filesystem`: its chunks are files under `<storage.path>/<instance>/`.
    pub fs_storage: bool,
    /// False when an include (not followed) comes before it: its `tail.<N>` may be off.
    pub numbered: bool,
}

impl TailInput {
    /// The name in the HTTP API's `input_chunks` (flb_input_name: the alias, else the name);
    /// `None` when neither is certain.
    pub fn api_name(&self) -> Option<&str> {
        match &self.alias {
            Some(a) => Some(a),
            None => self.numbered.then_some(self.instance.as_str()),
        }
    }

    fn new(index: usize, numbered: bool, get: impl Fn(&str) -> Option<String>) -> TailInput {
        TailInput {
            instance: format!("tail.{index}"),
            alias: get("alias"),
            path: get("path").map(|v| split_list(&v)).unwrap_or_default(),
            exclude: get("exclude_path")
                .map(|v| split_list(&v))
                .unwrap_or_default(),
            db: get("db").map(PathBuf::from),
            fs_storage: get("storage.type").is_some_and(|t| t.eq_ignore_ascii_case("filesystem")),
            numbered,
        }
    }
}

/// What a Fluent Bit config tells drainguard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluentBitConf {
    pub inputs: Vec<TailInput>,
    /// `http://host:port` when `HTTP_Server On`.
    pub http: Option<String>,
    /// `[SERVICE] storage.path`: the root of filesystem-buffered chunks.
    pub storage_path: Option<PathBuf>,
    /// `@INCLUDE` lines (classic) or `includes:` entries (YAML), which drainguard does not
    /// follow.
    pub includes: Vec<String>,
    /// `Emitter_Name`s of rewrite_tag and multiline filters: the inputs their re-emitted
    /// records wait in.
    pub emitters: Vec<String>,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The HTTP API's base URL for `HTTP_Listen` / `HTTP_Port` (defaults 0.0.0.0 and 2020).
fn api_base(listen: Option<String>, port: Option<String>) -> Option<String> {
    // A port drainguard cannot read (`${PORT}`) is no API rather than someone else's.
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 2020,
    };
    crate::adapters::common::http_base(listen.as_deref().unwrap_or("0.0.0.0"), port)
}

/// `value` with every `${NAME}` of `vars` replaced.
fn expand(value: &str, vars: &[(String, String)]) -> String {
    vars.iter().fold(value.to_string(), |v, (name, val)| {
        v.replace(&format!("${{{name}}}"), val)
    })
}

/// Parses a classic `fluent-bit.conf` (`[SECTION]` + `Key Value` lines).
pub fn parse_classic(text: &str) -> FluentBitConf {
    let mut conf = FluentBitConf::default();
    // `@SET NAME=value` definitions, expanded as `${NAME}` in later values (variables from
    // Fluent Bit's environment are not known here and stay as written).
    let mut vars: Vec<(String, String)> = Vec::new();
    // Each section, whether no include came before it, and its properties.
    type Section = (String, bool, Vec<(String, String)>);
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('@') {
            if l.to_ascii_lowercase().starts_with("@include") {
                conf.includes.push(l.to_string());
            } else if let Some((k, v)) = l
                .get(..4)
                .filter(|d| d.eq_ignore_ascii_case("@set"))
                .and_then(|_| l[4..].trim().split_once('='))
            {
                // A later definition replaces an earlier one.
                vars.retain(|(name, _)| name != k.trim());
                vars.push((k.trim().to_string(), v.trim().to_string()));
            }
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            sections.push((
                l[1..l.len() - 1].trim().to_ascii_lowercase(),
                conf.includes.is_empty(),
                Vec::new(),
            ));
        } else if let Some((_, _, kv)) = sections.last_mut() {
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            kv.push((k.to_ascii_lowercase(), expand(v.trim(), &vars)));
        }
    }
    let mut index = 0;
    for (name, numbered, kv) in sections {
        let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        if name == "service" {
            if get("http_server").is_some_and(|v| v.eq_ignore_ascii_case("on")) {
                conf.http = api_base(get("http_listen"), get("http_port"));
            }
            conf.storage_path = get("storage.path").map(PathBuf::from);
        }
        if name == "filter" {
            conf.emitters.extend(get("emitter_name"));
        }
        if name == "input" {
            if get("name").is_some_and(|n| n.eq_ignore_ascii_case("tail")) {
                conf.inputs.push(TailInput::new(index, numbered, get));
            }
            index += 1;
        }
    }
    conf
}

/// Parses a YAML `fluent-bit.yaml` (`service:` and `pipeline: inputs:`).
pub fn parse_yaml(path: &Path, text: &str) -> Result<FluentBitConf, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| StoreError::Config {
            path: path.into(),
            what: e.to_string(),
        })?;
    // Fluent Bit's property names are not case-sensitive.
    let get = |m: &serde_yaml_ng::Value, k: &str| -> Option<serde_yaml_ng::Value> {
        m.as_mapping()?
            .iter()
            .find(|(mk, _)| mk.as_str().is_some_and(|mk| mk.eq_ignore_ascii_case(k)))
            .map(|(_, v)| v.clone())
    };
    let s = |v: Option<serde_yaml_ng::Value>| -> Option<String> {
        v.and_then(|v| match v {
            serde_yaml_ng::Value::String(s) => Some(s),
            serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
            serde_yaml_ng::Value::Bool(b) => Some(if b { "on".into() } else { "off".into() }),
            _ => None,
        })
    };
    let mut conf = FluentBitConf::default();
    if let Some(svc) = get(&v, "service") {
        if s(get(&svc, "http_server")).is_some_and(|x| x.eq_ignore_ascii_case("on") || x == "true")
        {
            conf.http = api_base(s(get(&svc, "http_listen")), s(get(&svc, "http_port")));
        }
        conf.storage_path = s(get(&svc, "storage.path")).map(PathBuf::from);
    }
    match get(&v, "includes") {
        Some(serde_yaml_ng::Value::Sequence(list)) => conf.includes.extend(
            list.into_iter()
                .filter_map(|i| s(Some(i)))
                .map(|i| format!("includes: {i}")),
        ),
        Some(one) => conf
            .includes
            .extend(s(Some(one)).map(|i| format!("includes: {i}"))),
        None => {}
    }
    // Included files' inputs may come first: no instance number is certain then.
    let numbered = conf.includes.is_empty();
    let filters = get(&v, "pipeline").and_then(|p| get(&p, "filters"));
    conf.emitters.extend(
        filters
            .as_ref()
            .and_then(|f| f.as_sequence())
            .into_iter()
            .flatten()
            .filter_map(|f| s(get(f, "emitter_name"))),
    );
    let inputs = get(&v, "pipeline").and_then(|p| get(&p, "inputs"));
    for (index, i) in inputs
        .as_ref()
        .and_then(|i| i.as_sequence())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if s(get(i, "name")).is_some_and(|n| n.eq_ignore_ascii_case("tail")) {
            conf.inputs
                .push(TailInput::new(index, numbered, |k| s(get(i, k))));
        }
    }
    Ok(conf)
}
