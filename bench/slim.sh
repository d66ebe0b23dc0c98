#!/usr/bin/env bash
# `pare slim` reductions (issue 20) on the kinds of images slim (docker-slim) publishes figures for,
# and how long a slim takes. slim itself needs a Docker daemon that can pull images, which these
# machines do not have, so its published ratios are quoted beside ours (docs/benchmarks.md).
#   fat-node        a full Debian (debootstrap minbase) with Debian's nodejs installed by apt in a
#                   chroot and a Node service: the "ubuntu Node" kind (needs root and the host's
#                   apt mirror; ROOTFS=DIR reuses a minbase tree)
#   python-hello    the python3 recipe with a one-file app: the "distroless python" kind
#   python-flask    the python3 recipe with Flask from PyPI and an HTTP probe
#   node-service    the nodejs recipe with a Node service and an HTTP probe: "distroless node"
# Each image is slimmed RUNS times by hyperfine (medians); the reduction is file bytes before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-3}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-slim.XXXXXX")
trap 'rm -rf "$work"' EXIT
. bench/lib/hyperfine.sh
layout="$work/oci"
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-${TMPDIR:-/tmp}/pare-test-debian-cache}
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cat > "$work/hello.py" <<'EOF'
import json, sys
print(json.dumps({"hello": "world", "argv": sys.argv[1:]}))
EOF
cat > "$work/flask_app.py" <<'EOF'
import os
from flask import Flask, jsonify
app = Flask(__name__)
@app.route('/')
def index():
    return jsonify(greeting='hello from flask')
app.run(host='127.0.0.1', port=int(os.environ['PORT']))
EOF
cat > "$work/server.js" <<'EOF'
const http = require('http'), crypto = require('crypto');
http.createServer((q, s) => s.end(crypto.createHash('sha256').update(q.url).digest('hex')))
  .listen(+process.env.PORT, '127.0.0.1');
EOF
wheels="$work/flask"
python3 -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
  --python-version 3.11 --implementation cp --platform manylinux2014_x86_64 --target "$wheels" flask >&2

declare -A slim_args
"$PARE" build -q --base python3 --copy "$work/hello.py:/app/hello.py" --workdir /app \
  --entrypoint /usr/bin/python3 --cmd /app/hello.py --output "oci:$layout:python-hello"
slim_args[python-hello]=""
p=$(port)
"$PARE" build -q --base python3 --copy "$wheels/:/app/deps/" --copy "$work/flask_app.py:/app/app.py" \
  --env PYTHONPATH=/app/deps --env "PORT=$p" --workdir /app --entrypoint /usr/bin/python3 \
  --cmd /app/app.py --output "oci:$layout:python-flask"
slim_args[python-flask]="--http $p/"
p=$(port)
"$PARE" build -q --base nodejs --copy "$work/server.js:/app/server.js" --env "PORT=$p" \
  --entrypoint /usr/bin/node --cmd /app/server.js --output "oci:$layout:node-service"
slim_args[node-service]="--http $p/"
kinds="python-hello python-flask node-service"

if [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null && command -v umoci >/dev/null; then
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mirror=$(awk -v s="$suite" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s && u!=""){print u; exit}}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  rootfs=${ROOTFS:-}
  if [ -z "$rootfs" ] && [ -n "$mirror" ]; then
    rootfs="$work/minbase"
    debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log"
  fi
  if [ -n "$rootfs" ]; then
    root="$work/fat-node"
    cp -a "$rootfs" "$root"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
      sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends nodejs' >&2
    umount "$root/proc"
    mkdir -p "$root/app" && cp "$work/server.js" "$root/app/server.js"
    umoci init --layout "$layout.fat" 2>/dev/null || true
    umoci new --image "$layout.fat:fat-node"
    umoci insert --image "$layout.fat:fat-node" "$root" / >/dev/null
    p=$(port)
    umoci config --image "$layout.fat:fat-node" --config.env "PORT=$p" --config.user nobody \
      --config.entrypoint node --config.cmd /app/server.js
    "$PARE" copy -q "oci:$layout.fat:fat-node" "oci:$layout:fat-node"
    slim_args[fat-node]="--http $p/"
    kinds="fat-node $kinds"
  fi
fi

args=()
for k in $kinds; do
  args+=(-n "$k" "$PARE slim -q --format json oci:$layout:$k oci:$layout:$k-slim ${slim_args[$k]}")
done
hyperfine -N --warmup 0 --runs "$RUNS" --export-json "$work/slim.json" "${args[@]}" >&2
echo "# pare slim, $(date -u +%F), $(nproc) cores, $RUNS runs"
echo "| image | files before | after | file bytes before | after | reduction | compressed before | after | pare slim median s |"
echo "|---|---|---|---|---|---|---|---|---|"
for k in $kinds; do
  "$PARE" slim -q --format json "oci:$layout:$k" "oci:$layout:$k-slim" ${slim_args[$k]} > "$work/$k.json"
  jq -r --arg k "$k" --arg t "$(median "$k" "$work/slim.json")" \
    '"| \($k) | \(.before.files) | \(.after.files) | \(.before.file_bytes) | \(.after.file_bytes) | \((.before.file_bytes / .after.file_bytes * 100 | round) / 100)x | \(.before.compressed) | \(.after.compressed) | \($t | tonumber * 1000 | round / 1000) |"' \
    "$work/$k.json"
done
