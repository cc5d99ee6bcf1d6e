//! A job's waiting items, in three lines by who may take them: items any
//! worker of its expression may take; items only a worker in the client's
//! own process may take (`local_only`: a payload that is not JSON); and
//! suspects, runs that were in progress on a worker that died with others,
//! each run again alone on a worker (see `suspects`). Assignment takes from
//! a line that has a worker, so an item that no connected worker can take
//! never holds back the items behind it.

use std::collections::VecDeque;

use super::item::PendingItem;

/// One of the lines of an [`ItemQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line {
    /// Items any worker serving the job's expression may take.
    Any,
    /// Items only a worker of the client's process may take.
    Local,
    /// Items that run alone (`PendingItem::suspect`).
    Suspects,
}

/// A job's items waiting for a worker.
#[derive(Debug, Default)]
pub(super) struct ItemQueue {
    any: VecDeque<PendingItem>,
    local: VecDeque<PendingItem>,
    suspects: VecDeque<PendingItem>,
}

impl ItemQueue {
    fn line_of(item: &PendingItem) -> Line {
        if item.suspect {
            Line::Suspects
        } else if item.local_only {
            Line::Local
        } else {
            Line::Any
        }
    }

    fn line_mut(&mut self, line: Line) -> &mut VecDeque<PendingItem> {
        match line {
            Line::Any => &mut self.any,
            Line::Local => &mut self.local,
            Line::Suspects => &mut self.suspects,
        }
    }

    fn line(&self, line: Line) -> &VecDeque<PendingItem> {
        match line {
            Line::Any => &self.any,
            Line::Local => &self.local,
            Line::Suspects => &self.suspects,
        }
    }

    /// Adds an item behind the others of its line (a new item, or one whose
    /// parked run's calls were answered).
    pub fn push_back(&mut self, item: PendingItem) {
        self.line_mut(Self::line_of(&item)).push_back(item);
    }

    /// Puts an item back at the front of its line (its run was given back,
    /// or its worker left).
    pub fn push_front(&mut self, item: PendingItem) {
        self.line_mut(Self::line_of(&item)).push_front(item);
    }

    /// The next item of `line`.
    pub fn front(&self, line: Line) -> Option<&PendingItem> {
        self.line(line).front()
    }

    pub fn pop_front(&mut self, line: Line) -> Option<PendingItem> {
        self.line_mut(line).pop_front()
    }

    /// Items waiting, in every line.
    pub fn len(&self) -> usize {
        self.any.len() + self.local.len() + self.suspects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an item that only a worker of the client's process may take
    /// is waiting (a suspect included).
    pub fn has_local(&self) -> bool {
        !self.local.is_empty() || self.suspects.iter().any(|item| item.local_only)
    }

    /// Takes out every item that only a worker of the client's process may
    /// take, suspects included.
    pub fn take_local(&mut self) -> Vec<PendingItem> {
        let mut taken: Vec<PendingItem> = self.local.drain(..).collect();
        let (local, rest): (Vec<_>, Vec<_>) =
            self.suspects.drain(..).partition(|item| item.local_only);
        self.suspects = rest.into();
        taken.extend(local);
        taken
    }

    /// Takes out every waiting item.
    pub fn take_all(&mut self) -> Vec<PendingItem> {
        let mut taken: Vec<PendingItem> = self.suspects.drain(..).collect();
        taken.extend(self.any.drain(..));
        taken.extend(self.local.drain(..));
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(index: u64, local_only: bool, suspect: bool) -> PendingItem {
        PendingItem {
            index,
            payload: Vec::new(),
            local_only,
            charged: 0,
            suspect,
            replies: Default::default(),
            parks: 0,
            deadline: None,
        }
    }

    #[test]
    fn items_wait_in_the_line_of_who_may_take_them() {
        let mut queue = ItemQueue::default();
        queue.push_back(item(0, true, false));
        queue.push_back(item(1, false, false));
        queue.push_back(item(2, false, true));
        queue.push_back(item(3, false, false));
        queue.push_front(item(4, false, false));
        assert_eq!(queue.len(), 5);
        assert_eq!(queue.front(Line::Any).map(|i| i.index), Some(4));
        assert_eq!(queue.front(Line::Local).map(|i| i.index), Some(0));
        assert_eq!(queue.front(Line::Suspects).map(|i| i.index), Some(2));
        assert_eq!(queue.pop_front(Line::Any).map(|i| i.index), Some(4));
        assert_eq!(queue.pop_front(Line::Any).map(|i| i.index), Some(1));
        assert_eq!(queue.front(Line::Any).map(|i| i.index), Some(3));
    }

    #[test]
    fn local_items_are_taken_out_with_local_suspects_and_nothing_else() {
        let mut queue = ItemQueue::default();
        queue.push_back(item(0, true, false));
        queue.push_back(item(1, false, false));
        queue.push_back(item(2, true, true));
        queue.push_back(item(3, false, true));
        assert!(queue.has_local());
        let mut taken: Vec<u64> = queue.take_local().iter().map(|i| i.index).collect();
        taken.sort_unstable();
        assert_eq!(taken, vec![0, 2]);
        assert!(!queue.has_local());
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.front(Line::Suspects).map(|i| i.index), Some(3));
        assert_eq!(queue.take_all().len(), 2);
        assert!(queue.is_empty());
    }
}
