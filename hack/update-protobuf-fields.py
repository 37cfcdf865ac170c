#!/usr/bin/env python3
"""Regenerates openapi/protobuf-fields.json: the protobuf field facts of the built-in kinds.

Den decodes request bodies sent as `application/vnd.kubernetes.protobuf` (client-go >= 1.32
typed clients) into the JSON form Go's encoding/json would give for the same Go struct. To do
that it needs, for every protobuf message, each field's number, JSON name, `omitempty`,
whether the Go field is a pointer, and the field's type. This script reads those facts (and
nothing else: no comments, no descriptions) from the struct tags in upstream's Go sources
(k8s.io/api, k8s.io/apimachinery, k8s.io/apiextensions-apiserver) and writes them compactly:

    {
      "groups":   {"apps/v1": "k8s.io.api.apps.v1", "v1": "k8s.io.api.core.v1", ...},
      "messages": {
        "k8s.io.api.core.v1.ConfigMap": [
          [number, "jsonName", "wire", "flags", type], ...
        ], ...
      }
    }

`wire` is the protobuf tag's encoding (varint, bytes, fixed64, fixed32). `flags` holds letters:
o = omitempty, p = Go pointer, r = repeated, i = embedded struct inlined into the parent's
JSON, x = not in JSON (`json:"-"`). `type` is a scalar name (string, bool, int32, int64,
uint32, uint64, float32, float64, bytes), a message's full protobuf name, ["list", elem],
["map", key, value], or ["wrap", elem] for a named Go slice that protobuf carries as a message
whose only field is `repeated elem items = 1` (e.g. metav1.Verbs, ExtraValue).

Usage: hack/update-protobuf-fields.py
Runs `go mod download -json` for the modules below to find their sources in the module cache.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

MODULES = {
    "k8s.io/api": "v0.33.0",
    "k8s.io/apimachinery": "v0.33.0",
    "k8s.io/apiextensions-apiserver": "v0.33.0",
}
# Packages outside k8s.io/api whose protobuf messages we need (k8s.io/api: every package).
EXTRA_PACKAGES = [
    "k8s.io/apimachinery/pkg/apis/meta/v1",
    "k8s.io/apimachinery/pkg/apis/meta/v1beta1",
    "k8s.io/apimachinery/pkg/api/resource",
    "k8s.io/apimachinery/pkg/util/intstr",
    "k8s.io/apimachinery/pkg/runtime",
    "k8s.io/apimachinery/pkg/runtime/schema",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1",
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "openapi", "protobuf-fields.json")

SCALARS = {
    "string": "string",
    "bool": "bool",
    "int32": "int32",
    "int64": "int64",
    "int": "int64",
    "uint32": "uint32",
    "uint64": "uint64",
    "uint": "uint64",
    "uint16": "uint32",
    "uint8": "uint32",
    "byte": "uint32",
    "int16": "int32",
    "int8": "int32",
    "float64": "float64",
    "float32": "float32",
}
# Types from other Go packages that protobuf carries as scalars.
EXTERNAL = {"time.Duration": "int64", "types.UID": "string"}


def module_dirs():
    with tempfile.TemporaryDirectory() as tmp:
        args = ["go", "mod", "download", "-json"] + [f"{m}@{v}" for m, v in MODULES.items()]
        out = subprocess.run(args, cwd=tmp, check=True, capture_output=True, text=True).stdout
    dirs = {}
    for doc in re.findall(r"\{.*?\n\}", out, re.S):
        info = json.loads(doc)
        if info.get("Error"):
            sys.exit(f"go mod download: {info['Error']}")
        dirs[info["Path"]] = info["Dir"]
    return dirs


def strip_comments(src):
    """Removes Go comments, keeping string and raw-string literals intact."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "/" and src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif c in "\"'`":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if (src[j] == "\\" and c != "`") else 1
            out.append(src[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_brace(src, start, open_ch="{", close_ch="}"):
    """Index just past the bracket matching the one at src[start]."""
    depth = 0
    i = start
    while i < len(src):
        c = src[i]
        if c == "`":
            i = src.index("`", i + 1)
        elif c == '"':
            i += 1
            while src[i] != '"':
                i += 2 if src[i] == "\\" else 1
        elif c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


class Package:
    def __init__(self, path, directory):
        self.path = path
        self.dir = directory
        self.proto = path.replace("/", ".").replace("-", "_")
        self.types = {}  # name -> ("struct", [fields]) | ("alias", expr)
        self.imports = {}  # file -> {alias: path}
        self.messages = set()
        self.group = None
        proto = os.path.join(directory, "generated.proto")
        with open(proto) as f:
            self.messages = set(re.findall(r"^message (\w+) \{", f.read(), re.M))
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".go") or name.endswith("_test.go"):
                continue
            if name.startswith("zz_generated") or name == "generated.pb.go":
                continue
            with open(os.path.join(directory, name)) as f:
                self.parse_file(name, strip_comments(f.read()))

    def parse_file(self, fname, src):
        imports = {}
        for block in re.findall(r"^import\s*\((.*?)\)", src, re.M | re.S):
            for m in re.finditer(r'^\s*([\w.]+)?\s*"([^"]+)"', block, re.M):
                imports[m.group(1) or m.group(2).rsplit("/", 1)[-1]] = m.group(2)
        for m in re.finditer(r'^import\s+([\w.]+)?\s*"([^"]+)"', src, re.M):
            imports[m.group(1) or m.group(2).rsplit("/", 1)[-1]] = m.group(2)
        self.imports[fname] = imports
        g = re.search(r'\bGroupName\s*=\s*"([^"]*)"', src)
        if g and fname == "register.go":
            self.group = g.group(1)
        # type declarations, single and grouped
        for m in re.finditer(r"^type\s*\(", src, re.M):
            end = match_brace(src, m.end() - 1, "(", ")")
            self.parse_type_specs(fname, src[m.end() : end - 1])
        for m in re.finditer(r"^type\s+(\w+)\s+", src, re.M):
            self.parse_type_specs(fname, src[m.start() + 4 :], single=True)

    def parse_type_specs(self, fname, body, single=False):
        i = 0
        while True:
            m = re.compile(r"\s*(\w+)\s+(?:=\s*)?").match(body, i)
            if not m:
                return
            name = m.group(1)
            j = m.end()
            if body.startswith("struct", j) and re.match(r"struct\s*\{", body[j:]):
                k = body.index("{", j)
                end = match_brace(body, k)
                self.types[name] = ("struct", self.parse_fields(body[k + 1 : end - 1]), fname)
                i = end
            elif body.startswith("interface", j):
                k = body.index("{", j)
                i = match_brace(body, k)
            else:
                line_end = body.find("\n", j)
                line_end = len(body) if line_end < 0 else line_end
                expr = body[j:line_end].strip()
                if expr.startswith("func"):
                    i = line_end
                else:
                    self.types[name] = ("alias", expr, fname)
                    i = line_end
            if single:
                return

    def parse_fields(self, body):
        fields = []
        lines = body.split("\n")
        skip_depth = 0
        for line in lines:
            line = line.strip()
            if skip_depth:
                skip_depth += line.count("{") - line.count("}")
                continue
            if not line:
                continue
            tag = ""
            m = re.search(r"`([^`]*)`\s*$", line)
            if m:
                tag = m.group(1)
                line = line[: m.start()].strip()
            if line.endswith("{"):  # anonymous struct: not carried by protobuf here
                skip_depth = 1
                continue
            parts = line.split(None, 1)
            if len(parts) == 1:
                fields.append({"name": None, "type": parts[0], "tag": tag})
            else:
                for name in parts[0].rstrip(",").split(","):
                    fields.append({"name": name.strip(), "type": parts[1].strip(), "tag": tag})
        return fields


def tag_value(tag, key):
    m = re.search(r'(?:^|\s)' + re.escape(key) + r':"([^"]*)"', tag)
    return m.group(1) if m else None


class Generator:
    def __init__(self, dirs):
        self.pkgs = {}
        self.dirs = dirs
        self.messages = {}
        self.warnings = []

    def package(self, path):
        if path in self.pkgs:
            return self.pkgs[path]
        for mod, d in self.dirs.items():
            if path == mod or path.startswith(mod + "/"):
                directory = os.path.join(d, path[len(mod) :].lstrip("/"))
                if os.path.exists(os.path.join(directory, "generated.proto")):
                    self.pkgs[path] = Package(path, directory)
                    return self.pkgs[path]
        self.pkgs[path] = None
        return None

    def resolve(self, expr, pkg, fname):
        """(pointer, type) of a Go type expression in pkg."""
        expr = expr.strip()
        if expr.startswith("*"):
            return True, self.resolve(expr[1:], pkg, fname)[1]
        if expr == "[]byte" or expr == "[]uint8":
            return False, "bytes"
        if expr.startswith("[]"):
            return False, ["list", self.resolve(expr[2:], pkg, fname)[1]]
        if expr.startswith("map["):
            end = match_brace(expr, 3, "[", "]")
            key = self.resolve(expr[4 : end - 1], pkg, fname)[1]
            val = self.resolve(expr[end:], pkg, fname)[1]
            return False, ["map", key, val]
        if expr in SCALARS:
            return False, SCALARS[expr]
        if "." in expr:
            alias, name = expr.split(".", 1)
            path = pkg.imports[fname].get(alias)
            if expr in EXTERNAL:
                return False, EXTERNAL[expr]
            other = self.package(path) if path else None
            if other is None:
                self.warnings.append(f"{pkg.path}: unresolved type {expr}")
                return False, "string"
            return False, self.named(other, name)
        return False, self.named(pkg, expr)

    def named(self, pkg, name):
        full = f"{pkg.proto}.{name}"
        decl = pkg.types.get(name)
        if decl is None:
            if name in pkg.messages:
                return full
            self.warnings.append(f"{pkg.path}: unknown type {name}")
            return "string"
        if decl[0] == "struct":
            self.message(pkg, name)
            return full
        underlying = self.resolve(decl[1], pkg, decl[2])[1]
        if name in pkg.messages:
            if isinstance(underlying, list) and underlying[0] == "list":
                return ["wrap", underlying[1]]
            if isinstance(underlying, str) and underlying.startswith("k8s.io."):
                return underlying  # `type X otherpkg.X`: the same message layout
            self.warnings.append(f"{pkg.path}: message {name} over {decl[1]}")
        return underlying

    def message(self, pkg, name):
        full = f"{pkg.proto}.{name}"
        if full in self.messages:
            return
        self.messages[full] = None  # cycle guard
        fields = []
        decl = pkg.types[name]
        for f in decl[1]:
            pb = tag_value(f["tag"], "protobuf")
            if pb is None or pb == "-":
                continue
            parts = pb.split(",")
            wire, number = parts[0], int(parts[1])
            js = tag_value(f["tag"], "json")
            flags = ""
            pointer, typ = self.resolve(f["type"], pkg, decl[2])
            go_name = f["name"] or f["type"].lstrip("*").split(".")[-1]
            if js is None:
                json_name = go_name
            else:
                jparts = js.split(",")
                json_name = jparts[0]
                if "omitempty" in jparts[1:]:
                    flags += "o"
                if json_name == "-" and len(jparts) == 1:
                    flags += "x"
                    json_name = go_name
                elif json_name == "":
                    if f["name"] is None and not isinstance(typ, list):
                        flags += "i"
                    else:
                        json_name = go_name
            if f["name"] is None and js is None and not isinstance(typ, list):
                flags += "i"
                json_name = ""
            if pointer:
                flags += "p"
            if "rep" in parts[2:]:
                flags += "r"
            fields.append([number, json_name, wire, flags, typ])
        self.messages[full] = fields


def main():
    dirs = module_dirs()
    gen = Generator(dirs)
    roots = []
    api = dirs["k8s.io/api"]
    for d, _, files in os.walk(api):
        if "generated.proto" in files:
            roots.append("k8s.io/api/" + os.path.relpath(d, api))
    roots = sorted(roots) + EXTRA_PACKAGES
    groups = {}
    for path in roots:
        pkg = gen.package(path)
        for name, decl in sorted(pkg.types.items()):
            if decl[0] == "struct" and name in pkg.messages:
                gen.message(pkg, name)
            elif name in pkg.messages:
                # `type List metav1.List`: a message with another package's layout
                same = gen.named(pkg, name)
                if isinstance(same, str) and same in gen.messages:
                    gen.messages.setdefault(f"{pkg.proto}.{name}", gen.messages[same])
        if pkg.group is not None:
            version = path.rsplit("/", 1)[-1]
            gv = f"{pkg.group}/{version}" if pkg.group else version
            groups[gv] = pkg.proto
    for w in sorted(set(gen.warnings)):
        print("warning:", w, file=sys.stderr)
    doc = {
        "modules": MODULES,
        "groups": dict(sorted(groups.items())),
        "messages": dict(sorted((k, v) for k, v in gen.messages.items() if v is not None)),
    }
    def dump(value):
        return json.dumps(value, separators=(",", ":"))

    # one group version and one message per line keeps diffs readable
    lines = ["{", f'"modules":{dump(doc["modules"])},', '"groups":{']
    lines.append(",\n".join(f"{dump(k)}:{dump(v)}" for k, v in doc["groups"].items()))
    lines.append("},")
    lines.append('"messages":{')
    lines.append(",\n".join(f"{dump(k)}:{dump(v)}" for k, v in doc["messages"].items()))
    lines.append("}}")
    text = "\n".join(lines) + "\n"
    json.loads(text)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(doc['messages'])} messages, {len(groups)} group versions")


if __name__ == "__main__":
    main()
