#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages: Chromium for the browser tests,
# redis-server for the Redis broker tests (each test file starts its own on a free port) and
# openssl, with which the TLS tests make their certificates.
# Found on PATH, or installed with apt-get when running as root; otherwise a loud failure.
set -euo pipefail

find_chromium() {
  for c in "${CHROMIUM_PATH:-}" chromium chromium-browser google-chrome; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return 0; }
  done
  return 1
}

if ! find_chromium >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "test-setup: Chromium not found; installing Debian's chromium with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test-setup: ERROR: the browser tests need Chromium and none is on PATH." >&2
    echo "  Install it (Debian: sudo apt-get install chromium) or set CHROMIUM_PATH." >&2
    exit 1
  fi
fi
echo "test-setup: chromium at $(find_chromium)" >&2

if ! command -v redis-server >/dev/null 2>&1 && [ -z "${REDIS_SERVER:-}" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "test-setup: redis-server not found; installing Debian's redis-server with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "test-setup: ERROR: the Redis broker tests need redis-server and none is on PATH." >&2
    echo "  Install it (Debian: sudo apt-get install redis-server) or set REDIS_SERVER." >&2
    exit 1
  fi
fi
echo "test-setup: redis-server at ${REDIS_SERVER:-$(command -v redis-server)}" >&2

if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "test-setup: openssl not found; installing Debian's openssl with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  else
    echo "test-setup: ERROR: the TLS tests make their certificates with openssl and none is on PATH." >&2
    echo "  Install it (Debian: sudo apt-get install openssl)." >&2
    exit 1
  fi
fi
echo "test-setup: openssl at $(command -v openssl)" >&2
