//! # cheap-core
//!
//! The core of cheap-rs, a Rust implementation of CHEAP (Catalog, Hierarchy, Entity, Aspect,
//! Property): the model types, typed property values, the reference's JSON format, def hashing,
//! and the async [`CheapDao`] contract every storage backend implements, with [`MemoryDao`] as a
//! complete in-process backend.
//!
//! Feature `testkit` adds the `testkit` module: the conformance suite every backend runs.
#![deny(missing_docs)]

pub mod dao;
mod error;
pub mod hash;
pub mod json;
pub mod limits;
pub mod model;
pub mod redact;
pub mod rest;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod value;

pub use dao::{CheapDao, MemoryDao};

pub use error::{CheapError, NotFound, Result};
pub use model::*;
pub use value::{CheapDateTime, PropertyValue};

pub use uuid::Uuid;

/// What the exported macros need; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use futures::stream::BoxStream;
}
