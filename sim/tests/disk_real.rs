//! RealDisk round trip in a temporary directory: files, the byte mapping (also after the file
//! grows), locks, directory operations and path escapes.

use sim::io::{Disk, DiskError, OpenOptions};
use sim::real::disk::{RealDisk, WRITEBACK_CHUNK};

fn disk() -> (tempfile::TempDir, std::rc::Rc<RealDisk>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = RealDisk::new(dir.path().join("node")).expect("root");
    (dir, disk)
}

#[test]
fn write_read_sync_and_map_after_growth() {
    let (_tmp, disk) = disk();
    disk.create_dir_all("db").unwrap();
    let f = disk.open("db/data", OpenOptions::create_new()).unwrap();
    assert!(f.is_empty().unwrap());
    assert!(f.map().unwrap().is_empty(), "an empty file maps to an empty mapping");

    f.write_at(0, b"hello").unwrap();
    f.sync().unwrap();
    let first = f.map().unwrap();
    assert_eq!(&first[..], b"hello");

    f.write_at(8192, b"world").unwrap();
    assert_eq!(f.len().unwrap(), 8197);
    let second = f.map().unwrap();
    assert_eq!(second.len(), 8197);
    assert_eq!(&second[..5], b"hello");
    assert!(second[5..8192].iter().all(|&b| b == 0), "the gap reads as zeros");
    assert_eq!(&second[8192..], b"world");
    assert_eq!(first.len(), 5, "an old mapping keeps its length");

    let mut buf = [0u8; 5];
    f.read_exact_at(8192, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
    let mut long = [0u8; 16];
    assert_eq!(f.read_at(8190, &mut long).unwrap(), 7, "short read only at end of file");
    assert!(matches!(f.read_exact_at(8190, &mut long), Err(DiskError::Io { op: "read", .. })));

    f.allocate(16384).unwrap();
    assert_eq!(f.len().unwrap(), 16384);
    f.allocate(100).unwrap();
    assert_eq!(f.len().unwrap(), 16384, "allocate never shrinks");
    // Mappings must not outlive a shrink of the pages they reference (see RealDisk's SAFETY).
    drop((first, second));
    f.set_len(3).unwrap();
    assert_eq!(&f.map().unwrap()[..], b"hel");
    drop(f);

    let again = disk.open("db/data", OpenOptions::read()).unwrap();
    let mut buf = [0u8; 3];
    again.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hel");
    assert!(matches!(again.write_at(0, b"x"), Err(DiskError::Invalid { op: "write", .. })));
}

#[test]
fn a_second_handle_cannot_take_the_lock_until_the_first_is_dropped() {
    let (_tmp, disk) = disk();
    let a = disk.open("LOCK", OpenOptions::create()).unwrap();
    a.try_lock().unwrap();
    let b = disk.open("LOCK", OpenOptions::create()).unwrap();
    assert_eq!(b.try_lock(), Err(DiskError::Locked { path: "LOCK".into() }));
    drop(a);
    b.try_lock().unwrap();
}

#[test]
fn directory_operations() {
    let (_tmp, disk) = disk();
    disk.create_dir_all("wal/sub").unwrap();
    disk.open("wal/b.tmp", OpenOptions::create()).unwrap().write_at(0, b"B").unwrap();
    disk.open("wal/a", OpenOptions::create()).unwrap();
    assert_eq!(disk.list("wal").unwrap(), vec!["a", "b.tmp", "sub"]);

    disk.rename("wal/b.tmp", "wal/b").unwrap();
    disk.sync_dir("wal").unwrap();
    assert_eq!(disk.list("wal").unwrap(), vec!["a", "b", "sub"]);
    assert!(disk.exists("wal/b").unwrap());
    assert!(!disk.exists("wal/b.tmp").unwrap());
    let mut buf = [0u8; 1];
    disk.open("wal/b", OpenOptions::read()).unwrap().read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"B");

    disk.rename("wal/b", "wal/a").unwrap();
    assert_eq!(disk.list("wal").unwrap(), vec!["a", "sub"], "rename replaces the target");
    disk.remove("wal/a").unwrap();
    disk.remove("wal/sub").unwrap();
    disk.sync_dir("").unwrap();
    assert!(disk.list("wal").unwrap().is_empty());

    assert_eq!(disk.remove("wal/a"), Err(DiskError::NotFound { path: "wal/a".into() }));
    assert!(matches!(disk.open("wal/a", OpenOptions::write()), Err(DiskError::NotFound { .. })));
    disk.open("wal/x", OpenOptions::create_new()).unwrap();
    assert_eq!(
        disk.open("wal/x", OpenOptions::create_new()).err(),
        Some(DiskError::AlreadyExists { path: "wal/x".into() })
    );
    assert!(matches!(disk.open("wal", OpenOptions::read()), Err(DiskError::Invalid { .. })));
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let (_tmp, disk) = disk();
    for bad in ["../outside", "a/../../outside", "/etc/passwd"] {
        assert!(
            matches!(disk.open(bad, OpenOptions::create()), Err(DiskError::Invalid { .. })),
            "{bad} was not refused"
        );
        assert!(matches!(disk.list(bad), Err(DiskError::Invalid { .. })), "{bad}");
        assert!(matches!(disk.rename("x", bad), Err(DiskError::Invalid { .. })), "{bad}");
    }
}

#[test]
fn data_survives_reopening_the_disk() {
    let tmp = tempfile::tempdir().expect("temp dir");
    {
        let disk = RealDisk::new(tmp.path()).unwrap();
        let f = disk.open("member", OpenOptions::create()).unwrap();
        f.write_at(0, b"persisted").unwrap();
        f.sync().unwrap();
        disk.sync_dir("").unwrap();
    }
    let disk = RealDisk::new(tmp.path()).unwrap();
    assert_eq!(disk.list("").unwrap(), vec!["member"]);
    let f = disk.open("member", OpenOptions::read()).unwrap();
    assert_eq!(&f.map().unwrap()[..], b"persisted");
}

#[test]
fn early_writeback_starts_every_chunk_and_leaves_the_data_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = RealDisk::with_writeback(tmp.path(), Some(8192)).unwrap();
    let f = disk.open("data", OpenOptions::create_new()).unwrap();
    for i in 0..10u8 {
        f.write_at(u64::from(i) * 4096, &[i; 4096]).unwrap();
    }
    assert_eq!(disk.writeback_kicks(), 5, "one start per 8 KiB written");
    f.write_at(40_960, &[10; 4096]).unwrap();
    f.sync().unwrap();
    f.write_at(45_056, &[11; 4096]).unwrap();
    assert_eq!(disk.writeback_kicks(), 5, "sync covers what was pending");
    f.sync().unwrap();
    let mut buf = vec![0u8; 12 * 4096];
    assert_eq!(f.read_at(0, &mut buf).unwrap(), buf.len());
    for (i, page) in buf.chunks(4096).enumerate() {
        assert!(page.iter().all(|&b| usize::from(b) == i), "page {i} reads back");
    }
    assert_eq!(f.map().unwrap()[..], buf[..]);
}

#[test]
fn early_writeback_can_be_off_and_a_zero_chunk_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let off = RealDisk::with_writeback(tmp.path().join("off"), None).unwrap();
    let f = off.open("data", OpenOptions::create_new()).unwrap();
    f.write_at(0, &vec![1u8; 1 << 20]).unwrap();
    f.sync().unwrap();
    assert_eq!(off.writeback_kicks(), 0);
    let zero = RealDisk::with_writeback(tmp.path().join("zero"), Some(0));
    assert!(matches!(zero, Err(DiskError::Invalid { .. })), "got {zero:?}");
    let default = RealDisk::new(tmp.path().join("default")).unwrap();
    let f = default.open("data", OpenOptions::create_new()).unwrap();
    f.write_at(0, &vec![1u8; 16 * 1024]).unwrap();
    assert_eq!(default.writeback_kicks(), 0, "below the default chunk");
    f.write_at(16 * 1024, &vec![1u8; 16 * 1024]).unwrap();
    assert_eq!(default.writeback_kicks(), 1, "the default chunk is {WRITEBACK_CHUNK} bytes");
}
