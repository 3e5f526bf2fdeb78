#!/usr/bin/env bash
# API fuzzing: schemathesis generates requests from the server's own OpenAPI document and sends
# them to a real `cheap serve` on a SQLite file. Fails on any 5xx or on a response that does not
# match the document. Usage: scripts/api-fuzz.sh [examples-per-operation] (default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-40}"
if ! command -v st >/dev/null 2>&1; then
  echo "api-fuzz: installing schemathesis from PyPI"
  # Pinned so a run is repeatable: a new release changes what the seed generates.
  python3 -m pip install -q "schemathesis==4.32.5" || { echo "api-fuzz: cannot install schemathesis" >&2; exit 1; }
fi
cargo build -q -p cheap-server
work=$(mktemp -d)
./target/debug/cheap serve --database-url "sqlite://$work/fuzz.db" --bind 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 50); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { echo "api-fuzz: cheap serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
# One worker: on CPython 3.11 the AST builder's recursion counter is shared by threads, and
# hypothesis parses lambda sources while it generates, so two workers can fail a run with
# "AST constructor recursion depth mismatch" (CPython gh-106905), a flake of the tool, not of ours.
st run "$url/api-docs" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$examples" --workers 1 --seed 20261125 --no-color
