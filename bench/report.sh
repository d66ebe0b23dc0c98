#!/usr/bin/env bash
# The three-image diet measured (issue 19): `pare compare` of the three images against dive reading
# each of them (dive shows one image; its --json is the nearest thing it has to a report), and the
# HTML reports: their size and how much longer headless chromium takes to load and screenshot them
# than an empty page. hyperfine runs each command RUNS times after a warm-up (medians, ratios).
#   OUT=DIR   the example's output (examples/three-image-diet/run.sh OUT); made when missing
#             (needs root; ROOTFS=DIR reuses a debootstrap minbase tree)
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-5}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
out=${OUT:-${TMPDIR:-/tmp}/pare-bench-three-image-diet}
[ -f "$out/compare.json" ] || PARE=$PARE examples/three-image-diet/run.sh "$out" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-report.XXXXXX")
trap 'rm -rf "$work"' EXIT
. bench/lib/hyperfine.sh
layout="$out/images"
for tag in naive distroless scratch; do
  "$PARE" copy -q "oci:$layout:$tag" "docker-archive:$work/$tag.tar:diet/$tag:1"
done
archives="docker-archive:$work/naive.tar docker-archive:$work/distroless.tar docker-archive:$work/scratch.tar"
dive_all="for t in naive distroless scratch; do CI=true dive --source docker-archive $work/\$t.tar --json $work/\$t.dive.json >/dev/null; done"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/compare.json" \
  -n "pare compare" "$PARE compare -q --no-unpack --format json $archives" \
  -n "pare compare --format html" "$PARE compare -q --no-unpack --format html $archives" \
  -n "dive x3" "sh -c '$dive_all'" >&2
echo '<!DOCTYPE html><title>blank</title>' > "$work/blank.html"
chrome() {
  echo "chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
--user-data-dir=$work/profile --window-size=1280,800 --screenshot=$work/shot.png file://$1"
}
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/render.json" \
  -n blank "$(chrome "$work/blank.html")" \
  -n naive "$(chrome "$out/audit-naive.html")" \
  -n compare "$(chrome "$out/compare.html")" >&2
c=$(median "pare compare" "$work/compare.json"); ch=$(median "pare compare --format html" "$work/compare.json")
d=$(median "dive x3" "$work/compare.json")
b=$(median blank "$work/render.json"); n=$(median naive "$work/render.json"); k=$(median compare "$work/render.json")
echo "# three-image diet, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo
echo "| command | median s | pare faster by |"
echo "|---|---|---|"
printf '| pare compare (3 images, JSON) | %.3f | |\n' "$c"
printf '| pare compare --format html | %.3f | |\n' "$ch"
printf '| dive --json, one run per image | %.3f | %.1fx |\n' "$d" "$(echo "$d / $c" | bc -l)"
echo
echo "| report | bytes | chromium median s | over an empty page s |"
echo "|---|---|---|---|"
printf '| empty page | | %.3f | |\n' "$b"
printf '| audit of the naive image | %d | %.3f | %.3f |\n' "$(stat -c %s "$out/audit-naive.html")" "$n" "$(echo "$n - $b" | bc -l)"
printf '| compare of the three | %d | %.3f | %.3f |\n' "$(stat -c %s "$out/compare.html")" "$k" "$(echo "$k - $b" | bc -l)"
