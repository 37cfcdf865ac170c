#!/usr/bin/env bash
# Runs upstream's conformance tests (e2e.test of the Kubernetes release pinned in go.mod) against Den.
#
#   conformance/run.sh                 the tests named in conformance/claimed.txt; exits non-zero when
#                                      one of them does not pass
#   FULL=1 conformance/run.sh          every upstream conformance test (slow: tests that need nodes run
#                                      into the per-test timeout), then writes conformance/STATUS.md
#   FULL=1 TESTS=FILE conformance/run.sh   only the tests named in FILE (one full name a line), but
#                                      STATUS.md still lists every upstream test (others: "not run")
#
# Environment:
#   KUBECONFIG      use this cluster instead of starting a Den of our own
#   DEN_BIN         the den binary (default: `cargo build -p den`, then $CARGO_TARGET_DIR/debug/den)
#   PARALLEL        tests run at once (default 2); tests named "[Serial]" run alone afterwards
#   SPEC_TIMEOUT    seconds one test may take (default 180; a test that waits for pods on a cluster
#                   without nodes fails at this limit)
#   NUM_NODES       passed as --num-nodes (default 0: Den has no nodes yet; without it the suite setup
#                   fails with "there are currently no ready, schedulable nodes in the cluster")
#   KUBECTL         the kubectl the sig-cli tests run (default: kubectl on PATH)
#   DEN_SERVER_FLAGS   extra flags of our own Den (default: --etcd-compaction-interval 30s, so the
#                   [Slow] chunking test sees its continue token expire within a minute instead
#                   of upstream's five to ten)
#   OUT             where logs and reports go (default: a new temporary directory, kept)
#   DEN_CONFORMANCE_CACHE   where build.sh caches e2e.test (default $HOME/.cache/den/conformance)
#
# Each test runs in its own e2e.test process (focus = the exact, anchored test name), which gives every
# test its own timeout and keeps one hung test from taking the others down. Per-test logs and ginkgo
# JSON reports are in $OUT/logs and $OUT/reports; JUnit files in $OUT/junit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

PARALLEL="${PARALLEL:-2}"
SPEC_TIMEOUT="${SPEC_TIMEOUT:-180}"
FULL="${FULL:-}"

cache="$("$here/build.sh" | tail -n 1)"
e2e="$cache/e2e.test"
version="$(basename "$cache")"

OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/den-conformance.XXXXXX")}"
mkdir -p "$OUT/logs" "$OUT/reports" "$OUT/junit"
echo "conformance: e2e.test $version, output in $OUT" >&2

# shellcheck source=conformance/den.sh
. "$here/den.sh"
export DEN_SERVER_FLAGS="${DEN_SERVER_FLAGS---etcd-compaction-interval 30s}"
start_den conformance

# Every upstream conformance test, from the list compiled into e2e.test.
"$e2e" --list-conformance-tests >"$OUT/conformance.yaml"
python3 "$here/report.py" names "$OUT/conformance.yaml" >"$OUT/all.txt"

if [ -n "${TESTS:-}" ]; then
  list="$TESTS"
elif [ -n "$FULL" ]; then
  list="$OUT/all.txt"
else
  list="$here/claimed.txt"
fi
# One name a line; blank lines and lines starting with # are ignored.
grep -v -e '^[[:space:]]*$' -e '^#' "$list" | awk '{print NR "\t" $0}' >"$OUT/specs.tsv"
total=$(wc -l <"$OUT/specs.tsv")
echo "conformance: $total test(s) from $list, $PARALLEL at a time, ${SPEC_TIMEOUT}s each" >&2

# Runs the test whose line in specs.tsv is "$1<TAB>$2".
run_one() {
  local idx="$1" name="$2" focus
  focus="$(python3 "$here/report.py" focus "$name")"
  # The outer timeout only catches a process that ignores ginkgo's own suite timeout.
  timeout -k 10 $((SPEC_TIMEOUT + 60)) "$e2e" \
    --kubeconfig="$KUBECONFIG" \
    --provider=skeleton \
    --allowed-not-ready-nodes=-1 \
    --num-nodes="${NUM_NODES:-0}" \
    --disable-log-dump=true \
    --e2e-verify-service-account=true \
    --kube-api-content-type=application/json \
    --report-dir="$OUT/junit" --report-prefix="$idx" \
    --e2e-output-dir="$OUT" \
    --dump-logs-on-failure=false \
    --kubectl-path="$KUBECTL" \
    --ginkgo.focus="$focus" \
    --ginkgo.timeout="${SPEC_TIMEOUT}s" \
    --ginkgo.json-report="$OUT/reports/$idx.json" \
    --ginkgo.no-color \
    --ginkgo.v \
    >"$OUT/logs/$idx.log" 2>&1 || true
  python3 "$here/report.py" compact "$OUT/reports/$idx.json"
  for junit in "$OUT/junit/junit_${idx}"*.xml; do
    [ -f "$junit" ] && python3 "$here/report.py" compact "$junit"
  done
  # The log also lists one "S" per skipped spec; drop those lines.
  sed -i -e '/^S*$/d' "$OUT/logs/$idx.log"
  echo "  done $idx/$total: $name" >&2
}
export -f run_one
KUBECTL="${KUBECTL:-$(command -v kubectl || echo kubectl)}"
export OUT KUBECONFIG SPEC_TIMEOUT here e2e total KUBECTL

start=$(date +%s)
# Parallel-safe tests first, then the [Serial] ones one at a time.
grep -v -F '[Serial]' "$OUT/specs.tsv" | tr '\t\n' '\0\0' | xargs -0 -r -n 2 -P "$PARALLEL" bash -c 'run_one "$1" "$2"' _ || true
grep -F '[Serial]' "$OUT/specs.tsv" | tr '\t\n' '\0\0' | xargs -0 -r -n 2 -P 1 bash -c 'run_one "$1" "$2"' _ || true
echo "conformance: ran $total test(s) in $(($(date +%s) - start))s" >&2

status_args=()
if [ -n "$FULL" ]; then
  status_args=(--status "$here/STATUS.md" --all "$OUT/all.txt" --version "$version")
fi
python3 "$here/report.py" summarize "$OUT" "${status_args[@]}" --claimed "$here/claimed.txt"
