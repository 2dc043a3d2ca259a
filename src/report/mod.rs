//! Rendering an [`Assessment`](crate::backlog::Assessment): the human table and the versioned JSON report.
//!
//! Both `status` and `wait` (its final report) use these.

mod json;
mod table;

pub use json::{to_json, JsonReport, SCHEMA};
pub use table::{write_table, TableOptions};
