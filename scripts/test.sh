#!/usr/bin/env bash
# The whole test suite (what CI runs): unit, property and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -j2 --all-targets "$@"
