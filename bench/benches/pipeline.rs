//! Criterion benchmark of the whole engine in memory on one core: one
//! iteration is one loop of a generated capture through `Worker::poll_once`
//! (the same `mailgate_bench::run::pipeline::Pipeline` as `mailgate-bench
//! run --only pipeline`, which also counts heap allocations).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailgate_bench::run::captures::{self, mix_name};
use mailgate_bench::run::pipeline::{bench_config, Pipeline};
use mailgate_bench::run::Scale;

fn pipeline(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mailgate-bench-criterion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    // The captures of `mailgate-bench run`.
    for spec in Scale::new(false).mixes {
        let capture = captures::generate(&spec, &dir).expect("capture generated");
        let frames = captures::load(&capture.path).expect("capture read");
        let mut p = Pipeline::new(&frames, &bench_config()).expect("pipeline built");
        group.throughput(Throughput::Elements(p.frames_per_loop() as u64));
        group.bench_function(mix_name(spec.mix), |b| b.iter(|| p.run_loop()));
    }
    group.finish();
    std::fs::remove_dir_all(dir).ok();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
