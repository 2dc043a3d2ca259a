//! Datadog Agent logs: `registry.json` (placeholder while the reader is written).

use super::{Readers, SourceOptions};
use crate::error::StoreError;

/// Opens the Datadog Agent's registry.
pub fn open(_opts: &SourceOptions) -> Result<Readers, StoreError> {
    Ok(Vec::new())
}
