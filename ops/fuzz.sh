#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan+UBSan) in build/fuzz and runs each for
# SECONDS. Usage: ops/fuzz.sh SECONDS [TARGET...]   (default: every target)
#
# Each target starts from a copy of its committed corpus (tests/fuzz/corpus/TARGET), so a run
# never grows the repository; what it finds goes to build/fuzz/corpus/TARGET, crash reproducers
# to build/fuzz/artifacts/TARGET, the log to build/fuzz/logs/TARGET.log. Exits non-zero if any
# target crashed, naming it and its reproducer. To replay one: build/fuzz/tests/fuzz/TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: ops/fuzz.sh SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
all=(objects_fuzz note_fuzz sync_frames_fuzz http_fuzz bundle_tar_fuzz tlog_fuzz)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all[@]}"); fi

dir=build/fuzz
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/khronika-ccache}"
# Warnings are not errors here: clang warns about things g++ (the compiler CI holds to -Werror)
# does not, such as libgit2's own initialiser macros.
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DKHRONIKA_FUZZ=ON \
  -DKHRONIKA_BUILD_TESTS=OFF -DKHRONIKA_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKHRONIKA_WERROR=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

# The harnesses keep their scratch folders (a node, extracted archives) here, on tmpfs if there
# is one, and this script removes it whatever happens to them.
scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/khronika-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export KHRONIKA_FUZZ_SCRATCH=$scratch

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus=$dir/corpus/$t
  artifacts=$dir/artifacts/$t
  log=$dir/logs/$t.log
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  if [ -d "tests/fuzz/corpus/$t" ]; then cp -r "tests/fuzz/corpus/$t/." "$corpus/"; fi
  echo "== $t: ${seconds} s from $(ls "$corpus" | wc -l) seeds"
  status=0
  "$dir/tests/fuzz/$t" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  if [ -n "$execs" ] && [ -n "$took" ] && [ "$took" -gt 0 ]; then rate=$((execs / took)); fi
  if [ "$status" -ne 0 ]; then
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "FUZZ CRASH: $t (exit $status), reproducer ${reproducer:-unknown}, log $log" >&2
    grep -E 'ERROR: |runtime error|SUMMARY|deadly signal|Abrt|Assert' "$log" | head -n 8 >&2 || true
    failed+=("$t")
    summary+=("$(printf '%-18s CRASHED %s' "$t" "${reproducer:-see $log}")")
  else
    summary+=("$(printf '%-18s %8s execs  %6s execs/s  corpus %s -> %s' "$t" "${execs:-?}" \
      "${rate:-?}" "$(ls "tests/fuzz/corpus/$t" 2>/dev/null | wc -l)" "$(ls "$corpus" | wc -l)")")
  fi
done

echo "== fuzzing summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
