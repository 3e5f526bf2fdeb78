//! Bounding a DAO call with `tokio::time::timeout`, and the store's own timeouts.
//!
//! `cargo run --example timeouts`

use std::time::Duration;

use cheap::sqlite::SqliteOptions;
use cheap::{Catalog, CheapDao};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    // The pool's acquire timeout and SQLite's busy timeout turn waiting into an `Unavailable`
    // error instead of a hang.
    let dao = SqliteOptions::in_memory()
        .acquire_timeout(Duration::from_secs(2))
        .busy_timeout(Duration::from_secs(2))
        .connect()
        .await?;
    let catalog = Catalog::new();
    match tokio::time::timeout(Duration::from_millis(500), dao.save_catalog(&catalog)).await {
        Ok(Ok(v)) => println!("saved within 500 ms, version {v}"),
        Ok(Err(e)) => println!("the store refused: {e}"),
        Err(_) => println!("gave up after 500 ms (the save may still finish in the background)"),
    }
    // Dropping a timed-out future cancels the call: a transaction that was not committed is
    // rolled back, so nothing half-written stays behind.
    let quick =
        tokio::time::timeout(Duration::from_nanos(1), dao.save_catalog(&Catalog::new())).await;
    println!(
        "a 1 ns budget: {}",
        if quick.is_err() {
            "timed out"
        } else {
            "finished anyway"
        }
    );
    Ok(())
}
