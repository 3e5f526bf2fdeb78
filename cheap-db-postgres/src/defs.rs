//! Aspect defs are global by name in the reference schema: storing, comparing and loading them.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::batch::{self, pg};
use crate::error::map_err;
use cheap_core::sql::{default_to_text, property_def_from_row};
use cheap_core::{AspectDef, CheapError, PropertyDef, Result};

const DEF_COLS: &str = "d.aspect_def_id, d.name, d.is_readable, d.is_writable, d.can_add_properties, d.can_remove_properties";
const PROP_COLS: &str = "p.aspect_def_id, p.name, p.property_type, p.default_value, p.has_default_value, p.is_readable, p.is_writable, p.is_nullable, p.is_multivalued";

/// What selects the defs to load.
pub(crate) enum Which<'a> {
    /// The defs linked to a catalog.
    Catalog(Uuid),
    /// Defs with this name or this id.
    NameOrId(&'a str, Uuid),
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(q: Query<'q>, which: &Which<'_>) -> Query<'q> {
    match which {
        Which::Catalog(c) => q.bind(*c),
        Which::NameOrId(n, id) => q.bind(n.to_string()).bind(*id),
    }
}

async fn load_defs(conn: &mut PgConnection, which: Which<'_>) -> Result<Vec<AspectDef>> {
    let (from, filter) = match which {
        Which::Catalog(_) => (
            "JOIN catalog_aspect_def l ON l.aspect_def_id = d.aspect_def_id",
            "l.catalog_id = ?",
        ),
        Which::NameOrId(..) => ("", "(d.name = ? OR d.aspect_def_id = ?)"),
    };
    let sql = pg(&format!(
        "SELECT {DEF_COLS} FROM aspect_def d {from} WHERE {filter}"
    ));
    let defs = bind(sqlx::query(&sql), &which)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    if defs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = pg(&format!(
        "SELECT {PROP_COLS} FROM property_def p JOIN aspect_def d ON d.aspect_def_id = p.aspect_def_id {from} WHERE {filter} ORDER BY p.aspect_def_id, p.property_index"
    ));
    let names: HashMap<Uuid, String> = defs
        .iter()
        .map(|r| (r.get::<Uuid, _>(0), r.get::<String, _>(1)))
        .collect();
    let mut props: HashMap<Uuid, Vec<PropertyDef>> = HashMap::new();
    for r in bind(sqlx::query(&sql), &which)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        let def_id: Uuid = r.get(0);
        let owner = names.get(&def_id).map(String::as_str).unwrap_or_default();
        let pd = property_def_from_row(
            owner,
            r.get::<&str, _>(1),
            r.get::<&str, _>(2),
            r.get::<Option<&str>, _>(3),
            r.get::<bool, _>(4),
            r.get::<bool, _>(5),
            r.get::<bool, _>(6),
            r.get::<bool, _>(7),
            r.get::<bool, _>(8),
        )?;
        props.entry(def_id).or_default().push(pd);
    }
    defs.iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            AspectDef::builder(r.get::<String, _>(1))
                .id(id)
                .readable(r.get(2))
                .writable(r.get(3))
                .can_add_properties(r.get(4))
                .can_remove_properties(r.get(5))
                .properties(props.remove(&id).unwrap_or_default())
                .build()
        })
        .collect()
}

/// The defs linked to a catalog.
pub(crate) async fn catalog_defs(
    conn: &mut PgConnection,
    catalog: Uuid,
) -> Result<Vec<Arc<AspectDef>>> {
    Ok(load_defs(conn, Which::Catalog(catalog))
        .await?
        .into_iter()
        .map(Arc::new)
        .collect())
}

/// Makes `def` the stored def of its name for `catalog`. A stored def of the same name or id
/// that differs is replaced when no other catalog links it, and is a conflict otherwise.
/// Call after removing this catalog's own values of the def.
pub(crate) async fn store_def(
    conn: &mut PgConnection,
    catalog: Uuid,
    def: &AspectDef,
) -> Result<()> {
    let id = def.id();
    // Writers of different catalogs may store the same def at once: serialize per name.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("cheap-def:{}", def.name()))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let stored = load_defs(conn, Which::NameOrId(def.name(), id)).await?;
    let mut present = false;
    for s in stored {
        if s == *def {
            present = true;
            continue;
        }
        let others: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM catalog_aspect_def WHERE aspect_def_id = $1 AND catalog_id <> $2 LIMIT 1")
            .bind(s.id())
            .bind(catalog)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
        if others.is_some() {
            return Err(CheapError::conflict(format!(
                "aspect def '{}' ({}) differs from the def '{}' ({}) another catalog stores",
                def.name(),
                def.id(),
                s.name(),
                s.id()
            )));
        }
        sqlx::query("DELETE FROM aspect WHERE aspect_def_id = $1")
            .bind(s.id())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM aspect_def WHERE aspect_def_id = $1")
            .bind(s.id())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    if !present {
        sqlx::query(
            "INSERT INTO aspect_def (aspect_def_id, name, hash_version, is_readable, is_writable, can_add_properties, can_remove_properties) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(def.name())
        .bind(def.hash())
        .bind(def.is_readable())
        .bind(def.is_writable())
        .bind(def.can_add_properties())
        .bind(def.can_remove_properties())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        let props: Vec<(i32, &PropertyDef, Option<String>)> = def
            .property_defs()
            .enumerate()
            .map(|(i, p)| (i as i32, p, default_to_text(p)))
            .collect();
        batch::insert(
            conn,
            "INSERT INTO property_def (aspect_def_id, name, property_index, property_type, default_value, has_default_value, is_readable, is_writable, is_nullable, is_multivalued)",
            10,
            "",
            &props,
            |a, (i, p, d)| {
                a.bind(id)
                    .bind(p.name())
                    .bind(*i)
                    .bind(p.property_type().code())
                    .bind(d.as_deref())
                    .bind(p.has_default_value())
                    .bind(p.is_readable())
                    .bind(p.is_writable())
                    .bind(p.is_nullable())
                    .bind(p.is_multivalued());
            },
        )
        .await?;
    }
    sqlx::query("INSERT INTO catalog_aspect_def (catalog_id, aspect_def_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(catalog)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
