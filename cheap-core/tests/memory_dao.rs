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

#[tokio::test]
async fn the_instrumented_wrapper_passes_the_suite_and_counts() {
    let dao = cheap_core::dao::InstrumentedDao::new(
        Arc::new(MemoryDao::new()),
        std::time::Duration::from_secs(1),
    );
    testkit::run_all(&dao).await;
    let (calls, errors) = dao.metrics().counts("save_catalog");
    // The suite's refused saves are requests refused, not the store failing.
    assert!(calls > 10 && errors == 0, "{calls} {errors}");
    let (loads, errors) = dao.metrics().counts("load_catalog");
    assert!(
        loads > 10 && errors == 0,
        "a missing catalog is no store error: {errors}"
    );
    dao.close().await.unwrap();
    assert!(dao.load_catalog(uuid::Uuid::new_v4()).await.is_err());
    assert_eq!(
        dao.metrics().counts("load_catalog").1,
        1,
        "a closed store fails"
    );
    let text = dao.metrics().render_prometheus();
    assert!(text.contains("cheap_dao_operations_total{op=\"load_catalog\"}"));
    assert!(text.contains("cheap_dao_duration_seconds_bucket{op=\"save_catalog\",le=\"+Inf\"}"));
}
