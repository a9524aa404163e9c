#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and end-to-end tests.
# Needs root (tests mount overlays and run real containers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-4}"
