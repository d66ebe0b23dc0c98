#!/usr/bin/env bash
# Rebuild speed of the python3 recipe: the lock and every .deb already in the cache, one app file
# changed between runs (the edit-build loop), against a cold build of the same lock into an empty
# output layout (every package extracted and compressed). RUNS runs each, medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-7}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-py.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
cd "$work"
cat > pare.toml <<'TOML'
[image]
base = "python3"
entrypoint = ["/usr/bin/python3", "/app/main.py"]
[[copy]]
src = "main.py"
dst = "/app/"
[build]
output = "oci:out:latest"
TOML
echo 'print("v0")' > main.py
"$PARE" lock -q -f pare.toml
"$PARE" build -q -f pare.toml --locked   # fills the cache

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
cold=(); warm=()
for i in $(seq "$RUNS"); do
  rm -rf out
  echo "print(\"cold $i\")" > main.py
  t0=$(now); "$PARE" build -q -f pare.toml --locked; t1=$(now)
  cold+=("$(echo "$t1 - $t0" | bc)")
  echo "print(\"warm $i\")" > main.py
  t0=$(now); "$PARE" build -q -f pare.toml --locked; t1=$(now)
  warm+=("$(echo "$t1 - $t0" | bc)")
done
c=$(printf '%s\n' "${cold[@]}" | median); w=$(printf '%s\n' "${warm[@]}" | median)
echo "# python3 recipe rebuild, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo
echo "| build | median s |"
echo "|---|---:|"
echo "| cold (empty output layout, packages from the cache) | $c |"
echo "| warm (one app file changed) | $w |"
echo "| ratio cold / warm | $(echo "scale=1; $c / $w" | bc)x |"
