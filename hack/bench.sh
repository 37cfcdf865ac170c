#!/usr/bin/env bash
# Benchmarks a fresh Den with den-loadgen's standard set and prints one table.
#
#   hack/bench.sh                 # Den on its embedded store
#   BENCH_ETCD=1 hack/bench.sh    # ... then Den on a fresh etcd, plus raw etcd puts
#   BENCH_FULL=1 hack/bench.sh    # the big targets: 10k objects, 1000 watchers x 1000 writes
#                                 # (and node watch: 5000 kubelets' watches x 1000 pod writes)
#   BENCH_SCALE=1 hack/bench.sh   # ... then 100k pods and 10k configmaps in 1,000 namespaces:
#                                 # fill, restart to ready, RSS, LIST pages of all pods
#                                 # (BENCH_SCALE=only: just that)
#
# Rows: startup (exec to /readyz 200, and idle RSS), idle watch (server RSS per open watch,
# HTTP/2 streams on the fresh server), create, get, list, list limit=500,
# watch (p* = delay from a write's acknowledgment to its delivery at every watcher), churn
# (and each verb in it); with BENCH_ETCD=1 the same on etcd, and the raw etcd baseline.
# With BENCH_FULL=1 also node watch: each pod write to its node's watcher only, and the
# server CPU time the burst cost.
#
# Environment (defaults keep the whole run to a few minutes on 2 cores):
#   BENCH_COUNT=2000          objects created, then read by name and listed
#   BENCH_CONCURRENCY=64      concurrent clients
#   BENCH_SIZE=1024           bytes of data per configmap
#   BENCH_GETS=$BENCH_COUNT   GETs by name
#   BENCH_LIST_REPEAT=5       full lists per list scenario
#   BENCH_LIST_LIMIT=500      page size of the paginated list
#   BENCH_WATCHERS=200        watchers ...
#   BENCH_WRITES=200          ... each receiving a burst of this many writes
#   BENCH_CHURN_SECONDS=10    seconds of mixed churn
#   BENCH_IDLE_WATCHES=2000   idle watches held open for the memory-per-watch row
#   BENCH_NODES=5000 BENCH_NODE_WRITES=1000   node watch (BENCH_FULL=1 only)
#   BENCH_ETCD=0              1: repeat on etcd (Debian's `etcd`) with the raw put baseline
#   BENCH_PROFILE=release     or debug (then no release build)
#   BENCH_NO_BUILD=0          1: use the binaries already built
#   BENCH_DEN=, BENCH_LOADGEN=  binaries to use instead of target/$BENCH_PROFILE/...
#   BENCH_TMPDIR=             where the data dirs go (default: mktemp -d)
#   BENCH_JSON=               also copy the JSON rows to this file
#   BENCH_SCALE_PODS=100000 BENCH_SCALE_CONFIGMAPS=10000 BENCH_SCALE_NAMESPACES=1000
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ "${BENCH_FULL:-0}" == 1 ]]; then
    : "${BENCH_COUNT:=10000}" "${BENCH_WATCHERS:=1000}" "${BENCH_WRITES:=1000}"
fi
COUNT=${BENCH_COUNT:-2000}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
SIZE=${BENCH_SIZE:-1024}
GETS=${BENCH_GETS:-$COUNT}
LIST_REPEAT=${BENCH_LIST_REPEAT:-5}
LIST_LIMIT=${BENCH_LIST_LIMIT:-500}
WATCHERS=${BENCH_WATCHERS:-200}
WRITES=${BENCH_WRITES:-200}
CHURN_SECONDS=${BENCH_CHURN_SECONDS:-10}
IDLE_WATCHES=${BENCH_IDLE_WATCHES:-2000}
PROFILE=${BENCH_PROFILE:-release}

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    if [[ "$PROFILE" == release ]]; then
        cargo build --release -p den -p den-loadgen >&2
    else
        cargo build -p den -p den-loadgen >&2
    fi
fi
BIN=target/$PROFILE
DEN=${BENCH_DEN:-$BIN/den}
LOADGEN=${BENCH_LOADGEN:-$BIN/den-loadgen}

# A thousand watchers hold a thousand connections at both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ -n "${BENCH_TMPDIR:-}" ]]; then
    mkdir -p "$BENCH_TMPDIR"
    WORK=$(mktemp -d "$BENCH_TMPDIR/den-bench.XXXXXX")
else
    WORK=$(mktemp -d -t den-bench.XXXXXX)
fi
ROWS=$WORK/rows.jsonl
: >"$ROWS"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

now_ns() { date +%s%N; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Appends a row in den-loadgen's JSON form.
row() { # scenario ops seconds p50_ms rss_kib note
    printf '{"scenario":"%s","ops":%s,"seconds":%s,"p50_ms":%s,"rss_kib_after":%s,"note":"%s"}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" >>"$ROWS"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts `den server` with extra args; sets DEN_PID, DEN_URL, KUBECONFIG_PATH and records
# the time from exec to /readyz 200 and the idle RSS as rows labelled $1.
start_den() {
    local label=$1 dir=$WORK/${DEN_DIR_NAME:-$1}
    shift
    mkdir -p "$dir"
    local t0 t1 deadline line
    t0=$(now_ns)
    "$DEN" server --data-dir "$dir/data" --secure-port 0 "$@" >"$dir/out" 2>"$dir/err" &
    DEN_PID=$!
    PIDS+=("$DEN_PID")
    deadline=$((SECONDS + 120))
    line=
    while [[ -z "$line" ]]; do
        line=$(grep -m1 '^Den is ready: serving ' "$dir/out" || true)
        if [[ -z "$line" ]]; then
            if ! kill -0 "$DEN_PID" 2>/dev/null || ((SECONDS > deadline)); then
                log "den did not start:"
                cat "$dir/err" >&2
                exit 1
            fi
            sleep 0.01
        fi
    done
    DEN_URL=$(sed -E 's/^Den is ready: serving ([^ ]+) .*/\1/' <<<"$line")
    KUBECONFIG_PATH=$(sed -E 's/.*\(kubeconfig: (.*)\)$/\1/' <<<"$line")
    until [[ "$(curl -sk -o /dev/null -w '%{http_code}' "$DEN_URL/readyz")" == 200 ]]; do
        if ((SECONDS > deadline)); then
            log "$DEN_URL/readyz never answered 200"
            exit 1
        fi
        sleep 0.01
    done
    t1=$(now_ns)
    local ms=$(((t1 - t0) / 1000000))
    log "$label: ready at $DEN_URL in ${ms}ms (pid $DEN_PID)"
    row "$label startup" 1 "$(awk -v ms="$ms" 'BEGIN { print ms / 1000 }')" "$ms" "$(rss_kib "$DEN_PID")" \
        "exec to /readyz 200 (p50 column); RSS at ready"
    sleep 2
    row "$label idle" 0 0 null "$(rss_kib "$DEN_PID")" "RSS 2s after ready"
}

stop() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

loadgen_all() { # label extra-args...
    local label=$1
    shift
    log "$label: den-loadgen all (count $COUNT, $CONCURRENCY clients, ${WATCHERS}x$WRITES watch, ${CHURN_SECONDS}s churn)"
    "$LOADGEN" --kubeconfig "$KUBECONFIG_PATH" --pid "$DEN_PID" --json --label "$label" all \
        --count "$COUNT" --concurrency "$CONCURRENCY" --size "$SIZE" --gets "$GETS" \
        --list-repeat "$LIST_REPEAT" --list-limit "$LIST_LIMIT" \
        --watchers "$WATCHERS" --writes "$WRITES" --churn-seconds "$CHURN_SECONDS" \
        "$@" >>"$ROWS"
}

# Memory per idle watch, on the fresh server: HTTP/2 streams (as client-go sends its watches).
loadgen_idle_watch() { # label
    log "$1: den-loadgen idle-watch ($IDLE_WATCHES watches over HTTP/2)"
    "$LOADGEN" --kubeconfig "$KUBECONFIG_PATH" --pid "$DEN_PID" --json --label "$1" idle-watch \
        --watchers "$IDLE_WATCHES" --http2 >>"$ROWS"
}

# The kubelet pattern (BENCH_FULL=1): one watch per node, fieldSelector=spec.nodeName.
loadgen_node_watch() { # label
    [[ "${BENCH_FULL:-0}" == 1 ]] || return 0
    local nodes=${BENCH_NODES:-5000} writes=${BENCH_NODE_WRITES:-1000}
    log "$1: den-loadgen node-watch ($nodes nodes x $writes pod writes)"
    "$LOADGEN" --kubeconfig "$KUBECONFIG_PATH" --pid "$DEN_PID" --json --label "$1" node-watch \
        --nodes "$nodes" --writes "$writes" --concurrency "$CONCURRENCY" >>"$ROWS"
}

# Den on its embedded store.
if [[ "${BENCH_SCALE:-0}" != only ]]; then
    start_den den
    loadgen_idle_watch den
    loadgen_all den
    loadgen_node_watch den
    stop "$DEN_PID"
fi

if [[ "${BENCH_ETCD:-0}" == 1 ]]; then
    command -v etcd >/dev/null || { log "BENCH_ETCD=1 needs etcd (apt-get install etcd-server)"; exit 1; }
    client_port=$(free_port)
    peer_port=$(free_port)
    ETCD_URL=http://127.0.0.1:$client_port
    etcd --name bench --data-dir "$WORK/etcd" \
        --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "bench=http://127.0.0.1:$peer_port" \
        --log-level error >"$WORK/etcd.log" 2>&1 &
    ETCD_PID=$!
    PIDS+=("$ETCD_PID")
    deadline=$((SECONDS + 60))
    until curl -sf "$ETCD_URL/health" >/dev/null 2>&1; do
        if ! kill -0 "$ETCD_PID" 2>/dev/null || ((SECONDS > deadline)); then
            log "etcd did not start:"
            cat "$WORK/etcd.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    log "etcd at $ETCD_URL (pid $ETCD_PID, data in $WORK/etcd)"
    start_den den+etcd --etcd-servers "$ETCD_URL"
    loadgen_all den+etcd --etcd-endpoints "$ETCD_URL"
    row "etcd" 0 0 null "$(rss_kib "$ETCD_PID")" "etcd RSS after the run"
    stop "$DEN_PID"
    stop "$ETCD_PID"
fi

if [[ "${BENCH_SCALE:-0}" != 0 ]]; then
    PODS=${BENCH_SCALE_PODS:-100000}
    CONFIGMAPS=${BENCH_SCALE_CONFIGMAPS:-10000}
    NAMESPACES=${BENCH_SCALE_NAMESPACES:-1000}
    scale_loadgen() { # den-loadgen arguments after the global ones
        "$LOADGEN" --kubeconfig "$KUBECONFIG_PATH" --pid "$DEN_PID" --json --label scale \
            --namespace scale "$@" >>"$ROWS"
    }
    start_den scale
    log "scale: creating $PODS pods and $CONFIGMAPS configmaps in $NAMESPACES namespaces"
    scale_loadgen create --kind pod --size 256 -n "$PODS" --namespaces "$NAMESPACES" -c "$CONCURRENCY"
    scale_loadgen create --kind configmap --size "$SIZE" -n "$CONFIGMAPS" --namespaces "$NAMESPACES" -c "$CONCURRENCY"
    row "scale filled" 0 0 null "$(rss_kib "$DEN_PID")" "RSS with $PODS pods, $CONFIGMAPS configmaps stored"
    stop "$DEN_PID"
    DEN_DIR_NAME=scale start_den "scale restart"
    scale_loadgen list --kind pod -n 0 --namespaces "$NAMESPACES" --limit "$LIST_LIMIT" --repeat 3
    row "scale listed" 0 0 null "$(rss_kib "$DEN_PID")" "RSS after listing every pod"
    stop "$DEN_PID"
fi

if [[ -n "${BENCH_JSON:-}" ]]; then
    cp "$ROWS" "$BENCH_JSON"
fi
echo
echo "Den benchmark: $COUNT x ${SIZE}B configmaps, $CONCURRENCY clients, $WATCHERS watchers x $WRITES writes, ${CHURN_SECONDS}s churn ($PROFILE build, $(nproc) cores)"
"$LOADGEN" table "$ROWS"
