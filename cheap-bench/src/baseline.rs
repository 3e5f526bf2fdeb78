//! Baselines: the same rows through the raw driver, with nothing of cheap-rs in the way but the
//! schema.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cheap_core::CheapDao;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};

use cheap_core::{AspectDef, Catalog, CheapError, PropertyValue, Result};

fn err(e: sqlx::Error) -> CheapError {
    CheapError::backend("sqlite", e)
}

async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    head: &str,
    ncols: usize,
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let per = 4000 / ncols;
    let one = format!("({})", vec!["?"; ncols].join(","));
    for chunk in rows.chunks(per) {
        let sql = format!(
            "{head} VALUES {}",
            vec![one.as_str(); chunk.len()].join(",")
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            for v in r {
                q = q.bind(v.as_deref());
            }
        }
        q.execute(&mut *conn).await.map_err(err)?;
    }
    Ok(())
}

/// Writes the catalog's aspect, map and value rows with plain multi-row INSERTs in one
/// transaction, then reads the value rows back with one SELECT. Returns (save, load) times.
pub async fn sqlite(path: PathBuf, cat: &Catalog, def: &AspectDef) -> Result<(Duration, Duration)> {
    // The same schema as ours, created by our DAO before the raw connection opens.
    cheap_db_sqlite::SqliteOptions::path(&path)
        .connect()
        .await?
        .close()
        .await?;
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory")
        .connect()
        .await
        .map_err(err)?;
    let c = cat.id().to_string();
    let d = def.id().to_string();
    let map = cat
        .aspects(def.name())
        .ok_or_else(|| CheapError::invalid("no map"))?;
    // Row values are prepared before the clock starts: the baseline measures the driver only.
    let mut aspects = Vec::new();
    let mut order = Vec::new();
    let mut values = Vec::new();
    for (i, a) in map.iter().enumerate() {
        let e = a.entity_id().to_string();
        aspects.push(vec![
            Some(e.clone()),
            Some(d.clone()),
            Some(c.clone()),
            Some(def.name().to_owned()),
        ]);
        order.push(vec![
            Some(c.clone()),
            Some(def.name().to_owned()),
            Some(e.clone()),
            Some(d.clone()),
            Some(i.to_string()),
        ]);
        for (pi, pd) in def.property_defs().enumerate() {
            let text = a.stored(pd.name()).and_then(PropertyValue::to_text);
            values.push(vec![
                Some(e.clone()),
                Some(d.clone()),
                Some(c.clone()),
                Some(pd.name().to_owned()),
                Some(pi.to_string()),
                Some("0".into()),
                text,
            ]);
        }
    }
    // In key order, as cheap-rs writes them: the keys start with random entity ids, and
    // every index then grows at its end instead of at random places.
    aspects.sort_by(|a, b| a[0].cmp(&b[0]));
    order.sort_by(|a, b| a[2].cmp(&b[2]));
    values.sort_by(|a, b| (&a[0], &a[3]).cmp(&(&b[0], &b[3])));
    let t = Instant::now();
    let mut tx = conn.begin().await.map_err(err)?;
    sqlx::query("INSERT INTO catalog (catalog_id, species, version_number) VALUES (?, 'SINK', 1)")
        .bind(&c)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    sqlx::query("INSERT INTO aspect_def (aspect_def_id, name) VALUES (?, ?)")
        .bind(&d)
        .bind(def.name())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    for (i, pd) in def.property_defs().enumerate() {
        sqlx::query("INSERT INTO property_def (aspect_def_id, name, property_index, property_type) VALUES (?, ?, ?, ?)")
            .bind(&d).bind(pd.name()).bind(i as i64).bind(pd.property_type().code())
            .execute(&mut *tx).await.map_err(err)?;
    }
    sqlx::query("INSERT INTO hierarchy (catalog_id, name, hierarchy_type) VALUES (?, ?, 'AM')")
        .bind(&c)
        .bind(def.name())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    insert_rows(
        &mut tx,
        "INSERT INTO aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name)",
        4,
        &aspects,
    )
    .await?;
    insert_rows(&mut tx, "INSERT INTO hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order)", 5, &order).await?;
    insert_rows(&mut tx, "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text)", 7, &values).await?;
    tx.commit().await.map_err(err)?;
    let save = t.elapsed();

    let t = Instant::now();
    let ids = sqlx::query(
        "SELECT entity_id FROM hierarchy_aspect_map WHERE catalog_id = ? ORDER BY map_order",
    )
    .bind(&c)
    .fetch_all(&mut conn)
    .await
    .map_err(err)?;
    let rows = sqlx::query("SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? ORDER BY entity_id, property_name, value_index")
        .bind(&c)
        .bind(&d)
        .fetch_all(&mut conn)
        .await
        .map_err(err)?;
    let mut n = 0usize;
    for r in &rows {
        n += r.get::<Option<&str>, _>(3).map_or(0, str::len);
    }
    let load = t.elapsed();
    if ids.len() != map.len() || rows.len() != values.len() || n == 0 {
        return Err(CheapError::invalid("baseline read back the wrong rows"));
    }
    Ok((save, load))
}

/// COPY text field: `\N` for null, backslash escapes for the rest.
fn copy_field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

async fn copy(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let mut text = String::with_capacity(rows.len() * 120);
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            copy_field(&mut text, v.as_deref());
        }
        text.push('\n');
    }
    let perr = |e: sqlx::Error| CheapError::backend("postgres", e);
    let mut c = conn.copy_in_raw(statement).await.map_err(perr)?;
    c.send(text.into_bytes()).await.map_err(perr)?;
    c.finish().await.map_err(perr)?;
    Ok(())
}

/// Writes the catalog's aspect, map and value rows with COPY in one transaction (in the schema
/// `schema`), then reads the value rows back with one SELECT. Returns (save, load) times.
pub async fn postgres(
    url: &str,
    schema: &str,
    cat: &Catalog,
    def: &AspectDef,
) -> Result<(Duration, Duration)> {
    use sqlx::Executor;
    let perr = |e: sqlx::Error| CheapError::backend("postgres", e);
    let dao = cheap_db_postgres::PostgresOptions::url(url)
        .schema(schema)
        .connect()
        .await?;
    let mut conn = dao.pool().acquire().await.map_err(perr)?;
    let c = cat.id().to_string();
    let d = def.id().to_string();
    let map = cat
        .aspects(def.name())
        .ok_or_else(|| CheapError::invalid("no map"))?;
    let (mut aspects, mut order, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (i, a) in map.iter().enumerate() {
        let e = a.entity_id().to_string();
        aspects.push(vec![
            Some(e.clone()),
            Some(d.clone()),
            Some(c.clone()),
            Some(def.name().to_owned()),
        ]);
        order.push(vec![
            Some(c.clone()),
            Some(def.name().to_owned()),
            Some(e.clone()),
            Some(d.clone()),
            Some(i.to_string()),
        ]);
        for (pi, pd) in def.property_defs().enumerate() {
            let text = a.stored(pd.name()).and_then(PropertyValue::to_text);
            values.push(vec![
                Some(e.clone()),
                Some(d.clone()),
                Some(c.clone()),
                Some(pd.name().to_owned()),
                Some(pi.to_string()),
                Some("0".into()),
                text,
            ]);
        }
    }
    // In key order, as cheap-rs writes them: the keys start with random entity ids, and
    // every index then grows at its end instead of at random places.
    aspects.sort_by(|a, b| a[0].cmp(&b[0]));
    order.sort_by(|a, b| a[2].cmp(&b[2]));
    values.sort_by(|a, b| (&a[0], &a[3]).cmp(&(&b[0], &b[3])));
    let t = Instant::now();
    let mut tx = conn.begin().await.map_err(perr)?;
    tx.execute(sqlx::query("INSERT INTO catalog (catalog_id, species, version_number) VALUES ($1::uuid, 'SINK', 1)").bind(&c)).await.map_err(perr)?;
    tx.execute(sqlx::query("INSERT INTO aspect_def (aspect_def_id, name) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING").bind(&d).bind(def.name())).await.map_err(perr)?;
    for (i, pd) in def.property_defs().enumerate() {
        tx.execute(
            sqlx::query("INSERT INTO property_def (aspect_def_id, name, property_index, property_type) VALUES ($1::uuid, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(&d).bind(pd.name()).bind(i as i32).bind(pd.property_type().code()),
        )
        .await
        .map_err(perr)?;
    }
    tx.execute(
        sqlx::query(
            "INSERT INTO hierarchy (catalog_id, name, hierarchy_type) VALUES ($1::uuid, $2, 'AM')",
        )
        .bind(&c)
        .bind(def.name()),
    )
    .await
    .map_err(perr)?;
    copy(
        &mut tx,
        "COPY aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name) FROM STDIN",
        &aspects,
    )
    .await?;
    copy(&mut tx, "COPY hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order) FROM STDIN", &order).await?;
    copy(&mut tx, "COPY property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text) FROM STDIN", &values).await?;
    tx.commit().await.map_err(perr)?;
    let save = t.elapsed();

    let t = Instant::now();
    let rows = sqlx::query("SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = $1::uuid AND aspect_def_id = $2::uuid ORDER BY entity_id, property_name, value_index")
        .bind(&c)
        .bind(&d)
        .fetch_all(&mut *conn)
        .await
        .map_err(perr)?;
    let mut n = 0usize;
    for r in &rows {
        n += r.get::<Option<&str>, _>(3).map_or(0, str::len);
    }
    let load = t.elapsed();
    if rows.len() != values.len() || n == 0 {
        return Err(CheapError::invalid("baseline read back the wrong rows"));
    }
    drop(conn);
    dao.close().await?;
    Ok((save, load))
}

/// Writes the catalog's aspect, map and value rows with plain multi-row INSERTs (1,000 rows a
/// statement) in one transaction through mysql_async, into the database of `dao`, then reads
/// the value rows back with one SELECT. Returns (save, load) times.
pub async fn mariadb(
    dao: &cheap_db_mariadb::MariaDbDao,
    cat: &Catalog,
    def: &AspectDef,
) -> Result<(Duration, Duration)> {
    use mysql_async::prelude::Queryable;
    use mysql_async::{TxOpts, Value};
    let merr = |e: mysql_async::Error| CheapError::backend("mariadb", e);
    let c = cat.id().to_string();
    let d = def.id().to_string();
    let map = cat
        .aspects(def.name())
        .ok_or_else(|| CheapError::invalid("no map"))?;
    let text = |s: &str| Value::Bytes(s.as_bytes().to_vec());
    let (mut aspects, mut order, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (i, a) in map.iter().enumerate() {
        let e = a.entity_id().to_string();
        aspects.push(vec![text(&e), text(&d), text(&c), text(def.name())]);
        order.push(vec![
            text(&c),
            text(def.name()),
            text(&e),
            text(&d),
            Value::Int(i as i64),
        ]);
        for (pi, pd) in def.property_defs().enumerate() {
            let v = a
                .stored(pd.name())
                .and_then(PropertyValue::to_text)
                .map_or(Value::NULL, |s| text(&s));
            values.push(vec![
                text(&e),
                text(&d),
                text(&c),
                text(pd.name()),
                Value::Int(pi as i64),
                Value::Int(0),
                v,
            ]);
        }
    }
    async fn insert(
        tx: &mut mysql_async::Transaction<'_>,
        head: &str,
        rows: &[Vec<Value>],
    ) -> std::result::Result<(), mysql_async::Error> {
        let ncols = rows.first().map_or(1, Vec::len);
        let one = format!("({})", vec!["?"; ncols].join(","));
        for chunk in rows.chunks(1000) {
            let sql = format!(
                "{head} VALUES {}",
                vec![one.as_str(); chunk.len()].join(",")
            );
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            tx.exec_drop(sql, params).await?;
        }
        Ok(())
    }
    // In key order, as cheap-rs writes them: InnoDB's clustered keys start with random entity
    // ids, and random-order inserts were several times slower.
    let key = |r: &Vec<Value>, cols: &[usize]| -> Vec<Vec<u8>> {
        cols.iter()
            .map(|&i| match &r[i] {
                Value::Bytes(b) => b.clone(),
                Value::Int(n) => n.to_be_bytes().to_vec(),
                _ => Vec::new(),
            })
            .collect()
    };
    aspects.sort_by_cached_key(|r| key(r, &[0]));
    order.sort_by_cached_key(|r| key(r, &[2]));
    values.sort_by_cached_key(|r| key(r, &[0, 3]));
    let mut conn = dao.pool().get_conn().await.map_err(merr)?;
    let t = Instant::now();
    let mut tx = conn
        .start_transaction(TxOpts::default())
        .await
        .map_err(merr)?;
    tx.exec_drop(
        "INSERT INTO catalog (catalog_id, species, version_number) VALUES (?, 'SINK', 1)",
        (c.as_str(),),
    )
    .await
    .map_err(merr)?;
    tx.exec_drop(
        "INSERT INTO aspect_def (aspect_def_id, name) VALUES (?, ?)",
        (d.as_str(), def.name()),
    )
    .await
    .map_err(merr)?;
    for (i, pd) in def.property_defs().enumerate() {
        tx.exec_drop(
            "INSERT INTO property_def (aspect_def_id, name, property_index, property_type) VALUES (?, ?, ?, ?)",
            (d.as_str(), pd.name(), i as i64, pd.property_type().code()),
        )
        .await
        .map_err(merr)?;
    }
    tx.exec_drop(
        "INSERT INTO hierarchy (catalog_id, name, hierarchy_type) VALUES (?, ?, 'AM')",
        (c.as_str(), def.name()),
    )
    .await
    .map_err(merr)?;
    insert(
        &mut tx,
        "INSERT INTO aspect (entity_id, aspect_def_id, catalog_id, hierarchy_name)",
        &aspects,
    )
    .await
    .map_err(merr)?;
    insert(&mut tx, "INSERT INTO hierarchy_aspect_map (catalog_id, hierarchy_name, entity_id, aspect_def_id, map_order)", &order).await.map_err(merr)?;
    insert(&mut tx, "INSERT INTO property_value (entity_id, aspect_def_id, catalog_id, property_name, property_index, value_index, value_text)", &values).await.map_err(merr)?;
    tx.commit().await.map_err(merr)?;
    let save = t.elapsed();

    let t = Instant::now();
    let rows: Vec<mysql_async::Row> = conn
        .exec(
            "SELECT entity_id, property_name, value_index, value_text, value_binary FROM property_value WHERE catalog_id = ? AND aspect_def_id = ? ORDER BY entity_id, property_name, value_index",
            (c.as_str(), d.as_str()),
        )
        .await
        .map_err(merr)?;
    let load = t.elapsed();
    if rows.len() != values.len() {
        return Err(CheapError::invalid("baseline read back the wrong rows"));
    }
    Ok((save, load))
}
