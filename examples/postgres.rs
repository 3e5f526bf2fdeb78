//! A catalog in PostgreSQL: connect with tuned pool options, save, change one hierarchy with a
//! granular call, load it back, and clean up.
//!
//! Needs a PostgreSQL server; the URL comes from `CHEAP_POSTGRES_URL`:
//!
//! `CHEAP_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example postgres --features postgres`

use std::time::Duration;

use cheap::postgres::PostgresOptions;
use cheap::{Aspect, AspectDef, Catalog, CheapDao, PropertyDef, PropertyType, Uuid};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    let Ok(url) = std::env::var("CHEAP_POSTGRES_URL") else {
        eprintln!("set CHEAP_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
        std::process::exit(2);
    };
    // The schema is created when missing; `cheap::connect(&url)` would use the defaults.
    let dao = PostgresOptions::url(&url)
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(3))
        .connect()
        .await?;

    let sensor = AspectDef::builder("com.example.sensor")
        .property(PropertyDef::new("label", PropertyType::String).nullable(false))
        .property(PropertyDef::new("celsius", PropertyType::Float))
        .build()?
        .into_arc();
    let mut catalog = Catalog::new();
    let probe = Uuid::new_v4();
    catalog.extend(sensor.clone())?.put(
        Aspect::builder(sensor.clone(), probe)
            .set("label", "cellar")
            .set("celsius", 11.5)
            .build()?,
    )?;
    catalog.create_entity_list("rounds")?.add(probe);
    let version = dao.save_catalog(&catalog).await?;
    println!("saved catalog {} at version {version}", catalog.id());

    // One granular write: only the list's rows change, not the whole catalog.
    dao.add_entities(catalog.id(), "rounds", &[probe]).await?;
    let loaded = dao.load_catalog(catalog.id()).await?;
    let rounds = loaded.hierarchy("rounds").and_then(|h| h.as_list());
    println!(
        "loaded version {}: {} sensor(s), rounds visit {} entities",
        loaded.version,
        loaded.aspects("com.example.sensor").map_or(0, |m| m.len()),
        rounds.map_or(0, |l| l.len())
    );

    dao.delete_catalog(catalog.id()).await?;
    dao.close().await?;
    Ok(())
}
