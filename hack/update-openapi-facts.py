#!/usr/bin/env python3
"""Regenerates openapi/facts.json: the list, map, patch and union facts of the built-in kinds.

Den builds its OpenAPI documents from k8s-openapi's schemas, which carry the descriptions but
not the `x-kubernetes-*` extensions that strategic merge patch, server-side apply and kubectl
need. This script extracts only those extension facts (never any description text) from the
schemas shipped in the PyPI package `kubernetes-validate` (Apache-2.0) and writes them in a
compact format of ours:

    {
      "<definition name>": {
        "type": {"x-kubernetes-map-type": "atomic", ...},          # facts on the definition
        "required": ["containers"],                                 # upstream's required fields
        "properties": {"<field>": {"x-kubernetes-list-type": ...}}  # facts on one field
      },
      ...
    }

Usage: hack/update-openapi-facts.py [path/to/_definitions.json]
Without an argument the package is downloaded (pip download --no-deps) into a temp directory.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

KUBERNETES_VERSION = "v1.33.0"
PACKAGE = "kubernetes-validate"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "openapi", "facts.json")

# The extensions that are facts about how an API field behaves. Everything else (descriptions,
# types, defaults) comes from k8s-openapi at build time.
FACT_KEYS = {
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-unions",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
}


def load_definitions(path):
    if path is None:
        tmp = tempfile.mkdtemp(prefix="den-openapi-facts-")
        subprocess.check_call(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PACKAGE]
        )
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if not wheels:
            sys.exit("no wheel downloaded for " + PACKAGE)
        inner = f"kubernetes_validate/kubernetes-json-schema/{KUBERNETES_VERSION}-local/_definitions.json"
        with zipfile.ZipFile(wheels[0]) as whl:
            data = json.loads(whl.read(inner))
    else:
        with open(path) as f:
            data = json.load(f)
    return data.get("$defs") or data.get("definitions")


def strip_text(value):
    """Facts must never carry prose: drop any description that a fact value might contain."""
    if isinstance(value, dict):
        return {k: strip_text(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [strip_text(v) for v in value]
    return value


def facts_of(schema):
    return {k: strip_text(v) for k, v in schema.items() if k in FACT_KEYS}


def main():
    definitions = load_definitions(sys.argv[1] if len(sys.argv) > 1 else None)
    out = {}
    for name in sorted(definitions):
        schema = definitions[name]
        entry = {}
        type_facts = facts_of(schema)
        if type_facts:
            entry["type"] = type_facts
        # k8s-openapi marks every non-Option field required (metadata, name, ...); upstream's
        # list is the one kubectl explain and validation should see.
        entry["required"] = list(schema.get("required") or [])
        props = {}
        for field, prop in sorted((schema.get("properties") or {}).items()):
            if not isinstance(prop, dict):
                continue
            field_facts = facts_of(prop)
            if field_facts:
                props[field] = field_facts
        if props:
            entry["properties"] = props
        out[name] = entry
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(out)} definitions to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
