#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages: Chromium (browser tests), redis-server (Redis
# broker tests), openssl (TLS tests make their certificates), nginx and haproxy (test/deploy/ runs
# the configs in deploy/), ip and nft (network namespaces and packet loss), ss (listen backlogs). Each is found on PATH (or through its override variable), or
# installed with apt-get when running as root; otherwise a loud failure naming what to install.
set -euo pipefail

# The first executable of the candidates given.
first_executable() {
  for c in "$@"; do
    [ -z "$c" ] && continue
    local path
    path="$(command -v "$c" 2>/dev/null || true)"
    [ -n "$path" ] && [ -x "$path" ] && { echo "$path"; return 0; }
  done
  return 1
}

# ensure LABEL PACKAGE NEEDED-FOR OVERRIDE-VAR CANDIDATE...
ensure() {
  local label="$1" package="$2" purpose="$3" var="$4"
  shift 4
  if ! first_executable "$@" >/dev/null; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      echo "test-setup: $label not found; installing Debian's $package with apt-get" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    else
      echo "test-setup: ERROR: $purpose need $label and none was found." >&2
      echo "  Install it (Debian: sudo apt-get install $package)${var:+ or set $var}." >&2
      exit 1
    fi
  fi
  echo "test-setup: $label at $(first_executable "$@")" >&2
}

ensure chromium chromium 'the browser tests' CHROMIUM_PATH "${CHROMIUM_PATH:-}" chromium chromium-browser google-chrome
ensure redis-server redis-server 'the Redis broker tests' REDIS_SERVER "${REDIS_SERVER:-}" redis-server
ensure openssl openssl 'the TLS tests (they make their certificates)' '' openssl
# Debian installs these under /usr/sbin, often not on a user's PATH.
ensure nginx nginx 'the deploy tests (test/deploy/)' NGINX_PATH "${NGINX_PATH:-}" nginx /usr/sbin/nginx
ensure haproxy haproxy 'the deploy tests (test/deploy/)' HAPROXY_PATH "${HAPROXY_PATH:-}" haproxy /usr/sbin/haproxy
# Network namespaces and veth pairs (the partition and impaired-link tests), packet loss (nftables).
ensure ip iproute2 'the partition and impaired-link tests' '' ip /usr/sbin/ip /sbin/ip
ensure ss iproute2 'the listen backlog test (test/server/server.test.ts)' '' ss /usr/bin/ss /usr/sbin/ss /bin/ss
ensure nft nftables 'the impaired-link test (test/deploy/impaired-link.test.ts)' '' nft /usr/sbin/nft
