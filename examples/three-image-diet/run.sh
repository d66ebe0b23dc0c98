#!/bin/sh
# The three image diet: one Go HTTP service (app/) in three images, then `pare compare` and its
# HTML report.
#
#   naive       a full Debian (debootstrap minbase from this machine's apt mirror) with the Go
#               toolchain installed and the app built inside it, layer by layer as a one-stage
#               Dockerfile would (FROM debian / RUN apt-get install golang-go / COPY . /src /
#               RUN go build), packed with umoci
#   distroless  pare build --base static-debian (base-files, netbase, tzdata, CA bundle; uid 65532)
#   scratch     pare build --base scratch (the binary alone)
#
# Usage: examples/three-image-diet/run.sh [OUT]      (default OUT: ./three-image-diet-out)
#   ROOTFS=DIR  start from this debootstrap minbase tree instead of making one (it is not changed)
#   PARE=PATH   the pare binary (default: pare on PATH)
# Needs root (debootstrap, chroot), debootstrap, umoci, Go (golang-go) and the network to the
# machine's own Debian mirror. Writes OUT/images (one OCI layout, three tags), OUT/compare.txt,
# OUT/compare.json, OUT/compare.md and OUT/compare.html.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-three-image-diet-out}
pare=${PARE:-pare}
mkdir -p "$out"
out=$(cd "$out" && pwd)
layout="$out/images"
work="$out/work"
rm -rf "$layout" "$work"
mkdir -p "$work"

# The first deb line of the apt configuration that names the host's release: "URI SUITE".
mirror_and_suite() {
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") { print uri, suite; exit } }
      /^$/ { uri = "" }' "$f"
  done | head -1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '$1 == "deb" { n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }
      if ($(n + 1) == suite) { print $n, suite; exit } }' "$f"
  done | head -1
}

# 1. The app, built once for the two minimal images (static: CGO off).
echo "== building the app"
(cd "$here/app" && CGO_ENABLED=0 go build -trimpath -ldflags=-buildid= -o "$work/app" .)

# 2. distroless and scratch, with pare.
echo "== pare build: distroless and scratch"
"$pare" build -q --base static-debian --copy "$work/app:/app" --entrypoint /app \
  --output "oci:$layout:distroless"
"$pare" build -q --base scratch --copy "$work/app:/app" --entrypoint /app \
  --output "oci:$layout:scratch"

# 3. naive: a Dockerfile's steps done by hand on a debootstrap tree.
set -- $(mirror_and_suite | head -1)
[ $# -eq 2 ] || { echo "run.sh: no Debian mirror for this release in the apt configuration" >&2; exit 2; }
mirror=$1 suite=$2
rootfs=${ROOTFS:-}
if [ -z "$rootfs" ]; then
  echo "== debootstrap --variant=minbase $suite from $mirror"
  rootfs="$work/rootfs"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log"
fi
echo "== naive: FROM debian ($suite minbase)"
image="$layout:naive"
umoci new --image "$image"
umoci insert --image "$image" --history.created_by "FROM debian:$suite (debootstrap --variant=minbase)" \
  "$rootfs" /
umoci unpack --image "$image" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
in_root() {
  mount -t proc proc "$root/proc"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  status=0
  # A clean environment, but the host's proxy settings (if any) reach apt as they reach the host's.
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root DEBIAN_FRONTEND=noninteractive http_proxy="${http_proxy:-}" https_proxy="${https_proxy:-}" \
    no_proxy="${no_proxy:-}" sh -c "$1" || status=$?
  umount "$root/proc"
  # Docker bind-mounts resolv.conf; it is not part of an image layer.
  rm -f "$root/etc/resolv.conf"
  return $status
}
echo "== naive: RUN apt-get install golang-go ca-certificates"
in_root "apt-get update -q && apt-get install -y -q golang-go ca-certificates" >"$work/apt.log"
umoci repack --refresh-bundle --image "$image" \
  --history.created_by "RUN apt-get update && apt-get install -y golang-go ca-certificates" "$work/bundle"
echo "== naive: COPY . /src; RUN go build"
mkdir -p "$root/src"
cp -R "$here/app/." "$root/src/"
umoci repack --refresh-bundle --image "$image" --history.created_by "COPY app/ /src" "$work/bundle"
in_root "cd /src && go build -o /usr/local/bin/app ."
umoci repack --refresh-bundle --image "$image" \
  --history.created_by "RUN cd /src && go build -o /usr/local/bin/app ." "$work/bundle"
umoci config --image "$image" --config.entrypoint /usr/local/bin/app --config.exposedports 8080/tcp \
  --history.created_by 'ENTRYPOINT ["/usr/local/bin/app"]'
rm -rf "$work/bundle"

# 4. Side by side.
echo "== pare compare"
set -- "oci:$layout:naive" "oci:$layout:distroless" "oci:$layout:scratch"
"$pare" compare -q "$@" | tee "$out/compare.txt"
"$pare" compare -q --no-unpack --format json "$@" >"$out/compare.json"
"$pare" compare -q --no-unpack --format markdown "$@" >"$out/compare.md"
"$pare" compare -q --format html "$@" >"$out/compare.html"
for tag in naive distroless scratch; do
  "$pare" audit -q --fail-on critical --format html "oci:$layout:$tag" >"$out/audit-$tag.html" || true
done
echo "== wrote $out/compare.{txt,json,md,html} and $out/audit-{naive,distroless,scratch}.html"
