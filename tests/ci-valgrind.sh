#!/bin/bash
# ci-valgrind.sh SOURCE-DIR BUILD-DIR
#
# Run every compiled test program of the suite (the cmocka unit tests and
# the fuzz-corpus replays: each ctest test whose command is an executable
# built in BUILD-DIR, not a shell script) under
#     valgrind --error-exitcode=1 --leak-check=full
# with the arguments, working directory and environment ctest would give
# it. BUILD-DIR is configured (without sanitizers: they do not mix with
# valgrind) and built first; an existing plain build is reused.
# Exit status: non-zero when the build fails, any program fails or valgrind
# reports an error or a leak, or when no program ran.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE-DIR BUILD-DIR" >&2
    exit 2
fi
src=$1
build=$2
start=$(date +%s)
command -v valgrind >/dev/null || { echo "ci-valgrind: valgrind is not installed" >&2; exit 2; }
command -v jq >/dev/null || { echo "ci-valgrind: jq is not installed" >&2; exit 2; }
if [ -f "$build/CMakeCache.txt" ] && grep -q '^PORTREEVE_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
    echo "ci-valgrind: $build is a sanitizer build; valgrind needs a plain one" >&2
    exit 2
fi
cmake -S "$src" -B "$build" -DPORTREEVE_WERROR=ON
cmake --build "$build" -j2
build=$(cd "$build" && pwd)

# name, working dir, skip code, env (JSON), command (JSON), separated by
# US (0x1f): a tab would let read(1) merge empty fields.
list=$(ctest --test-dir "$build" --show-only=json-v1 | jq -r '
    .tests[] | select(.command != null) |
    [ .name,
      ((.properties // []) | map(select(.name == "WORKING_DIRECTORY")) | .[0].value // ""),
      ((.properties // []) | map(select(.name == "SKIP_RETURN_CODE")) | .[0].value // "" | tostring),
      ((.properties // []) | map(select(.name == "ENVIRONMENT")) | .[0].value // [] | tojson),
      (.command | tojson) ] | join("\u001f")')

pass=0 fail=0 skip=0 failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS=$'\x1f' read -r name wd skipcode envjson cmdjson; do
    mapfile -t cmd < <(jq -r '.[]' <<<"$cmdjson")
    prog=${cmd[0]}
    # Only programs built here, and only ELF executables (not bash, perl...).
    case "$prog" in "$build"/*) ;; *) continue ;; esac
    [ -x "$prog" ] && [ "$(head -c 4 "$prog" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    mapfile -t envs < <(jq -r '.[]' <<<"$envjson")
    t0=$(date +%s)
    rc=0
    (
        [ -n "$wd" ] && cd "$wd"
        exec env "${envs[@]}" valgrind -q --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,possible "${cmd[@]}"
    ) >"$log" 2>&1 || rc=$?
    if [ -n "$skipcode" ] && [ "$rc" = "$skipcode" ]; then
        echo "ci-valgrind: $name skipped"
        skip=$((skip + 1))
    elif [ $rc -eq 0 ]; then
        echo "ci-valgrind: $name ok ($(($(date +%s) - t0))s)"
        pass=$((pass + 1))
    else
        echo "ci-valgrind: $name FAILED (exit $rc)"
        tail -n 80 "$log"
        fail=$((fail + 1))
        failed+=("$name")
    fi
done <<<"$list"

echo "ci-valgrind: $(($(date +%s) - start))s"
if [ $fail -gt 0 ]; then
    echo "ci-valgrind: failed: ${failed[*]}"
fi
echo "valgrind: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
