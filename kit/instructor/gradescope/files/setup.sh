#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image; the bundle is in
# /autograder/source. It installs what grading needs (see README.md next to it):
# - bubblewrap, from apt (unless gradescope.json asks for --isolation rlimits);
# - a virtualenv at gradescope.json's "venv" (default /opt/kit-venv) with the student kit's
#   requirements.txt (what the grader imports is a part of it), from the bundle's wheels/
#   without the network when the bundle has them, from PyPI otherwise; readable by every
#   user, because the sandbox runs this Python as an unprivileged uid;
# - CIFAR-10, from gradescope.json's "data_url" (checked against "data_md5") with the kit's
#   get_datasets.py, into "data_dir" (default /opt/kit-data), readable by every user, with its
#   loading cache made once: run_autograder grades the notebooks on it as `kit grade --data`.
# It stops with a message (and Gradescope shows the build as failed) when something grading
# needs is missing, rather than leaving every submission to fail.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE_PYTHON="${KIT_BASE_PYTHON:-python3}"

say() { echo "setup.sh: $*"; }
die() { echo "setup.sh: $*" >&2; exit 1; }

command -v "$BASE_PYTHON" >/dev/null || die "$BASE_PYTHON is not installed on this image"
"$BASE_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "the kit needs Python 3.10 or newer; this image has $("$BASE_PYTHON" -V 2>&1)"
setting() {
    "$BASE_PYTHON" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print(v or "")' \
        "$SOURCE/gradescope.json" "$1"
}
VENV="$(setting venv)"
ISOLATION="$(setting isolation)"
BWRAP="$(setting bwrap)"
DATA_URL="$(setting data_url)"
DATA_MD5="$(setting data_md5)"
DATA_DIR="$(setting data_dir)"
[ -n "$VENV" ] || die "gradescope.json names no venv"

packages=()
"$BASE_PYTHON" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
# isolation auto grades without bubblewrap where it cannot start (in Gradescope's containers it
# usually cannot); it is installed all the same, for the images where it can.
if [ "$ISOLATION" != rlimits ] && ! command -v "${BWRAP:-bwrap}" >/dev/null; then
    packages+=(bubblewrap)
fi
if [ ${#packages[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get is not available to install ${packages[*]}"
    say "installing ${packages[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${packages[@]}" \
        || { apt-get update && apt-get install -y --no-install-recommends "${packages[@]}"; } \
        || die "apt-get could not install ${packages[*]}"
fi
if [ "$ISOLATION" != rlimits ]; then
    command -v "${BWRAP:-bwrap}" >/dev/null \
        || die "bubblewrap is missing, and the bundle asks for isolation $ISOLATION (it fails closed)"
fi

say "creating $VENV"
"$BASE_PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet)
if [ -d "$SOURCE/wheels" ]; then
    say "installing requirements.txt from the bundle's wheels/ (no network)"
    "${PIP[@]}" --no-index --find-links "$SOURCE/wheels" -r "$SOURCE/requirements.txt"
else
    say "installing requirements.txt from PyPI"
    "${PIP[@]}" -r "$SOURCE/requirements.txt"
fi
chmod -R a+rX "$VENV"
"$VENV/bin/python" -c 'import numpy, nbformat' || die "the virtualenv cannot import numpy and nbformat"

if [ -n "$DATA_URL" ]; then
    [ -n "$DATA_DIR" ] && [ -n "$DATA_MD5" ] || die "gradescope.json has a data_url but no data_dir or data_md5"
    say "downloading CIFAR-10 from $DATA_URL into $DATA_DIR (MD5 $DATA_MD5)"
    CIFAR10_URL="$DATA_URL" CIFAR10_MD5="$DATA_MD5" "$VENV/bin/python" "$SOURCE/get_datasets.py" \
        --dest "$DATA_DIR" --quiet \
        || die "CIFAR-10 could not be downloaded from $DATA_URL (or its MD5 is not $DATA_MD5): the notebooks cannot be graded; fix --data-url / --data-md5 and build the bundle again"
    # The first load writes the loading cache; every submission's container then starts with it.
    (cd "$SOURCE" && "$VENV/bin/python" -B -c 'import sys; from cs231n.data_utils import load_CIFAR10; load_CIFAR10(sys.argv[1])' \
        "$DATA_DIR/cifar-10-batches-py") || die "the CIFAR-10 data in $DATA_DIR/cifar-10-batches-py cannot be loaded"
    chmod -R a+rX,go-w "$DATA_DIR"
    say "CIFAR-10 ready in $DATA_DIR/cifar-10-batches-py"
    say "running the notebooks' reference solution once on it (its tuning takes minutes on the full CIFAR-10)"
    (cd "$SOURCE" && "$VENV/bin/python" -B -m kit.instructor.gradescope.autograder --prepare \
        --root "$(dirname "$SOURCE")") || die "the notebooks' reference run failed (see above)"
else
    say "no data_url in gradescope.json: the notebooks will not be graded (code checks only)"
fi
say "done: $("$VENV/bin/python" -V), isolation $ISOLATION; run_autograder makes $SOURCE readable by root only"
