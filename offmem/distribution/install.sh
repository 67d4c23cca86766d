#!/bin/sh
# offmem's offline installer, from the bundle `offmem bundle --output FILE` wrote.
#
#   tar xf offmem-bundle.tar && ./install.sh [VENV_DIR] [offmem setup options...]
#
# 1. checks that this machine's Python and platform are the ones the bundle was made for,
# 2. verifies every file of the bundle against the sha256 in offmem-offline.json,
# 3. creates the virtual environment VENV_DIR (default: ~/.local/share/offmem/venv) and installs
#    offmem into it from the bundle's wheels only (pip --isolated --no-index: no package index,
#    no pip configuration that could name one),
# 4. runs `offmem setup --bundle models.tar` (models verified against offmem's own pins, hooks,
#    MCP server, worker, doctor); further arguments go to it (e.g. --scope project, --json).
#
# PYTHON=/path/to/python3.X picks the interpreter (default: python3.X as the bundle names it,
# else python3). Nothing here reaches the network.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
MANIFEST="$HERE/offmem-offline.json"
VENV="${1:-${OFFMEM_VENV:-$HOME/.local/share/offmem/venv}}"
[ $# -gt 0 ] && shift

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ -f "$MANIFEST" ] || die "no offmem-offline.json beside install.sh: extract the whole bundle (tar xf FILE) and run ./install.sh from it"

if [ -z "${PYTHON:-}" ]; then
    WANT=$(sed -n 's/.*"version": "\([0-9][0-9]*\.[0-9][0-9]*\)".*/\1/p' "$MANIFEST" | head -n 1)
    if command -v "python$WANT" >/dev/null 2>&1; then PYTHON="python$WANT"; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON on PATH; set PYTHON=/path/to/python3.X (the version the bundle was made for)"
START=$(date +%s)

say "checking the bundle against $("$PYTHON" -c 'import sys; print(sys.executable)')"
# Exit status 3: the bundle does not suit this machine; 4: a file is damaged or missing.
"$PYTHON" -I - "$HERE" <<'EOF'
import hashlib, json, os, platform, sys, sysconfig

here = sys.argv[1]
with open(os.path.join(here, "offmem-offline.json"), encoding="utf-8") as handle:
    manifest = json.load(handle)
if manifest.get("format") != "offmem-offline-bundle" or manifest.get("version") != 1:
    sys.exit("install.sh: offmem-offline.json is not a manifest this installer reads")
want, have = manifest["python"], "%d.%d" % sys.version_info[:2]
where = manifest["platform"]


def version(text):
    return tuple(int(part) for part in text.split(".") if part.isdigit())


problems = []
if have != want["version"] or sys.implementation.name != want["implementation"]:
    problems.append("the bundle is for %s %s; this is %s %s (%s)" % (want["implementation"], want["version"],
                    sys.implementation.name, have, sys.executable))
if sysconfig.get_platform() != where["platform"]:
    problems.append("the bundle is for %s; this machine is %s" % (where["platform"], sysconfig.get_platform()))
libc, libc_version = platform.libc_ver()
if where.get("libc") and (libc != where["libc"] or version(libc_version) < version(where["libc_version"])):
    problems.append("the bundle was built against %s %s; this machine has %s %s (it needs the same C library, "
                    "as new or newer)" % (where["libc"], where["libc_version"], libc or "another C library",
                                           libc_version))
if problems:
    print("install.sh: this bundle does not suit this machine:\n  - " + "\n  - ".join(problems) + "\n"
          "Run it with the matching interpreter (PYTHON=/path/to/python%s ./install.sh), or make a bundle for this "
          "machine on a connected one of the same OS, CPU and C library (or older): "
          "offmem bundle --python /path/to/python3.X --output FILE" % want["version"], file=sys.stderr)
    sys.exit(3)

listed = set()
bad = []
for entry in manifest["files"]:
    name = entry["path"]
    if name.startswith("/") or ".." in name.split("/"):
        sys.exit("install.sh: the manifest names a path outside the bundle: %r" % name)
    listed.add(name)
    path = os.path.join(here, name)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        bad.append("%s: %s" % (name, exc.strerror))
        continue
    if digest.hexdigest() != entry["sha256"]:
        bad.append("%s: sha256 %s, the manifest says %s" % (name, digest.hexdigest(), entry["sha256"]))
strays = sorted("wheels/" + n for n in os.listdir(os.path.join(here, "wheels")) if "wheels/" + n not in listed)
bad += ["%s: not in the manifest (pip would see it)" % n for n in strays]
if bad:
    print("install.sh: the bundle is damaged; nothing was installed:\n  - " + "\n  - ".join(bad) + "\n"
          "Copy the archive again (compare its size and sha256 with the original) and extract it anew.", file=sys.stderr)
    sys.exit(4)
print("install.sh: %d files verified (offmem %s, Python %s, %s)" % (len(listed), manifest["offmem_version"],
      want["version"], where["platform"]), file=sys.stderr)
EOF

REQUIREMENT=$("$PYTHON" -I -c 'import json, sys; print(json.load(open(sys.argv[1]))["requirement"])' "$MANIFEST")

if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV" || die "cannot create $VENV (on Debian/Ubuntu: install the python3-venv package)"
fi
say "installing $REQUIREMENT from the bundle's wheels (no package index)"
"$VENV/bin/python" -m pip --isolated install --quiet --no-index --find-links "$HERE/wheels" \
    --disable-pip-version-check "$REQUIREMENT"

say "running offmem setup"
STATUS=0
"$VENV/bin/offmem" setup --bundle "$HERE/models.tar" "$@" || STATUS=$?
say "installed in $(( $(date +%s) - START )) s; offmem is $VENV/bin/offmem (add $VENV/bin to PATH)"
exit "$STATUS"
