//! Micro-benchmarks of the pure steps of the pipeline (criterion, `cargo bench --bench pipeline`).
//!
//! Each group is kept short (1 s warm-up, 3 s measurement) so the whole file runs in about a minute on 2 cores.
//! Throughput is reported in records (or inventory rows) per second. See docs/PERFORMANCE.md for how these relate
//! to the end-to-end figures of scripts/bench.sh.
//!
//! - `transform`: one CPU record, `CpuStats` -> `DeviceRecord` (and the simulated extraction that feeds it).
//! - `batch`: a batch of 200 records encoded to its JSON body (what a loader does), plain and gzip.
//! - `spool`: a 200-record batch persisted to a temp dir (gzip, write, fsync, link, fsync dir) and read back.
//! - `inventory`: 100,000 `ip,name` rows parsed from memory, and the full check of a file (duplicate names too).
//! - `mock`: the mock's `/load` body validation (`count_records`) on a 200-record body, plain and gzip.
//! - `sinks`: a 200-record batch's JSON array into each sink's request (what a loader does before each send).

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use app::codec::{count_records, gunzip_limited, gzip};
use app::extract::simulated::device_stats;
use app::inventory::{InventoryReader, Row};
use app::load::batch::{BatchBuilder, Finished};
use app::model::{new_run_id, BatchId, DeviceRecord};
use app::spool;
use app::transform::{transform, transform_all};

const TS: i64 = 1_700_000_000;
const BATCH: usize = 200;
const BATCH_BYTES: usize = 1 << 20;
const INVENTORY_ROWS: u32 = 100_000;

/// 200 records of 200 different devices, as one loader's batch holds them.
fn records(n: usize) -> Vec<DeviceRecord> {
    (0..n)
        .flat_map(|i| {
            let stats = device_stats(&format!("device-{i}"), 1, TS);
            transform_all(stats).expect("simulated stats transform")
        })
        .collect()
}

fn body(records: &[DeviceRecord]) -> bytes::Bytes {
    let mut b = BatchBuilder::new(BATCH, BATCH_BYTES);
    for r in records {
        assert!(b.push(r).is_none());
    }
    b.take().expect("non-empty batch").body.json().clone()
}

/// `n` rows `127.x.y.z,device-i` (loopback addresses only): the project's one generator.
fn inventory_text(n: u32) -> Vec<u8> {
    app::inventory::generate::text(u64::from(n))
}

fn bench_transform(c: &mut Criterion) {
    let mut g = c.benchmark_group("transform");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    let stats = device_stats("device-1", 1, TS).pop().unwrap();
    g.bench_function("one_record", |b| {
        b.iter_batched(
            || stats.clone(),
            |s| transform(black_box(s)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("simulated_extract_and_transform", |b| {
        b.iter(|| transform_all(device_stats(black_box("device-1"), 1, TS)).unwrap())
    });
    g.finish();
}

fn bench_batch(c: &mut Criterion) {
    let rs = records(BATCH);
    let mut g = c.benchmark_group("batch");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("encode_200_plain", |b| {
        let mut builder = BatchBuilder::new(BATCH, BATCH_BYTES);
        b.iter(|| {
            for r in &rs {
                black_box(builder.push(r));
            }
            builder.take().unwrap()
        })
    });
    g.bench_function("encode_200_gzip", |b| {
        let mut builder = BatchBuilder::new(BATCH, BATCH_BYTES);
        b.iter(|| {
            for r in &rs {
                black_box(builder.push(r));
            }
            let body = builder.take().unwrap().body;
            gzip(body.json())
        })
    });
    g.finish();
}

fn bench_spool(c: &mut Criterion) {
    let rs = records(BATCH);
    let body = body(&rs);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = new_run_id();
    let seq = AtomicU64::new(0);
    let batch_with_new_id = || {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        BatchBuilder::batch(
            BatchId::new(&run, 0, n),
            0,
            Finished {
                body: body.clone().into(),
                records: BATCH,
                request: None,
            },
        )
    };

    let mut g = c.benchmark_group("spool");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(BATCH as u64));
    // Each iteration writes a new file (spool files are never overwritten); they are removed with the dir.
    g.bench_function("persist_200", |b| {
        b.iter_batched(
            batch_with_new_id,
            |batch| spool::persist(dir.path(), &batch).expect("persist"),
            BatchSize::SmallInput,
        )
    });
    let path = spool::persist(dir.path(), &batch_with_new_id()).expect("persist");
    g.bench_function("read_200", |b| {
        b.iter(|| {
            let batches = spool::read(black_box(&path), BATCH, BATCH_BYTES).expect("read");
            assert_eq!(batches[0].records, BATCH);
            batches
        })
    });
    g.finish();
}

fn bench_inventory(c: &mut Criterion) {
    // Leaked once so each iteration reads a `&'static [u8]` (BufRead + Send) without copying it.
    let text: &'static [u8] = Box::leak(inventory_text(INVENTORY_ROWS).into_boxed_slice());
    let count = |reader: InventoryReader| {
        let mut n = 0u64;
        for row in reader {
            match row.expect("in-memory read") {
                Row::Device(d) => {
                    black_box(&d);
                    n += 1
                }
                Row::Invalid(e) => panic!("generated inventory has a bad row: {e:?}"),
            }
        }
        assert_eq!(n, u64::from(INVENTORY_ROWS));
        n
    };
    let mut g = c.benchmark_group("inventory");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
        .throughput(Throughput::Elements(u64::from(INVENTORY_ROWS)));
    g.bench_function("parse_100k", |b| {
        b.iter(|| {
            count(InventoryReader::from_reader(
                Path::new("bench.csv"),
                Box::new(text),
            ))
        })
    });
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("bench.csv");
    std::fs::write(&file, text).expect("the inventory is written");
    g.bench_function("check_100k_with_duplicates", |b| {
        b.iter(|| app::inventory::check(&file, &[], |_| {}).expect("the inventory is readable"))
    });
    // What one shard of 8 pays before its run: the check and keep of its own rows, a hash for the others'.
    let shard = Some(app::config::Shard { index: 7, count: 8 });
    g.bench_function("check_and_keep_100k_shard_7_of_8", |b| {
        b.iter(|| app::inventory::check_and_keep(&file, shard, &[], |_| {}).expect("readable"))
    });
    g.bench_function("check_and_keep_100k_unsharded", |b| {
        b.iter(|| app::inventory::check_and_keep(&file, None, &[], |_| {}).expect("readable"))
    });
    g.finish();
}

fn bench_mock_validation(c: &mut Criterion) {
    let rs = records(BATCH);
    let body = body(&rs);
    let gz = gzip(&body);
    let mut g = c.benchmark_group("mock");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("count_records_200", |b| {
        b.iter(|| assert_eq!(count_records(black_box(&body)), Ok(BATCH as u64)))
    });
    g.bench_function("gunzip_and_count_200", |b| {
        b.iter(|| {
            let plain = gunzip_limited(black_box(&gz), 16 << 20).unwrap();
            assert_eq!(count_records(&plain), Ok(BATCH as u64));
        })
    });
    g.finish();
}

fn bench_sinks(c: &mut Criterion) {
    use app::config::{Compression, LoadSettings, SinkKind};
    use app::load::sinks::Sink;
    let json = body(&records(BATCH));
    let mut g = c.benchmark_group("sinks");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH as u64));
    for kind in SinkKind::ALL {
        let sink = Sink::new(&LoadSettings {
            sink: kind,
            compression: Compression::None,
            ..LoadSettings::default()
        });
        g.bench_function(format!("encode_200_{}", kind.name()), |b| {
            b.iter(|| sink.encode(black_box(&json)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_sinks,
    bench_transform,
    bench_batch,
    bench_spool,
    bench_inventory,
    bench_mock_validation
);
criterion_main!(benches);
