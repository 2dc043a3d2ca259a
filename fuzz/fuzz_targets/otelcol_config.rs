#![no_main]
//! Fuzzes drainguard's otelcol_config parser (see docs/fuzzing.md): any input must return, never
//! panic, hang or allocate without bound.
use drainguard::parsers::{parse, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse(Format::OtelcolConfig, data);
});
