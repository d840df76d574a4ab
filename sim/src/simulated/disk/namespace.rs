//! Directory entries: names bound to inodes, volatile and durable.
//!
//! A path (normalised, `/`-separated, root = `""`) names either a directory or a file; a file
//! name points at an inode number, so the identity of a file is separate from its names and a
//! rename moves the identity, not the bytes.
//!
//! Model:
//! - `volatile` is what `open`, `list` and `exists` see now.
//! - `durable` is what survives a crash.
//! - `log` is every directory operation (create, mkdir, rename, remove, rmdir) not yet durable,
//!   in the order it happened. Invariant: replaying the whole log on `durable` gives `volatile`.
//! - `sync_dir(d)` makes durable every logged operation up to and including the last one that
//!   touches `d` (changes an entry whose parent is `d`). Like a journaling file system, an fsync
//!   of a directory commits earlier metadata operations too; the point is that an operation on
//!   `d` is never lost after `sync_dir(d)`.
//! - A crash keeps each logged operation independently with probability 1/2 and replays the kept
//!   ones in order on `durable`; an operation whose precondition no longer holds in the replay
//!   (e.g. a rename whose create was lost) is skipped. So an unsynced create may vanish, an
//!   unsynced rename may revert to the old name, an unsynced remove may be undone, and a rename
//!   is atomic: the inode ends up under exactly one of the two names.

use std::collections::BTreeMap;

use rand::Rng as _;

use crate::seed::Rng;

/// An inode number: the identity of a file, independent of its names.
pub(crate) type Ino = u64;

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    File(Ino),
    Dir,
}

/// A tree as a flat map from path to node; the root `""` is implicit.
pub(crate) type Tree = BTreeMap<String, Node>;

/// A directory operation not yet durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DirOp {
    Create { path: String, ino: Ino },
    Mkdir { path: String },
    Rename { from: String, to: String, ino: Ino },
    Remove { path: String, ino: Ino },
    Rmdir { path: String },
}

/// The directory holding `path` (`""` for entries of the root).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Whether `path` is a directory in `tree`.
pub(crate) fn is_dir(tree: &Tree, path: &str) -> bool {
    path.is_empty() || tree.get(path) == Some(&Node::Dir)
}

/// Names of the direct children of directory `dir`, sorted bytewise.
pub(crate) fn children(tree: &Tree, dir: &str) -> Vec<String> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    tree.range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .filter_map(|(path, _)| {
            let name = &path[prefix.len()..];
            (!name.contains('/')).then(|| name.to_string())
        })
        .collect()
}

impl DirOp {
    /// Whether this operation changes an entry of directory `dir`.
    fn touches(&self, dir: &str) -> bool {
        match self {
            DirOp::Rename { from, to, .. } => parent(from) == dir || parent(to) == dir,
            DirOp::Create { path, .. }
            | DirOp::Mkdir { path }
            | DirOp::Remove { path, .. }
            | DirOp::Rmdir { path } => parent(path) == dir,
        }
    }

    /// Applies the operation to `tree` if its precondition holds; returns whether it did.
    fn apply(&self, tree: &mut Tree) -> bool {
        match self {
            DirOp::Create { path, ino } => {
                if !is_dir(tree, parent(path)) || tree.get(path) == Some(&Node::Dir) {
                    return false;
                }
                tree.insert(path.clone(), Node::File(*ino));
            }
            DirOp::Mkdir { path } => {
                if !is_dir(tree, parent(path)) || tree.contains_key(path) {
                    return false;
                }
                tree.insert(path.clone(), Node::Dir);
            }
            DirOp::Rename { from, to, ino } => {
                if tree.get(from) != Some(&Node::File(*ino))
                    || !is_dir(tree, parent(to))
                    || tree.get(to) == Some(&Node::Dir)
                {
                    return false;
                }
                tree.remove(from);
                tree.insert(to.clone(), Node::File(*ino));
            }
            DirOp::Remove { path, ino } => {
                if tree.get(path) != Some(&Node::File(*ino)) {
                    return false;
                }
                tree.remove(path);
            }
            DirOp::Rmdir { path } => {
                if tree.get(path) != Some(&Node::Dir) || !children(tree, path).is_empty() {
                    return false;
                }
                tree.remove(path);
            }
        }
        true
    }

    fn inos(&self) -> Option<Ino> {
        match self {
            DirOp::Create { ino, .. } | DirOp::Rename { ino, .. } | DirOp::Remove { ino, .. } => {
                Some(*ino)
            }
            DirOp::Mkdir { .. } | DirOp::Rmdir { .. } => None,
        }
    }
}

/// Volatile and durable directory trees plus the log between them. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    volatile: Tree,
    durable: Tree,
    log: Vec<DirOp>,
    /// Moves whenever the durable tree may have changed (a `sync_dir` that made something
    /// durable, a crash).
    durable_changes: u64,
}

impl Namespace {
    pub(crate) fn volatile(&self) -> &Tree {
        &self.volatile
    }

    pub(crate) fn lookup(&self, path: &str) -> Option<Node> {
        if path.is_empty() {
            return Some(Node::Dir);
        }
        self.volatile.get(path).copied()
    }

    /// Records and applies `op`. The caller has checked its precondition on the volatile tree.
    pub(crate) fn perform(&mut self, op: DirOp) {
        let applied = op.apply(&mut self.volatile);
        assert!(applied, "directory operation {op:?} precondition not checked by the caller");
        self.log.push(op);
    }

    /// Makes every logged operation up to the last one touching `dir` durable.
    pub(crate) fn sync_dir(&mut self, dir: &str) {
        let Some(last) = self.log.iter().rposition(|op| op.touches(dir)) else {
            return;
        };
        for op in self.log.drain(..=last) {
            op.apply(&mut self.durable);
        }
        self.durable_changes += 1;
    }

    /// A counter that moves whenever the durable tree may have changed.
    pub(crate) fn durable_changes(&self) -> u64 {
        self.durable_changes
    }

    /// The durable tree: what a crash now would leave (before replaying kept operations).
    pub(crate) fn durable(&self) -> &Tree {
        &self.durable
    }

    /// Whether any directory operation is not yet durable.
    pub(crate) fn has_pending(&self) -> bool {
        !self.log.is_empty()
    }

    /// Power loss: each logged operation is kept with probability 1/2; kept ones replay in order
    /// on the durable tree, which becomes the volatile one too.
    pub(crate) fn crash(&mut self, rng: &mut Rng) {
        for op in std::mem::take(&mut self.log) {
            if rng.random_bool(0.5) {
                op.apply(&mut self.durable);
            }
        }
        self.volatile = self.durable.clone();
        self.durable_changes += 1;
    }

    /// Every inode some name (volatile, durable or logged) may still point to.
    pub(crate) fn referenced(&self) -> impl Iterator<Item = Ino> + '_ {
        let file = |node: &Node| match node {
            Node::File(ino) => Some(*ino),
            Node::Dir => None,
        };
        self.volatile
            .values()
            .filter_map(file)
            .chain(self.durable.values().filter_map(file))
            .chain(self.log.iter().filter_map(DirOp::inos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    fn ns_with(ops: Vec<DirOp>) -> Namespace {
        let mut ns = Namespace::default();
        for op in ops {
            ns.perform(op);
        }
        ns
    }

    #[test]
    fn children_lists_direct_entries_only() {
        let ns = ns_with(vec![
            DirOp::Mkdir { path: "a".into() },
            DirOp::Mkdir { path: "a/b".into() },
            DirOp::Create { path: "a/b/c".into(), ino: 1 },
            DirOp::Create { path: "a/x".into(), ino: 2 },
            DirOp::Create { path: "ab".into(), ino: 3 },
        ]);
        assert_eq!(children(ns.volatile(), "a"), vec!["b", "x"]);
        assert_eq!(children(ns.volatile(), ""), vec!["a", "ab"]);
    }

    #[test]
    fn synced_rename_survives_every_crash() {
        for seed in 0..32 {
            let mut ns = ns_with(vec![DirOp::Create { path: "f.tmp".into(), ino: 7 }]);
            ns.perform(DirOp::Rename { from: "f.tmp".into(), to: "f".into(), ino: 7 });
            ns.sync_dir("");
            ns.perform(DirOp::Create { path: "g".into(), ino: 8 });
            ns.crash(&mut Seed(seed).stream("t"));
            assert_eq!(ns.lookup("f"), Some(Node::File(7)));
            assert_eq!(ns.lookup("f.tmp"), None);
        }
    }

    #[test]
    fn unsynced_rename_is_atomic() {
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let mut ns = ns_with(vec![DirOp::Create { path: "a".into(), ino: 1 }]);
            ns.sync_dir("");
            ns.perform(DirOp::Rename { from: "a".into(), to: "b".into(), ino: 1 });
            ns.crash(&mut Seed(seed).stream("t"));
            let names = children(ns.volatile(), "");
            assert!(names == ["a"] || names == ["b"], "rename not atomic: {names:?}");
            outcomes.insert(names);
        }
        assert_eq!(outcomes.len(), 2, "both outcomes should occur over 64 seeds");
    }
}
