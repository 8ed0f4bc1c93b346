#!/usr/bin/env bash
# Style and static checks for the C++ sources (not part of the default test run).
#
#   bash scripts/lint.sh              # check; exit 1 on any finding
#   CT_LINT=1 bash scripts/test.sh    # run it as part of the tests
#
# clang-format --dry-run --Werror (.clang-format) over src/*.cpp src/*.hpp src/*.h, then
# clang-tidy (.clang-tidy) over src/*.cpp with build/compile_commands.json; findings in src/
# headers are reported through the sources that include them. Fix formatting with
#   clang-format -i src/*.cpp src/*.hpp src/*.h
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
status=0

shopt -s nullglob
files=(src/*.cpp src/*.hpp src/*.h)
sources=(src/*.cpp)
if [ ${#files[@]} -eq 0 ]; then
	echo "lint: no sources"
	exit 0
fi

echo "== clang-format (${#files[@]} files)"
if ! clang-format --dry-run --Werror "${files[@]}"; then
	echo "lint: formatting differs; run: clang-format -i ${files[*]}"
	status=1
fi

echo "== clang-tidy (${#sources[@]} files)"
# compile_commands.json lists every src/*.cpp (CMake module target); (re)configure to pick up
# new files.
if ! cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPG_CONFIG="$PG_CONFIG" >/dev/null; then
	echo "lint: cmake configure failed"
	exit 1
fi
if [ ${#sources[@]} -gt 0 ]; then
	if ! clang-tidy -p build --quiet --warnings-as-errors='*' "${sources[@]}"; then
		echo "lint: clang-tidy findings"
		status=1
	fi
fi

[ "$status" -eq 0 ] && echo "lint: ok"
exit "$status"
