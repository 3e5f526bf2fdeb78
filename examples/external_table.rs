//! Cache an existing SQL table as a SOURCE catalog: its columns become an aspect def, its rows
//! aspects (with entity ids that stay the same between loads).
//!
//! `cargo run --example external_table`

use cheap::json::ToJson;
use cheap::sqlite::SqliteOptions;
use cheap::{CheapDao, TableAccess};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    let dao = SqliteOptions::in_memory().connect().await?;
    // Some table an application already has.
    for sql in [
        "CREATE TABLE product (sku VARCHAR(20) NOT NULL, name TEXT, price REAL, stocked BOOLEAN)",
        "INSERT INTO product VALUES ('A-1', 'Widget', 9.5, 1), ('B-2', 'Gadget', 24.0, 0)",
    ] {
        sqlx::query(sql)
            .execute(dao.pool())
            .await
            .map_err(cheap::sqlite::map_err)?;
    }
    let def = dao.table_def("product").await?;
    println!("aspect def from the table: {}", def.to_json());
    let catalog = dao.cache_table("product", None).await?;
    println!(
        "SOURCE catalog {} with {} aspects",
        catalog.id(),
        catalog.aspects("product").map_or(0, |m| m.len())
    );
    dao.save_catalog(&catalog).await?;
    println!("{}", dao.load_catalog(catalog.id()).await?.to_json_pretty());
    Ok(())
}
