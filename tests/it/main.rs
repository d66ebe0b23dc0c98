//! pare's integration tests: one binary, a module per command. Tests that need a peer tool (skopeo,
//! umoci, runc, docker, ...) use `support::require`, which skips with a note on a developer machine
//! without the tool but fails under CI=true, where every peer must be installed.

mod apps;
mod audit;
mod bases;
mod build;
mod build_interop;
mod closure;
mod conventions;
mod diff;
mod hardening;
mod lint;
mod models;
mod multiarch;
mod packages;
mod referrers;
mod report;
mod sbom;
mod scan;
mod sign;
mod slim;
mod support;
mod tar_differential;
mod transfer;
