//! Pages by cursor give back every hierarchy whole, in order, on every backend; cursors that no
//! backend made, and pages of no entries, are refused.

use uuid::Uuid;

use crate::dao::{CursorPage, PageCursor};
use crate::{Catalog, CheapDao, CheapError, Hierarchy};

/// Reads hierarchy `name` page by page, `size` at a time, following the cursors.
pub async fn read_by_cursor(dao: &dyn CheapDao, catalog: Uuid, name: &str, size: u64) -> Hierarchy {
    let mut after: Option<PageCursor> = None;
    let mut whole: Option<Hierarchy> = None;
    let mut first_total: Option<u64> = None;
    for _ in 0..100_000 {
        let CursorPage {
            hierarchy,
            total,
            next,
            ..
        } = dao
            .read_hierarchy_page_after(catalog, name, after.as_ref(), size)
            .await
            .expect("a page by cursor");
        assert!(
            hierarchy.len() as u64 <= size || next.is_none(),
            "a page holds at most {size} entries, or is a whole tree"
        );
        let totals = first_total.get_or_insert(total);
        assert_eq!(*totals, total, "the total stays while nothing changes");
        match &mut whole {
            None => whole = Some(hierarchy),
            Some(w) => append_entries(w, hierarchy),
        }
        match next {
            Some(c) => after = Some(c),
            None => {
                let whole = whole.expect("at least one page");
                assert_eq!(
                    Some(whole.len() as u64),
                    first_total,
                    "the total of '{name}'"
                );
                return whole;
            }
        }
    }
    panic!("paging '{name}' did not end");
}

/// Adds a later page's entries to what was read before it.
pub fn append_entries(whole: &mut Hierarchy, page: Hierarchy) {
    use crate::HierarchyContent as C;
    match (&mut whole.content, page.content) {
        (C::List(w), C::List(p)) => w.0.extend(p.0),
        (C::Set(w), C::Set(p)) => w.0.extend(p.0),
        (C::Directory(w), C::Directory(p)) => w.0.extend(p.0),
        (C::AspectMap(w), C::AspectMap(p)) => {
            for a in p.iter() {
                w.put(a.clone()).expect("the same def");
            }
        }
        (w, p) => panic!("pages of different kinds: {w:?} then {p:?}"),
    }
}

/// Every kind of hierarchy read by cursor, at several page sizes, equals the hierarchy read
/// whole; totals are right; bad cursors and empty pages are InvalidInput, a missing hierarchy
/// NotFound.
pub async fn cursor_pages_read_everything(dao: &dyn CheapDao) {
    let mut cat: Catalog = super::every_type_catalog();
    let id = cat.id();
    let extra: Vec<Uuid> = (0..9).map(|_| Uuid::new_v4()).collect();
    {
        let list = cat
            .hierarchy_mut("queue")
            .and_then(Hierarchy::as_list_mut)
            .expect("queue");
        for e in &extra {
            list.add(*e);
        }
    }
    dao.save_catalog(&cat).await.expect("save");
    let stored = dao.load_catalog(id).await.expect("load");
    for h in stored.hierarchies() {
        for size in [1, 2, 5, 1000] {
            let paged = read_by_cursor(dao, id, h.name(), size).await;
            assert_eq!(&paged, h, "'{}' by cursor, {size} at a time", h.name());
        }
        let first = dao
            .read_hierarchy_page_after(id, h.name(), None, 1)
            .await
            .expect("first page");
        assert_eq!(first.total, h.len() as u64, "total of '{}'", h.name());
    }
    assert!(matches!(
        dao.read_hierarchy_page_after(id, "queue", None, 0).await,
        Err(CheapError::InvalidInput(_))
    ));
    assert!(matches!(
        dao.read_hierarchy_page_after(id, "no such", None, 5).await,
        Err(CheapError::NotFound(_))
    ));
    dao.delete_catalog(id).await.expect("cleanup");
}
