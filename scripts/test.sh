#!/usr/bin/env bash
# Quickstart 2: set up (first time only) and run the whole test suite, the real-browser
# end-to-end test included. Installs Debian's chromium when it is missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
scripts/setup.sh requirements-dev.txt
export REWARDPILOT_REQUIRE_BROWSER=1   # the browser test fails, never skips, when chromium is missing
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
