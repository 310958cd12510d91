//! Criterion microbenchmarks of the parsers and the frame decoder: the same
//! cases `mailgate-bench run --only parsers` times (`mailgate_bench::run::parsers`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailgate_bench::run::parsers::cases;

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parsers");
    for mut case in cases().expect("rustls makes the ClientHellos") {
        group.throughput(Throughput::Bytes(case.bytes as u64));
        group.bench_function(case.name, |b| b.iter(|| case.run_once()));
    }
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
