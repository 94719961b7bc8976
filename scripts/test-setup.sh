#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages: Chromium for the browser tests,
# redis-server for the Redis broker tests (each test file starts its own on a free port),
# openssl, with which the TLS tests make their certificates, and nginx and haproxy, which the
# deploy tests run in the foreground with deploy/'s configs (never the system services).
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

# nginx and haproxy: Debian installs them under /usr/sbin, often not on a user's PATH.
find_sbin() {
  local override="$1" name="$2"
  for c in "$override" "$(command -v "$name" 2>/dev/null || true)" "/usr/sbin/$name" "/usr/bin/$name"; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

for pair in "nginx:${NGINX_PATH:-}:NGINX_PATH" "haproxy:${HAPROXY_PATH:-}:HAPROXY_PATH"; do
  name="${pair%%:*}"; rest="${pair#*:}"; override="${rest%%:*}"; var="${rest#*:}"
  if ! find_sbin "$override" "$name" >/dev/null; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      echo "test-setup: $name not found; installing Debian's $name with apt-get" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$name" >/dev/null
    else
      echo "test-setup: ERROR: the deploy tests (test/deploy/) run $name and none was found." >&2
      echo "  Install it (Debian: sudo apt-get install $name) or set $var." >&2
      exit 1
    fi
  fi
  echo "test-setup: $name at $(find_sbin "$override" "$name")" >&2
done
