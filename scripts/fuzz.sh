#!/usr/bin/env bash
# Fuzzes mailgate's parsers, reassembly, engine, capture reader and policy
# loader with cargo-fuzz (libFuzzer + AddressSanitizer). See docs/fuzzing.md.
#
#   scripts/fuzz.sh --ci                 every target for 8 s (CI: ~2 min plus the build)
#   scripts/fuzz.sh [--time S] [TARGET]... [-- LIBFUZZER_ARGS...]
#                                        the given targets (default: all) for S s each (default 60)
#   scripts/fuzz.sh --seeds              only (re)generate the seed corpus
#   scripts/fuzz.sh --list               the target names
#
# Exits 0 when no target found anything; otherwise prints the path of every
# crashing (or hanging) input and exits 1. Setup failures exit 2.
#
# Environment: FUZZ_SECONDS (per-target time), FUZZ_REFRESH_SEEDS=1 (rebuild
# the seed corpus even if present), CARGO_BUILD_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Stable Rust 1.95 is the only toolchain here; cargo-fuzz passes nightly-only
# flags (-Zsanitizer=address, -Cpasses=sancov-module). RUSTC_BOOTSTRAP=1 lets
# the stable compiler accept them; it ships the sanitizer runtimes.
export RUSTC_BOOTSTRAP=1
CARGO_FUZZ_VERSION=0.13.2

TARGETS=(decode line detect smtp imap pop3 sasl socks client_hello reassembly fragments engine pcap config)
SEEDS=fuzz/seeds
SHARED_CORPUS=../shared/corpus

die() { echo "fuzz.sh: $*" >&2; exit 2; }

dict_of() {
    case $1 in
        line | detect | smtp | imap | pop3 | sasl | engine) echo fuzz/dicts/mail.dict ;;
        config) echo fuzz/dicts/config.dict ;;
        *) echo "" ;;
    esac
}

ci=0
seconds=${FUZZ_SECONDS:-}
seeds_only=0
selected=()
extra=()
while (($#)); do
    case $1 in
        --ci) ci=1 ;;
        --time) shift; seconds=${1:?--time needs seconds} ;;
        --seeds) seeds_only=1 ;;
        --list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            [[ " ${TARGETS[*]} " == *" $1 "* ]] || die "unknown target $1 (one of: ${TARGETS[*]})"
            selected+=("$1")
            ;;
    esac
    shift
done
((${#selected[@]})) || selected=("${TARGETS[@]}")
if [[ -z $seconds ]]; then
    if ((ci)); then seconds=8; else seconds=60; fi
fi

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" || die "cannot install cargo-fuzz"
    fi
    command -v python3 >/dev/null || die "python3 is needed to write the seed corpus"
    # The fuzz crate is its own workspace: pin it to the versions the
    # workspace already uses (cargo adds libfuzzer-sys and drops the rest).
    [[ -f fuzz/Cargo.lock ]] || cp Cargo.lock fuzz/Cargo.lock
}

# Seeds: sessions and frames of the shared captures and of the generator's
# output, written at run time into the git-ignored fuzz/seeds/.
make_seeds() {
    if [[ -d $SEEDS/corpus && ${FUZZ_REFRESH_SEEDS:-0} != 1 ]]; then
        return
    fi
    rm -rf "$SEEDS"
    mkdir -p "$SEEDS/gen"
    shopt -s nullglob
    local captures=()
    if [[ -d $SHARED_CORPUS ]]; then
        captures+=("$SHARED_CORPUS"/*.pcap "$SHARED_CORPUS"/*.pcapng "$SHARED_CORPUS"/*.pcap.gz)
    else
        echo "fuzz.sh: $SHARED_CORPUS not found: seeding from the generator only" >&2
    fi
    echo "fuzz.sh: generating captures with mailgate-bench gen"
    mkdir -p fuzz/logs
    local gen_log=fuzz/logs/gen.log
    {
        cargo run -q -p mailgate-bench -- gen --out "$SEEDS/gen/realistic.pcap" --flows 60 --seed 8 &&
            cargo run -q -p mailgate-bench -- gen --out "$SEEDS/gen/mailstorm.pcap" --flows 30 --seed 8 --mix mailstorm
    } >"$gen_log" 2>&1 || die "mailgate-bench gen failed, see $gen_log"
    captures+=("$SEEDS"/gen/*.pcap)
    local tomls=(config/*.toml scripts/e2e/*.toml fuzz/policies/*.toml)
    local args=()
    for t in "${tomls[@]}"; do [[ -f $t ]] && args+=(--toml "$t"); done
    python3 fuzz/seeds.py --out "$SEEDS/corpus" "${args[@]}" "${captures[@]}" || die "seeds.py failed"
    shopt -u nullglob
}

ensure_cargo_fuzz
make_seeds
((seeds_only)) && exit 0

echo "fuzz.sh: building ${#TARGETS[@]} targets (release, debug assertions, AddressSanitizer)"
(cd fuzz && cargo fuzz build) || die "building the fuzz targets failed"

mkdir -p fuzz/logs
passed=0
failed_targets=0
failed=()
for target in "${selected[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target" "$SEEDS/corpus/$target"
    before=$(ls "fuzz/artifacts/$target" | sort)
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    dict=$(dict_of "$target")
    [[ -n $dict ]] && args+=(-dict="$ROOT/$dict")
    log=fuzz/logs/$target.log
    status=0
    # The first corpus folder takes new inputs; the seeds are only read.
    (cd fuzz && cargo fuzz run "$target" "corpus/$target" "seeds/corpus/$target" -- "${args[@]}" "${extra[@]}") \
        >"$log" 2>&1 || status=$?
    # Findings only (libFuzzer may also keep slow-unit-* files there).
    new=$(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$target" | sort) | grep -E '^(crash|timeout|oom|leak)-' || true)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if ((status == 0)) && [[ -z $new ]]; then
        passed=$((passed + 1))
        echo "fuzz.sh: $target: ok (${runs:-?} runs in ${seconds}s)"
    else
        failed_targets=$((failed_targets + 1))
        echo "fuzz.sh: $target: FAILED (exit $status), log: $log"
        grep -m1 -E "^(thread .* panicked|==[0-9]+==ERROR|SUMMARY)" "$log" | sed 's/^/    /' || true
        if [[ -n $new ]]; then
            while read -r f; do
                echo "    crashing input: fuzz/artifacts/$target/$f"
                failed+=("$target artifacts/$target/$f")
            done <<<"$new"
        else
            failed+=("$target: no input saved, see $log")
        fi
    fi
done

echo "fuzz: ${passed} passed, ${failed_targets} failed"
if ((${#failed[@]})); then
    for f in "${failed[@]}"; do
        case $f in
            *" artifacts/"*) echo "fuzz.sh: reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $f)" >&2 ;;
            *) echo "fuzz.sh: failed: $f" >&2 ;;
        esac
    done
    exit 1
fi
