//! Fuzz target: the inventory reader on arbitrary bytes. Every line is a device, an invalid row naming its line,
//! or a read error; no panic, and no line longer than the limit is held.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use app::inventory::{InventoryReader, Row};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader = InventoryReader::from_reader(
        Path::new("fuzz.csv"),
        Box::new(Cursor::new(data.to_vec())),
    );
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let mut last = 0;
    for item in reader {
        let line = match item {
            Ok(Row::Device(device)) => {
                assert!(!device.name.trim().is_empty(), "a device has a name");
                device.line
            }
            Ok(Row::Invalid(e)) => {
                let text = e.to_string();
                assert!(text.starts_with("fuzz.csv:"), "a bad row names the file: {text}");
                e.line
            }
            Err(e) => panic!("reading from memory cannot fail: {e}"),
        };
        assert!(line > last && line <= lines, "line {line} after {last}, of {lines}");
        last = line;
    }
});
