#!/usr/bin/env python3
"""Fetches a corpus of real Dockerfiles that nobody in this project wrote: the Dockerfiles and
Containerfiles shipped in the source packages of container tools in the Debian release this
machine runs (buildah's build tests, docker.io, podman, containerd, runc, skopeo, ...).

    scripts/dockerfile-corpus.py DIR     # DIR/<package>/<path inside the source>; prints the count

The mirror is the one this machine's apt is configured for (read at run time). The suite's
InRelease is checked with gpgv against Debian's archive keyring, Sources.xz against InRelease, and
every tarball against Sources. A finished DIR (with its .complete marker) is reused as it is.
"""
import fcntl
import glob
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

PACKAGES = [
    "golang-github-containers-buildah",
    "docker.io",
    "libpod",
    "containerd",
    "runc",
    "skopeo",
    "prometheus",
    "golang-github-containers-common",
]
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
NOT_DOCKERFILES = re.compile(
    r"\.(go|md|nanorc|tmLanguage|tmPreferences|vim|el|json|ya?ml|sh|txt|bats|orig|rej)$"
)


def mirror_and_codename():
    codename = None
    for line in open("/etc/os-release", encoding="utf-8"):
        if line.startswith("VERSION_CODENAME="):
            codename = line.split("=", 1)[1].strip().strip('"')
    texts = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*")) + ["/etc/apt/sources.list"]:
        if os.path.isfile(path) and (path.endswith(".sources") or path.endswith(".list")):
            texts.append((path.endswith(".sources"), open(path, encoding="utf-8").read()))
    for deb822, text in texts:
        if deb822:
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith("#"):
                        key, value = line.split(":", 1)
                        fields[key.strip()] = value.strip()
                if "deb" in fields.get("Types", "").split() and codename in fields.get("Suites", "").split():
                    return fields["URIs"].split()[0].rstrip("/"), codename
        else:
            for line in text.splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == codename:
                    return words[1].rstrip("/"), codename
    sys.exit("dockerfile-corpus: no Debian mirror for %s in the apt configuration" % codename)


def get(url):
    with urllib.request.urlopen(url, timeout=120) as reply:
        return reply.read()


def is_dockerfile(path):
    name = os.path.basename(path)
    if NOT_DOCKERFILES.search(name):
        return False
    lower = name.lower()
    return (
        lower in ("dockerfile", "containerfile")
        or lower.startswith("dockerfile.")
        or lower.startswith("containerfile.")
        or lower.endswith(".dockerfile")
        or lower.endswith(".containerfile")
    )


def fetch(target):
    mirror, codename = mirror_and_codename()
    release = get("%s/dists/%s/InRelease" % (mirror, codename))
    with tempfile.NamedTemporaryFile() as f:
        f.write(release)
        f.flush()
        subprocess.run(["gpgv", "--keyring", KEYRING, f.name], check=True, capture_output=True)
    sources_xz = get("%s/dists/%s/main/source/Sources.xz" % (mirror, codename))
    digest = hashlib.sha256(sources_xz).hexdigest()
    expected = re.search(r"^ ([0-9a-f]{64}) +\d+ main/source/Sources\.xz$", release.decode(), re.M)
    if not expected or expected.group(1) != digest:
        sys.exit("dockerfile-corpus: Sources.xz does not match InRelease")
    stanzas = {}
    for stanza in lzma.decompress(sources_xz).decode().split("\n\n"):
        m = re.search(r"^Package: (.+)$", stanza, re.M)
        if m:
            stanzas[m.group(1)] = stanza
    count = 0
    for package in PACKAGES:
        stanza = stanzas.get(package)
        if stanza is None:
            continue
        directory = re.search(r"^Directory: (.+)$", stanza, re.M).group(1)
        sums = re.search(r"^Checksums-Sha256:\n((?: .+\n?)+)", stanza, re.M).group(1)
        for line in sums.splitlines():
            sha, _size, name = line.split()
            if ".orig" not in name or ".tar." not in name or name.endswith(".asc"):
                continue
            blob = get("%s/%s/%s" % (mirror, directory, name))
            if hashlib.sha256(blob).hexdigest() != sha:
                sys.exit("dockerfile-corpus: %s does not match Sources" % name)
            with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                for member in tar.getmembers():
                    if not member.isfile() or not is_dockerfile(member.name):
                        continue
                    parts = [p for p in member.name.split("/") if p not in ("", ".", "..")]
                    dest = os.path.join(target, package, *parts[1:] or parts)
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    with tar.extractfile(member) as src, open(dest, "wb") as out:
                        out.write(src.read())
                    count += 1
    return count


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    target = os.path.abspath(sys.argv[1])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(target, ".complete")):
            staging = target + ".partial"
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            fetch(staging)
            shutil.rmtree(target, ignore_errors=True)
            open(os.path.join(staging, ".complete"), "w").close()
            os.rename(staging, target)
    files = [
        os.path.join(d, f) for d, _, names in os.walk(target) for f in names if f != ".complete"
    ]
    print(len(files))


if __name__ == "__main__":
    main()
