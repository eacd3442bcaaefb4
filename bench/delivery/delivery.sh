# End-to-end delivery and scale benchmarks of scripts/bench (issue 7, items 3
# and 4). Sourced by scripts/bench, not run: it uses its variables (BIN,
# RUN_DIR, RESULTS, SMOKE, INLOOP_ROOT, BASE, SERVER_PID, STARTUP_MS,
# CHILD_PIDS, CLK_TCK) and functions (start_serve, stop_serve, stop_pid,
# scrape, metric_sum, cpu_ticks, cpu_seconds, hwm_kb, loadavg_json, skip, log).
#
# e2e (delivery): a fresh store, `inloop serve` with one destination "sink"
#   routed for every practice ("*"), N new measurement records posted in NDJSON
#   batches of 1,000 (bench/delivery/post_records.mjs, 2 connections) while the
#   engine delivers. Targets: an nginx sink on loopback (http-bundle kind,
#   answers 201 to every POST, no access log) and the Medplum FHIR server peer
#   (tests/peers/fhir-server.mjs, fhir-transaction, validating). Every record
#   is stored durably (202 after the group commit) before it can be claimed.
#   Rates: end-to-end = N / (first post -> last delivery); delivery only =
#   N / (first -> last delivery attempt). Latency ingest -> delivered per
#   record from the store's ledger: attempts.at + duration_ms - outbox.created_at.
# scale: N records ingested while the destination is disabled ("enabled":
#   false: records still queue), serve stopped; store bytes per record; serve
#   restarted (still disabled): start-up time (exec -> "listening" line) and
#   idle RSS; restarted enabled: drain time (first -> last delivery, from the
#   ledger), drain rate, RSS under load (VmHWM). 10k and 100k (smoke: 1k);
#   1M only in a full run and only if 100k drained in < 60 s.
# Every wait is bounded; nginx and the peer are children in CHILD_PIDS.

ensure_apt_packages nginx sqlite3
DELIVERY_DIR="$INLOOP_ROOT/bench/delivery"
DELIVERY_INPUT="$RUN_DIR/in/measurement.ndjson"
if [ "$SMOKE" = 1 ]; then
  SINK_RECORDS=200; PEER_RECORDS=20; BACKLOGS=(1000); SINK_IN_FLIGHT=(4)
else
  # The Medplum peer validates every resource in one Node.js thread: a few
  # records/s on this machine, hence far fewer records.
  SINK_RECORDS=20000; PEER_RECORDS=100; BACKLOGS=(10000 100000); SINK_IN_FLIGHT=(4 32)
fi
BACKLOG_PATIENTS=10000  # distinct patients (MRNs) in every run

free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => {
    console.log(s.address().port); s.close(); });"
}

# start_nginx_sink: nginx as a child (own prefix, temp dirs and config in
# RUN_DIR, daemon off, one worker) on 127.0.0.1:free port; sets SINK_URL.
start_nginx_sink() {
  local dir="$RUN_DIR/nginx" port _
  mkdir -p "$dir"
  port="$(free_port)"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
master_process off;  # one process: its CPU time is the sink's
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port;
    location / {
      default_type application/fhir+json;
      return 201 '{"resourceType":"Bundle","type":"transaction-response"}';
    }
  }
}
EOF
  nginx -p "$dir" -c "$dir/nginx.conf" 2>"$dir/stderr.log" &
  SINK_PID=$!
  CHILD_PIDS+=("$SINK_PID")
  SINK_URL="http://127.0.0.1:$port/bundle"
  for _ in $(seq 1 100); do  # up to 10 s
    curl -fsS -o /dev/null -X POST -d '{}' "$SINK_URL" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$dir/stderr.log" "$dir/error.log" >&2 || true
  echo "scripts/bench: the nginx sink did not start" >&2
  exit 1
}

# start_fhir_peer: the Medplum FHIR server (tests/peers) as a child; sets PEER_URL.
start_fhir_peer() {
  ensure_test_peers
  local out="$RUN_DIR/fhir-peer.out" _
  node "$INLOOP_ROOT/tests/peers/fhir-server.mjs" --port 0 >"$out" 2>"$RUN_DIR/fhir-peer.err" &
  PEER_PID=$!
  CHILD_PIDS+=("$PEER_PID")
  PEER_URL=""
  for _ in $(seq 1 300); do  # up to 30 s (loads the R4 definitions)
    PEER_URL="$(grep -o '"listening":"[^"]*"' "$out" 2>/dev/null | cut -d'"' -f4 || true)"
    [ -n "$PEER_URL" ] && return 0
    sleep 0.1
  done
  cat "$RUN_DIR/fhir-peer.err" >&2
  echo "scripts/bench: the FHIR server peer did not start" >&2
  exit 1
}

# write_destinations FILE KIND URL ENABLED MAX_IN_FLIGHT
write_destinations() {
  printf '{"destinations":[{"id":"sink","kind":"%s","endpoint":"%s","enabled":%s,"maxInFlight":%s,"timeouts":{"connectMs":5000,"requestMs":60000}}],"routes":{"*":["sink"]}}\n' \
    "$2" "$3" "$4" "$5" >"$1"
}

post_records() {  # post_records COUNT PREFIX OUT_JSON
  node "$DELIVERY_DIR/post_records.mjs" --url "$BASE" --input "$DELIVERY_INPUT" --count "$1" \
    --prefix "$2" --patients "$BACKLOG_PATIENTS" --batch 1000 --concurrency 2 >"$3"
}

# wait_limit N RATE CAP: seconds to wait for N deliveries: 60 + N / RATE, at
# most CAP. A run that hits it is reported as timed out, with the rate of what
# was delivered.
wait_limit() { local w=$((60 + $1 / $2)); echo $((w < $3 ? w : $3)); }

# wait_delivered N SECONDS: polls GET /metrics (every 0.5 s, at most SECONDS)
# until N messages of "sink" are delivered; sets DELIVERED and FAILED. Not
# faster: a scrape counts the outbox (GROUP BY), which at 10 scrapes/s took
# ~7% of the server's CPU in a profile. The rates come from the ledger's
# timestamps, not from the polling.
wait_delivered() {
  local n="$1" deadline=$(($(date +%s) + $2))
  while :; do
    scrape "$RUN_DIR/m-delivery"
    DELIVERED="$(metric_sum "$RUN_DIR/m-delivery" '^inloop_delivery_delivered_total\{.*destination="sink"')"
    FAILED="$(metric_sum "$RUN_DIR/m-delivery" '^inloop_delivery_failed_total\{.*destination="sink"')"
    [ "$DELIVERED" -ge "$n" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# ledger_figures DB: one JSON fragment from the store's ledger (read-only):
# delivered count, first and last delivery (ms), first outbox row, latency
# ingest -> delivered percentiles (ms).
ledger_figures() {
  local db="$1"
  sqlite3 -readonly "$db" "SELECT a.at + a.duration_ms - o.created_at FROM attempts a
      JOIN outbox o ON o.seq = a.message_seq WHERE a.outcome = 'delivered' ORDER BY 1" \
    >"$RUN_DIR/latency.txt"
  local span
  span="$(sqlite3 -readonly -separator , "$db" "SELECT
      (SELECT count(*) FROM attempts WHERE outcome = 'delivered'),
      (SELECT coalesce(min(at), 0) FROM attempts),
      (SELECT coalesce(max(at + duration_ms), 0) FROM attempts WHERE outcome = 'delivered'),
      (SELECT coalesce(min(created_at), 0) FROM outbox),
      (SELECT count(*) FROM attempts WHERE outcome <> 'delivered')")"
  awk -v span="$span" '{ v[NR] = $1 } END {
      split(span, s, ",")
      pick = "ceil"
      printf "\"ledgerDelivered\":%d,\"firstAttemptAtMs\":%s,\"lastDeliveredAtMs\":%s,\"firstQueuedAtMs\":%s,\"otherAttempts\":%d", s[1], s[2], s[3], s[4], s[5]
      if (NR > 0) {
        p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
        printf ",\"latencyMs\":{\"p50\":%d,\"p99\":%d,\"max\":%d}", p50, p99, v[NR]
      }
    }' "$RUN_DIR/latency.txt"
}

# e2e_run TARGET KIND URL COUNT MAX_IN_FLIGHT MIN_RATE RECEIVER_PID
e2e_run() {
  local target="$1" kind="$2" url="$3" count="$4" inFlight="$5" minRate="$6" receiver="$7"
  local dir="$RUN_DIR/e2e-$target-$inFlight"
  mkdir -p "$dir/data"
  write_destinations "$dir/destinations.json" "$kind" "$url" true "$inFlight"
  log "delivery: $count records -> $target ($kind, maxInFlight $inFlight)"
  local load0 cpu0 cpu1 t0 t1 timedOut=false
  load0="$(loadavg_json)"
  start_serve "$dir/server.log" --data-dir "$dir/data" --destinations "$dir/destinations.json"
  cpu0="$(cpu_ticks "$SERVER_PID")"
  local rcpu0 rcpu1; rcpu0="$(cpu_ticks "$receiver")"
  t0="$(date +%s%3N)"
  if ! post_records "$count" "E2E-$target-$inFlight" "$dir/post.json"; then
    echo "scripts/bench: posting records for the delivery benchmark failed" >&2
    exit 1
  fi
  wait_delivered "$count" "$(wait_limit "$count" "$minRate" 300)" || timedOut=true
  t1="$(date +%s%3N)"
  cpu1="$(cpu_ticks "$SERVER_PID")"
  rcpu1="$(cpu_ticks "$receiver")"
  local hwm; hwm="$(hwm_kb "$SERVER_PID")"
  stop_serve
  printf '{"benchmark":"delivery","build":"%s","target":"%s","kind":"%s","maxInFlight":%s,"records":%s,"post":%s,"delivered":%s,"failedAttempts":%s,"timedOut":%s,"firstPostAtMs":%s,"pollEndAtMs":%s,%s,"serverCpuSeconds":%s,"receiverCpuSeconds":%s,"serverPeakRssKB":%s,"loadAverageStart":%s,"loadAverageEnd":%s}\n' \
    "$BUILD_LABEL" "$target" "$kind" "$inFlight" "$count" "$(cat "$dir/post.json")" "$DELIVERED" "$FAILED" \
    "$timedOut" "$t0" "$t1" "$(ledger_figures "$dir/data/inloop.db")" \
    "$(cpu_seconds "$cpu0" "$cpu1")" "$(cpu_seconds "$rcpu0" "$rcpu1")" \
    "$hwm" "$load0" "$(loadavg_json)" >>"$RESULTS"
  rm -rf "$dir/data"
}

store_bytes() {  # store_bytes DIR: bytes of inloop.db and its WAL/shm files
  find "$1" -maxdepth 1 -name 'inloop.db*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# scale_run COUNT: backlog drain of COUNT queued records to the nginx sink.
scale_run() {
  local count="$1" inFlight="${SINK_IN_FLIGHT[-1]}"
  local dir="$RUN_DIR/scale-$count"
  mkdir -p "$dir/data"
  local load0; load0="$(loadavg_json)"
  write_destinations "$dir/paused.json" http-bundle "$SINK_URL" false "$inFlight"
  write_destinations "$dir/enabled.json" http-bundle "$SINK_URL" true "$inFlight"
  log "scale: ingesting $count records with the destination paused"
  start_serve "$dir/ingest.log" --data-dir "$dir/data" --destinations "$dir/paused.json"
  if ! post_records "$count" "SCALE-$count" "$dir/post.json"; then
    echo "scripts/bench: posting records for the scale benchmark failed" >&2
    exit 1
  fi
  stop_serve
  local bytes; bytes="$(store_bytes "$dir/data")"
  log "scale: start-up and idle RSS with $count queued records"
  start_serve "$dir/idle.log" --data-dir "$dir/data" --destinations "$dir/paused.json"
  local startupIdle="$STARTUP_MS"
  sleep 1
  local idleRss; idleRss="$(rss_kb "$SERVER_PID")"
  stop_serve
  log "scale: draining $count records (maxInFlight $inFlight)"
  start_serve "$dir/drain.log" --data-dir "$dir/data" --destinations "$dir/enabled.json"
  local startupDrain="$STARTUP_MS" cpu0 cpu1 timedOut=false
  cpu0="$(cpu_ticks "$SERVER_PID")"
  wait_delivered "$count" "$(wait_limit "$count" 50 600)" || timedOut=true
  cpu1="$(cpu_ticks "$SERVER_PID")"
  local loadRss hwm
  loadRss="$(rss_kb "$SERVER_PID")"
  hwm="$(hwm_kb "$SERVER_PID")"
  stop_serve
  printf '{"benchmark":"scale","records":%s,"patients":%s,"maxInFlight":%s,"ingest":%s,"storeBytes":%s,"startupMsIdle":%s,"startupMsDrain":%s,"idleRssKB":%s,"loadRssKB":%s,"serverPeakRssKB":%s,"delivered":%s,"failedAttempts":%s,"timedOut":%s,%s,"serverCpuSeconds":%s,"loadAverageStart":%s,"loadAverageEnd":%s}\n' \
    "$count" "$BACKLOG_PATIENTS" "$inFlight" "$(cat "$dir/post.json")" "$bytes" "$startupIdle" \
    "$startupDrain" "$idleRss" "$loadRss" "$hwm" "$DELIVERED" "$FAILED" "$timedOut" \
    "$(ledger_figures "$dir/data/inloop.db")" \
    "$(cpu_seconds "$cpu0" "$cpu1")" "$load0" "$(loadavg_json)" >>"$RESULTS"
  rm -rf "$dir/data"
  # The drain time of this size, for the 1M decision: seconds from the first
  # attempt to the last delivery.
  LAST_DRAIN_SECONDS="$(tail -1 "$RESULTS" |
    node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
      console.log(Math.ceil((r.lastDeliveredAtMs - r.firstAttemptAtMs) / 1000));')"
}

# baseline_e2e_run ARGS...: e2e_run with the baseline binary (scripts/bench
# --baseline), run from the baseline's own checkout; labels the result.
baseline_e2e_run() {
  local bin="$BIN" root="$SERVE_ROOT"
  BIN="$BASELINE_BIN" SERVE_ROOT="$BASELINE_ROOT" BUILD_LABEL="$BASELINE_REV"
  e2e_run "$@"
  BIN="$bin" SERVE_ROOT="$root" BUILD_LABEL=""
}

start_nginx_sink
if want delivery; then
  for inFlight in "${SINK_IN_FLIGHT[@]}"; do
    if [ -n "$BASELINE_BIN" ]; then
      # Alternately, twice each: a drift of the machine's load during the run
      # affects both binaries alike.
      for round in 1 2; do
        baseline_e2e_run nginx http-bundle "$SINK_URL" "$SINK_RECORDS" "$inFlight" 50 "$SINK_PID"
        BUILD_LABEL="this tree"
        e2e_run nginx http-bundle "$SINK_URL" "$SINK_RECORDS" "$inFlight" 50 "$SINK_PID"
        BUILD_LABEL=""
      done
    else
      e2e_run nginx http-bundle "$SINK_URL" "$SINK_RECORDS" "$inFlight" 50 "$SINK_PID"
    fi
  done
  start_fhir_peer
  e2e_run medplum fhir-transaction "$PEER_URL" "$PEER_RECORDS" 4 1 "$PEER_PID"
fi

if want scale; then
  LAST_DRAIN_SECONDS=""
  for n in "${BACKLOGS[@]}"; do scale_run "$n"; done
  if [ "$SMOKE" = 1 ]; then
    skip scale-1m "1M-record backlog: full run only"
  elif [ -n "$LAST_DRAIN_SECONDS" ] && [ "$LAST_DRAIN_SECONDS" -lt 60 ]; then
    scale_run 1000000
  else
    skip scale-1m "1M-record backlog not run: 100k took ${LAST_DRAIN_SECONDS:-?} s to drain (>= 60 s)"
  fi
fi
