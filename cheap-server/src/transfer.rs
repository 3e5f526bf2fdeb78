//! Whole catalogs in and out as cheap-json streams, for the import and export routes and the
//! `cheap` commands: memory holds a part of the catalog at a time, however big it is.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use cheap_core::dao::{CatalogHeader, CatalogPart};
use cheap_core::json::{self, CatalogWriter};
use cheap_core::{CheapDao, CheapError, Result, Uuid};

/// A reader that counts the bytes read through it, for progress.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> CountingReader<R> {
    /// Counts what is read from `inner` into `count`.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Starts reading a cheap-json catalog from `reader` (on a blocking thread) and waits for its
/// header: the catalog's fields, and the whole stream of its parts to hand to
/// [`CheapDao::import_catalog`]. A document that is malformed before its header is an error
/// here; later mistakes end the stream with their error.
pub async fn start_import<R: Read + Send + 'static>(
    reader: R,
) -> Result<(CatalogHeader, BoxStream<'static, Result<CatalogPart>>)> {
    let mut parts = json::parts_from_reader(reader);
    match parts.try_next().await? {
        Some(CatalogPart::Header(h)) => {
            let first = futures::stream::iter([Ok(CatalogPart::Header(h.clone()))]);
            Ok((h, first.chain(parts).boxed()))
        }
        _ => Err(CheapError::invalid("the document holds no catalog")),
    }
}

/// Text gathered before it is handed on, so a body or a file gets a few large writes.
const CHUNK: usize = 64 * 1024;

/// Catalog `id` of `dao` as cheap-json text in chunks (compact as the Java writer, or
/// pretty), read from one consistent state of the catalog. A missing catalog is the first
/// item, as an error.
pub fn export_json(
    dao: Arc<dyn CheapDao>,
    id: Uuid,
    pretty: bool,
) -> BoxStream<'static, Result<Bytes>> {
    export_json_counted(dao, id, pretty, Arc::new(AtomicU64::new(0)))
}

/// [`export_json`], counting the entries written into `entries`.
pub fn export_json_counted(
    dao: Arc<dyn CheapDao>,
    id: Uuid,
    pretty: bool,
    entries: Arc<AtomicU64>,
) -> BoxStream<'static, Result<Bytes>> {
    async_stream::try_stream! {
        let mut parts = dao.export_catalog(id);
        let mut w = CatalogWriter::new(pretty);
        let mut out = String::new();
        while let Some(part) = parts.try_next().await? {
            w.push(&part)?;
            entries.fetch_add(part.entry_count(), Ordering::Relaxed);
            out.push_str(&w.take());
            if out.len() >= CHUNK {
                yield Bytes::from(std::mem::take(&mut out));
            }
        }
        w.finish()?;
        out.push_str(&w.take());
        yield Bytes::from(out);
    }
    .boxed()
}
