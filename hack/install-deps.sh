#!/usr/bin/env bash
# Installs what building and testing Den needs on a fresh Debian machine of this project's kind:
# protoc (etcd-client's build), etcd and etcdctl (the etcd backend and its tests).
# Rust, Go and the kubectl binaries (1.27 … 1.33) come with the machine.
set -euo pipefail

need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v cc >/dev/null || need+=(build-essential)

if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust (rustup) first" >&2
  exit 1
fi
for v in 1.27 1.33; do
  if ! command -v "kubectl.$v" >/dev/null && [ ! -x "/usr/lib/google-cloud-sdk/bin/kubectl.$v" ]; then
    echo "warning: kubectl.$v not found; the kubectl tests need it" >&2
  fi
done
