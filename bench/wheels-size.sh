#!/usr/bin/env bash
# Size of a Python service with C-extension wheels (numpy, psycopg2-binary, pillow from PyPI, as the
# host's pip is configured) on the python3 recipe (distroless python3's package set), against the sum
# of its parts: the recipe alone plus the wheels as installed. When nothing is duplicated (no host copy
# of a library a wheel bundles in its *.libs/), the image is exactly the recipe plus one layer of wheels.
#   bench/wheels-size.sh            (needs the host's Debian archive and PyPI)
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || [ "$PARE" != "$PWD/target/release/pare" ] || cargo build -q --release -p pare-cli >&2
work=${WHEELS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/pare-wheels.XXXXXX")}
mkdir -p "$work"
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
deps=$work/deps
if [ ! -d "$deps/numpy" ]; then
  python3 -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
    --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux2014_x86_64 --target "$deps" 'numpy<2.3' psycopg2-binary pillow
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/pare-wheels-out.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$PARE" build -q --format json --base python3 --lock "$work/python3.lock" \
  --output "oci:$out/img:recipe" > "$work/recipe.json"
"$PARE" build -q --format json --base python3 --lock "$work/python3.lock" \
  --copy "$deps/:/app/deps/" --env PYTHONPATH=/app/deps --entrypoint /usr/bin/python3 \
  --output "oci:$out/img:app" > "$work/app.json"
wheels_bytes=$(find "$deps" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
recipe_c=$(jq .compressed_size "$work/recipe.json"); recipe_u=$(jq .uncompressed_size "$work/recipe.json")
app_c=$(jq .compressed_size "$work/app.json"); app_u=$(jq .uncompressed_size "$work/app.json")
libs=$(jq '[.libraries[]] | length' "$work/app.json")
libs_bytes=$(jq '[.layers[] | select(.created_by | test("^pare build: (shared libraries|files glibc)")) | .uncompressed_size] | add // 0' "$work/app.json")
wheel_layer_u=$(jq '.layers[-1].uncompressed_size' "$work/app.json")
wheel_layer_c=$(jq '.layers[-1].size' "$work/app.json")
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
echo "python3 recipe alone:          $(mb "$recipe_c") stored, $(mb "$recipe_u") uncompressed"
echo "wheels as installed:           $(mb "$wheels_bytes") of files ($(mb "$wheel_layer_c") stored as one layer, $(mb "$wheel_layer_u") as tar)"
echo "recipe + wheels (sum):         $(mb $((recipe_c + wheel_layer_c))) stored, $(mb $((recipe_u + wheel_layer_u))) uncompressed"
echo "pare image:                    $(mb "$app_c") stored, $(mb "$app_u") uncompressed"
echo "closure additions:             $libs paths, $libs_bytes bytes of tar"
awk -v a="$app_u" -v s="$((recipe_u + wheel_layer_u))" 'BEGIN {printf "image / (recipe + wheels):     %.4f (uncompressed)\n", a / s}'
