#!/usr/bin/env bash
# Install everything the tests need into .venv, then run lint, type checks and every test.
# Works on a fresh machine with Python >= 3.10 (python3 with venv); touches nothing outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

# Budget tests run against a real Redis server, and the dashboard tests against a real Prometheus
# (promtool checks the alert rules); the tests start them on free loopback ports.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
if [ -n "$missing" ]; then
  echo "== installing$missing (Debian packages)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
.venv/bin/ruff check src tests bench examples
echo "== mypy"
.venv/bin/mypy
echo "== import layers"
.venv/bin/lint-imports
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
