#!/usr/bin/env bash
# Prints the --inputdir for pg_regress / pg_isolation_regress (make regresscheck, make
# isolationcheck). pg_regress stops at the first test without an expected file, so the tests after
# it would not run. If some are missing, this builds build/inputdir-SUB, where the real test and
# expected files are symlinked and the missing expected files are empty: those tests then fail
# with their whole output as the diff, and the others still run.
#
#   bash scripts/lib/inputdir.sh SRC_DIR SUB TEST...   (e.g. . sql 01_install ...; test/isolation specs ...)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
src=$1 sub=$2
shift 2
missing=()
for t in "$@"; do
	[ -e "$src/expected/$t.out" ] || missing+=("$t")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "$src"
	exit 0
fi
dir="$ROOT/build/inputdir-$sub"
rm -rf "$dir"
mkdir -p "$dir/expected"
ln -s "$ROOT/$src/$sub" "$dir/$sub"
for f in input output data; do
	[ ! -e "$ROOT/$src/$f" ] || ln -s "$ROOT/$src/$f" "$dir/$f"
done
for f in "$ROOT/$src"/expected/*; do
	[ ! -e "$f" ] || ln -s "$f" "$dir/expected/"
done
for t in "${missing[@]}"; do
	: >"$dir/expected/$t.out"
	echo "NOTE: $src/expected/$t.out is missing: $t will fail; its output will be in" \
		"$([ "$sub" = specs ] && echo output_iso/)results/$t.out" >&2
done
echo "$dir"
