#!/usr/bin/env bash
# Installs what is missing, builds Den and starts a single-node cluster (`den server`).
# Data, certificates and the admin kubeconfig live in ${DEN_DATA_DIR:-$HOME/.den}.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/install-deps.sh
cargo build --release -p den
data_dir="${DEN_DATA_DIR:-$HOME/.den}"
echo "starting Den; then: export KUBECONFIG=$data_dir/admin.kubeconfig && kubectl get ns" >&2
exec target/release/den server --data-dir "$data_dir" "$@"
