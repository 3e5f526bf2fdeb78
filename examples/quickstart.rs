//! A first tour: define an aspect, fill a catalog, save it, change it through granular calls,
//! load it back and print it as cheap-json.
//!
//! Run with `cargo run --example quickstart`.

use std::sync::Arc;

use cheap::json::ToJson;
use cheap::{Aspect, AspectDef, Catalog, CheapDao, PropertyDef, PropertyType, Uuid};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    // A SQLite file (created with its schema on first use); `memory:` would keep it in process.
    // The tour starts from an empty store each time.
    let path = std::env::temp_dir().join("cheap-quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let dao: Arc<dyn CheapDao> = cheap::connect(&format!("sqlite://{}", path.display())).await?;
    println!("store: {}", path.display());

    // An aspect def is the schema of a record; names are global, reverse-DNS style.
    let person = AspectDef::builder("com.example.person")
        .property(PropertyDef::new("name", PropertyType::String).nullable(false))
        .property(PropertyDef::new("age", PropertyType::Integer))
        .property(PropertyDef::new("tags", PropertyType::String).multivalued(true))
        .build()?
        .into_arc();

    // Entities are just UUIDs; aspects attach typed records to them.
    let (ada, alan) = (Uuid::new_v4(), Uuid::new_v4());
    let mut catalog = Catalog::new();
    let people = catalog.extend(person.clone())?;
    people.put(
        Aspect::builder(person.clone(), ada)
            .set("name", "Ada Lovelace")
            .set("age", 36)
            .set("tags", vec!["math", "poetry"])
            .build()?,
    )?;
    people.put(
        Aspect::builder(person.clone(), alan)
            .set("name", "Alan Turing")
            .build()?,
    )?;
    catalog
        .create_entity_directory("by-handle")?
        .put("ada", ada);
    catalog.create_entity_list("queue")?.add(alan);

    let version = dao.save_catalog(&catalog).await?;
    println!("saved catalog {} at version {version}", catalog.id());

    // Values are type-checked: this is rejected and nothing changes.
    let bad = Aspect::builder(person.clone(), alan)
        .set("age", "forty-one")
        .build();
    println!(
        "rejected: {}",
        bad.err().map(|e| e.to_string()).unwrap_or_default()
    );

    // Granular operations touch only what they name.
    dao.put_directory_entries(catalog.id(), "by-handle", &[("alan".into(), alan)])
        .await?;
    let older = Aspect::builder(person.clone(), alan)
        .set("name", "Alan Turing")
        .set("age", 41)
        .build()?;
    dao.upsert_aspects(catalog.id(), person.name(), &[older])
        .await?;

    let loaded = dao.load_catalog(catalog.id()).await?;
    println!("version now {}", loaded.version);
    println!("{}", loaded.to_json_pretty());
    dao.close().await?;
    Ok(())
}
