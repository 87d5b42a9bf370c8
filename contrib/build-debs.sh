#!/usr/bin/env bash
# build-debs.sh - build Portreeve's .debs with dpkg-buildpackage.
#
#   contrib/build-debs.sh [--worktree] OUTDIR
#
# Exports the committed tree (git archive HEAD; --worktree: the working
# tree as it is, build directories and .git left out) to
# OUTDIR/portreeve-VERSION/, copies contrib/debian/ to debian/ there, and
# runs "dpkg-buildpackage -us -uc -b". The .debs, .buildinfo and .changes
# land in OUTDIR; the build log is OUTDIR/build.log. The checkout itself
# gets no debian/ directory and no build output.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
worktree=0
if [ "${1:-}" = --worktree ]; then worktree=1; shift; fi
OUT=${1:?usage: build-debs.sh [--worktree] OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
version=$(dpkg-parsechangelog -l "$REPO/contrib/debian/changelog" -S Version)
src=$OUT/portreeve-$version
rm -rf "$src"
mkdir -p "$src"
if [ "$worktree" = 1 ]; then
    tar -C "$REPO" --exclude=.git --exclude='./build' --exclude='./build-*' \
        --exclude=./debian -cf - . | tar -C "$src" -xf -
else
    git -C "$REPO" archive --format=tar HEAD | tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -a "$REPO/contrib/debian" "$src/debian"
cd "$src"
if ! dpkg-buildpackage -us -uc -b -j"${PORTREEVE_DEB_JOBS:-2}" >"$OUT/build.log" 2>&1; then
    tail -n 40 "$OUT/build.log" >&2
    echo "build-debs.sh: dpkg-buildpackage failed; log: $OUT/build.log" >&2
    exit 1
fi
ls "$OUT"/*.deb
