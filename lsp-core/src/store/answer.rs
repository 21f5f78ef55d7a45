//! Answers into a caller's buffer, to query without allocating.
//!
//! A query that returns `Vec<Binding>` allocates the list and two strings
//! per binding, and its caller frees them again: on a hit, about a third of
//! the instructions. A proxy can instead keep one [`QueryBuf`] per thread:
//! the store overwrites the bindings of its last answer in place, under the
//! shard lock, and the caller reads them once the lock is released.

use super::entry::BindingView;
use crate::Binding;

/// Reusable room for the answers of [`RecordStore::query_into`]. Once it has
/// grown to the largest answer, a query allocates nothing. It keeps that
/// size until dropped; the store's limits bound it.
///
/// [`RecordStore::query_into`]: super::RecordStore::query_into
#[derive(Debug, Default, Clone)]
pub struct QueryBuf {
    /// The answer's bindings, then those of larger earlier answers, kept for
    /// their allocations.
    bindings: Vec<Binding>,
    len: usize,
}

impl QueryBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn push(&mut self, view: &BindingView<'_>) {
        match self.bindings.get_mut(self.len) {
            Some(old) => view.copy_into(old),
            None => self.bindings.push(view.to_binding()),
        }
        self.len += 1;
    }

    /// The answer, ordered as [`crate::sort_contacts`] orders bindings.
    pub(crate) fn answer(&mut self) -> &[Binding] {
        let answer = &mut self.bindings[..self.len];
        crate::sort_contacts(answer);
        answer
    }
}
