#!/usr/bin/env bash
# Image size of a C++ program linking libstdc++ and OpenSSL (libssl + libcrypto) built by pare, next to
# what Google's distroless `cc` ships for the same job: the Debian packages libc6, libssl3, libgcc-s1,
# libstdc++6 and zlib1g plus the static files (base-files, netbase, tzdata, ca-certificates), counted
# from this machine's installed packages without docs, man pages, lintian overrides and locales (which
# distroless leaves out too). Prints a markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2   # no-op when up to date
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-size.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat > "$work/tls.cpp" <<'CPP'
#include <iostream>
#include <string>
#include <openssl/ssl.h>
int main() {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    std::string what = ctx ? "TLS client context ready" : "no TLS";
    std::cout << what << " (" << OpenSSL_version(OPENSSL_VERSION) << ")" << std::endl;
    SSL_CTX_free(ctx);
    return ctx ? 0 : 1;
}
CPP
g++ -O2 -o "$work/app" "$work/tls.cpp" -lssl -lcrypto
report=$("$PARE" build -q --format json --copy "$work/app:/app" --entrypoint /app --output "oci:$work/out:cc")
pare_bytes=$(echo "$report" | jq '.uncompressed_size')
pare_stored=$(echo "$report" | jq '.compressed_size')
closure_files=$(echo "$report" | jq '[.libraries[]] | length')

# Bytes of a package's regular files, leaving out what distroless drops.
package_bytes() {
  dpkg -L "$1" 2>/dev/null | grep -vE '^/usr/share/(doc|man|info|lintian|locale)/' | while read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then stat -c %s "$f"; fi
  done | awk '{ s += $1 } END { print s + 0 }'
}
echo "# closure size: C++ with libstdc++ and OpenSSL, $(date -u +%F)"
echo
echo "| what | bytes |"
echo "|---|---:|"
total=0
for pkg in libc6 libssl3 libgcc-s1 libstdc++6 zlib1g base-files netbase tzdata ca-certificates; do
  b=$(package_bytes "$pkg")
  total=$((total + b))
  echo "| distroless cc set: $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) | $b |"
done
echo "| **distroless cc set, total** | **$total** |"
echo "| **pare image, uncompressed (static base + $closure_files closure paths + program)** | **$pare_bytes** |"
echo "| pare image, stored (gzip) | $pare_stored |"
awk -v p="$pare_bytes" -v d="$total" 'BEGIN { printf "\npare image is %.1f%% smaller than the distroless cc set (%.2fx).\n", (1 - p / d) * 100, d / p }'
