//! MemoryDao runs the whole conformance suite.

use std::sync::Arc;

use cheap_core::{testkit, CheapDao, CheapError, MemoryDao};

#[tokio::test]
async fn memory_dao_passes_the_conformance_suite() {
    let dao = MemoryDao::new();
    testkit::run_all(&dao).await;
}

#[tokio::test]
async fn works_behind_arc_dyn_and_rejects_calls_after_close() {
    let dao: Arc<dyn CheapDao> = Arc::new(MemoryDao::new());
    testkit::catalog_lifecycle(dao.as_ref()).await;
    dao.close().await.unwrap();
    assert!(matches!(
        dao.health_check().await,
        Err(CheapError::Unavailable(_))
    ));
    assert!(matches!(
        dao.list_catalog_ids().await,
        Err(CheapError::Unavailable(_))
    ));
}
