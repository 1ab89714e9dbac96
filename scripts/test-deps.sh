#!/usr/bin/env bash
# Installs what the tests need when it is missing: mosquitto (real MQTT broker),
# victoria-metrics (InfluxDB v2 write API), socat (pty pairs), chromium
# (the web app's browser tests) with a CJK font, postgresql (the postgres
# store's tests), nats-server (the clustered broker tier's tests), and Prism from
# the lockfile (Twilio request shape). Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto mosquitto-clients)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
# NATS JetStream with its MQTT listener: the broker tier's cluster tests build a
# current release below (Debian's 2.9.10 is too old)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# PostgreSQL's server binaries (the postgres store's tests start their own cluster)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# CJK glyphs for the web app's screenshots (the pages render without them)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "test-deps: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# nats-server 2.9.x (Debian's 2.9.10) loses messages in a failover (docs/deployment.md,
# "nats-server version"); alarmd needs 2.11.0 or later: build the tested release from the
# Go module proxy into /usr/local/bin (ahead of Debian's in PATH) when the one found is older
NATS_VERSION=v2.15.3
# no nats-server on a fresh machine: the pipeline must not end the script (pipefail)
have=$( (nats-server --version 2>/dev/null || true) | sed -n 's/.*v\([0-9.]*\).*/\1/p')
if [ -z "$have" ] || [ "$(printf '%s\n' 2.11.0 "$have" | sort -V | head -1)" != 2.11.0 ]; then
  if [ "$(id -u)" -eq 0 ]; then bin=/usr/local/bin; else bin=$(go env GOPATH)/bin; fi
  echo "test-deps: building nats-server $NATS_VERSION into $bin (found ${have:-none})"
  GOBIN=$bin CGO_ENABLED=0 go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
  hash -r
  command -v nats-server | grep -q "^$bin/" || echo "test-deps: put $bin before $(dirname "$(command -v nats-server)") in PATH" >&2
fi
if [ ! -x node_modules/.bin/prism ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test-deps: npm ci (Prism)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
