#!/usr/bin/env bash
# Build speed of `pare build` against buildah and `docker build` (BuildKit) on the same input: one
# static binary FROM scratch, USER 65532, ENTRYPOINT; next to the floor of compressing and hashing
# the same layer bytes with pigz (gzip) and zstd. Runs every command RUNS times with hyperfine in one
# session and prints medians and ratios (markdown, for docs/benchmarks.md).
#
#   bench/build-speed.sh [BINARY]      default: a ~20 MB static ELF made here (see make_binary)
#   RUNS=7 bench/build-speed.sh        more runs
#   PARE=path/to/pare                  default: target/release/pare (built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2   # no-op when up to date

work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench.XXXXXX")

# Default input: a ~20 MB static ELF that runs: a `gcc -static` hello with 19 MB of a real Go binary
# (Distribution's docker-registry, a peer) attached as an unloaded section, so the bytes compress like
# real machine code. Or pass any static binary.
make_binary() {
  printf '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n' > "$work/hello.c"
  gcc -static -O2 -o "$work/hello" "$work/hello.c"
  head -c 19000000 /usr/bin/docker-registry > "$work/payload"
  objcopy --add-section .payload="$work/payload" --set-section-flags .payload=noload,readonly \
    "$work/hello" "$work/synthetic-20mb"
  rm -f "$work/payload"
  echo "$work/synthetic-20mb"
}
if [ -n "${1:-}" ]; then BIN=$1; else BIN=$(make_binary); fi
[ -f "$BIN" ] || { echo "no such binary: $BIN" >&2; exit 2; }
for tool in hyperfine buildah pigz zstd jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool; run scripts/peers.sh" >&2; exit 2; }
done

cleanup() {
  buildah --root "$work/bstore" --runroot "$work/brun" --storage-driver vfs rm -a >/dev/null 2>&1 || true
  buildah --root "$work/bstore" --runroot "$work/brun" --storage-driver vfs rmi -a -f >/dev/null 2>&1 || true
  docker rmi -f pare-bench:latest >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$BIN" "$work/app"
chmod 0755 "$work/app"
size=$(stat -c %s "$work/app")
printf 'FROM scratch\nCOPY app /app\nUSER 65532:65532\nENTRYPOINT ["/app"]\n' > "$work/Dockerfile"

pare_build="$PARE build -q --base scratch --copy $work/app:/app --user 65532:65532 --entrypoint /app"
# The uncompressed layer, byte for byte what the compressors below get.
$pare_build --compression none --output "oci:$work/plain:latest"
layer=$(jq -r '.manifests[0].digest' "$work/plain/index.json" | xargs -I{} jq -r '.layers[0].digest' "$work/plain/blobs/sha256/{}" 2>/dev/null || true)
if [ -z "$layer" ] || [ "$layer" = null ]; then
  manifest=$(jq -r '.manifests[0].digest' "$work/plain/index.json")
  layer=$(jq -r '.layers[0].digest' "$work/plain/blobs/sha256/${manifest#sha256:}")
fi
tarfile="$work/plain/blobs/sha256/${layer#sha256:}"
# A warm layout for the rebuild case.
$pare_build --output "oci:$work/warm:latest"

B="buildah --root $work/bstore --runroot $work/brun --storage-driver vfs"
have_docker=0
docker info >/dev/null 2>&1 && have_docker=1

cmds=(
  "pigz -6 -p 2 -c $tarfile | sha256sum"
  "zstd -3 -T2 -c $tarfile | sha256sum"
  "$pare_build --output oci:$work/cold-gz:latest"
  "$pare_build --compression zstd --output oci:$work/cold-zstd:latest"
  "$pare_build --output oci:$work/warm:latest"
  "$B bud --isolation chroot --timestamp 0 -q -t bench:latest -f $work/Dockerfile $work >/dev/null && $B push -q bench:latest oci:$work/buildah-out:latest"
)
names=("floor: pigz -6 -p 2 \\| sha256sum" "floor: zstd -3 -T2 \\| sha256sum" "pare build (gzip, cold)" "pare build (zstd, cold)" "pare build (rebuild, unchanged)" "buildah bud + push oci:")
prepares=(
  "true" "true"
  "rm -rf $work/cold-gz" "rm -rf $work/cold-zstd" "true"
  "$B rmi -a -f >/dev/null 2>&1; rm -rf $work/buildah-out; true"
)
if [ $have_docker = 1 ]; then
  # BuildKit needs the buildx client plugin; where it is missing (Debian ships none for bookworm)
  # the engine's legacy builder is measured instead, and the row says so.
  if docker buildx version >/dev/null 2>&1; then
    cmds+=("DOCKER_BUILDKIT=1 docker build -q --no-cache -t pare-bench:latest $work >/dev/null")
    names+=("docker build (BuildKit, --no-cache)")
  else
    cmds+=("DOCKER_BUILDKIT=0 docker build -q --no-cache -t pare-bench:latest $work >/dev/null 2>&1")
    names+=("docker build (legacy builder: no buildx here, --no-cache)")
  fi
  prepares+=("docker rmi -f pare-bench:latest >/dev/null 2>&1; docker builder prune -af >/dev/null 2>&1; true")
fi

echo "# build speed: $(basename "$BIN") ($size bytes), $RUNS runs each, $(nproc) cores, $(date -u +%F)"
echo
declare -a medians
for i in "${!cmds[@]}"; do
  hyperfine --runs "$RUNS" --warmup 1 --style none --shell bash \
    --prepare "${prepares[$i]}" --export-json "$work/h$i.json" "${cmds[$i]}" >/dev/null 2>&1 \
    || { echo "benchmark failed: ${names[$i]}" >&2; exit 1; }
  medians[$i]=$(jq -r '.results[0].median' "$work/h$i.json")
done
floor=${medians[0]}
buildah=${medians[5]}
echo "| command | median (s) | vs pigz floor | buildah / this |"
echo "|---|---:|---:|---:|"
for i in "${!cmds[@]}"; do
  awk -v n="${names[$i]}" -v m="${medians[$i]}" -v f="$floor" -v b="$buildah" \
    'BEGIN { printf "| %s | %.3f | %.2fx | %.2fx |\n", n, m, m / f, b / m }'
done

# Sizes: what each made from the same bytes (a faster compressor must not win by compressing less).
layer_size() {  # layout dir -> size of the largest layer of its only image
  local manifest
  manifest=$(jq -r '.manifests[0].digest' "$1/index.json")
  jq '[.layers[].size] | max' "$1/blobs/sha256/${manifest#sha256:}"
}
echo
echo "| output | bytes |"
echo "|---|---:|"
echo "| uncompressed layer tar | $(stat -c %s "$tarfile") |"
echo "| pigz -6 -p 2 | $(pigz -6 -p 2 -c "$tarfile" | wc -c) |"
echo "| pare gzip layer | $(layer_size "$work/cold-gz") |"
echo "| zstd -3 -T2 | $(zstd -3 -T2 -c "$tarfile" | wc -c) |"
echo "| pare zstd layer | $(layer_size "$work/cold-zstd") |"
[ -d "$work/buildah-out" ] && echo "| buildah layer (gzip) | $(layer_size "$work/buildah-out") |"
