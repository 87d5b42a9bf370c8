#!/bin/bash
# run-fuzz.sh BUILD-DIR SECONDS - run every libFuzzer target of the tree for
# a bounded time each (libFuzzer's -max_total_time), for CI: the policy
# parser (fuzz_proto) and the saslauthd and gate decoders of portreeve-authd
# (authd_fuzz_mux, authd_fuzz_gate). Builds nothing: the build directory
# must have been configured with CC=clang -DPORTREEVE_FUZZ=ON and built.
# Each seed corpus in the tree is copied to a temporary directory, so a run
# never changes it; inputs that crash are kept in
# BUILD-DIR/tests/fuzz/artifacts/ and printed.
# Exit status: 0 when every target ran out its time without a finding.
set -euo pipefail
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
    echo "usage: $0 BUILD-DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

# binary (relative to BUILD-DIR)   seed corpus (relative to the source)   dictionary or -
targets=(
    "tests/fuzz/fuzz_proto          tests/fuzz/corpus/proto   tests/fuzz/proto.dict"
    "tests/authd/authd_fuzz_mux     tests/authd/corpus/mux    -"
    "tests/authd/authd_fuzz_gate    tests/authd/corpus/gate   -"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/tests/fuzz/artifacts"

for t in "${targets[@]}"; do
    read -r rel corpus dict <<<"$t"
    bin=$build/$rel
    name=$(basename "$rel")
    if [ ! -x "$bin" ]; then
        echo "run-fuzz: $bin not built; configure with CC=clang -DPORTREEVE_FUZZ=ON and build" >&2
        exit 2
    fi
    rm -rf "$work/corpus"
    mkdir -p "$work/corpus"
    cp "$src/$corpus"/* "$work/corpus/"
    dictarg=()
    [ "$dict" != - ] && dictarg=(-dict="$src/$dict")
    echo "run-fuzz: $name for ${secs}s over $(ls "$work/corpus" | wc -l) seeds"
    rc=0
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
        "${dictarg[@]}" -print_final_stats=1 \
        -artifact_prefix="$build/tests/fuzz/artifacts/$name-" "$work/corpus" 2>"$work/log" || rc=$?
    grep -E '^#[0-9]+' "$work/log" | tail -n 1 || true
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/log" || true
    if [ $rc -ne 0 ]; then
        tail -n 60 "$work/log" >&2
        echo "run-fuzz: $name found a problem (exit $rc); inputs in $build/tests/fuzz/artifacts/:" >&2
        ls -l "$build/tests/fuzz/artifacts/" >&2
        exit $rc
    fi
    echo "run-fuzz: $name: no finding in ${secs}s"
done
