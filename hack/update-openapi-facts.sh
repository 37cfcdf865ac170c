#!/usr/bin/env bash
# Regenerates openapi/facts.json (list/map/patch facts of the built-in kinds) and then the
# checked-in digests of the OpenAPI documents Den serves.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 hack/update-openapi-facts.py "$@"
DEN_UPDATE_OPENAPI=1 cargo test -p den-apiserver openapi_documents_match_checked_in_digests
