//! Cursors: pages of a hierarchy read after the last entry of the page before, so that a page
//! costs its own size however deep it is, and entries that stay in place while a reader pages
//! through are read exactly once.

use std::fmt;
use std::str::FromStr;

use super::HierarchySlice;
use crate::{CheapError, Hierarchy, HierarchyType, Result};

/// Where the next page of a hierarchy starts: an opaque token a backend made, passed back as
/// it was (over REST, the `after` parameter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageCursor(String);

/// What a [`PageCursor`] holds, for the backend that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CursorPosition {
    /// After the entry stored with `order` (list, set and directory orders, map positions),
    /// in the hierarchy as it was at `version`: exact while entries come and go, and refused
    /// once the stored orders were rewritten after `version`.
    AfterOrder {
        /// The last order read.
        order: i64,
        /// The hierarchy's version when it was read.
        version: i64,
    },
    /// At this entry number: for backends without stable orders.
    AtOffset(u64),
}

impl PageCursor {
    /// A cursor after the entry stored with `order`, read at hierarchy version `version`.
    pub fn after_order(order: i64, version: i64) -> Self {
        PageCursor(format!("o{order}v{version}"))
    }

    /// A cursor at entry number `offset`.
    pub fn at_offset(offset: u64) -> Self {
        PageCursor(format!("n{offset}"))
    }

    /// The token, to pass back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the token holds; a token no backend made is
    /// [`InvalidInput`](CheapError::InvalidInput).
    pub fn position(&self) -> Result<CursorPosition> {
        let bad = || CheapError::invalid(format!("'{}' is not a page cursor", self.0));
        // Digits only, with an optional '-': no spaces or '+' slip through `parse`.
        let int = |s: &str| -> Option<i64> {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        if let Some(rest) = self.0.strip_prefix('o') {
            let (order, version) = rest.split_once('v').ok_or_else(bad)?;
            return match (int(order), int(version)) {
                (Some(order), Some(version)) => Ok(CursorPosition::AfterOrder { order, version }),
                _ => Err(bad()),
            };
        }
        match self.0.strip_prefix('n') {
            Some(n) if !n.starts_with('-') => int(n)
                .map(|n| CursorPosition::AtOffset(n as u64))
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PageCursor {
    type Err = CheapError;

    /// Checks that the token is one a backend makes.
    fn from_str(s: &str) -> Result<Self> {
        let c = PageCursor(s.to_owned());
        c.position()?;
        Ok(c)
    }
}

/// A page read by cursor.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CursorPage {
    /// The page's entries, as a hierarchy of the same name, kind and version (a tree: whole).
    pub hierarchy: Hierarchy,
    /// Entries in the whole hierarchy.
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageCursor>,
}

impl CursorPage {
    /// A page and the cursor of the next one.
    pub fn new(hierarchy: Hierarchy, total: u64, next: Option<PageCursor>) -> Self {
        CursorPage {
            hierarchy,
            total,
            next,
        }
    }

    /// A page read by entry number, with the cursor of the entry number after it (none after
    /// the last page, nor after a tree, which comes whole).
    pub fn by_offset(slice: HierarchySlice) -> Self {
        let end = slice.offset + slice.hierarchy.len() as u64;
        let next = (slice.hierarchy.hierarchy_type() != HierarchyType::EntityTree
            && end < slice.total)
            .then(|| PageCursor::at_offset(end));
        CursorPage::new(slice.hierarchy, slice.total, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        for c in [
            PageCursor::after_order(-5, 3),
            PageCursor::after_order(i64::MAX, i64::MAX),
            PageCursor::at_offset(0),
        ] {
            assert_eq!(c.as_str().parse::<PageCursor>().expect("parses"), c);
        }
        assert_eq!(
            PageCursor::after_order(7, 2).position().expect("position"),
            CursorPosition::AfterOrder {
                order: 7,
                version: 2
            }
        );
        for bad in [
            "",
            "o",
            "x1",
            "n-1",
            "o+1v1",
            "o 1v1",
            "o1",
            "o1v",
            "ov1",
            "o1va",
            "n99999999999999999999",
            "é1",
        ] {
            assert!(
                matches!(bad.parse::<PageCursor>(), Err(CheapError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }
}
