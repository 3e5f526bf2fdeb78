//! Entity trees: named nodes addressed by "/"-separated paths.

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, NotFound, Result};

/// A tree node: an optional entity and insertion-ordered named children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeNode {
    /// The entity held by this node, if any.
    pub entity: Option<Uuid>,
    /// Children by name, in insertion order.
    pub children: IndexMap<String, TreeNode>,
}

impl TreeNode {
    /// A node holding `entity` with no children.
    pub fn new(entity: Option<Uuid>) -> Self {
        TreeNode {
            entity,
            children: IndexMap::new(),
        }
    }

    /// True when the node has no children.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// Number of nodes in this subtree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.values().map(TreeNode::count).sum::<usize>()
    }

    /// Visits every node of the subtree in pre-order with its path (the root's path is "").
    pub fn walk<'a>(&'a self, path: &str, f: &mut dyn FnMut(&str, &'a TreeNode)) {
        f(path, self);
        for (k, child) in &self.children {
            child.walk(&format!("{path}/{k}"), f);
        }
    }
}

/// An entity tree hierarchy's contents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityTree {
    /// The root node (path "/").
    pub root: TreeNode,
}

/// The deepest a node may be added (the root is depth 0). Trees are built, written and read
/// recursively, so an unbounded depth could exhaust the stack; 256 levels is far beyond any
/// real hierarchy.
pub const MAX_TREE_DEPTH: usize = 256;

/// Checks that a child of the node at `parent_path` would be at most [`MAX_TREE_DEPTH`] deep.
pub fn check_depth(parent_path: &str) -> Result<()> {
    let depth = path_segments(parent_path).count() + 1;
    if depth > MAX_TREE_DEPTH {
        return Err(CheapError::invalid(format!(
            "a node under '{parent_path}' would be {depth} levels deep; the limit is {MAX_TREE_DEPTH}"
        )));
    }
    Ok(())
}

/// Splits a path into its segments; empty segments are skipped, so "/" and "" are the root.
pub fn path_segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Normalizes a tree path to the stored `node_path` form: `""` for the root, else `/a/b`.
pub fn node_path(path: &str) -> String {
    path_segments(path).fold(String::new(), |mut acc, s| {
        acc.push('/');
        acc.push_str(s);
        acc
    })
}

impl EntityTree {
    /// An empty tree: a root without entity or children.
    pub fn new() -> Self {
        EntityTree::default()
    }

    /// The node at `path`, if it exists.
    pub fn node(&self, path: &str) -> Option<&TreeNode> {
        path_segments(path).try_fold(&self.root, |n, seg| n.children.get(seg))
    }

    /// The node at `path`, mutably.
    pub fn node_mut(&mut self, path: &str) -> Option<&mut TreeNode> {
        path_segments(path).try_fold(&mut self.root, |n, seg| n.children.get_mut(seg))
    }

    /// Adds a child named `name` under the node at `parent_path`, holding `entity`. An existing
    /// child of that name is replaced, subtree and all (as the reference does). Names may not be
    /// empty or contain '/'.
    pub fn add_node(&mut self, parent_path: &str, name: &str, entity: Option<Uuid>) -> Result<()> {
        if name.is_empty() || name.contains('/') {
            return Err(CheapError::invalid(format!(
                "tree node name '{name}' must be non-empty and contain no '/'"
            )));
        }
        check_depth(parent_path)?;
        let parent = self
            .node_mut(parent_path)
            .ok_or_else(|| CheapError::NotFound(NotFound::tree_path(parent_path)))?;
        parent
            .children
            .insert(name.to_owned(), TreeNode::new(entity));
        Ok(())
    }

    /// Removes the subtree at `path` and returns how many nodes it held (0 if there was none).
    /// The root cannot be removed.
    pub fn remove_subtree(&mut self, path: &str) -> Result<usize> {
        let segs: Vec<&str> = path_segments(path).collect();
        let Some((last, parents)) = segs.split_last() else {
            return Err(CheapError::invalid("the root of a tree cannot be removed"));
        };
        let mut node = &mut self.root;
        for seg in parents {
            match node.children.get_mut(*seg) {
                Some(n) => node = n,
                None => return Ok(0),
            }
        }
        Ok(node.children.shift_remove(*last).map_or(0, |n| n.count()))
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.root.count()
    }

    /// True when the root has no entity and no children.
    pub fn is_empty(&self) -> bool {
        self.root.entity.is_none() && self.root.children.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_add_and_remove_subtrees() {
        let mut t = EntityTree::new();
        let e = Uuid::new_v4();
        t.add_node("/", "docs", Some(e)).unwrap();
        t.add_node("//docs/", "reports", None).unwrap();
        t.add_node("/docs/reports", "q1", Some(e)).unwrap();
        assert_eq!(t.node("docs/reports/q1").unwrap().entity, Some(e));
        assert!(t.add_node("/missing", "x", None).is_err());
        assert!(t.add_node("/", "a/b", None).is_err());
        assert_eq!(t.len(), 4);
        assert_eq!(t.remove_subtree("/docs/reports").unwrap(), 2);
        assert_eq!(t.remove_subtree("/docs/reports").unwrap(), 0);
        assert!(t.remove_subtree("/").is_err());
        let deep: String = (0..MAX_TREE_DEPTH).map(|i| format!("/n{i}")).collect();
        assert!(t.add_node(&deep, "x", None).is_err(), "too deep");
        assert_eq!(t.len(), 2);
    }
}
