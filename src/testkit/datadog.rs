//! Datadog Agent testkit (below).
