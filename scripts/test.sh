#!/bin/sh
# The whole test suite: installs the peer tools if missing, then runs every unit and integration test,
# formatting and clippy. CI runs exactly this (.ci/run). Under CI=true no interoperability test skips.
set -eu
cd "$(dirname "$0")/.."

scripts/peers.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
