//! Series by reference, in pages of consecutive references.
//!
//! References are handed out in order, so the series one target (or one
//! rule) creates together get neighbouring references. A page table keeps
//! them next to each other in memory: the lookups of one scrape walk a few
//! cache lines of one page instead of one random hash bucket each, which
//! dominated the append path with millions of series. The few hundred page
//! entries stay cached; a page is freed once its last series goes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::FastHash;
use super::series::MemSeries;

const PAGE_BITS: u32 = 10;
const PAGE_SIZE: usize = 1 << PAGE_BITS;

struct Page {
    slots: Box<[Option<Arc<MemSeries>>]>,
    live: usize,
}

#[derive(Default)]
pub(crate) struct RefTable {
    // Keyed by page number rather than a flat vector, so that a log with
    // huge or sparse references (another writer's) costs no more memory.
    pages: RwLock<HashMap<u64, Page, FastHash>>,
}

fn split(r: u64) -> (u64, usize) {
    (r >> PAGE_BITS, (r as usize) & (PAGE_SIZE - 1))
}

impl RefTable {
    pub fn get(&self, r: u64) -> Option<Arc<MemSeries>> {
        let (page, slot) = split(r);
        let pages = self.pages.read().unwrap_or_else(|p| p.into_inner());
        pages.get(&page)?.slots[slot].clone()
    }

    pub fn insert(&self, r: u64, s: Arc<MemSeries>) {
        let (page, slot) = split(r);
        let mut pages = self.pages.write().unwrap_or_else(|p| p.into_inner());
        let p = pages.entry(page).or_insert_with(|| Page { slots: vec![None; PAGE_SIZE].into_boxed_slice(), live: 0 });
        if p.slots[slot].replace(s).is_none() {
            p.live += 1;
        }
    }

    pub fn remove(&self, r: u64) {
        let (page, slot) = split(r);
        let mut pages = self.pages.write().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pages.get_mut(&page) {
            if p.slots[slot].take().is_some() {
                p.live -= 1;
                if p.live == 0 {
                    pages.remove(&page);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.pages.read().unwrap_or_else(|p| p.into_inner()).values().map(|p| p.live).sum()
    }

    /// Every series, in no particular order. The table is read-locked
    /// throughout: `f` must not insert or remove.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<MemSeries>)) {
        let pages = self.pages.read().unwrap_or_else(|p| p.into_inner());
        for p in pages.values() {
            p.slots.iter().flatten().for_each(&mut f);
        }
    }
}
