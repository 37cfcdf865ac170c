//go:build tools

// Package tools pins helm's CLI, which conformance/clients.sh builds from this module
// (`go build helm.sh/helm/v3/cmd/helm`) so its dependencies are recorded in go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
