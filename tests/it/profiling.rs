//! `--profile`: the CPU profile, heap profile and flamegraph files, gzipped pprof as `pprof` writes them; a run too
//! short to sample says so; a profile file that cannot be written is an error at start.

use crate::helpers::*;

#[test]
fn profile_writes_cpu_heap_and_flamegraph_files_that_decode() {
    use pprof::protos::Message;
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20_000);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let cpu_gz = std::fs::read(dir.join("cpu.prof")).expect("cpu.prof written");
    assert_eq!(
        &cpu_gz[..2],
        &[0x1f, 0x8b],
        "cpu.prof is gzipped, as pprof writes it"
    );
    let mut cpu = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&cpu_gz[..]), &mut cpu).unwrap();
    let cpu = pprof::protos::Profile::decode(&cpu[..]).expect("cpu.prof is a pprof protobuf");
    assert!(!cpu.sample_type.is_empty());
    let heap_gz = std::fs::read(dir.join("mem.prof")).expect("mem.prof written");
    let mut heap = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&heap_gz[..]), &mut heap).unwrap();
    let heap =
        pprof::protos::Profile::decode(&heap[..]).expect("mem.prof is a gzipped pprof protobuf");
    assert!(!heap.sample_type.is_empty());
    let svg = std::fs::read_to_string(dir.join("flamegraph.svg")).unwrap();
    assert!(svg.contains("<svg"), "a flamegraph SVG");
}

#[test]
fn a_run_too_short_to_sample_says_so_instead_of_writing_an_empty_flamegraph() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    // One sample a second: a run of one device ends before the first.
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("profile.frequency_hz", 1),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let svg = dir.join("flamegraph.svg");
    if svg.exists() {
        // The machine was slow enough for a sample: then the file has one.
        assert!(std::fs::metadata(&svg).unwrap().len() > 0);
    } else {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("too short to sample"),
            "{}",
            show(&out)
        );
        assert!(!dir.join("cpu.prof").exists());
    }
}

#[test]
fn a_profile_file_that_cannot_be_written_is_an_error_at_start() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    let cfg = fast_config(&m.load_url(), "").set("profile.cpu_file", "missing/dir/cpu.prof");
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("profile.cpu_file"),
        "{}",
        show(&out)
    );
    assert_eq!(m.stats().requests, 0, "nothing sent");
}
