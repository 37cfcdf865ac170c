# Sourced by conformance/run.sh and conformance/clients.sh: a Den of their own, unless
# KUBECONFIG names a cluster to use instead.
#
#   start_den LABEL   starts `den server` with a new data dir in $OUT/den (DEN_BIN, or the debug
#                     build of $repo), waits until it is ready and exports KUBECONFIG; LABEL
#                     prefixes its messages. The Den is stopped when the script exits.

den_pid=""
stop_den() {
  if [ -n "$den_pid" ]; then
    kill "$den_pid" 2>/dev/null || true
    wait "$den_pid" 2>/dev/null || true
  fi
}
trap stop_den EXIT

start_den() {
  local label=$1
  [ -z "${KUBECONFIG:-}" ] || return 0
  if [ -z "${DEN_BIN:-}" ]; then
    (cd "$repo" && cargo build -q -p den)
    DEN_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/den"
  fi
  mkdir -p "$OUT/den"
  # shellcheck disable=SC2086 # DEN_SERVER_FLAGS is a list of flags
  "$DEN_BIN" server --data-dir "$OUT/den" --secure-port 0 ${DEN_SERVER_FLAGS:-} >"$OUT/den.log" 2>&1 &
  den_pid=$!
  for _ in $(seq 600); do
    grep -q 'Den is ready' "$OUT/den.log" && break
    kill -0 "$den_pid" 2>/dev/null || { cat "$OUT/den.log" >&2; echo "$label: den exited" >&2; exit 1; }
    sleep 0.1
  done
  grep -q 'Den is ready' "$OUT/den.log" || { cat "$OUT/den.log" >&2; echo "$label: den did not become ready" >&2; exit 1; }
  export KUBECONFIG="$OUT/den/admin.kubeconfig"
  echo "$label: $(grep -m1 'Den is ready' "$OUT/den.log")" >&2
}
