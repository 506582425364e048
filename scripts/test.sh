#!/usr/bin/env bash
# The whole test suite (what CI runs): unit, property and integration tests.
# Ends with one line "N passed, N failed" summing every test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# The traffic generator the tests use writes real QUIC Initials with this package.
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install -q cryptography
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test -j2 --no-fail-fast --lib --bins --tests "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '; [0-9]+ failed' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
echo
echo "${passed} passed, ${failed} failed"
exit "$rc"
