#!/bin/bash
# run-fuzz.sh BUILD-DIR SECONDS - run the fuzz_proto libFuzzer binary for a
# bounded time (libFuzzer's -max_total_time), for CI. Builds nothing: the
# build directory must have been configured with CC=clang
# -DPORTREEVE_FUZZ=ON and the target fuzz_proto built. The seed corpus in
# the tree is copied to a temporary directory, so a run never changes it;
# inputs that crash are kept in BUILD-DIR/tests/fuzz/artifacts/ and printed.
# Exit status: 0 when the time ran out without a finding, non-zero otherwise.
set -euo pipefail
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
    echo "usage: $0 BUILD-DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz/fuzz_proto
if [ ! -x "$bin" ]; then
    echo "run-fuzz: $bin not built; configure with CC=clang -DPORTREEVE_FUZZ=ON and build the fuzz_proto target" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$build/tests/fuzz/artifacts"
cp "$here"/corpus/proto/* "$work/corpus/"
echo "run-fuzz: fuzz_proto for ${secs}s over $(ls "$work/corpus" | wc -l) seeds"
rc=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
    -dict="$here/proto.dict" -print_final_stats=1 \
    -artifact_prefix="$build/tests/fuzz/artifacts/" "$work/corpus" 2>"$work/log" || rc=$?
grep -E '^#[0-9]+' "$work/log" | tail -n 1 || true
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/log" || true
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log" >&2
    echo "run-fuzz: fuzz_proto found a problem (exit $rc); inputs in $build/tests/fuzz/artifacts/:" >&2
    ls -l "$build/tests/fuzz/artifacts/" >&2
    exit $rc
fi
echo "run-fuzz: no finding in ${secs}s"
