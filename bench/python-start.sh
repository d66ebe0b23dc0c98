#!/usr/bin/env bash
# Python start time with and without bytecode (issue 20): the python3 recipe image runs
#   python3 -c "import json, ssl, sqlite3, http.server, email.parser, asyncio, decimal"
# as uid 65532 under runc, as built (no .pyc, as distroless ships it), slimmed without bytecode,
# slimmed with `--bytecode imported`, and built with `pare build --bytecode imported`; then a Flask
# app's first response (its process started, the test client's first GET) the same four ways.
# hyperfine runs each RUNS times (medians). Last, the images' uncompressed layer bytes, with a
# one-line app (`print("hello")`) built with and without bytecode, against distroless's python3.
# Needs root (runc), umoci, runc, hyperfine, jq and PyPI (Flask wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-10}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-pystart.XXXXXX")
trap 'rm -rf "$work"' EXIT
. bench/lib/hyperfine.sh
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-${TMPDIR:-/tmp}/pare-test-debian-cache}
layout="$work/oci"
imports='import json, ssl, sqlite3, http.server, email.parser, asyncio, decimal'
python3 -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
  --python-version 3.11 --implementation cp --platform manylinux2014_x86_64 --target "$work/deps" flask >&2
cat > "$work/app.py" <<'EOF'
from flask import Flask
app = Flask(__name__)
@app.route('/')
def index():
    return 'hello'
print(app.test_client().get('/').status_code)
EOF
echo 'print("hello")' > "$work/hello.py"
for bytecode in none imported; do
  suffix=$([ "$bytecode" = none ] || echo -build)
  "$PARE" build -q --bytecode "$bytecode" --base python3 --entrypoint /usr/bin/python3 --cmd -c \
    --cmd "$imports" --output "oci:$layout:imports$suffix" --format json > "$work/imports$suffix.json"
  "$PARE" build -q --bytecode "$bytecode" --base python3 --copy "$work/deps/:/app/deps/" \
    --copy "$work/app.py:/app/app.py" --env PYTHONPATH=/app/deps --entrypoint /usr/bin/python3 \
    --cmd /app/app.py --output "oci:$layout:flask$suffix" --format json > "$work/flask$suffix.json"
  "$PARE" build -q --bytecode "$bytecode" --base python3 --copy "$work/hello.py:/app/hello.py" \
    --entrypoint /usr/bin/python3 --cmd /app/hello.py --output "oci:$layout:hello$suffix" \
    --format json > "$work/hello$suffix.json"
done
for tag in imports-build flask-build; do
  umoci unpack --image "$layout:$tag" "$work/bundle-$tag" > /dev/null
  jq '.process.terminal = false' "$work/bundle-$tag/config.json" > "$work/c.json"
  mv "$work/c.json" "$work/bundle-$tag/config.json"
done
for app in imports flask; do
  "$PARE" slim -q "oci:$layout:$app" "oci:$layout:$app-slim" > /dev/null
  "$PARE" slim -q --bytecode imported "oci:$layout:$app" "oci:$layout:$app-pyc" --format json > "$work/$app-pyc.json"
  for tag in "$app" "$app-slim" "$app-pyc"; do
    umoci unpack --image "$layout:$tag" "$work/bundle-$tag" > /dev/null
    jq '.process.terminal = false' "$work/bundle-$tag/config.json" > "$work/c.json"
    mv "$work/c.json" "$work/bundle-$tag/config.json"
  done
done
# The floor: the same runc start of the bytecode image running a Python that imports nothing.
cp -a "$work/bundle-imports-pyc" "$work/bundle-floor"
jq '.process.args = ["/usr/bin/python3", "-S", "-c", "pass"]' "$work/bundle-floor/config.json" > "$work/c.json"
mv "$work/c.json" "$work/bundle-floor/config.json"
runc_cmd() { echo "runc --root $work/runc run --bundle $work/bundle-$1 pare-bench-$1"; }
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/start.json" \
  -n floor "$(runc_cmd floor)" -n imports "$(runc_cmd imports)" -n imports-slim "$(runc_cmd imports-slim)" \
  -n imports-pyc "$(runc_cmd imports-pyc)" -n imports-build "$(runc_cmd imports-build)" \
  -n flask "$(runc_cmd flask)" -n flask-slim "$(runc_cmd flask-slim)" -n flask-pyc "$(runc_cmd flask-pyc)" \
  -n flask-build "$(runc_cmd flask-build)" >&2
size() { "$PARE" audit -q --format json "oci:$layout:$1" | jq -r .file_bytes; }
echo "# python start, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo "| image | file bytes | runc median s | faster than as built |"
echo "|---|---|---|---|"
for app in imports flask; do
  base=$(median "$app" "$work/start.json")
  for tag in "$app" "$app-slim" "$app-pyc" "$app-build"; do
    m=$(median "$tag" "$work/start.json")
    echo "| $tag | $(size "$tag") | $(printf %.3f "$m") | $(echo "$base / $m" | bc -l | xargs printf %.2fx) |"
  done
  jq -r --arg a "$app" '"bytecode for \($a): \(.bytecode.count) files, \(.bytecode.bytes) bytes"' "$work/$app-pyc.json"
done
f=$(median floor "$work/start.json")
echo "floor (runc + python3 -S -c pass): $(printf %.3f "$f") s; above it:"
for tag in imports imports-pyc imports-build flask flask-pyc flask-build; do
  echo "  $tag $(echo "$(median "$tag" "$work/start.json") - $f" | bc -l | xargs printf %.3f) s"
done
# Sizes: what `pare build` wrote, uncompressed (the layer tars) and stored, with and without
# bytecode, against the 56.5 MB the issue gives for distroless's python3 package set.
echo "| image | bytecode files | bytecode bytes | uncompressed | stored | under 56.5 MB |"
echo "|---|---:|---:|---:|---:|---:|"
for app in hello imports flask; do
  for suffix in "" -build; do
    jq -r --arg t "$app$suffix" '"| \($t) | \(.bytecode.files // 0) | \(.bytecode.bytes // 0) | \(.uncompressed_size) | \(.compressed_size) | \((1 - .uncompressed_size / 56500000) * 100 | floor)% |"' \
      "$work/$app$suffix.json"
  done
done
