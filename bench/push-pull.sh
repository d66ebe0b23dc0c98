#!/usr/bin/env bash
# Push and pull speed of pare against `skopeo copy`, on the same ~100 MB, 4-layer image (umoci writes
# it: four 25 MB incompressible layers), against a Distribution registry this script starts on
# 127.0.0.1. Each case runs RUNS times into fresh repositories/directories; medians and ratios are
# printed as markdown for docs/benchmarks.md.
#
#   bench/push-pull.sh            RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2   # no-op when up to date
for tool in skopeo umoci docker-registry curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool; run scripts/peers.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-push.XXXXXX")
# The registry's pid lives in a file: measurements run in subshells.
stop_registry() {
  if [ -f "$work/registry.pid" ]; then
    local pid
    pid=$(cat "$work/registry.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$work/registry.pid"
  fi
}
cleanup() {
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port

# A registry with empty storage: a cold push really uploads (nothing to mount from).
fresh_registry() {
  stop_registry
  rm -rf "$work/registry"
  cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $addr}
YML
  docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
  echo $! > "$work/registry.pid"
  for _ in $(seq 100); do curl -fsS "http://$addr/v2/" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "registry did not start" >&2; exit 1
}
# Neither tool may know where blobs were seen before: pare's mount cache, and containers/image's
# blob-info cache (skopeo's), which is only a cache and is rebuilt on use.
forget_blob_locations() {
  rm -rf "$work/pare-cache"
  rm -f /var/lib/containers/cache/blob-info-cache-v1.* "$HOME"/.local/share/containers/cache/blob-info-cache-v1.* 2>/dev/null || true
}

# The image: umoci layout with four random 25 MB files, one layer each.
img=$work/image
umoci init --layout "$img" >/dev/null
umoci new --image "$img:bench" >/dev/null
for i in 1 2 3 4; do
  head -c 25000000 /dev/urandom > "$work/f$i"
  umoci insert --image "$img:bench" "$work/f$i" "/data/f$i" >/dev/null
  rm "$work/f$i"
done
total=$(du -sb "$img/blobs" | cut -f1)
export PARE_CACHE_DIR=$work/pare-cache

# median of RUNS timings of a command template after a preparation; {i} is the run number.
measure() {
  local prepare=$1 template=$2 times=() i start end
  for i in $(seq "$RUNS"); do
    eval "${prepare//\{i\}/$i}" >/dev/null 2>&1
    local cmd=${template//\{i\}/$i}
    start=$(date +%s.%N)
    bash -c "$cmd" >/dev/null 2>&1 || { echo "failed: $cmd" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

r=docker://$addr
cold="fresh_registry; forget_blob_locations"
seeded="fresh_registry; forget_blob_locations; $PARE push -q oci:$img:bench $r/seed/app:1"
pare_push=$(measure "$cold" "$PARE push -q oci:$img:bench $r/pare/app:1")
skopeo_push=$(measure "$cold" "skopeo copy -q --dest-tls-verify=false oci:$img:bench $r/skopeo/app:1")
pare_repush=$(measure "$seeded" "$PARE push -q oci:$img:bench $r/seed/app:1")
skopeo_repush=$(measure "$seeded" "skopeo copy -q --dest-tls-verify=false oci:$img:bench $r/seed/app:1")
pare_pull=$(measure "$seeded" "$PARE pull -q $r/seed/app:1 oci:$work/pull-pare-{i}:x")
skopeo_pull=$(measure "$seeded" "skopeo copy -q --src-tls-verify=false $r/seed/app:1 oci:$work/pull-skopeo-{i}:x")

echo "# push/pull: 4 layers, $total bytes of blobs, $RUNS runs each, $(nproc) cores, $(date -u +%F)"
echo
echo "| case | pare median (s) | skopeo median (s) | skopeo / pare |"
echo "|---|---:|---:|---:|"
row() { awk -v n="$1" -v p="$2" -v s="$3" 'BEGIN { printf "| %s | %.3f | %.3f | %.2fx |\n", n, p, s, s / p }'; }
row "cold push (new repository)" "$pare_push" "$skopeo_push"
row "push of an unchanged image" "$pare_repush" "$skopeo_repush"
row "cold pull (new directory)" "$pare_pull" "$skopeo_pull"
