#!/usr/bin/env bash
# `pare audit` against `dive --ci` and `syft scan` on the same ~230 MB image: the java recipe built by
# pare from the Debian archive (28 packages, a JRE, status.d records), as a docker-archive twice: with
# uncompressed layers (what `docker save` writes) and with gzip layers. hyperfine runs each tool RUNS
# times after a warm-up (medians, ratios); /usr/bin/time gives each tool's peak memory on one more run.
# PARE_BEFORE=/path/to/an/older/pare adds it as one more row, run in the same hyperfine batch: the
# A/B check that a change costs no speed.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-5}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
export SYFT_CHECK_FOR_APP_UPDATE=false
"$PARE" build -q --base java --lock "$work/java.lock" --output "docker-archive:$work/plain.tar:fat:latest" >&2
"$PARE" build -q --base java --lock "$work/java.lock" --compression gzip --output "docker-archive:$work/gzip.tar:fat:latest" >&2

. bench/lib/hyperfine.sh
echo "# audit speed, $(date -u +%F), $(nproc) cores, $RUNS runs"
for kind in plain gzip; do
  archive="$work/$kind.tar"
  pare_cmd="$PARE audit -q --format json docker-archive:$archive > /dev/null || true"
  dive_cmd="dive --ci --source docker-archive $archive > /dev/null || true"
  syft_cmd="syft scan -q -o json docker-archive:$archive > /dev/null"
  before=()
  if [ -n "${PARE_BEFORE:-}" ]; then
    before=(-n before "sh -c '$PARE_BEFORE audit -q --format json docker-archive:$archive > /dev/null || true'")
  fi
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/$kind.json" \
    -n pare "sh -c '$pare_cmd'" "${before[@]}" -n dive "sh -c '$dive_cmd'" -n syft "sh -c '$syft_cmd'" >&2
  pm=$(peak "$pare_cmd"); dm=$(peak "$dive_cmd"); sm=$(peak "$syft_cmd")
  p=$(median pare "$work/$kind.json"); d=$(median dive "$work/$kind.json"); s=$(median syft "$work/$kind.json")
  echo
  echo "docker-archive with $kind layers, $(stat -c %s "$archive") bytes:"
  echo
  echo "| tool | median s | peak RSS KiB | pare faster by |"
  echo "|---|---:|---:|---:|"
  printf '| pare audit | %.3f | %s | |\n' "$p" "$pm"
  printf '| dive --ci | %.3f | %s | %.2fx |\n' "$d" "$dm" "$(echo "$d / $p" | bc -l)"
  printf '| syft scan | %.3f | %s | %.2fx |\n' "$s" "$sm" "$(echo "$s / $p" | bc -l)"
  if [ -n "${PARE_BEFORE:-}" ]; then
    b=$(median before "$work/$kind.json")
    printf '| pare before (%s) | %.3f | %s | %.2fx |\n' "$PARE_BEFORE" "$b" \
      "$(peak "$PARE_BEFORE audit -q --format json docker-archive:$archive > /dev/null || true")" "$(echo "$b / $p" | bc -l)"
  fi
done
