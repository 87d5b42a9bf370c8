#!/bin/bash
# ci-sanitize.sh SOURCE-DIR BUILD-DIR [CTEST-ARGS...]
#
# Configure a separate build with AddressSanitizer + UBSan
# (-DPORTREEVE_SANITIZE=ON, warnings as errors), build it, and run the test
# suite there with ctest. Any sanitizer report stops the program that made
# it (halt_on_error, abort_on_error) and so fails its test. Extra arguments
# go to ctest (e.g. -L unit, -j2).
#
# The SASL plugin stays uninstrumented in this build (it is loaded into
# Postfix's smtpd, which is not), so the end-to-end tests that load it run
# here too.
#
# Exit status: non-zero when the configure, the build or any test fails,
# or when no test ran.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 SOURCE-DIR BUILD-DIR [CTEST-ARGS...]" >&2
    exit 2
fi
src=$1
build=$2
shift 2
start=$(date +%s)

cmake -S "$src" -B "$build" -DPORTREEVE_SANITIZE=ON -DPORTREEVE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j2

# detect_leaks: LeakSanitizer at exit; abort_on_error: a core-style abort
# that ctest reports as a failure even where the exit code is ignored.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
ctest --test-dir "$build" --output-on-failure --no-tests=error "$@" || rc=$?
echo "ci-sanitize: ctest exit $rc after $(($(date +%s) - start))s"
exit $rc
