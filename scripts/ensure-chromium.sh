#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (no browser downloads here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-liberation >/dev/null
  exit 0
fi
echo "warning: /usr/bin/chromium is missing and cannot be installed here; browser tests will skip" >&2
