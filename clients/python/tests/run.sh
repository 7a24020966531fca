#!/usr/bin/env bash
# Installs the package with pip into a fresh virtual environment (Debian's python3, its
# python3-httpx through --system-site-packages; nothing is downloaded) and runs its tests
# against real tasker processes (tests/e2e/harness.py starts them).
#   clients/python/tests/run.sh VENV_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
package="$(dirname "$here")"
venv="${1:?usage: run.sh VENV_DIR}"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install --quiet --no-build-isolation --no-deps --no-index "$package"
rm -rf "$package/build" "$package"/*.egg-info
cd "$here"
exec "$venv/bin/python" -m unittest -v test_tasker
