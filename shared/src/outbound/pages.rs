//! Reading a listing page by page: every remote pages its listings its own way (a `Link` header, a cursor, an
//! offset), but the walk is the same: fetch a page, hand its items to a visitor, follow the next page's cursor,
//! and stop at a page limit so a runaway listing cannot eat a request's budget.

use std::{future::Future, ops::ControlFlow};

use crate::error::PortError;

/// One page of a listing: its items, and the cursor of the page after it, if there is one.
pub(crate) struct Page<T, C> {
    pub(crate) items: Vec<T>,
    pub(crate) next: Option<C>,
}

/// How a [`scan_pages`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scanned<B> {
    /// The visitor broke with this.
    Found(B),
    /// The listing ended.
    Done,
    /// The listing goes on past the page limit: what was read is not all there is.
    PageLimit,
}

impl<B> Scanned<B> {
    /// What the visitor broke with, if it did.
    pub(crate) fn found(self) -> Option<B> {
        match self {
            Scanned::Found(found) => Some(found),
            Scanned::Done | Scanned::PageLimit => None,
        }
    }
}

/// Feed a listing's items to `visit`, page after page: `fetch` reads the page at a cursor, starting at
/// `first`, for at most `max_pages` pages.
pub(crate) async fn scan_pages<T, C, B, F>(
    max_pages: usize,
    first: C,
    mut fetch: impl FnMut(C) -> F,
    mut visit: impl FnMut(T) -> ControlFlow<B>,
) -> Result<Scanned<B>, PortError>
where
    F: Future<Output = Result<Page<T, C>, PortError>>,
{
    let mut cursor = first;
    for page in 1..=max_pages {
        let Page { items, next } = fetch(cursor).await?;
        for item in items {
            if let ControlFlow::Break(found) = visit(item) {
                return Ok(Scanned::Found(found));
            }
        }
        match next {
            Some(next) if page < max_pages => cursor = next,
            Some(_) => return Ok(Scanned::PageLimit),
            None => return Ok(Scanned::Done),
        }
    }
    Ok(Scanned::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing of the numbers below 10, three a page, the cursor being the page's first number.
    async fn scan(max_pages: usize, stop_at: u32, fetched: &mut Vec<u32>) -> Scanned<u32> {
        let fetch = |first: u32| {
            fetched.push(first);
            let page = Page {
                items: (first..(first + 3).min(10)).collect(),
                next: (first + 3 < 10).then_some(first + 3),
            };
            async { Ok(page) }
        };
        let visit = |n: u32| {
            if n == stop_at {
                ControlFlow::Break(n)
            } else {
                ControlFlow::Continue(())
            }
        };
        scan_pages(max_pages, 0, fetch, visit).await.expect("no failure")
    }

    #[tokio::test]
    async fn pages_are_followed_until_found_done_or_the_limit() {
        let mut fetched = Vec::new();
        assert_eq!(scan(10, 4, &mut fetched).await, Scanned::Found(4));
        assert_eq!(fetched, [0, 3], "no page past the one it was found on");

        let mut fetched = Vec::new();
        assert_eq!(scan(10, 99, &mut fetched).await, Scanned::Done);
        assert_eq!(fetched, [0, 3, 6, 9]);

        let mut fetched = Vec::new();
        assert_eq!(scan(2, 99, &mut fetched).await, Scanned::PageLimit);
        assert_eq!(fetched, [0, 3]);

        let mut fetched = Vec::new();
        assert_eq!(
            scan(4, 99, &mut fetched).await,
            Scanned::Done,
            "the last page is within the limit"
        );
    }
}
