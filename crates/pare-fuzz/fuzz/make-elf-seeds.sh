#!/bin/sh
# Regenerates the ELF seeds from tiny programs built with the host's gcc.
set -eu
cd "$(dirname "$0")"
out=seeds/elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'int main(void){return 0;}\n' > "$tmp/m.c"
printf 'int f(void){return 1;}\n' > "$tmp/f.c"
gcc -Os -o "$tmp/dynamic" "$tmp/m.c"
gcc -Os -shared -fPIC -o "$tmp/shared.so" "$tmp/f.c"
gcc -Os -nostdlib -static -Wl,-e,0 -o "$tmp/tiny-static" "$tmp/f.c" 2>/dev/null || true
strip -o "$tmp/dynamic-stripped" "$tmp/dynamic"
for f in dynamic shared.so dynamic-stripped tiny-static; do
  [ -f "$tmp/$f" ] && cp "$tmp/$f" "$out/$f"
done
head -c 64 "$tmp/dynamic" > "$out/truncated-header"
head -c 1000 "$tmp/dynamic" > "$out/truncated-1000"
