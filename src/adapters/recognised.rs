//! The shippers drainguard recognises running but cannot read (yet): their descriptors. A
//! running one makes the verdict "unconfirmed", naming why, never "nothing to drain".

use super::shipper::{flag, getopt, m, Access, ShipperInfo, Target};
use crate::cursor::ShipperKind;

pub static ELASTIC_AGENT: ShipperInfo = ShipperInfo {
    kind: ShipperKind::ElasticAgent,
    name: "elastic-agent",
    aliases: &[],
    processes: &[m(&["elastic-agent"])],
    flags: &[flag(&["-c", "--c"], Target::Config)],
    services: &["elastic-agent"],
    config_paths: &[],
    data_paths: &[],
    max_line_bytes: None,
    glob_depth: 32,
    config_syntax: None,
    api: None,
    access: Access::RecognisedOnly {
        why: "drainguard cannot read Elastic Agent's queues (it reads a standalone \
                Filebeat's registry)",
    },
};

pub static NXLOG: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Nxlog,
    name: "nxlog",
    aliases: &[],
    processes: &[m(&["nxlog"])],
    flags: &[getopt(&["-c", "--conf"], Target::Config)],
    services: &["nxlog"],
    config_paths: &[],
    data_paths: &[],
    max_line_bytes: None,
    glob_depth: 32,
    config_syntax: None,
    api: None,
    access: Access::RecognisedOnly {
        why: "drainguard cannot read NXLog's configcache yet",
    },
};

pub static SPLUNK: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Splunk,
    name: "splunk",
    aliases: &["splunkd", "splunkforwarder", "splunk-forwarder"],
    processes: &[m(&["splunkd"])],
    flags: &[],
    services: &["splunk", "splunkd", "SplunkForwarder"],
    config_paths: &[],
    data_paths: &[],
    max_line_bytes: None,
    glob_depth: 32,
    config_syntax: None,
    api: None,
    access: Access::RecognisedOnly {
        why: "drainguard cannot read the Splunk forwarder's fishbucket yet",
    },
};
