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
# NATS JetStream with its MQTT listener (the broker tier's cluster tests, Debian: 2.9.10)
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
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
if [ ! -x node_modules/.bin/prism ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test-deps: npm ci (Prism)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
