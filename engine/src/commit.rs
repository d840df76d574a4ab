//! Commit of a write transaction: rebalance, spill, freelist, then the disk writes in bolt's
//! order (grow + sync, dirty pages, sync, meta, sync), or for a commit of at most
//! `Options::one_flush_max_bytes` (at most `record::MAX_PAGES_BYTES`) of pages with one flush: dirty pages, meta with a commit record,
//! sync (see `record`).
//!
//! Crash safety: every page written lies outside the tree of the last durable meta (it is free
//! there, or above its high water mark), and the meta that makes them reachable goes to the
//! slot the previous meta does not occupy, either after the pages are synced or carrying a
//! record by which opening checks that they all reached the disk. A crash at any point leaves
//! either the previous meta (and its untouched tree) or the new one fully written.

use crate::bucket::{BucketHeader, BucketId, BUCKET_HEADER_SIZE, ROOT_BUCKET};
use crate::error::{Corruption, Error, PageProblem, Result};
use crate::node::{BranchItem, Items, Node, NodeId, Src};
use crate::page::{pages_for, put_u64, Pgid, BUCKET_LEAF_FLAG, ELEMENT_SIZE, PAGE_HEADER_SIZE};
use crate::planted;
use crate::record::{self, CommitRecord};
use crate::tx::{NodeRef, Tx, TxInner};
use sim::io::Mapping;

/// What a spilled bucket becomes in its parent.
enum Spilled {
    Root(Pgid),
    Inline(Vec<u8>),
}

/// Commits `tx` (open and writable, checked by the caller).
pub(crate) fn commit(tx: &mut Tx) -> Result<()> {
    {
        let mut i = tx.borrow_mut();
        set_aside_branch_ids(&mut i);
        spill_buckets(&mut i)?;
        let unused = std::mem::take(&mut i.branch_ids);
        i.freelist.give_back(&unused);
        write_freelist(&mut i)?;
    }
    if !tx.db.borrow().map_is_live {
        // Everything left to write is in owned dirty pages: the transaction's snapshot of the
        // file is no longer read (`commit` consumes the transaction, so nothing borrows it).
        // Dropping it lets the simulated disk update its image in place (see `write_out`).
        tx.map = Mapping::empty();
        tx.borrow_mut().map = Mapping::empty();
    }
    let mut i = tx.borrow_mut();
    let mut db = tx.db.borrow_mut();
    if db.file.is_none() {
        return Err(Error::DatabaseNotOpen);
    }
    match write_out(&mut db, &mut i) {
        Ok(()) => Ok(()),
        Err(e) => {
            db.fail_stop = Some(e.to_string());
            if db.map.is_empty() {
                // The snapshot mapping was dropped for the writes: readers still need one. The
                // pages the last good meta reaches were not overwritten (copy-on-write), so a
                // fresh mapping shows that state; if even mapping fails, reads report the pages
                // out of bounds.
                let remapped = db.file.as_ref().and_then(|f| f.map().ok());
                db.map = remapped.unwrap_or_else(Mapping::empty);
            }
            Err(e)
        }
    }
}

/// Sets aside, for the branch pages this commit will write, the free ids lying closest
/// together (one per materialized branch node).
///
/// Branch pages are rewritten by most commits, leaves by few. Placing one commit's branches
/// on free ids close together (leaves take the lowest ids) keeps them together: the next
/// commit frees most of them at once, and the one after (commits alternate between two such
/// windows, as a commit's own pages are in use during the next) finds that window densest and
/// puts its branches there again, skipping only the few still in use. Writeback merges
/// adjacent pages into one request, and a flush costs about a request per run, not per page.
/// strace over W5 (1,441 pages per commit): 1,399 write runs per commit with first fit for
/// every page, 1,246 with branches from the top of the freelist, 1,010 with this. A synthetic
/// flush of 992 scattered pages plus 449 adjacent ones takes ~7.5 ms here against ~10 ms for
/// 1,441 scattered ones.
fn set_aside_branch_ids(i: &mut TxInner) {
    let branches = i.nodes.iter().filter(|n| !n.is_leaf()).count();
    let mut ids = i.freelist.take_densest(branches);
    let sparse =
        ids.len() == branches && branches > 1 && ids[branches - 1] - ids[0] > 2 * branches as u64;
    let surplus = i.freelist.free_ids().len() + ids.len() > i.nodes.len() * 3 / 2;
    if sparse && !surplus {
        // No dense window: start one at the high water mark. The file grows by one commit's
        // branches, once per chain of commits reusing each other's branch pages, and only
        // while the freelist holds little more than a commit needs, so its slack stays
        // within about half a commit's pages.
        i.freelist.give_back(&ids);
        ids = (i.meta.pgid..i.meta.pgid + branches as u64).collect();
        i.meta.pgid += branches as u64;
    }
    ids.reverse();
    i.branch_ids = ids;
}

/// Spills every dirty bucket, children before parents, and records the root bucket's header.
fn spill_buckets(i: &mut TxInner) -> Result<()> {
    for b in (0..i.buckets.len()).rev() {
        let st = &i.buckets[b];
        if st.deleted || !st.dirty {
            continue;
        }
        let seq = st.sequence;
        let spilled = spill_bucket(i, b)?;
        if b == ROOT_BUCKET {
            let Spilled::Root(root) = spilled else { unreachable!("root bucket is never inline") };
            i.meta.root = BucketHeader { root, sequence: seq };
            continue;
        }
        let mut value = vec![0u8; BUCKET_HEADER_SIZE];
        match spilled {
            Spilled::Root(root) => BucketHeader { root, sequence: seq }.encode(&mut value),
            Spilled::Inline(page) => {
                BucketHeader { root: 0, sequence: seq }.encode(&mut value);
                value.extend_from_slice(&page);
            }
        }
        let parent = i.buckets[b].parent.expect("nested bucket has a parent");
        let name = i.buckets[b].name.clone();
        i.put_raw(parent, &name, BUCKET_LEAF_FLAG, &value)?;
    }
    Ok(())
}

/// Rebalances and writes bucket `b`'s materialized nodes.
fn spill_bucket(i: &mut TxInner, b: BucketId) -> Result<Spilled> {
    let root = match i.buckets[b].root {
        NodeRef::Node(id) => id,
        NodeRef::Page(pgid) => return Ok(Spilled::Root(pgid)),
        NodeRef::Inline(_) => unreachable!("write transactions materialize inline buckets"),
    };
    rebalance(i, root)?;
    let root = collapse_root(i, root)?;
    i.buckets[b].root = NodeRef::Node(root);
    if b != ROOT_BUCKET && i.nodes[root].is_leaf() && i.nodes[root].size() <= i.page_size / 4 {
        i.unraw(root);
    }
    if b != ROOT_BUCKET && inlineable(i, root) {
        let node = std::mem::replace(&mut i.nodes[root], Node::empty_leaf());
        i.free_page(node.pgid, node.overflow);
        let mut page = vec![0u8; node.size()];
        node.write_range(0..node.len(), &mut page, 0, 0, i.src());
        return Ok(Spilled::Inline(page));
    }
    let fill = i.buckets[b].fill_percent;
    let mut parts = Vec::new();
    spill_node(i, root, fill, &mut parts)?;
    while parts.len() > 1 {
        i.nodes.push(Node::branch(std::mem::take(&mut parts)));
        let id = i.nodes.len() - 1;
        spill_node(i, id, fill, &mut parts)?;
    }
    Ok(Spilled::Root(parts[0].pgid))
}

/// Whether the root node can be stored inline in its parent.
fn inlineable(i: &TxInner, root: NodeId) -> bool {
    let n = &i.nodes[root];
    let Items::Leaf(items) = &n.items else { return false };
    items.iter().all(|it| it.flags & BUCKET_LEAF_FLAG == 0) && n.size() <= i.page_size / 4
}

/// Whether `rebalance` merges (or drops) child `c` of `parent`: it is underfull, and not the
/// only child of its parent unless it is empty.
fn needs_merge(i: &TxInner, parent: NodeId, c: NodeId) -> bool {
    underfull(i, c) && (i.nodes[parent].len() != 1 || i.nodes[c].is_empty())
}

fn underfull(i: &TxInner, id: NodeId) -> bool {
    let n = &i.nodes[id];
    let min = if n.is_leaf() { 1 } else { 2 };
    n.len() < min || n.size() < i.page_size / 4
}

/// The materialized child of branch `parent` at `idx`, reading its page if needed.
fn ensure_child(i: &mut TxInner, parent: NodeId, idx: usize) -> Result<NodeId> {
    i.unraw(parent);
    let Items::Branch(items) = &i.nodes[parent].items else { unreachable!("branch") };
    if let Some(c) = items[idx].child {
        return Ok(c);
    }
    let c = i.materialize(items[idx].pgid)?;
    let Items::Branch(items) = &mut i.nodes[parent].items else { unreachable!("branch") };
    items[idx].child = Some(c);
    Ok(c)
}

/// The `k`th materialized child (in element order) of raw branch `parent`.
fn raw_child(i: &TxInner, parent: NodeId, k: usize) -> Option<NodeId> {
    let Items::Raw(raw) = &i.nodes[parent].items else { unreachable!("raw") };
    raw.children.get(k).map(|c| c.1)
}

fn child_of(i: &TxInner, parent: NodeId, idx: usize) -> Option<NodeId> {
    match &i.nodes[parent].items {
        Items::Branch(items) => items[idx].child,
        Items::Raw(raw) => raw.child(idx),
        Items::Leaf(_) => None,
    }
}

/// Merges underfull materialized nodes beneath `id` into siblings, bottom up.
fn rebalance(i: &mut TxInner, id: NodeId) -> Result<()> {
    if i.nodes[id].is_leaf() {
        return Ok(());
    }
    if i.nodes[id].is_raw() {
        // Only the materialized children need a look (no element lookups by index).
        let mut k = 0;
        while let Some(c) = raw_child(i, id, k) {
            rebalance(i, c)?;
            k += 1;
        }
        if !(0..).map_while(|k| raw_child(i, id, k)).any(|c| needs_merge(i, id, c)) {
            return Ok(());
        }
        i.unraw(id);
    } else {
        for idx in 0..i.nodes[id].len() {
            if let Some(c) = child_of(i, id, idx) {
                rebalance(i, c)?;
            }
        }
    }
    let mut idx = 0;
    while idx < i.nodes[id].len() {
        let Some(c) = child_of(i, id, idx) else {
            idx += 1;
            continue;
        };
        if !needs_merge(i, id, c) {
            idx += 1;
            continue;
        }
        i.unraw(id);
        if i.nodes[c].is_empty() {
            let node = std::mem::replace(&mut i.nodes[c], Node::empty_leaf());
            i.free_page(node.pgid, node.overflow);
            remove_branch_item(i, id, idx);
            continue;
        }
        let (l, r) = if idx + 1 < i.nodes[id].len() { (idx, idx + 1) } else { (idx - 1, idx) };
        let lid = ensure_child(i, id, l)?;
        let rid = ensure_child(i, id, r)?;
        i.unraw(lid);
        i.unraw(rid);
        let right = std::mem::replace(&mut i.nodes[rid], Node::empty_leaf());
        let right_pgid = right.pgid;
        let Some((pgid, overflow)) = i.nodes[lid].append(right) else {
            return Err(Corruption::page(
                right_pgid,
                PageProblem::UnexpectedFlags {
                    flags: 0,
                    expected: "a sibling of the same kind (tree depths differ)",
                },
            )
            .into());
        };
        i.free_page(pgid, overflow);
        remove_branch_item(i, id, r);
        idx = l;
    }
    Ok(())
}

fn remove_branch_item(i: &mut TxInner, id: NodeId, idx: usize) {
    assert!(!i.nodes[id].is_leaf(), "remove_branch_item on leaf node {id}");
    i.nodes[id].remove(idx);
}

/// Replaces a branch root with a single child by that child (repeatedly); an empty branch
/// root becomes an empty leaf.
fn collapse_root(i: &mut TxInner, mut root: NodeId) -> Result<NodeId> {
    loop {
        let n = &i.nodes[root];
        if n.is_leaf() || n.len() > 1 {
            return Ok(root);
        }
        i.unraw(root);
        let n = &i.nodes[root];
        let (pgid, overflow) = (n.pgid, n.overflow);
        let next = if n.is_empty() {
            i.nodes.push(Node::empty_leaf());
            i.nodes.len() - 1
        } else {
            ensure_child(i, root, 0)?
        };
        i.free_page(pgid, overflow);
        root = next;
    }
}

/// Writes node `id` (children first) to newly allocated pages, split by the fill percent.
/// Appends a branch item per page written to `out`. The node's old page is freed; the node
/// itself is left in the arena, spent (nothing reads it again).
fn spill_node(i: &mut TxInner, id: NodeId, fill: f64, out: &mut Vec<BranchItem>) -> Result<()> {
    if i.nodes[id].is_raw() {
        if let Some(item) = spill_raw(i, id, fill)? {
            out.push(item);
            return Ok(());
        }
    }
    let mut node = std::mem::replace(&mut i.nodes[id], Node::empty_leaf());
    if let Items::Branch(items) = &mut node.items {
        let mut old = std::mem::take(items);
        let mut new = i.pool.branches(old.len());
        for it in old.drain(..) {
            match it.child {
                Some(c) => spill_node(i, c, fill, &mut new)?,
                None => new.push(it),
            }
        }
        node.set_branch_items(new);
        i.pool.recycle_items(Items::Branch(old));
    }
    i.free_page(node.pgid, node.overflow);
    let ps = i.page_size;
    let threshold = ((ps as f64) * fill) as usize;
    for range in node.chunks(ps, threshold) {
        let size = node.range_size(range.clone());
        let n = pages_for(size, ps);
        let pgid = if node.is_leaf() { i.allocate(n) } else { i.allocate_branch(n) };
        let item = if range.is_empty() {
            BranchItem::new(&[], pgid, None, &mut i.arena)
        } else {
            node.branch_item(range.start, pgid, None)
        };
        let src = Src::new(&i.map, &i.arena);
        i.dirty
            .add(pgid, n * ps, ps, |buf| node.write_range(range, buf, pgid, (n - 1) as u32, src));
        out.push(item);
    }
    // Put the spilled node back rather than dropping it: its vectors go back to the pool when
    // the transaction ends.
    i.nodes[id] = node;
    Ok(())
}

/// Spills raw node `id` (see `node::Raw`) the way `spill_node` would spill it materialized,
/// writing its page copy (with its children's new ids patched in, for a branch) to one newly
/// allocated page. Returns `None`, with the node turned into a materialized one holding its
/// children's spilled elements, when that is not the same: a child spilled to several pages,
/// or under another key than the one this branch has for it.
fn spill_raw(i: &mut TxInner, id: NodeId, fill: f64) -> Result<Option<BranchItem>> {
    let Items::Raw(raw) = &mut i.nodes[id].items else { unreachable!("raw") };
    let children = std::mem::take(&mut raw.children);
    // The children's spilled elements, one after another; `ends[j]` ends child j's.
    let mut items = i.pool.branches(children.len());
    let mut ends = Vec::with_capacity(children.len());
    let mut same = true;
    for &(k, c) in &children {
        let start = items.len();
        spill_node(i, c, fill, &mut items)?;
        let Items::Raw(raw) = &i.nodes[id].items else { unreachable!("raw") };
        let key = raw.page(&i.arena, 0).branch(k)?.0;
        same &= items.len() == start + 1 && items[start].key(i.src()) == key;
        ends.push(items.len());
    }
    if !same {
        // Materialize, then put the spilled children's elements in place of theirs.
        i.unraw(id);
        let Items::Branch(old) = &mut i.nodes[id].items else { unreachable!("branch") };
        let old = std::mem::take(old);
        let mut new = i.pool.branches(old.len() + items.len());
        let (mut j, mut start) = (0, 0);
        for (k, it) in old.into_iter().enumerate() {
            if children.get(j).is_some_and(|c| c.0 == k) {
                new.extend_from_slice(&items[start..ends[j]]);
                start = ends[j];
                j += 1;
            } else {
                new.push(it);
            }
        }
        i.nodes[id].set_branch_items(new);
        i.pool.recycle_items(Items::Branch(items));
        return Ok(None);
    }
    let node = &i.nodes[id];
    let Items::Raw(raw) = &node.items else { unreachable!("raw") };
    let (at, len, leaf, old) = (raw.at, raw.len, raw.leaf, node.pgid);
    for (&(k, _), item) in children.iter().zip(&items) {
        put_u64(&mut i.arena, at + PAGE_HEADER_SIZE + k * ELEMENT_SIZE + 8, item.pgid);
    }
    i.pool.recycle_items(Items::Branch(items));
    if !sim::planted::active(&planted::RAW_SPILL_LEAKS_PAGE) {
        i.free_page(old, 0);
    }
    let pgid = if leaf { i.allocate(1) } else { i.allocate_branch(1) };
    let Items::Raw(raw) = &i.nodes[id].items else { unreachable!("raw") };
    let item = match raw.first_item(&i.arena, pgid) {
        Some(item) => item,
        None => BranchItem::new(&[], pgid, None, &mut i.arena),
    };
    put_u64(&mut i.arena, at, pgid);
    i.dirty.add_in_arena(pgid, at, &i.arena[at..at + len]);
    Ok(Some(item))
}

/// Frees the old freelist page and writes the new one. The old one stays unused until the
/// commit after this one is durable: opening may read it to check this commit's record.
fn write_freelist(i: &mut TxInner) -> Result<()> {
    let old = i.meta.freelist;
    let overflow = i.page_overflow(old)?;
    i.free_page_late(old, overflow);
    let ps = i.page_size;
    let n = pages_for(i.freelist.size(), ps);
    let pgid = i.allocate_high(n);
    let freelist = &i.freelist;
    i.dirty.add(pgid, n * ps, ps, |buf| freelist.write(buf, pgid, (n - 1) as u32));
    i.meta.freelist = pgid;
    Ok(())
}

/// The file size to grow to so that `needed` bytes fit.
fn grow_target(needed: u64, alloc_size: u64) -> u64 {
    if needed < alloc_size {
        needed.next_power_of_two().max(32 * 1024)
    } else {
        needed + alloc_size
    }
}

/// Grows the file, writes dirty pages, makes them and the meta durable (one flush with a commit
/// record for a small commit, bolt's two otherwise), then publishes the new state to the
/// database.
fn write_out(db: &mut crate::db::DbState, i: &mut TxInner) -> Result<()> {
    let ps = i.page_size as u64;
    if !db.map_is_live {
        db.map = Mapping::empty();
    }
    let file = db.file.as_ref().expect("checked open");
    let needed = i.meta.pgid * ps;
    if needed > db.file_len {
        let target = grow_target(needed, db.options.alloc_size);
        file.set_len(target)?;
        file.sync()?;
        db.file_len = target;
    }
    let mut page = i.meta.to_page();
    let hash = i.dirty.pages_hash(i.meta.txid, i.page_size).filter(|_| derivable(db, i));
    let one_flush = hash.is_some();
    if let Some(hash) = hash {
        let rec = CommitRecord {
            txid: i.meta.txid,
            meta_checksum: i.meta.sum64(),
            pages: i.dirty.page_count(i.page_size) as u64,
            hash,
        };
        rec.encode(&mut page[record::RECORD_AT..]);
    }
    if let Some(audit) = &mut db.audit {
        audit.before_writes(i.meta.txid, i.dirty.page_ids(i.page_size));
    }
    // One page per write call. Linux (ext4 since 6.16) sizes page-cache folios by the write
    // that creates them: pages written in big runs land in big folios, and when a later commit
    // rewrites one page of such a folio, writeback writes the whole folio. Copy-on-write pages
    // are rewritten one by one, so they are written one by one (measured: 100 transactions of
    // 1,000 random overwrites 37k -> 46k ops/s; a bulk load about 5% slower).
    let arena = &i.arena;
    i.dirty.write_runs(i.page_size, i.page_size, arena, |offset, bytes| {
        file.write_at(offset, bytes)
    })?;
    i.dirty.clear();
    if !one_flush && !sim::planted::active(&planted::TWO_FLUSH_NO_DATA_SYNC) {
        file.sync()?;
    }
    let meta_at = (i.meta.txid % 2) * ps;
    file.write_at(meta_at, &page)?;
    file.sync()?;
    let mut meta = i.meta;
    meta.checksum = meta.sum64();
    db.meta = meta;
    db.meta_has_record = one_flush;
    db.freelist = std::mem::take(&mut i.freelist);
    let held = !db.map.is_empty();
    let shows = shows_write(&db.map, meta_at as usize, &page);
    if held {
        db.map_is_live = shows;
    }
    if !(shows && db.map.len() as u64 >= i.meta.pgid * ps) {
        db.map = file.map()?;
    }
    Ok(())
}

/// Whether opening would derive exactly the pages this commit writes from the two freelists
/// (see `record::written_pages`). It always should: every page a commit writes is one it
/// allocated, and it frees none of them. Checked anyway, so that a commit whose record could
/// not be verified is never written with one flush; it falls back to bolt's two.
fn derivable(db: &crate::db::DbState, i: &mut TxInner) -> bool {
    let count = i.dirty.page_count(i.page_size) as u64;
    let prev_free = db.freelist.all_ids();
    let free = i.freelist.all_ids();
    let derived = record::written_pages(&prev_free, db.meta.pgid, &free, i.meta.pgid, count);
    let same = derived.is_some_and(|ids| i.dirty.holds_exactly(&ids, i.page_size));
    debug_assert!(same, "the pages written differ from those derived from the freelists");
    same
}

/// Whether `map` shows the meta page just written at `meta_at`. The meta slot held the meta of
/// two commits ago (another txid, so other bytes), so a mapping showing the new one follows the
/// file's writes (an mmap, which shows every write through the page cache); if it also covers
/// the new high water mark it need not be mapped again, sparing a commit the map/unmap system
/// calls and the page faults of touching a fresh mapping. A snapshot (the simulated disk's)
/// never shows it.
fn shows_write(map: &[u8], meta_at: usize, page: &[u8]) -> bool {
    map.get(meta_at..meta_at + page.len()) == Some(page)
}

#[cfg(test)]
mod tests {
    use super::shows_write;
    use crate::{Db, Options, Result, Tx};
    use rand::Rng as _;
    use sim::simulated::disk::{DiskConfig, SimDisk};
    use sim::Seed;

    /// Every key and value of buckets `top` and `top/sub` as the transaction sees them, by get
    /// and by cursor.
    type Contents = Vec<(Vec<u8>, Option<Vec<u8>>)>;

    fn contents(tx: &Tx) -> Result<Contents> {
        let mut out = Vec::new();
        for path in [&[&b"top"[..]][..], &[b"top", b"sub"]] {
            let mut b = tx.bucket(path[0])?.expect("top");
            for name in &path[1..] {
                b = b.bucket(name)?.expect("sub");
            }
            let mut c = b.cursor();
            let mut item = c.first()?;
            while let Some((k, v)) = item {
                if v.is_some() {
                    assert_eq!(b.get(&k)?, v, "get agrees with the cursor");
                }
                out.push((k, v));
                item = c.next()?;
            }
            out.push((b"--".to_vec(), None));
        }
        Ok(out)
    }

    /// A writer keeping pages as raw copies writes the very bytes the materializing writer does,
    /// and reads the same before and after commit, over overwrites of the same and of other
    /// sizes, inserts, deletes (merges), splits, nested buckets and overflow pages.
    #[test]
    fn raw_nodes_write_the_bytes_the_materializing_path_writes() {
        for seed in 0..6u64 {
            let open = |raw: bool| {
                let disk = SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default());
                let db = Db::open_on(disk, "db", Options { page_size: 1024, ..Options::default() })
                    .unwrap();
                db.set_raw_nodes(raw);
                db
            };
            let (raw, full) = (open(true), open(false));
            let mut rng = Seed(seed).stream("workload");
            let keys = if seed % 2 == 0 { 300 } else { 60 };
            for step in 0..60 {
                let ops: Vec<(u8, bool, u32, usize)> = (0..rng.random_range(1..40))
                    .map(|_| {
                        let len = match rng.random_range(0..20) {
                            0 => 1500,
                            1 => 3,
                            2..=4 => 40,
                            _ => 12,
                        };
                        let what = if step < 3 { 0 } else { rng.random_range(0..10u8) };
                        (what, rng.random_bool(0.3), rng.random_range(0..keys), len)
                    })
                    .collect();
                let fill = rng.random::<u8>();
                let mut seen = Vec::new();
                for db in [&raw, &full] {
                    let tx = db.begin(true).unwrap();
                    let top = tx.create_bucket_if_not_exists(b"top").unwrap();
                    let sub = top.create_bucket_if_not_exists(b"sub").unwrap();
                    for &(what, in_sub, k, len) in &ops {
                        let b = if in_sub { &sub } else { &top };
                        let key = format!("key{k:05}");
                        match what {
                            0..=7 => b.put(key.as_bytes(), &vec![fill; len]).unwrap(),
                            _ => b.delete(key.as_bytes()).unwrap(),
                        }
                    }
                    let before = contents(&tx).unwrap();
                    tx.commit().unwrap();
                    let tx = db.begin(false).unwrap();
                    assert_eq!(contents(&tx).unwrap(), before, "seed {seed} step {step}");
                    assert!(tx.check().is_empty(), "seed {seed} step {step}: {:?}", tx.check());
                    seen.push((before, tx.map.to_vec()));
                }
                assert!(seen[0] == seen[1], "seed {seed} step {step}: raw and full differ");
            }
        }
    }

    /// A commit under the one-flush limit syncs once; with the limit at 0 it syncs twice
    /// (bolt's protocol), and both files read the same.
    #[test]
    fn the_one_flush_limit_picks_the_protocol() {
        for (limit, syncs) in [(crate::record::MAX_PAGES_BYTES, 1), (0, 2)] {
            let disk = SimDisk::new(Seed(1).stream("disk"), DiskConfig::default());
            let opts = Options { one_flush_max_bytes: limit, ..Options::default() };
            let db = Db::open_on(disk.clone(), "db", opts.clone()).unwrap();
            db.update(|tx| tx.create_bucket(b"b").map(|_| ())).unwrap();
            let before = disk.durable_generation();
            db.update(|tx| tx.bucket(b"b")?.expect("b").put(b"k", b"v")).unwrap();
            assert_eq!(disk.durable_generation() - before, syncs, "limit {limit}");
            drop(db);
            disk.crash();
            let db = Db::open_on(disk, "db", opts).unwrap();
            let v = db.view(|tx| tx.bucket(b"b")?.expect("b").get(b"k")).unwrap();
            assert_eq!(v.as_deref(), Some(&b"v"[..]));
        }
    }

    #[test]
    fn a_mapping_follows_the_file_only_when_it_shows_the_new_meta() {
        let mut map = vec![0u8; 64];
        let page = [7u8; 8];
        assert!(!shows_write(&map, 16, &page), "a snapshot with the old meta");
        map[16..24].copy_from_slice(&page);
        assert!(shows_write(&map, 16, &page), "shows the new meta");
        assert!(!shows_write(&map[..20], 16, &page), "meta slot beyond the mapping");
    }
}
