//! A read transaction is one snapshot on every backend.

use cheap_core::{Catalog, CheapDao};

use crate::{SqlBackend, SqlDao, TxMode};

async fn catalogs(conn: &mut dyn crate::SqlConn) -> i64 {
    conn.fetch_int("SELECT COUNT(*) FROM catalog", &[])
        .await
        .expect("count catalogs")
}

/// A [`TxMode::Read`] transaction of `a` sees one state from its first statement to its last,
/// whatever `b` (another store over the same database) commits between them: loads and exports
/// read a catalog in several statements and promise one state.
pub async fn reads_are_one_snapshot<B: SqlBackend>(a: &SqlDao<B>, b: &SqlDao<B>) {
    a.save_catalog(&Catalog::new()).await.expect("save");
    let mut read = a.connect(TxMode::Read).await.expect("a read transaction");
    let before = catalogs(&mut *read).await;
    assert!(before >= 1, "the saved catalog is counted");

    // Committed by another store between two statements of the read.
    b.save_catalog(&Catalog::new())
        .await
        .expect("save through b");
    let mut plain = b.connect(TxMode::None).await.expect("a connection");
    assert_eq!(
        catalogs(&mut *plain).await,
        before + 1,
        "b's catalog is committed"
    );

    assert_eq!(
        catalogs(&mut *read).await,
        before,
        "a second statement of the read sees the state of the first"
    );
    drop(read);
    let mut after = a.connect(TxMode::Read).await.expect("a read transaction");
    assert_eq!(
        catalogs(&mut *after).await,
        before + 1,
        "a read begun later sees b's catalog"
    );
}
