#!/usr/bin/env bash
# `pare scan` of the four-ecosystem image of bench/sbom-speed.sh (docker-archive, gzip layers) against
# a 100,000-record OSV database: synthetic records shaped as osv.dev's (Debian:12 source packages,
# Go modules, PyPI, npm; a fifth name the image's packages, the rest other names), as one all.zip
# and again as a directory of JSON files. hyperfine medians after a warm-up; peak RSS from
# /usr/bin/time. Goal (issue 17): under 2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PARE=${PARE:-$PWD/target/release/pare}
RUNS=${RUNS:-5}
RECORDS=${RECORDS:-100000}
[ -n "${PARE_PREBUILT:-}" ] || cargo build -q --release -p pare-cli >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/pare-bench-scan.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PARE_CACHE_DIR=${PARE_CACHE_DIR:-$work/cache}
. bench/lib/four-ecosystems.sh
archive=$work/fat.tar
four_ecosystems_image "$archive"
"$PARE" inventory -q --format json "docker-archive:$archive" > "$work/inventory.json"
python3 - "$work/inventory.json" "$work/db" "$RECORDS" <<'PY'
import json, os, random, sys, zipfile
inventory, out, n = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
random.seed(17)
names = {"Debian:12": set(), "Go": set(), "PyPI": set(), "npm": set()}
for p in inventory["packages"]:
    eco = {"dpkg": "Debian:12", "go": "Go", "python": "PyPI", "npm": "npm"}.get(p["manager"])
    if eco:
        names[eco].add(p.get("source") or p["name"])
ecosystems = list(names)
os.makedirs(out + "/dir", exist_ok=True)
z = zipfile.ZipFile(out + "/all.zip", "w", zipfile.ZIP_DEFLATED)
for i in range(n):
    eco = ecosystems[i % len(ecosystems)]
    known = sorted(names[eco])
    name = random.choice(known) if known and i % 5 == 0 else f"pkg-{i}"
    fixed = f"{random.randint(0, 40)}.{random.randint(0, 20)}.{random.randint(0, 9)}"
    record = {
        "schema_version": "1.6.0", "id": f"BENCH-{i:06d}", "modified": "2026-11-30T00:00:00Z",
        "aliases": [f"CVE-2099-{i:06d}"], "summary": "synthetic advisory " * 4,
        "details": "A synthetic record for the benchmark. " * 8,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "SEMVER" if eco in ("Go", "npm") else "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "references": [{"type": "ADVISORY", "url": f"https://example.invalid/{i}"}],
    }
    text = json.dumps(record)
    z.writestr(f"BENCH-{i:06d}.json", text)
    with open(f"{out}/dir/BENCH-{i:06d}.json", "w") as f:
        f.write(text)
z.close()
PY
. bench/lib/hyperfine.sh
zip_cmd="$PARE scan -q --format json --db $work/db/all.zip docker-archive:$archive > /dev/null"
dir_cmd="$PARE scan -q --format json --db $work/db/dir docker-archive:$archive > /dev/null"
sbom_cmd="$PARE sbom -q docker-archive:$archive > /dev/null"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/scan.json" \
  -n zip "sh -c '$zip_cmd'" -n dir "sh -c '$dir_cmd'" -n inventory-only "sh -c '$sbom_cmd'" >&2
matches=$("$PARE" scan -q --format json --db "$work/db/all.zip" "docker-archive:$archive" | jq '.vulnerabilities | length')
echo "# scan speed, $(date -u +%F), $(nproc) cores, $RUNS runs, $RECORDS records, $matches matches"
echo
echo "| database | median s | peak RSS KiB |"
echo "|---|---:|---:|"
printf '| one all.zip (%s bytes) | %.3f | %s |\n' "$(stat -c %s "$work/db/all.zip")" "$(median zip "$work/scan.json")" "$(peak "$zip_cmd")"
printf '| a directory of %s files | %.3f | %s |\n' "$RECORDS" "$(median dir "$work/scan.json")" "$(peak "$dir_cmd")"
printf '| (the image alone: pare sbom) | %.3f | %s |\n' "$(median inventory-only "$work/scan.json")" "$(peak "$sbom_cmd")"
