#!/usr/bin/env bash
# Builds upstream's e2e.test (and the ginkgo CLI) from the pinned Go module in
# this directory, into a per-version cache outside the repository:
#   ${DEN_CONFORMANCE_CACHE:-$HOME/.cache/den/conformance}/<k8s version>/{e2e.test,ginkgo}
# Does nothing when both binaries exist. Prints the cache directory on its last line.
#
# The first build downloads a lot of modules and compiles for a long time; by
# default it runs with low priority and one package at a time (GOFLAGS=-p=1) so
# other work on a small machine is not starved. Override with GOFLAGS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
version="$(awk '$1 == "require" { $1 = "" ; $0 = $0 } $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' go.mod)"
[ -n "$version" ] || { echo "build.sh: cannot read the k8s.io/kubernetes version from go.mod" >&2; exit 1; }
cache="${DEN_CONFORMANCE_CACHE:-$HOME/.cache/den/conformance}/$version"
mkdir -p "$cache"
export GOFLAGS="${GOFLAGS:--p=1}"
nice_cmd=(nice -n 10)

if [ ! -x "$cache/ginkgo" ]; then
  echo "build.sh: building ginkgo for $version into $cache" >&2
  "${nice_cmd[@]}" go build -mod=readonly -o "$cache/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo
  mv "$cache/ginkgo.tmp" "$cache/ginkgo"
fi

if [ ! -x "$cache/e2e.test" ]; then
  echo "build.sh: building e2e.test for $version into $cache (slow the first time)" >&2
  start=$(date +%s)
  # -vet=off: vet is irrelevant for a tool binary and costs minutes.
  "${nice_cmd[@]}" go test -mod=readonly -vet=off -c -o "$cache/e2e.test.tmp" k8s.io/kubernetes/test/e2e
  mv "$cache/e2e.test.tmp" "$cache/e2e.test"
  echo "build.sh: e2e.test built in $(( $(date +%s) - start ))s" >&2
fi
echo "$cache"
