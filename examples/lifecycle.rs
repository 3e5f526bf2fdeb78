//! Connect, use, close: what happens to calls after `close()`, and that dropping a store without
//! closing it is safe too.
//!
//! `cargo run --example lifecycle`

use cheap::{Catalog, CheapError};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    let path = std::env::temp_dir().join(format!("cheap-lifecycle-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());

    let dao = cheap::connect(&url).await?;
    dao.health_check().await?;
    let catalog = Catalog::new();
    dao.save_catalog(&catalog).await?;
    dao.close().await?;
    match dao.catalog_exists(catalog.id()).await {
        Err(CheapError::Unavailable(m)) => println!("after close: Unavailable ({m})"),
        other => println!("after close: {other:?}"),
    }

    // A new store on the same file sees what was saved; dropping it without close is fine:
    // the pool closes its connections when the last handle goes.
    {
        let again = cheap::connect(&url).await?;
        println!(
            "reopened: catalog exists = {}",
            again.catalog_exists(catalog.id()).await?
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}
