//! The callback table: every callback that still waits for its operation, by id.
//!
//! Book: "Implementing the Node Eventloop", `callback_queue` and `generate_cb_identity`.
//!
//! The book keeps callbacks in a `HashMap<usize, Box<dyn FnOnce(Js)>>` and makes ids with
//! a counter. That works, but a program that sets a million timers pays for it: every id
//! is hashed (SipHash, which resists attacks no callback id can mount) on insert, lookup and
//! removal, and a hash map keeps up to twice the slots it needs, so a million callbacks took
//! ~100 MiB of table alone, and half as much again while it grew (`benches/timers.rs`).
//!
//! This table is a **slab**: one `Vec` of slots, an id is a slot's index, and the vacant
//! slots form a linked list through the `Vec` itself, so inserting and removing cost O(1)
//! with no hashing and no allocation besides the `Vec`'s own growth.
//!
//! # Why an id also carries a generation
//!
//! A slot is reused as soon as it is free, but an old id can outlive its callback: a
//! [`Timeout`](super::Timeout) handle kept after its timer fired, or a timer cleared after
//! the timers phase already queued its id. If ids were bare indexes, that old id would name
//! whichever callback took the slot next, and `clear_timeout` would cancel a stranger. So
//! each slot counts how often it was freed (its *generation*), and an id is the pair
//! (generation, index) packed into a `usize`: an old id's generation no longer matches, and
//! it names nothing (the `slotmap` and `thunderdome` crates work the same way).
//!
//! SIMPLIFICATION: an id is one `usize`, as the book's is, and the index and the generation
//! get half of it each. On 64-bit targets that is 4 billion callbacks at once, and a stale
//! id could match again only after 2^32 reuses of its slot; on 32-bit targets, 65,535
//! callbacks at once and 2^16 reuses. A real runtime would use a wider id (tokio's task
//! ids are 64-bit counters).
//!
//! The loop's trace lines show only the index ([`slot`]), so the numbers stay as small as
//! the book's; the whole id is what the runtime compares.

/// How many bits of an id are the slot's index; the rest are its generation.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: usize = usize::MAX >> INDEX_BITS;

/// One place in the table. `generation` is how often the slot was freed, so the id of its
/// current occupant differs from every earlier one. Both numbers fit in half a `usize`, so
/// they are stored as `u32`: a slot of a 16-byte callback then takes 24 bytes, not 32.
enum Slot<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

/// A slab of callbacks keyed by generation-checked ids; see the module docs.
pub(crate) struct CallbackTable<T> {
    slots: Vec<Slot<T>>,
    /// The first vacant slot; `slots.len()` when there is none.
    next_free: usize,
    len: usize,
}

impl<T> Default for CallbackTable<T> {
    fn default() -> Self {
        CallbackTable {
            slots: Vec::new(),
            next_free: 0,
            len: 0,
        }
    }
}

/// How the loop's trace lines show an id: its slot number, small as the book's ids, and
/// reused once free, as `strace` shows a file descriptor that the OS hands out again. The
/// generation, which tells the uses of a slot apart, stays internal.
pub(crate) fn slot(id: usize) -> usize {
    id & INDEX_MASK
}

fn id(index: usize, generation: u32) -> usize {
    ((generation as usize) << INDEX_BITS) | index
}

/// `(index, generation)`; the casts cannot truncate: each part has at most 32 bits.
fn split(id: usize) -> (usize, u32) {
    (id & INDEX_MASK, (id >> INDEX_BITS) as u32)
}

impl<T> CallbackTable<T> {
    /// Stores `value` and returns its id, which no other value in the table has.
    ///
    /// # Panics
    ///
    /// With `2^(usize::BITS / 2) - 1` values at once (4 billion on 64-bit targets).
    pub(crate) fn insert(&mut self, value: T) -> usize {
        let index = self.next_free;
        let generation = match self.slots.get(index) {
            Some(&Slot::Vacant {
                generation,
                next_free,
            }) => {
                self.next_free = next_free as usize;
                self.slots[index] = Slot::Occupied { generation, value };
                generation
            }
            // No vacant slot: `index == slots.len()`.
            _ => {
                // Keeps `slots.len() <= INDEX_MASK`, so every index fits in a `u32`.
                assert!(index < INDEX_MASK, "more callbacks than ids");
                self.slots.push(Slot::Occupied {
                    generation: 0,
                    value,
                });
                self.next_free = self.slots.len();
                0
            }
        };
        self.len += 1;
        id(index, generation)
    }

    /// The id that the next [`insert`](Self::insert) will return.
    pub(crate) fn next_id(&self) -> usize {
        match self.slots.get(self.next_free) {
            Some(&Slot::Vacant { generation, .. }) => id(self.next_free, generation),
            _ => id(self.next_free, 0),
        }
    }

    /// The value with this id, if it is still in the table.
    pub(crate) fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        let (index, generation) = split(id);
        match self.slots.get_mut(index) {
            Some(Slot::Occupied {
                generation: g,
                value,
            }) if *g == generation => Some(value),
            _ => None,
        }
    }

    /// Takes the value with this id out of the table; `None` if it is not there (it was
    /// removed already, or the id is from before its slot was reused).
    pub(crate) fn remove(&mut self, id: usize) -> Option<T> {
        let (index, generation) = split(id);
        match self.slots.get(index) {
            Some(Slot::Occupied { generation: g, .. }) if *g == generation => {}
            _ => return None,
        }
        let vacant = Slot::Vacant {
            generation: ((generation as usize + 1) & GENERATION_MASK) as u32,
            // Fits: `next_free <= slots.len() <= INDEX_MASK` (see `insert`).
            next_free: self.next_free as u32,
        };
        self.next_free = index;
        self.len -= 1;
        match std::mem::replace(&mut self.slots[index], vacant) {
            Slot::Occupied { value, .. } => Some(value),
            Slot::Vacant { .. } => None, // cannot happen: checked above
        }
    }

    /// How many values are in the table.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no value.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_values_in_the_table_are_unique() {
        let mut t = CallbackTable::default();
        let ids: Vec<usize> = (0..100).map(|i| t.insert(i)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.get_mut(*id), Some(&mut { i }));
        }
        assert_eq!(t.len(), 100);
    }

    #[test]
    fn a_removed_id_names_nothing_even_after_its_slot_is_reused() {
        let mut t = CallbackTable::default();
        let old = t.insert("first");
        assert_eq!(t.remove(old), Some("first"));
        assert_eq!(t.remove(old), None, "removing twice is a no-op");
        let new = t.insert("second");
        assert_ne!(old, new, "the slot is reused, the id is not");
        assert_eq!(slot(old), slot(new), "the trace shows the slot");
        assert_eq!(t.get_mut(old), None);
        assert_eq!(
            t.remove(old),
            None,
            "a stale id cannot remove the new value"
        );
        assert_eq!(t.remove(new), Some("second"));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn next_id_is_the_id_insert_returns() {
        let mut t = CallbackTable::default();
        for round in 0..3 {
            let expected = t.next_id();
            let a = t.insert(round);
            assert_eq!(a, expected);
            assert_eq!(t.remove(a), Some(round));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn freed_slots_are_reused_so_the_table_does_not_grow() {
        let mut t = CallbackTable::default();
        for round in 0..1000 {
            let a = t.insert(round);
            let b = t.insert(round + 1);
            assert_eq!(t.remove(a), Some(round));
            assert_eq!(t.remove(b), Some(round + 1));
        }
        assert_eq!(t.slots.len(), 2);
    }

    #[test]
    fn unknown_ids_name_nothing() {
        let mut t: CallbackTable<u8> = CallbackTable::default();
        assert_eq!(t.get_mut(12345), None);
        assert_eq!(t.remove(usize::MAX), None);
    }
}
