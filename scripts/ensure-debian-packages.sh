#!/usr/bin/env bash
# Debian packages the tests drive for real: Chromium (browser tests, through Playwright; no
# browser downloads here), poppler-utils (pdftotext/pdftohtml read the debrief's printed PDF)
# and nginx (the compose file's load balancer, tested in front of two server processes).
# Installed only when missing and when this user can (root + apt-get).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
command -v pdftohtml >/dev/null 2>&1 || missing+=(poppler-utils)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${missing[*]}…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "warning: cannot install ${missing[*]} here; the tests that need them will skip" >&2
