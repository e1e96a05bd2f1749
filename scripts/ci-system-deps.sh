#!/usr/bin/env bash
# System packages the test suite uses: headless Chromium for the HTML report test.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ci-system-deps: chromium missing and not root; the report browser test will fail" >&2
  fi
fi
