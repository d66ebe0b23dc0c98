#!/usr/bin/env bash
# Coverage-guided fuzzing of every pare-fuzz target with cargo-fuzz (libFuzzer), SECONDS_EACH
# seconds each (default 300), from the named seeds (fuzz/seeds/<target>) and the kept corpus
# (fuzz/corpus/<target>), then the corpus minimized again (`cargo fuzz cmin`) so that only inputs
# that add coverage stay committed. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Prints, per target, the executions libFuzzer made and whether it found a crash (it stops at the
# first one and leaves the input in fuzz/artifacts/<target>/). Usage: run.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-300}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(layer image_json elf deb822 apt dockerfile)
log=$(mktemp -d "${TMPDIR:-/tmp}/pare-fuzz-run.XXXXXX")
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -s none "$t" >&2
  status=ok
  # Binary inputs may be big; text parsers are explored with short inputs (a small corpus to commit).
  case $t in layer|elf) max_len=65536 ;; *) max_len=4096 ;; esac
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run -s none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 > "$log/$t.log" 2>&1 || status=CRASH
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log/$t.log" | grep -o '[0-9]*$' || echo "?")
  cargo +nightly fuzz cmin -s none "$t" >/dev/null 2>&1 || true
  echo "$t: $runs executions in ${SECONDS_EACH} s, $(ls "fuzz/corpus/$t" | wc -l) corpus files, $status"
  [ "$status" = ok ] || tail -40 "$log/$t.log"
done
