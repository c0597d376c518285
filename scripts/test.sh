#!/usr/bin/env bash
# The project's test command (see README.md): gofmt check, go vet, and every
# test with the race detector. Fuzz targets run their seed corpora. Ends with
# the list of skipped tests and their reasons.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# Every test with the race detector; the report lists at its end every
# test that skipped, with its reason (Azurite not started, no root for the
# standard ports…), and fails when a test or a build did.
report="$(mktemp -d)/testreport"
go build -o "$report" ./scripts/testreport
go test -race -count=1 -timeout 30m -json ./... | "$report"
