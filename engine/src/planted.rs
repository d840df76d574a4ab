//! The planted bugs of this crate (see [`sim::planted`]): realistic one-line mistakes, each off
//! unless a test or `dst --bug NAME` switches it on for one run.

use sim::planted::PlantedBug;

/// `Tx::finish` drops a reader's txid from the open-reader table when *one* reader at that
/// txid ends, instead of when the last one does.
pub static READER_SLOT_DROPPED: PlantedBug = PlantedBug {
    name: "engine-reader-slot-dropped",
    layer: "engine",
    summary: "a reader ending removes its txid from the reader table though other readers at \
              that txid are open: the writer then reuses pages they can reach",
};

/// `Tx::begin` (writable) takes the newest open reader's txid for the release bound instead of
/// the oldest one's.
pub static RELEASE_BY_NEWEST_READER: PlantedBug = PlantedBug {
    name: "engine-release-by-newest-reader",
    layer: "engine",
    summary: "the writer releases pending pages below the newest open reader instead of the \
              oldest: an older reader's pages are reused under it",
};

/// `spill_raw` writes a raw node's page to a new page without freeing its old one.
pub static RAW_SPILL_LEAKS_PAGE: PlantedBug = PlantedBug {
    name: "engine-raw-spill-leaks-page",
    layer: "engine",
    summary: "a node written from its raw page copy never frees its old page: the page is \
              neither reachable nor free (leaked)",
};

/// `Meta::validate` no longer compares the stored checksum with the computed one.
pub static META_CHECKSUM_UNCHECKED: PlantedBug = PlantedBug {
    name: "engine-meta-checksum-unchecked",
    layer: "engine",
    summary: "meta validation skips the checksum: a damaged meta is taken for valid and may \
              be chosen at open",
};

/// Opening trusts the newest meta's commit record without checking its pages.
pub static COMMIT_RECORD_UNVERIFIED: PlantedBug = PlantedBug {
    name: "engine-commit-record-unverified",
    layer: "engine",
    summary: "open trusts a one-flush commit's meta without checking its record against the \
              pages: a commit cut short by a crash is opened with pages missing",
};

/// The two-flush commit writes the meta without first syncing the data pages.
pub static TWO_FLUSH_NO_DATA_SYNC: PlantedBug = PlantedBug {
    name: "engine-two-flush-no-data-sync",
    layer: "engine",
    summary: "a two-flush (large) commit writes its meta before its data pages are synced: a \
              crash can keep the meta and lose pages it reaches",
};

/// `Store::apply` writes the consistent index it had before the entry, not the entry's.
pub static CONSISTENT_INDEX_LAGS: PlantedBug = PlantedBug {
    name: "mvcc-consistent-index-lags",
    layer: "mvcc",
    summary: "apply persists the previous consistent index with an entry's effects: after a \
              crash the last entry of a batch is applied twice",
};

/// `Store::delete_in` deletes the tombstone's key from the batch instead of putting it.
pub static DELETE_WITHOUT_TOMBSTONE: PlantedBug = PlantedBug {
    name: "mvcc-delete-without-tombstone",
    layer: "mvcc",
    summary: "a delete removes its tombstone revision from the batch instead of writing it: the \
              key comes back when the index is rebuilt at open",
};

/// Every planted bug of this crate, in `dst bugs` order.
/// Open compares the two metas' txids the wrong way round and takes the older one.
pub static OPEN_PICKS_OLDER_META: PlantedBug = PlantedBug {
    name: "engine-open-picks-older-meta",
    layer: "engine",
    summary: "open takes the valid meta with the lower txid: the last committed transaction \
              vanishes at every reopen and its pages may be handed out again",
};

pub static ALL: &[&PlantedBug] = &[
    &READER_SLOT_DROPPED,
    &RELEASE_BY_NEWEST_READER,
    &RAW_SPILL_LEAKS_PAGE,
    &META_CHECKSUM_UNCHECKED,
    &COMMIT_RECORD_UNVERIFIED,
    &TWO_FLUSH_NO_DATA_SYNC,
    &OPEN_PICKS_OLDER_META,
    &CONSISTENT_INDEX_LAGS,
    &DELETE_WITHOUT_TOMBSTONE,
];
