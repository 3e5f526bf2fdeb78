//! # cheap-sql
//!
//! The SQL engine of cheap-rs, shared by every SQL backend (as sqlx-core is by sqlx's drivers).
//! A backend crate supplies a [`SqlBackend`] (connections from its driver's pool in a
//! transaction mode, and a [`Dialect`]); [`SqlDao`] makes it a
//! [`CheapDao`](cheap_core::CheapDao), with every operation written once:
//!
//! | module | what it holds |
//! |---|---|
//! | [`conn`] | what the engine needs of a driver: [`SqlConn`], [`SqlBackend`], [`Arg`], [`Row`] |
//! | [`dialect`] | how one database's SQL differs: [`Dialect`] |
//! | [`schema`] | the schema as one table list, DDL generated per dialect |
//! | [`codec`] | values, property defs and trees as rows and back |
//! | [`table_mapping`] | aspect defs stored in plain tables of their own |
//! | `ops` | the operations by concern: catalogs, aspect defs, hierarchies, entries, aspects, changes |
//! | `sqlx_conn` | (feature `sqlx`) one connection layer over any sqlx driver |
//! | [`dao`] | [`SqlDao`]: the `CheapDao` whose methods are those operations |
//! | [`tables`] | [`TableAccess`]: table mappings and introspection |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod batch;
pub mod codec;
pub mod conn;
mod content;
pub mod dao;
mod defs;
pub mod dialect;
mod engine;
mod group;
mod mapping;
pub mod meta;
mod ops;
pub mod pool;
mod positions;
mod probe;
pub mod schema;
#[cfg(feature = "sqlx")]
pub mod sqlx_conn;
pub mod table_mapping;
pub mod tables;
#[cfg(feature = "testkit")]
pub mod testkit;
mod watch;

pub use codec::EMPTY_LIST_INDEX;
pub use conn::{Arg, Row, SqlBackend, SqlConn, SqlType, TxMode, Value};
pub use dao::SqlDao;
pub use dialect::{read_value, Dialect};
pub use pool::PoolSettings;
pub use table_mapping::{AspectTableMapping, MappingRegistry};
pub use tables::TableAccess;
