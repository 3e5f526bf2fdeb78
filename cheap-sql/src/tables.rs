//! Plain SQL tables next to the CHEAP schema: storing an aspect def's aspects in a table of its
//! own ([`AspectTableMapping`]) and reading existing tables as aspects. Every SQL backend has
//! these through [`TableAccess`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::conn::{SqlBackend, TxMode};
use crate::dao::SqlDao;
use crate::mapping;
use crate::table_mapping::{table_catalog, AspectTableMapping};
use cheap_core::model::{AspectDef, AspectMap, Catalog};
use cheap_core::Result;

/// Table mappings and table introspection, for every [`SqlBackend`].
#[async_trait]
pub trait TableAccess {
    /// Stores the aspects of `mapping`'s def in its table from now on, in every catalog of this
    /// store (the registration lives in this process; redo it after a restart, before loading).
    /// The table must exist: see [`create_table`](Self::create_table). How each of the four
    /// table shapes finds a catalog's rows is described on [`AspectTableMapping`].
    fn add_table_mapping(&self, mapping: AspectTableMapping) -> Result<()>;

    /// The mapping registered for an aspect def name.
    fn table_mapping(&self, aspect_def: &str) -> Option<Arc<AspectTableMapping>>;

    /// Creates the mapping's table if it does not exist.
    async fn create_table(&self, mapping: &AspectTableMapping) -> Result<()>;

    /// The database's tables, by name.
    async fn list_tables(&self) -> Result<Vec<String>>;

    /// An existing table's columns as an aspect def named after the table (NotFound if the
    /// table does not exist): one single-valued, readable and writable property per column,
    /// typed from the declared column type; its id is derived from the table name.
    async fn table_def(&self, table: &str) -> Result<AspectDef>;

    /// An existing table's rows (at most `max_rows`) as an aspect map of
    /// [`table_def`](Self::table_def); entity ids derive from the table name and the row's key
    /// (or position), so reloading gives the same ids.
    async fn load_table(&self, table: &str, max_rows: Option<u64>) -> Result<AspectMap>;

    /// A SOURCE catalog caching an existing table: one aspect map holding its rows. The catalog
    /// id is derived from the table name, so caching the same table again gives the same id.
    async fn cache_table(&self, table: &str, max_rows: Option<u64>) -> Result<Catalog> {
        table_catalog(table, &self.load_table(table, max_rows).await?)
    }
}

#[async_trait]
impl<B: SqlBackend> TableAccess for SqlDao<B> {
    fn add_table_mapping(&self, mapping: AspectTableMapping) -> Result<()> {
        self.mapping_registry().add(mapping)
    }

    fn table_mapping(&self, aspect_def: &str) -> Option<Arc<AspectTableMapping>> {
        self.mapping_registry().get(aspect_def)
    }

    async fn create_table(&self, m: &AspectTableMapping) -> Result<()> {
        let sql = mapping::create_table_sql(self.dialect(), m)?;
        let mut conn = self.connect(TxMode::None).await?;
        conn.execute(&sql, &[]).await?;
        Ok(())
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        let mut conn = self.connect(TxMode::None).await?;
        mapping::list_tables(&mut *conn, self.dialect()).await
    }

    async fn table_def(&self, table: &str) -> Result<AspectDef> {
        let mut conn = self.connect(TxMode::None).await?;
        mapping::table_def(&mut *conn, self.dialect(), table).await
    }

    async fn load_table(&self, table: &str, max_rows: Option<u64>) -> Result<AspectMap> {
        let mut conn = self.connect(TxMode::Read).await?;
        mapping::load_table(&mut *conn, self.dialect(), table, max_rows).await
    }
}
