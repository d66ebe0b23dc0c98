#!/usr/bin/env bash
# Warm rebuild of the python3 recipe for two platforms (linux/amd64 + linux/arm64, one OCI index),
# the issue's "under 2 s" figure, beside the same warm rebuild for one platform: the lock (with its
# arm64 [[other]] lock) and every .deb already in the cache, one app file changed between runs.
# RUNS runs each, medians and the ratio two / one. No peer builds multi-platform images offline
# here (apko and buildx are not installable), so this is against the issue's number.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-7}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-multiarch.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
cd "$work"
cat > pare.toml <<'TOML'
[image]
base = "python3"
platforms = ["linux/amd64", "linux/arm64"]
entrypoint = ["/usr/bin/python3", "/app/main.py"]
[[copy]]
src = "main.py"
dst = "/app/"
[build]
output = "oci:two:latest"
TOML
sed -e '/^platforms/d' -e 's|oci:two:latest|oci:one:latest|' pare.toml > one.toml
echo 'print("v0")' > main.py
"$PARE" build -q -f pare.toml   # locks both architectures and fills the cache
"$PARE" build -q -f one.toml

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
two=(); one=()
for i in $(seq "$RUNS"); do
  echo "print(\"two $i\")" > main.py
  t0=$(now); "$PARE" build -q -f pare.toml --locked; t1=$(now)
  two+=("$(echo "$t1 - $t0" | bc)")
  echo "print(\"one $i\")" > main.py
  t0=$(now); "$PARE" build -q -f one.toml --locked; t1=$(now)
  one+=("$(echo "$t1 - $t0" | bc)")
done
t=$(printf '%s\n' "${two[@]}" | median); o=$(printf '%s\n' "${one[@]}" | median)
echo "# python3 recipe, warm rebuild, two platforms vs one, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo
echo "| build | median s |"
echo "|---|---:|"
echo "| linux/amd64 + linux/arm64 (one index) | $t |"
echo "| linux/amd64 alone | $o |"
echo "| ratio two / one | $(echo "scale=2; $t / $o" | bc)x |"
