//! The blocking REST client from a plain `fn main()`.
//!
//! Start a server with `cargo run -p cheap-server -- serve`, then run
//! `cargo run --example client_blocking --features client` (URL from `CHEAP_URL`, default
//! `http://127.0.0.1:8080`).

use cheap::client::blocking::CheapClient;
use cheap::client::DirectoryRemoval;
use cheap::{CatalogSpecies, HierarchyDef, HierarchyType, Uuid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHEAP_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client = CheapClient::new(url)?;
    println!("server: {}", client.health_check()?.status);

    let catalog = client
        .create_catalog_with(CatalogSpecies::Sink, None, None)?
        .catalog_id;
    client.create_hierarchy(
        catalog,
        &HierarchyDef::new("files", HierarchyType::EntityDirectory),
    )?;
    let entries = [("a.txt", Uuid::new_v4()), ("b.txt", Uuid::new_v4())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let added = client.add_directory_entries(catalog, "files", &entries)?;
    println!("{}", added.message);
    let removed = client.remove_directory_entries(
        catalog,
        "files",
        &DirectoryRemoval::Names(vec!["a.txt".into()]),
    )?;
    println!("{}", removed.message);
    for id in client.catalog_ids(50) {
        println!("catalog {}", id?);
    }
    client.delete_catalog(catalog)?;
    Ok(())
}
