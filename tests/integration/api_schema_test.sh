#!/usr/bin/env bash
# Proves that the HTTP API v1 (server/http) and its JSON Schemas (schemas/json/) agree, and that
# the walk-throughs in docs/api.md work: starts a real node on 127.0.0.1 and runs
# api_schema_check.py against it (see that file for what is covered).
#
# Usage: api_schema_test.sh /path/to/khronika [--strict-known-bugs] [--keep]
# Needs python3 with the jsonschema module (Debian: python3-jsonschema) and openssl 3.
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika [--strict-known-bugs] [--keep]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)

# The first python3 that has jsonschema: the one on PATH, else Debian's (python3-jsonschema).
PY=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import jsonschema' 2>/dev/null; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  echo "api_schema_test: no python3 with the jsonschema module; install python3-jsonschema" >&2
  exit 1
fi

exec "$PY" "$HERE/api_schema_check.py" "$KH" --schemas "$HERE/../../schemas/json" "$@"
