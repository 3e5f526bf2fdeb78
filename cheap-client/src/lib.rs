//! # cheap-client
//!
//! Clients for the CHEAP REST API: [`CheapClient`] (async, on reqwest) and
//! [`blocking::CheapClient`] with the same method names, sharing the request and response
//! types of [`cheap_core::rest`] and one error type, [`ClientError`].
//!
//! Both retry idempotent requests on connect errors, timeouts and 408/429/500/502/503/504 with
//! exponential backoff and jitter (honouring `Retry-After`), stop sending through a circuit
//! breaker while the server keeps failing, and cap the requests in flight. See [`ClientConfig`].
//!
//! ```no_run
//! # async fn demo() -> cheap_client::Result<()> {
//! use cheap_client::CheapClient;
//! use cheap_core::CatalogSpecies;
//! let client = CheapClient::new("http://127.0.0.1:8080")?;
//! client.health_check().await?;
//! let created = client.create_catalog_with(CatalogSpecies::Sink, None, None).await?;
//! let def = client.get_catalog(created.catalog_id).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod batch;
pub mod blocking;
mod breaker;
mod client;
mod config;
mod error;
#[cfg(feature = "remote")]
mod remote;
mod transport;
mod watch;

pub use client::{
    batch, etag_for_version, version_of_etag, CheapClient, Conditional, DirectoryRemoval,
    HierarchyPage,
};
pub use config::{CircuitBreakerConfig, ClientConfig, RateLimit, RetryPolicy};
pub use error::{ClientError, Result};
#[cfg(feature = "remote")]
pub use remote::{to_cheap, RemoteDao};
