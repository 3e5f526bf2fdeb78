//! Walk every catalog as a `Stream`, loaded a page at a time, and page through ids by hand.
//!
//! `cargo run --example paginate`

use futures::TryStreamExt;

use cheap::Catalog;

#[tokio::main]
async fn main() -> cheap::Result<()> {
    let dao = cheap::connect("sqlite::memory:").await?;
    for i in 0..25 {
        let mut c = Catalog::new();
        c.uri = Some(format!("https://example.com/catalogs/{i}"));
        dao.save_catalog(&c).await?;
    }
    let mut stream = dao.catalogs(10);
    let mut n = 0;
    while let Some(c) = stream.try_next().await? {
        n += 1;
        if n <= 3 {
            println!(
                "streamed {} {}",
                c.id(),
                c.uri.as_deref().unwrap_or_default()
            );
        }
    }
    println!("streamed {n} catalogs");
    let (mut offset, size) = (0, 10);
    loop {
        let page = dao.list_catalogs_page(offset, size).await?;
        if page.is_empty() {
            break;
        }
        println!("page at {offset}: {} catalogs", page.len());
        offset += page.len() as u64;
    }
    Ok(())
}
