//! Save many catalogs with at most N in flight, and report each failure on its own: one bad
//! catalog does not lose the others.
//!
//! `cargo run --example concurrent_batch`

use std::sync::Arc;

use futures::stream::{self, StreamExt};

use cheap::{AspectDef, Catalog, PropertyDef, PropertyType};

#[tokio::main]
async fn main() -> cheap::Result<()> {
    let dao = cheap::connect("sqlite::memory:").await?;
    let note = AspectDef::builder("com.example.note")
        .property(PropertyDef::new("text", PropertyType::Text))
        .build()?
        .into_arc();
    // A def with the same name but other properties: catalogs using it are refused.
    let rogue = AspectDef::builder("com.example.note")
        .property(PropertyDef::new("body", PropertyType::Text))
        .build()?
        .into_arc();

    let mut catalogs = Vec::new();
    for i in 0..20 {
        let mut c = Catalog::new();
        c.extend(if i == 7 {
            Arc::clone(&rogue)
        } else {
            Arc::clone(&note)
        })?;
        catalogs.push(c);
    }
    const MAX_IN_FLIGHT: usize = 4;
    let outcomes: Vec<(uuid::Uuid, cheap::Result<i64>)> = stream::iter(&catalogs)
        .map(|c| {
            let dao = Arc::clone(&dao);
            async move { (c.id(), dao.save_catalog(c).await) }
        })
        .buffer_unordered(MAX_IN_FLIGHT)
        .collect()
        .await;
    let failed: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    println!(
        "saved {} of {} catalogs, {MAX_IN_FLIGHT} at a time",
        outcomes.len() - failed.len(),
        outcomes.len()
    );
    for (id, r) in failed {
        println!(
            "  {id}: {}",
            r.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    Ok(())
}
