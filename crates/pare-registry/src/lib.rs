//! pare-registry: a synchronous client for the OCI distribution API (the protocol of Docker Hub,
//! Distribution, Harbor, GHCR, ...): `/v2/` ping and auth challenges (anonymous, basic, bearer tokens
//! cached per scope), credentials from docker and containers auth files or credential helpers, blob
//! HEAD, cross-repository mount, monolithic and chunked upload, streaming verified blob download and
//! manifest GET/PUT, the referrers API (OCI 1.1), with retries and backoff. Not an image model: what to push or pull is decided by
//! the `pare` crate; this crate moves bytes and checks them.

pub mod auth;
pub mod client;
pub mod error;

pub use auth::Credentials;
pub use client::{Body, Client, ClientOptions, Manifest, Progress, RequestStats, StoredManifest};
pub use error::{Error, Result};
