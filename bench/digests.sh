#!/usr/bin/env bash
# Image digests of a static build and of every Debian recipe, for checking that a refactor keeps
# images byte-identical: run it with the old binary and the new one and compare the two outputs.
#   PARE=/tmp/pare-before bench/digests.sh > before.txt; bench/digests.sh > after.txt; diff before.txt after.txt
# The static program and the locks are made once per work directory (DIGESTS_WORK, default a fresh
# temporary one), so two runs that share it build from the same inputs. Recipes need the host's
# configured Debian archive; RECIPES= (empty) builds the static image only.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
[ -n "${PARE_PREBUILT:-}" ] || [ "$PARE" != "$PWD/target/release/pare" ] || cargo build -q --release -p pare-cli >&2
RECIPES=${RECIPES-static-debian base-nossl base cc python3 nodejs java}
work=${DIGESTS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/pare-digests.XXXXXX")}
mkdir -p "$work"
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
export SOURCE_DATE_EPOCH=1700000000
if [ ! -x "$work/hello" ]; then
  printf '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n' > "$work/hello.c"
  gcc -static -O2 -o "$work/hello" "$work/hello.c"
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/pare-digests-out.XXXXXX")
trap 'rm -rf "$out"' EXIT
digest() { jq -r .manifest_digest; }
for compression in gzip zstd none; do
  d=$("$PARE" build -q --format json --compression "$compression" --copy "$work/hello:/hello" \
    --entrypoint /hello --output "oci:$out/static-$compression" | digest)
  echo "static --compression $compression: $d"
done
d=$("$PARE" build -q --format json --copy "$work/hello:/hello" --entrypoint /hello \
  --output "docker-archive:$out/static.tar:hello:1" | digest)
echo "static docker-archive: $d"
for recipe in $RECIPES; do
  d=$("$PARE" build -q --format json --base "$recipe" --lock "$work/$recipe.lock" --output "oci:$out/$recipe" | digest)
  echo "recipe $recipe: $d"
done
if [[ " $RECIPES " == *" python3 "* ]]; then
  d=$("$PARE" build -q --format json --base python3 --debug --lock "$work/python3.lock" --output "oci:$out/python3-debug" | digest)
  echo "recipe python3 --debug: $d"
fi
