//! The async REST client against a running server.
//!
//! Start one with `cargo run -p cheap-server -- serve`, then run
//! `cargo run --example client_async --features client` (the URL comes from `CHEAP_URL`,
//! default `http://127.0.0.1:8080`).

use std::sync::Arc;

use cheap::client::{batch, CheapClient, ClientConfig, RetryPolicy};
use cheap::{
    Aspect, AspectDef, CatalogDef, CatalogSpecies, HierarchyDef, HierarchyType, PropertyDef,
    PropertyType, Uuid,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHEAP_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client = CheapClient::with_config(
        ClientConfig::new(&url)
            .retry(RetryPolicy::default())
            .max_in_flight(16),
    )?;
    println!("server: {}", client.health_check().await?.status);

    let task = AspectDef::builder("com.example.task")
        .property(PropertyDef::new("title", PropertyType::String).nullable(false))
        .property(PropertyDef::new("done", PropertyType::Boolean))
        .build()?
        .into_arc();
    let def = CatalogDef::from_parts(
        [task.clone()],
        [HierarchyDef::new("inbox", HierarchyType::EntityList)],
    );
    let catalog = client
        .create_catalog_with(CatalogSpecies::Sink, None, Some(&def))
        .await?
        .catalog_id;
    println!("created catalog {catalog}");

    // Ten tasks, at most four requests in flight; each result reported on its own.
    let results = batch(0..10, 4, |i| {
        let (client, task) = (client.clone(), Arc::clone(&task));
        async move {
            let entity = Uuid::new_v4();
            let aspect = Aspect::builder(task, entity)
                .set("title", format!("task {i}"))
                .set("done", i % 3 == 0)
                .build()?;
            client.upsert(catalog, &[aspect]).await?;
            client.add_entities(catalog, "inbox", &[entity]).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(entity)
        }
    })
    .await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    println!("stored {stored} of {} tasks", results.len());

    let whole = client.export_catalog(catalog).await?;
    println!(
        "inbox holds {} entities",
        whole.hierarchy("inbox").map_or(0, |h| h.len())
    );
    client.delete_catalog(catalog).await?;
    println!("deleted catalog {catalog}");
    Ok(())
}
