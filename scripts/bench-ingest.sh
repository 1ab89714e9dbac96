#!/usr/bin/env bash
# Runs the shared side-by-side ingest harness (../shared/bench, read-only)
# for alarmd: ROUNDS interleaved rounds of live and drain (default 3), N
# readings each (default 200,000), every binary built into a temp dir, and
# prints summarize.py's tables. docs/alarmd.md "Ingest on the shared harness".
#
# The harness's households-1000.yaml lists households without devices, and
# alarmd believes only the devices its register lists (ingest rejects the
# rest). Rather than loosen that rule, the rounds use a copy of the file that
# lists each household's meter (wm1, the only device the load generator
# uses), passed to the unchanged alarmd.yaml.tmpl through its BENCH_DIR var.
#
#   BENCH=../shared/bench ROUNDS=3 N=200000 MODES="live drain" \
#   MQTT_PORT=18831 VM_PORT=18428 ALARMD_BIN=… scripts/bench-ingest.sh
# MOSQ_EXTRA="max_inflight_messages 1000" adds mosquitto.conf lines (the
# harness's -mosq-extra); SUT_ENV="K=V,…" adds alarmd environment.
# ALARMD_TMPL=… replaces the harness's alarmd.yaml.tmpl (e.g. a copy that sets
# mqtt.read_pace), to compare settings.
#
# TELEGRAF=1 adds the harness's anchor, Telegraf 1.39.3, to every round
# (alarmd then Telegraf, same mode): Telegraf is not packaged here, so it is
# built from the Go module proxy with only the plugins the harness's
# telegraf.conf.tmpl uses (Telegraf's documented custom build: build tags
# custom,inputs.mqtt_consumer,parsers.json_v2,outputs.influxdb_v2; ~4 min the
# first time). TELEGRAF_BIN=… uses a binary you have instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$(cd "${BENCH:-../shared/bench}" && pwd)
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
MODES=${MODES:-live drain}
MQTT_PORT=${MQTT_PORT:-18831}
VM_PORT=${VM_PORT:-18428}

if ! command -v mosquitto >/dev/null 2>&1 || ! command -v victoria-metrics >/dev/null 2>&1; then
  bash scripts/test-deps.sh
fi
OUT=${OUT:-$(mktemp -d -t anxin-bench-ingest.XXXXXX)}
mkdir -p "$OUT/bin" "$OUT/households" "$OUT/results"
if [ -n "${ALARMD_BIN:-}" ]; then
  cp "$ALARMD_BIN" "$OUT/bin/alarmd"
else # static, as the tests and `make dist` build: no libc mapped (docs/alarmd.md, memory budget)
  CGO_ENABLED=0 go build -o "$OUT/bin/alarmd" ./cmd/alarmd
fi
(cd "$BENCH" && go build -o "$OUT/bin/harness" ./cmd/harness && go build -o "$OUT/bin/loadgen" ./cmd/loadgen)
SUTS=alarmd
if [ -n "${TELEGRAF_BIN:-}" ]; then
  cp "$TELEGRAF_BIN" "$OUT/bin/telegraf"
  SUTS="alarmd telegraf"
elif [ -n "${TELEGRAF:-}" ]; then
  TG_VERSION=v1.39.3
  src=$(go mod download -json "github.com/influxdata/telegraf@$TG_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$OUT/telegraf-src" && cp -r "$src" "$OUT/telegraf-src" && chmod -R u+w "$OUT/telegraf-src"
  (cd "$OUT/telegraf-src" && go build -tags "custom,inputs.mqtt_consumer,parsers.json_v2,outputs.influxdb_v2" \
    -o "$OUT/bin/telegraf" ./cmd/telegraf)
  SUTS="alarmd telegraf"
fi

# the harness's households, each listing its meter
awk '{ print } /^    elder:/ { print "    devices: [{id: wm1, kind: water_meter}]" }' \
  "$BENCH/households-1000.yaml" >"$OUT/households/households-1000.yaml"
grep -q 'devices:' "$OUT/households/households-1000.yaml"

echo "bench-ingest: results in $OUT/results (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
cd "$BENCH"
for r in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    for sut in $SUTS; do
      if [ "$sut" = alarmd ]; then
        sut_args=(-sut-config "${ALARMD_TMPL:-$BENCH/alarmd.yaml.tmpl}" ${SUT_ENV:+-sut-env "$SUT_ENV"}
          -vars "BENCH_DIR=$OUT/households" -sut-ready "alarmd open" -sut-cmd "$OUT/bin/alarmd -config {{CONFIG}}")
      else # the harness's defaults are Telegraf's (README): vars, ready line
        sut_args=(-sut-config "$BENCH/telegraf.conf.tmpl" -sut-cmd "$OUT/bin/telegraf --config {{CONFIG}}")
      fi
      "$OUT/bin/harness" -runs 1 -n "$N" -mode "$mode" -loadgen "$OUT/bin/loadgen" \
        -mqtt-port "$MQTT_PORT" -vm-port "$VM_PORT" -sut-name "$sut" ${MOSQ_EXTRA:+-mosq-extra "$MOSQ_EXTRA"} \
        "${sut_args[@]}" -out "$OUT/tmp-$sut-$mode-$r" >/dev/null
      mkdir -p "$OUT/results/$sut-$mode"
      mv "$OUT/tmp-$sut-$mode-$r/round-1" "$OUT/results/$sut-$mode/round-$r"
      rm -rf "$OUT/tmp-$sut-$mode-$r"
      echo "bench-ingest: round $r $mode $sut done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    done
  done
done
for mode in $MODES; do
  for sut in $SUTS; do
    python3 "$BENCH/summarize.py" "$OUT/results/$sut-$mode"
  done
done
