//! Copying a node's data directory: saving it, replacing it, and a foreign cluster's image.

use super::*;

/// Every data file of a node: (path, bytes).
pub(super) fn read_tree(disk: &dyn Disk) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in DATA_DIRS {
        let Ok(names) = disk.list(dir) else { continue };
        for name in names {
            let path = format!("{dir}/{name}");
            let Ok(f) = disk.open(&path, OpenOptions::read()) else { continue };
            let len = f.len().unwrap_or(0) as usize;
            let mut buf = vec![0; len];
            if f.read_exact_at(0, &mut buf).is_ok() {
                out.push((path, buf));
            }
        }
    }
    out
}

/// Replaces every data file of a node by `files`, durably.
pub(super) fn replace_tree(disk: &dyn Disk, files: &[(String, Vec<u8>)]) {
    for dir in DATA_DIRS {
        if let Ok(names) = disk.list(dir) {
            for name in names {
                let _ = disk.remove(&format!("{dir}/{name}"));
            }
        }
        let _ = disk.create_dir_all(dir);
    }
    for (path, bytes) in files {
        if let Ok(f) = disk.open(path, OpenOptions::create()) {
            let _ = f.write_at(0, bytes);
            let _ = f.sync();
        }
    }
    for dir in DATA_DIRS {
        let _ = disk.sync_dir(dir);
    }
    let _ = disk.sync_dir("member");
}

/// The data directory of a single-member foreign cluster after a few writes.
pub(super) fn foreign_image<S: Observable>(seed: u64, node: u32) -> Vec<(String, Vec<u8>)> {
    let knobs = crate::plan::Knobs::default();
    let mut f = Cluster::<S>::new(seed ^ 0xf0f0, 1, &knobs, WorldConfig::default());
    let spec = ClusterSpec::Bootstrap {
        initial_cluster: format!("{}={}", host(1), peer_url(1)),
        token: FOREIGN_TOKEN.into(),
    };
    let _ = node;
    f.set_config(1, base_config(&host(1), spec, &knobs));
    f.w.run_until(Instant(0) + Duration::from_secs(3));
    for i in 0..5u64 {
        let put = Request::Put { key: format!("foreign{i}").into_bytes(), value: b"x".to_vec() };
        f.w.request(NodeId(1), ClientRequest { id: i + 1, request: put });
    }
    f.w.run_until(Instant(0) + Duration::from_secs(4));
    f.w.stop(NodeId(1));
    read_tree(&*f.w.disk(NodeId(1)))
}
