#!/usr/bin/env bash
# Image size of each Debian recipe built by pare, next to distroless's image for the same Debian
# release reconstructed here from distroless's own package lists (GoogleContainerTools/distroless:
# base/, cc/config.bzl, python3/python.bzl, java/config.bzl for debian12): the same packages fetched
# with `apt-get download` from this machine's apt sources, unpacked with `dpkg-deb -x`, docs, man
# pages, info, lintian overrides and locales removed as pare does (and ca-certificates reduced to
# the bundle, as distroless ships it), status.d records added as distroless writes them, packed as one
# layer with GNU tar and gzip -6. distroless keeps tzdata's leap-second zones (right/); pare leaves
# them out, which is part of the difference. Both sides therefore count the
# same release and the same stripping rules; the difference is the package set. Prints markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-recipes.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}

static="base-files netbase tzdata ca-certificates"
base_nossl="$static libc6"
base="$static libc6 libssl3"
cc="$base libgomp1 libstdc++6 libgcc-s1 gcc-12-base"
python3="$cc libbz2-1.0 libdb5.3 libexpat1 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 \
python3-distutils zlib1g libcom-err2 libcrypt1 libgssapi-krb5-2 libk5crypto3 libkeyutils1 libkrb5-3 \
libkrb5support0 libnsl2 libreadline8 libtirpc3 libffi8 libpython3.11-minimal libpython3.11-stdlib python3.11-minimal"
java="$base zlib1g libjpeg62-turbo liblcms2-2 libfreetype6 fonts-dejavu-core fontconfig-config libexpat1 \
libfontconfig1 libuuid1 libbrotli1 libcrypt1 libstdc++6 libgcc-s1 gcc-12-base libpng16-16 libharfbuzz0b \
libgraphite2-3 libpcre2-8-0 libglib2.0-0 openjdk-17-jre-headless"

# distroless reconstruction: prints "compressed uncompressed count".
reconstruct() {
  local name=$1; shift
  local dir="$work/distroless-$name"
  mkdir -p "$dir/debs" "$dir/root"
  (cd "$dir/debs" && apt-get download -q=2 "$@" >/dev/null 2>&1)
  mkdir -p "$dir/root/var/lib/dpkg/status.d"
  for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dir/root"
    # distroless records each package in status.d (control fields and md5sums), as pare does.
    pkg=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -f "$deb" > "$dir/root/var/lib/dpkg/status.d/$pkg"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums > "$dir/root/var/lib/dpkg/status.d/$pkg.md5sums" 2>/dev/null || true
  done
  rm -rf "$dir"/root/usr/share/{doc,man,info,lintian,locale}
  if [ -d "$dir/root/usr/share/ca-certificates" ]; then
    mkdir -p "$dir/root/etc/ssl/certs"
    find "$dir/root/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat > "$dir/root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$dir/root/usr/share/ca-certificates" "$dir/root/usr/sbin/update-ca-certificates" "$dir/root/etc/ca-certificates"
  fi
  if [ "$name" = python3 ]; then
    # distroless's python3 images carry an ld.so.cache (for ctypes.util.find_library); pare writes
    # one for every recipe with shared libraries. glibc's ldconfig makes this one.
    echo 'include /etc/ld.so.conf.d/*.conf' > "$dir/root/etc/ld.so.conf"
    ldconfig -X -r "$dir/root" -C /etc/ld.so.cache
    rm "$dir/root/etc/ld.so.conf"
  fi
  local tarball="$dir/layer.tar"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$tarball" -C "$dir/root" .
  echo "$(gzip -6 -n -c "$tarball" | wc -c) $(stat -c %s "$tarball") $#"
}

echo "# recipe sizes, $(date -u +%F), $(nproc) cores, Debian $(cat /etc/debian_version)"
echo
echo "| recipe | pare compressed | pare uncompressed | pare packages | distroless (reconstructed) compressed | uncompressed | packages | pare / distroless (compressed) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for recipe in static-debian base-nossl base cc python3 nodejs java; do
  report=$("$PARE" build -q --format json --base "$recipe" --lock "$work/$recipe.lock" --output "oci:$work/out:$recipe")
  pc=$(echo "$report" | jq '.compressed_size'); pu=$(echo "$report" | jq '.uncompressed_size')
  pn=$(grep -c '^layer = "\(base\|libraries\|runtime\|extra\)"' "$work/$recipe.lock")
  case $recipe in
    static-debian) set -- $static ;; base-nossl) set -- $base_nossl ;; base) set -- $base ;;
    cc) set -- $cc ;; python3) set -- $python3 ;; java) set -- $java ;; *) set -- ;;
  esac
  if [ $# -gt 0 ]; then
    read -r dc du dn < <(reconstruct "$recipe" "$@")
    ratio=$(echo "scale=2; $pc / $dc" | bc)
    echo "| $recipe | $pc | $pu | $pn | $dc | $du | $dn | ${ratio}x |"
  else
    echo "| $recipe | $pc | $pu | $pn | n/a (distroless ships upstream Node.js, not Debian's) | | | |"
  fi
done
