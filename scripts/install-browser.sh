#!/usr/bin/env bash
# Installs Debian's Chromium and fonts at their pins (versions.env) for the browser tests
# (tests/browser) and `make screenshot`. Playwright (pinned by uv.lock) drives it with
# executable_path, so nothing is downloaded besides the Debian packages.
set -euo pipefail
bash "$(dirname "$0")/install-debian-packages.sh" browser
