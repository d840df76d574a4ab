//! SimDisk fault injection, one behaviour per test: crash at the k-th operation, dead handles,
//! torn writes, lost directory operations, EIO on sync, bit flips, ENOSPC, latency, locks and
//! map snapshots.

use std::collections::BTreeSet;
use std::rc::Rc;

use sim::io::{Disk, DiskError, File, OpenOptions};
use sim::simulated::disk::{DiskConfig, SimDisk};
use sim::{Duration, Seed};

fn disk(seed: u64) -> Rc<SimDisk> {
    SimDisk::new(Seed(seed).stream("disk"), DiskConfig::default())
}

fn read_all(f: &dyn File) -> Vec<u8> {
    let mut buf = vec![0u8; f.len().unwrap() as usize];
    f.read_exact_at(0, &mut buf).unwrap();
    buf
}

fn read_path(disk: &SimDisk, path: &str) -> Vec<u8> {
    read_all(disk.open(path, OpenOptions::read()).unwrap().as_ref())
}

/// A fixed script of disk operations; returns each operation's outcome (Ok or the error).
fn script(disk: &SimDisk) -> Vec<Result<(), DiskError>> {
    let mut out = Vec::new();
    out.push(disk.create_dir_all("wal"));
    let f = disk.open("wal/0.tmp", OpenOptions::create());
    out.push(f.as_ref().map(|_| ()).map_err(Clone::clone));
    let Ok(f) = f else { return out };
    out.push(f.write_at(0, b"record-1"));
    out.push(f.sync());
    out.push(f.len().map(|_| ()));
    out.push(disk.rename("wal/0.tmp", "wal/seg"));
    out.push(disk.sync_dir("wal"));
    out.push(f.write_at(8, b"record-2"));
    out.push(f.map().map(|_| ()));
    out.push(disk.list("wal").map(|_| ()));
    out.push(f.sync());
    out
}

#[test]
fn crash_after_ops_fails_exactly_from_the_kth_operation() {
    let reference = script(&disk(1));
    assert!(reference.iter().all(Result::is_ok), "{reference:?}");
    let total = reference.len() as u64;
    assert_eq!(disk(1).ops(), 0);
    let d = disk(1);
    script(&d);
    assert_eq!(d.ops(), total, "every operation of the script is counted");

    for k in 0..total {
        let d = disk(1);
        d.crash_after_ops(k);
        let outcomes = script(&d);
        for (i, outcome) in outcomes.iter().enumerate() {
            if (i as u64) < k {
                assert_eq!(outcome, &Ok(()), "k={k}: op {i} before the crash point failed");
            } else {
                assert_eq!(outcome, &Err(DiskError::Crashed), "k={k}: op {i} should fail");
            }
        }
        assert!(d.has_crashed(), "k={k}");
        assert_eq!(d.ops(), k, "k={k}: operations refused with Crashed are not counted");
        assert_eq!(d.exists("wal"), Err(DiskError::Crashed), "later operations keep failing");

        d.crash();
        assert!(!d.has_crashed(), "crash() resets the crashed state");
        d.create_dir_all("wal").expect("the disk works again after crash()");
    }
}

#[test]
fn crash_kills_old_handles_and_releases_locks() {
    let d = disk(2);
    let f = d.open("LOCK", OpenOptions::create()).unwrap();
    f.try_lock().unwrap();
    let g = d.open("LOCK", OpenOptions::create()).unwrap();
    assert_eq!(g.try_lock(), Err(DiskError::Locked { path: "LOCK".into() }));
    f.try_lock().expect("relocking by the holder is fine");
    d.sync_dir("").unwrap();
    d.crash();
    assert!(!d.has_crashed(), "crash() is not an operation failure");
    for h in [&f, &g] {
        assert_eq!(h.read_at(0, &mut [0u8; 1]), Err(DiskError::Crashed));
        assert_eq!(h.write_at(0, b"x"), Err(DiskError::Crashed));
        assert_eq!(h.try_lock(), Err(DiskError::Crashed));
    }
    let fresh = d.open("LOCK", OpenOptions::write()).unwrap();
    fresh.try_lock().expect("crash released the lock");
    drop(f);
    drop(g);
    let other = d.open("LOCK", OpenOptions::write()).unwrap();
    assert!(matches!(other.try_lock(), Err(DiskError::Locked { .. })), "dead handles free nothing");
    drop(fresh);
    other.try_lock().expect("dropping the holder releases the lock");
}

#[test]
fn unsynced_writes_are_kept_dropped_or_torn_at_sector_boundaries() {
    let mut fates = BTreeSet::new();
    for seed in 0..64 {
        let d = disk(seed);
        let f = d.open("f", OpenOptions::create()).unwrap();
        f.write_at(0, &[1u8; 2048]).unwrap();
        f.sync().unwrap();
        d.sync_dir("").unwrap();
        f.write_at(100, &[2u8; 1800]).unwrap();
        d.crash();
        let bytes = read_path(&d, "f");
        assert_eq!(bytes.len(), 2048);
        assert!(bytes[..100].iter().chain(&bytes[1900..]).all(|&b| b == 1), "synced bytes lost");
        let sectors: Vec<bool> = [100..512, 512..1024, 1024..1536, 1536..1900]
            .into_iter()
            .map(|r| {
                let piece = &bytes[r];
                assert!(
                    piece.iter().all(|&b| b == piece[0]) && (piece[0] == 1 || piece[0] == 2),
                    "seed {seed}: torn inside a sector"
                );
                piece[0] == 2
            })
            .collect();
        fates.insert(match sectors.iter().filter(|&&new| new).count() {
            0 => "dropped",
            4 => "kept",
            _ => "torn",
        });
    }
    assert_eq!(fates.len(), 3, "64 seeds should show every fate: {fates:?}");
}

#[test]
fn synced_data_always_survives() {
    for seed in 0..16 {
        let d = disk(seed);
        d.create_dir_all("db").unwrap();
        let f = d.open("db/data", OpenOptions::create()).unwrap();
        f.write_at(0, &[7u8; 5000]).unwrap();
        f.set_len(4000).unwrap();
        f.sync().unwrap();
        d.sync_dir("db").unwrap();
        d.sync_dir("").unwrap();
        assert!(!d.has_unsynced());
        d.crash();
        assert_eq!(read_path(&d, "db/data"), vec![7u8; 4000], "seed {seed}");
    }
}

#[test]
fn unsynced_directory_operations_may_be_lost_and_synced_ones_never_are() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..64 {
        let d = disk(seed);
        for name in ["keep", "gone", "old"] {
            let f = d.open(name, OpenOptions::create()).unwrap();
            f.write_at(0, name.as_bytes()).unwrap();
            f.sync().unwrap();
        }
        d.sync_dir("").unwrap();
        d.open("new", OpenOptions::create()).unwrap().sync().unwrap();
        d.remove("gone").unwrap();
        d.rename("old", "renamed").unwrap();
        d.crash();
        let names = d.list("").unwrap();
        assert!(names.contains(&"keep".to_string()), "seed {seed}: synced create lost");
        assert_eq!(read_path(&d, "keep"), b"keep");
        let has = |n: &str| names.iter().any(|x| x == n);
        assert!(has("old") != has("renamed"), "seed {seed}: rename not atomic: {names:?}");
        let renamed = if has("old") { "old" } else { "renamed" };
        assert_eq!(read_path(&d, renamed), b"old", "the rename moves the same inode");
        outcomes.insert(("create kept", has("new")));
        outcomes.insert(("remove undone", has("gone")));
        outcomes.insert(("rename kept", has("renamed")));
    }
    assert_eq!(outcomes.len(), 6, "64 seeds should keep and lose each operation: {outcomes:?}");
}

#[test]
fn eio_on_sync_loses_the_unsynced_data_at_the_next_crash() {
    for seed in 0..16 {
        let d = disk(seed);
        d.create_dir_all("wal").unwrap();
        let f = d.open("wal/seg", OpenOptions::create()).unwrap();
        let other = d.open("other", OpenOptions::create()).unwrap();
        f.write_at(0, b"old!").unwrap();
        f.sync().unwrap();
        d.sync_dir("wal").unwrap();
        d.sync_dir("").unwrap();

        f.write_at(0, b"new!").unwrap();
        f.write_at(4, b"tail").unwrap();
        other.write_at(0, b"x").unwrap();
        d.fail_next_sync("wal/");
        other.sync().expect("a path outside the prefix syncs");
        let err = f.sync().unwrap_err();
        assert!(matches!(err, DiskError::Io { op: "sync", ref path, .. } if path == "wal/seg"));
        assert_eq!(read_all(f.as_ref()), b"new!tail", "reads still see the lost data");
        f.sync().expect("the failure is reported once");
        assert_eq!(read_all(f.as_ref()), b"new!tail");

        d.crash();
        assert_eq!(read_path(&d, "wal/seg"), b"old!", "seed {seed}: fsyncgate data survived");
        assert_eq!(read_path(&d, "other"), b"x");
    }
}

#[test]
fn bit_flips_on_read_corrupt_exactly_the_range_through_reads_and_maps() {
    let d = disk(3);
    let f = d.open("page", OpenOptions::create()).unwrap();
    f.write_at(0, &[0xAAu8; 64]).unwrap();
    d.flip_bits_on_read("page", 16, 8);
    let bytes = read_all(f.as_ref());
    for (i, b) in bytes.iter().enumerate() {
        let flipped = (b ^ 0xAA).count_ones();
        assert_eq!(flipped, u32::from((16..24).contains(&i)), "byte {i} = {b:#x}");
    }
    assert_eq!(&f.map().unwrap()[..], &bytes[..], "the mapping shows the same corruption");
    let mut part = [0u8; 4];
    f.read_exact_at(14, &mut part).unwrap();
    assert_eq!(&part[..], &bytes[14..18], "partial reads see the same flipped bits");

    let again = disk(3);
    let g = again.open("page", OpenOptions::create()).unwrap();
    g.write_at(0, &[0xAAu8; 64]).unwrap();
    again.flip_bits_on_read("page", 16, 8);
    assert_eq!(read_all(g.as_ref()), bytes, "the same seed flips the same bits");

    let later = disk(4);
    later.flip_bits_on_read("future", 0, 1);
    let h = later.open("future", OpenOptions::create()).unwrap();
    h.write_at(0, &[0u8; 2]).unwrap();
    let got = read_all(h.as_ref());
    assert_eq!((got[0].count_ones(), got[1]), (1, 0), "a flip registered before the file exists");
}

#[test]
fn enospc_refuses_growth_beyond_capacity_and_applies_nothing() {
    let d = SimDisk::new(
        Seed(5).stream("disk"),
        DiskConfig { capacity: Some(1000), ..DiskConfig::default() },
    );
    let a = d.open("a", OpenOptions::create()).unwrap();
    let b = d.open("b", OpenOptions::create()).unwrap();
    a.write_at(0, &[1u8; 600]).unwrap();
    let full = Err(DiskError::NoSpace { path: "b".into() });
    assert_eq!(b.write_at(0, &[2u8; 401]), full);
    assert_eq!(b.len(), Ok(0), "nothing partially applied");
    assert_eq!(b.set_len(401), full);
    assert_eq!(b.allocate(401), full);
    assert_eq!(b.len(), Ok(0));
    b.write_at(0, &[2u8; 400]).expect("exactly at capacity fits");
    a.write_at(0, &[3u8; 600]).expect("overwriting allocates nothing");
    assert_eq!(a.write_at(600, b"x"), Err(DiskError::NoSpace { path: "a".into() }));
    assert_eq!(read_all(a.as_ref()), vec![3u8; 600]);
    d.remove("b").unwrap();
    a.write_at(600, &[4u8; 400]).expect("removing a file frees its space");
    d.set_capacity(None);
    a.allocate(1 << 20).unwrap();
    assert_eq!(a.len(), Ok(1 << 20));
    let huge = sim::simulated::disk::MAX_FILE_LEN + 1;
    assert!(matches!(a.set_len(huge), Err(DiskError::Io { op: "set_len", .. })));
    assert!(matches!(a.write_at(huge, b"x"), Err(DiskError::Io { op: "write", .. })));
    assert!(matches!(a.write_at(u64::MAX, b"x"), Err(DiskError::Invalid { op: "write", .. })));
    assert_eq!(a.len(), Ok(1 << 20), "a refused resize changes nothing");
}

#[test]
fn latency_accumulates_per_operation_and_sync() {
    let d = disk(6);
    d.set_latency(Duration::from_millis(1), Duration::from_millis(5));
    let f = d.open("f", OpenOptions::create()).unwrap();
    f.write_at(0, b"x").unwrap();
    f.sync().unwrap();
    d.sync_dir("").unwrap();
    assert_eq!(d.take_latency(), Duration::from_millis(1 + 1 + 6 + 6));
    assert_eq!(d.take_latency(), Duration::ZERO, "take drains");
}

#[test]
fn map_is_a_cheap_snapshot() {
    let d = disk(7);
    let f = d.open("f", OpenOptions::create()).unwrap();
    assert!(f.map().unwrap().is_empty());
    f.write_at(0, b"hello").unwrap();
    let first = f.map().unwrap();
    let second = f.map().unwrap();
    assert_eq!(first.as_ptr(), second.as_ptr(), "no copy while nothing changed");
    f.write_at(0, b"J").unwrap();
    f.write_at(5, b" world").unwrap();
    assert_eq!(&first[..], b"hello", "an existing mapping is a snapshot");
    assert_eq!(&f.map().unwrap()[..], b"Jello world");
    f.set_len(2).unwrap();
    assert_eq!(&second[..], b"hello", "a snapshot survives truncation");
    assert_eq!(&f.map().unwrap()[..], b"Je");
}

#[test]
fn handles_follow_inodes_across_renames_and_removes() {
    let d = disk(8);
    let f = d.open("a", OpenOptions::create()).unwrap();
    f.write_at(0, b"one").unwrap();
    d.rename("a", "b").unwrap();
    f.write_at(3, b"two").unwrap();
    assert_eq!(read_path(&d, "b"), b"onetwo");
    assert_eq!(d.exists("a"), Ok(false));
    d.remove("b").unwrap();
    assert_eq!(read_all(f.as_ref()), b"onetwo", "an unlinked file stays readable");
    assert!(matches!(d.open("b", OpenOptions::read()), Err(DiskError::NotFound { .. })));
    let ro = d.open("c", OpenOptions::create()).and_then(|_| d.open("c", OpenOptions::read()));
    let ro = ro.unwrap();
    assert!(matches!(ro.write_at(0, b"x"), Err(DiskError::Invalid { op: "write", .. })));
    assert!(matches!(d.open("../x", OpenOptions::create()), Err(DiskError::Invalid { .. })));
    assert!(matches!(d.open("/x", OpenOptions::create()), Err(DiskError::Invalid { .. })));
    assert!(matches!(d.open("nodir/x", OpenOptions::create()), Err(DiskError::NotFound { .. })));
}

#[test]
fn runs_are_deterministic_per_seed() {
    let run = |seed: u64| {
        let d = disk(seed);
        let f = d.open("f", OpenOptions::create()).unwrap();
        for i in 0..20u8 {
            f.write_at(u64::from(i) * 300, &[i + 1; 700]).unwrap();
        }
        d.crash();
        d.exists("f").unwrap().then(|| read_path(&d, "f"))
    };
    assert_eq!(run(9), run(9));
    let distinct: BTreeSet<_> = (0..8).map(run).collect();
    assert!(distinct.len() > 1, "different seeds should crash differently");
}

#[test]
fn close_all_closes_handles_without_losing_anything() {
    let d = disk(10);
    let f = d.open("LOCK", OpenOptions::create()).unwrap();
    f.try_lock().unwrap();
    f.write_at(0, b"unsynced").unwrap();
    d.close_all();
    assert_eq!(f.len(), Err(DiskError::Crashed), "closed handles are dead");
    let g = d.open("LOCK", OpenOptions::write()).unwrap();
    g.try_lock().expect("close_all released the lock");
    assert_eq!(read_all(g.as_ref()), b"unsynced", "nothing lost");
    assert!(d.has_unsynced(), "unsynced data stays unsynced");
}

/// The durable view (for oracles) is exactly the worst case of a power loss: only synced data
/// under `sync_dir`-ed names; it moves only when a sync, `sync_dir` or crash can change it.
#[test]
fn the_durable_view_shows_only_what_a_power_loss_must_keep() {
    let d = disk(21);
    d.create_dir_all("wal").unwrap();
    d.sync_dir("").unwrap();
    let f = d.open("wal/a", OpenOptions::create()).unwrap();
    f.write_at(0, b"synced").unwrap();
    f.sync().unwrap();
    assert!(d.durable_files("wal").is_empty(), "the create is not durable before sync_dir");
    let g0 = d.durable_generation();
    d.sync_dir("wal").unwrap();
    assert!(d.durable_generation() > g0);
    let files = d.durable_files("wal");
    assert_eq!(files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["a"]);
    let ino = files[0].1;
    f.write_at(6, b"-unsynced").unwrap();
    let g1 = d.durable_generation();
    let durable = |ino| d.with_durable(ino, <[u8]>::to_vec);
    assert_eq!(durable(ino).unwrap(), b"synced", "unsynced writes are not durable");
    assert_eq!(d.durable_generation(), g1, "a write does not move the durable view");
    assert_eq!(d.durable_len(ino), Some(6));
    d.rename("wal/a", "wal/b").unwrap();
    assert_eq!(d.durable_files("wal")[0].0, "a", "an unsynced rename is not durable");
    f.sync().unwrap();
    assert!(d.durable_generation() > g1);
    assert_eq!(durable(ino).unwrap(), b"synced-unsynced");
    d.crash();
    // After a crash the visible state is one the durable view allowed, and the view is exact.
    let names: Vec<String> = d.durable_files("wal").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, d.list("wal").unwrap());
    assert_eq!(d.durable_files("missing"), vec![]);
    assert_eq!(d.durable_len(999), None);
    assert_eq!(d.with_durable(999, |b| b.len()), None);
}
