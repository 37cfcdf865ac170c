#!/usr/bin/env bash
# Runs every test: formatting and lints, then the whole workspace's tests against the embedded
# store and a real etcd (started here, on loopback, and stopped at exit).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/install-deps.sh

# Builds are kept outside the clone so a CI run reuses what earlier runs compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/den/target}"
export CARGO_TERM_COLOR=never

work="$(mktemp -d)"
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for etcd's clients and one for its peers.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client_port="$(free_port)"
peer_port="$(free_port)"
etcd --name den-test --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "den-test=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
export DEN_ETCD_SERVERS="http://127.0.0.1:$client_port"
for _ in $(seq 50); do
  ETCDCTL_API=3 etcdctl --endpoints "$DEN_ETCD_SERVERS" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
ETCDCTL_API=3 etcdctl --endpoints "$DEN_ETCD_SERVERS" endpoint health >/dev/null || {
  cat "$work/etcd.log" >&2
  echo "etcd did not start" >&2
  exit 1
}

echo "--- cargo fmt --check" >&2
cargo fmt --all -- --check
echo "--- cargo clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "--- cargo test (etcd at $DEN_ETCD_SERVERS)" >&2
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$work/test.log"
status=${PIPESTATUS[0]}
set -e

echo "--- conformance: upstream e2e.test v1.33, the claimed subset (conformance/claimed.txt)" >&2
set +e
conformance/run.sh 2>&1 | tee "$work/conformance.log"
conformance_status=${PIPESTATUS[0]}
set -e
[ "$conformance_status" -eq 0 ] || status=$conformance_status

echo "--- clients: upstream client-go, controller-runtime and helm against Den (conformance/clients.sh)" >&2
set +e
conformance/clients.sh 2>&1 | tee "$work/clients.log"
clients_status=${PIPESTATUS[0]}
set -e
[ "$clients_status" -eq 0 ] || status=$clients_status

# One closing line for the whole run: every cargo test result plus the conformance and clients totals.
passed=$(grep -Eo '[0-9]+ passed' "$work/test.log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$work/test.log" | awk '{s+=$1} END {print s+0}')
# add_total LOG STATUS: adds the last "N passed, N failed" line of LOG; a runner that exited
# non-zero (STATUS) without printing one (a build or start-up failure) counts as one failure.
add_total() {
  local total
  total=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  passed=$((passed + $(echo "${total:-0 passed}" | grep -Eo '^[0-9]+')))
  failed=$((failed + $(echo "${total:-0 passed, 0 failed}" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')))
  if [ -z "$total" ] && [ "$2" -ne 0 ]; then failed=$((failed + 1)); fi
}
add_total "$work/conformance.log" "$conformance_status"
add_total "$work/clients.log" "$clients_status"
echo "hack/test.sh took ${SECONDS}s" >&2
echo "$passed passed, $failed failed"
exit "$status"
