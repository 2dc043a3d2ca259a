//! drainguard's integration tests, one binary (one link of the library and its dependencies
//! for the whole suite). Each module is one former test file; run one with
//! `cargo test --test integration <module>::`.

mod support;

mod adapters;
mod adapters_status;
mod aws_doctor;
mod aws_imds;
mod aws_watch;
mod awslogs_real;
mod backlog;
mod config_props;
mod detect_real;
mod dist;
mod doctor;
mod filebeat;
mod filebeat_edge;
mod filebeat_incremental;
mod filebeat_props;
mod generate;
mod hostile;
mod install;
mod install_escape;
mod install_exec;
mod metrics;
mod multi_shipper;
mod otel_real;
mod outcome_and_errors;
mod output;
mod owed;
mod parsers_fuzz;
mod read_only;
mod rsyslog_real;
mod syslogng_real;
mod test_script;
mod wait;
mod wait_incremental;
mod wait_shutdown;
mod wait_vanish;
