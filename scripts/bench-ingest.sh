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
# uses) and call button (btn1, the presses below), passed to the unchanged
# alarmd.yaml.tmpl through its BENCH_DIR var.
#
#   BENCH=../shared/bench ROUNDS=3 N=200000 MODES="live drain" \
#   MQTT_PORT=18831 VM_PORT=18428 ALARMD_BIN=… scripts/bench-ingest.sh
# MOSQ_EXTRA="max_inflight_messages 1000" adds mosquitto.conf lines (the
# harness's -mosq-extra); SUT_ENV="K=V,…" adds alarmd environment.
# ALARMD_TMPL=… replaces the harness's alarmd.yaml.tmpl (e.g. a copy that sets
# mqtt.read_pace), to compare settings.
#
# Event → alarm under that load: in alarmd's live rounds, button presses
# (PRESSES_PER_S a second, default 10; 0: none) go to the broker while the
# harness's load generator publishes, each to a household of its own
# (each lists a call button, btn1, see above). The harness is given a
# one-line wrapper as its -loadgen: `anxin-load -press-during` starts the
# presser and becomes the harness's loadgen (same pid, output and CPU as
# without presses); the presser stops when loadgen exits. After each round
# `anxin-load -press-report` matches each press with alarmd's "alarm
# opened" log line for its household (written right after the commit,
# stamped in ns): every press must open exactly one alarm, or the round
# fails loudly and the script exits 1. It prints, next to summarize.py's
# tables, each round's presses, p50/p99/max publish → commit of those sent
# between loadgen's first publish and last acknowledgement, the presser's
# CPU, and the median of the rounds' p99. The template's log.level must
# stay info (an ALARMD_TMPL that quiets it loses every press). alarmd's CPU
# (SUT CPU, µs a point) then includes its work for the presses' alarms,
# ~4.7 ms each (docs/alarmd.md): PRESSES_PER_S=0 for readings alone.
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
CGO_ENABLED=0 go build -o "$OUT/bin/anxin-load" ./cmd/anxin-load
PRESSES_PER_S=${PRESSES_PER_S:-10}
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

# the harness's households, each listing its meter and a call button (the presses')
awk '{ print } /^    elder:/ { print "    devices: [{id: wm1, kind: water_meter}, {id: btn1, kind: call_button}]" }' \
  "$BENCH/households-1000.yaml" >"$OUT/households/households-1000.yaml"
grep -q 'devices:' "$OUT/households/households-1000.yaml"
HOUSEHOLDS=$(grep -c '^  - id: hh-' "$OUT/households/households-1000.yaml")

# the harness's -loadgen in alarmd's live rounds: its loadgen with presses
# beside it, written into the file PRESS_OUT names (anxin-load -press-during)
cat >"$OUT/bin/loadgen-pressed" <<WRAPPER
#!/bin/sh
exec "$OUT/bin/anxin-load" -press-during "$OUT/bin/loadgen" -press-out "\$PRESS_OUT" \\
  -broker tcp://127.0.0.1:$MQTT_PORT -press-rate $PRESSES_PER_S -households $HOUSEHOLDS -- "\$@"
WRAPPER
chmod +x "$OUT/bin/loadgen-pressed"
pressed_rounds=()

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
      loadgen=$OUT/bin/loadgen
      press_out=$OUT/presses-$sut-$mode-$r.jsonl
      if [ "$sut" = alarmd ] && [ "$mode" = live ] && [ "$PRESSES_PER_S" != 0 ]; then
        loadgen=$OUT/bin/loadgen-pressed
      fi
      PRESS_OUT=$press_out "$OUT/bin/harness" -runs 1 -n "$N" -mode "$mode" -loadgen "$loadgen" \
        -mqtt-port "$MQTT_PORT" -vm-port "$VM_PORT" -sut-name "$sut" ${MOSQ_EXTRA:+-mosq-extra "$MOSQ_EXTRA"} \
        "${sut_args[@]}" -out "$OUT/tmp-$sut-$mode-$r" >/dev/null
      mkdir -p "$OUT/results/$sut-$mode"
      mv "$OUT/tmp-$sut-$mode-$r/round-1" "$OUT/results/$sut-$mode/round-$r"
      rm -rf "$OUT/tmp-$sut-$mode-$r"
      if [ "$loadgen" != "$OUT/bin/loadgen" ]; then
        # the presser ended with loadgen, seconds before the harness's round did
        mv "$press_out" "$OUT/results/$sut-$mode/round-$r/presses.jsonl"
        pressed_rounds+=("$OUT/results/$sut-$mode/round-$r")
        "$OUT/bin/anxin-load" -press-report "$OUT/results/$sut-$mode/round-$r" >/dev/null || true
      fi
      echo "bench-ingest: round $r $mode $sut done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    done
  done
done
for mode in $MODES; do
  for sut in $SUTS; do
    python3 "$BENCH/summarize.py" "$OUT/results/$sut-$mode"
  done
done
if [ ${#pressed_rounds[@]} -gt 0 ]; then
  echo
  echo "Button presses, PRESSES_PER_S=$PRESSES_PER_S over $HOUSEHOLDS households: publish → alarm committed (alarmd's \"alarm opened\" log line)"
  "$OUT/bin/anxin-load" -press-report "${pressed_rounds[@]}"
fi
