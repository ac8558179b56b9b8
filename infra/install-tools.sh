#!/usr/bin/env bash
# The infrastructure linters that cannot share the lake's virtualenv: checkov pins tabulate<0.10, boto3 1.35,
# packaging 23 and networkx 2.6, all older than the lake's pins, so it lives in its own venv, infra/.venv-tools,
# installed from infra/requirements-tools.lock (exact versions). cfn-lint is in the lake's venv (a dev extra).
# Idempotent: does nothing when the venv already holds the locked versions.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3.11}"
VENV=.venv-tools
STAMP="$VENV/.installed"
if [[ -f "$STAMP" ]] && cmp -s requirements-tools.lock "$STAMP"; then
    touch "$STAMP"  # up to date: newer than the lock for make
    exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q --no-deps -r requirements-tools.lock
"$VENV/bin/pip" check
cp requirements-tools.lock "$STAMP"
