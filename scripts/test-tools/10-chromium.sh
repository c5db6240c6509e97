#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver, for the browser tests (tests/tests/suite/t81_browser.rs).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
apt_install chromium chromium-driver
