#!/usr/bin/env bash
# run-all.sh - set up and pass every Portreeve test on a Debian 12 machine.
#
# This is the README's test command and what CI (.ci/run) calls. As root it
# installs the Debian packages the build and the tests need, then:
#   0. checks that the C sources are clang-formatted;
#   1. builds with -Werror and runs the whole ctest suite (unit tests, the
#      corpus replays, real Postfix/slapd/Redis end-to-end tests);
#   2. rebuilds with AddressSanitizer + UBSan and runs the suite again;
#   3. runs the unit tests under valgrind;
#   4. runs each libFuzzer target briefly.
# Any failure stops the run with a non-zero exit status and says which step.
#
# Environment: BUILD_ROOT (default: <source>/build-all), FUZZ_SECONDS (30),
# SKIP_SANITIZE=1 / SKIP_VALGRIND=1 / SKIP_FUZZ=1 to leave a step out locally.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${BUILD_ROOT:-$src/build-all}
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== run-all: %s ====\n' "$*"; }
fail() { printf '\n==== run-all: FAILED: %s ====\n' "$*" >&2; exit 1; }

step "dependencies"
if [ "$(id -u)" = 0 ]; then
    bash "$src/tests/install-deps.sh" || fail "installing Debian packages"
else
    echo "not root: skipping package installation (the end-to-end tests need root)"
fi

step "style (clang-format, .clang-format at the top)"
unformatted=$(cd "$src" && find lib policyd saslauthd-ldap tests -name '*.[ch]' -print |
    sort | while read -r f; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
    done)
[ -z "$unformatted" ] || fail "not clang-formatted (run clang-format -i on them): $unformatted"

step "build (-Werror)"
# Prefix /usr as Debian installs it: tests/setup/install.sh checks the
# installed tree (into a DESTDIR; nothing is installed on this machine).
cmake -S "$src" -B "$root/main" -DPORTREEVE_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr >/dev/null ||
    fail "cmake configure"
cmake --build "$root/main" -j"$jobs" || fail "build"

step "test suite"
ctest --test-dir "$root/main" --output-on-failure --timeout 900 || fail "ctest"

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
    step "AddressSanitizer + UBSan build and test suite"
    bash "$src/tests/ci-sanitize.sh" "$src" "$root/asan" || fail "sanitizer run"
fi

if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
    step "unit tests under valgrind"
    bash "$src/tests/ci-valgrind.sh" "$src" "$root/main" || fail "valgrind run"
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    step "fuzzers (${FUZZ_SECONDS:-30}s each)"
    CC=clang cmake -S "$src" -B "$root/fuzz" -DPORTREEVE_FUZZ=ON >/dev/null || fail "fuzz configure"
    cmake --build "$root/fuzz" -j"$jobs" || fail "fuzz build"
    bash "$src/tests/fuzz/run-fuzz.sh" "$root/fuzz" "${FUZZ_SECONDS:-30}" || fail "fuzzing"
fi

step "all tests passed"
