#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser) and `make screenshot`,
# if /usr/bin/chromium is missing. Playwright drives it with executable_path, so nothing
# is downloaded besides the Debian packages. Safe to run again: it then does nothing.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi

echo "installing Debian packages: chromium fonts-liberation fonts-dejavu-core"
sudo_if_needed=()
[[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
"${sudo_if_needed[@]}" apt-get update -qq
"${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation fonts-dejavu-core
