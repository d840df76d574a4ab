//! Starting a node from its disk alone (etcd's `bootstrap`):
//! 1. open the state machine (it knows its consistent index);
//! 2. no WAL: a new member — create the WAL (metadata: member and cluster ID), raft storage
//!    with the initial voters;
//! 3. a WAL: read its snapshot markers, load the newest valid snapshot the WAL has a marker for,
//!    open the WAL at it (repairing a torn tail) and replay; raft storage = snapshot + hard
//!    state + entries; the membership comes from the snapshot (or the configuration); the state
//!    machine restores the snapshot if its consistent index is behind it.
//!
//! Recovery from a damaged WAL (etcd's `bootstrapWALFromSnapshot`, which repairs only on
//! `io.ErrUnexpectedEOF` and only once). Step 3 decodes the WAL twice: the marker scan reads
//! every segment in read mode, where a torn last record just ends the scan (etcd's
//! `ValidSnapshotEntries` tolerates `ErrUnexpectedEOF` the same way), and the open reads from
//! the snapshot's segment on. Only one kind of damage is repaired, by the open:
//! - a torn last record of the **last** segment ([`crate::wal::WalError::TornTail`]: its frame
//!   runs past the end of the file, or its CRC fails while one of its 512-byte sector pieces is
//!   all zeros) is cut off together with everything after it in that segment
//!   ([`crate::wal::repair`], a `.broken` copy is kept), and the WAL is read again. What is cut
//!   was never covered by a sync (a sync covers whole records, and the torn one is the first
//!   record no sync reached), so nothing acknowledged is dropped — with one exception shared with
//!   etcd: bit rot in a synced record of the last segment that happens to hold an all-zero
//!   sector piece looks torn and is truncated with everything after it.
//! - Everything else is refused and the member halts (fail-stop) with its files untouched: a CRC
//!   mismatch without a zero sector, a bad length word (check bits or padding: a crash never
//!   tears a length word, which never straddles a sector), bad padding bytes, a record running
//!   past the end of an earlier segment, damage anywhere in an earlier segment, a broken CRC
//!   chain. Where etcd would take a corrupt length in the last segment for a torn record and
//!   truncate (possibly synced) records after it, this WAL's length check bits refuse instead.
//!
//! [`Booted::repair`] (and `Running::boot_repair`) says what the open repaired.
//!
//! Entries after the snapshot are handed to the apply loop again (raft's `applied` is the
//! snapshot index); the apply loop skips the state machine for those at or below its
//! consistent index but re-applies conf changes to raft and the membership.
//!
//! Raft's commit index starts at the state machine's consistent index when that is ahead of
//! the saved hard state (and within the log). It can be: the state machine makes applied
//! entries durable on its own schedule (every batch, or on its batching policy), while a hard
//! state that only moves the commit
//! index is saved without a sync (etcd's MustSync). Those entries are known committed (only
//! committed entries are applied) and the WAL holds them (entries are synced before they are
//! applied). Without this the applied index would lag the state until a leader resent the
//! commit index: the node would report the state at `n + 1` as applied `n`, and a snapshot
//! taken at the applied index would carry an entry past its index (a member restoring it
//! would apply that entry twice). etcd avoids the second problem differently: its snapshots
//! carry the backend's own consistent index.

use std::collections::BTreeSet;
use std::rc::Rc;

use net::cluster::Cluster;
use sim::io::{Disk, DiskError};
use sim::{planted, Halt};

use crate::core::codec::{put_u64, Reader};
use crate::core::{ConfState, MemoryStorage, Snapshot, SnapshotMetadata};
use crate::snap::{SnapError, Snapshotter};
use crate::wal::{snapshot_markers, Repair, Wal, WalError};

use super::config::{ClusterSpec, NodeConfig};
use super::membership::{decode_snapshot_data, Membership};
use super::state_machine::{SmError, StateMachine};

/// Directory of the WAL segments.
pub const WAL_DIR: &str = "member/wal";
/// Directory of the snapshot files.
pub const SNAP_DIR: &str = "member/snap";
/// Directory the state machine may use.
pub const SM_DIR: &str = "member/kv";

/// Everything rebuilt from disk.
pub struct Booted<S> {
    pub me: u64,
    pub wal: Wal,
    pub snapshotter: Snapshotter,
    pub storage: MemoryStorage,
    pub membership: Membership,
    pub sm: S,
    pub snapshot_index: u64,
    pub conf_state: ConfState,
    /// What opening the WAL repaired ([`Repair::Clean`] for a new WAL).
    pub repair: Repair,
}

/// Turns a storage error into a halt: a simulated crash stays a crash, anything else is fatal
/// with `what` failed named first. `disk` is the error's disk cause, if it has one.
fn storage_halt(what: &str, disk: Option<&DiskError>, error: &dyn std::fmt::Display) -> Halt {
    match disk {
        Some(DiskError::Crashed) => Halt::Crashed,
        Some(d) => Halt::Fatal(format!("{what}: {d}")),
        None => Halt::Fatal(format!("{what}: {error}")),
    }
}

/// [`storage_halt`] for WAL errors.
pub fn wal_halt(what: &str, e: WalError) -> Halt {
    let disk = if let WalError::Disk(d) = &e { Some(d) } else { None };
    storage_halt(what, disk, &e)
}

/// [`storage_halt`] for snapshotter errors.
pub fn snap_halt(what: &str, e: SnapError) -> Halt {
    let disk = if let SnapError::Disk(d) = &e { Some(d) } else { None };
    storage_halt(what, disk, &e)
}

/// [`storage_halt`] for state-machine errors.
pub fn sm_halt(what: &str, e: SmError) -> Halt {
    let disk = if let SmError::Disk(d) = &e { Some(d) } else { None };
    storage_halt(what, disk, &e)
}

fn wal_metadata(me: u64, cluster: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_u64(&mut out, me);
    put_u64(&mut out, cluster);
    out
}

fn parse_metadata(b: &[u8]) -> Option<(u64, u64)> {
    let mut r = Reader::new(b);
    let me = r.u64("wal.member").ok()?;
    let cl = r.u64("wal.cluster").ok()?;
    r.finish().ok()?;
    Some((me, cl))
}

/// The configured membership and this node's member ID.
fn configured(cfg: &NodeConfig) -> Result<(Membership, u64), Halt> {
    let bad = |e: &dyn std::fmt::Display| Halt::Fatal(format!("cluster configuration: {e}"));
    match &cfg.cluster {
        ClusterSpec::Bootstrap { initial_cluster, token } => {
            let c = Cluster::bootstrap(initial_cluster, token).map_err(|e| bad(&e))?;
            let me = c
                .member_by_name(&cfg.name)
                .ok_or_else(|| bad(&format!("no member named {:?}", cfg.name)))?
                .id
                .0;
            Ok((Membership::new(c), me))
        }
        ClusterSpec::Join { cluster_id, token, members, me } => {
            let m = Membership::from_records(*cluster_id, token, members, BTreeSet::new())
                .map_err(|e| bad(&e))?;
            if !m.contains(*me) {
                return Err(bad(&format!("member {me:016x} is not among the given members")));
            }
            Ok((m, *me))
        }
    }
}

/// Rebuilds the node's durable state from `disk`.
pub fn boot<S: StateMachine>(
    cfg: &NodeConfig,
    disk: Rc<dyn Disk>,
    open_sm: &dyn Fn(Rc<dyn Disk>) -> Result<S, SmError>,
) -> Result<Booted<S>, Halt> {
    let (mut membership, me) = configured(cfg)?;
    let mut sm = open_sm(Rc::clone(&disk)).map_err(|e| sm_halt("open state machine", e))?;
    let snapshotter = Snapshotter::new(Rc::clone(&disk), SNAP_DIR);
    let voters = membership.ids();
    let exists = Wal::exists(&*disk, WAL_DIR).map_err(|e| wal_halt("wal", e))?;
    if !exists {
        let meta = wal_metadata(me, membership.cluster().id().0);
        let wal = Wal::create(Rc::clone(&disk), WAL_DIR, &meta, cfg.wal)
            .map_err(|e| wal_halt("create wal", e))?;
        let storage = MemoryStorage::with_voters(&voters);
        let conf_state = ConfState { voters, learners: Vec::new() };
        return Ok(Booted {
            me,
            wal,
            snapshotter,
            storage,
            membership,
            sm,
            snapshot_index: 0,
            conf_state,
            repair: Repair::Clean,
        });
    }
    let markers = snapshot_markers(&*disk, WAL_DIR).map_err(|e| wal_halt("wal markers", e))?;
    let snap = match snapshotter.load_newest_available(&markers) {
        Ok(s) => s,
        Err(SnapError::NoSnapshot) => Snapshot::default(),
        Err(e) => return Err(snap_halt("load snapshot", e)),
    };
    let start = SnapshotMetadata {
        index: snap.metadata.index,
        term: snap.metadata.term,
        ..Default::default()
    };
    let (wal, contents, repair) = Wal::open_repairing(Rc::clone(&disk), WAL_DIR, &start, cfg.wal)
        .map_err(|e| wal_halt("open wal", e))?;
    match parse_metadata(&contents.metadata) {
        Some((m, c)) if m == me && c == membership.cluster().id().0 => {}
        found => {
            return Err(Halt::Fatal(format!(
                "wal belongs to (member, cluster) {found:x?}, this node is ({me:x}, {:x})",
                membership.cluster().id().0
            )))
        }
    }
    let mut storage = MemoryStorage::with_voters(&voters);
    let mut conf_state = ConfState { voters, learners: Vec::new() };
    if !snap.is_empty() {
        let (m, sm_bytes) = decode_snapshot_data(&snap.data)
            .map_err(|e| Halt::Fatal(format!("snapshot {}: {e}", snap.metadata.index)))?;
        membership = m;
        if sm.consistent_index() < snap.metadata.index {
            sm.restore(snap.metadata.index, &sm_bytes).map_err(|e| sm_halt("restore", e))?;
        }
        conf_state = snap.metadata.conf_state.clone();
        storage
            .apply_snapshot(snap.clone())
            .map_err(|e| Halt::Fatal(format!("raft storage snapshot: {e}")))?;
    }
    let mut hard_state = contents.hard_state;
    let last_index = contents.entries.last().map_or(snap.metadata.index, |e| e.index);
    let consistent = sm.consistent_index();
    let raise = !planted::active(&crate::planted::BOOT_COMMIT_FROM_WAL_ONLY);
    if raise && consistent > hard_state.commit && consistent <= last_index {
        hard_state.commit = consistent;
    }
    storage.set_hard_state(hard_state);
    storage.append(&contents.entries);
    Ok(Booted {
        me,
        wal,
        snapshotter,
        storage,
        membership,
        sm,
        snapshot_index: snap.metadata.index,
        conf_state,
        repair,
    })
}
