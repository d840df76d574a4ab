//! Seeded client workloads: put / get / delete / compare-and-swap over a small key set.
//!
//! Operations arrive at a steady average rate with uniformly jittered gaps, each assigned to a
//! random client. Every written value is unique (a counter), so a read names the write it saw
//! and the checkers can tell writes apart. Compare-and-swap guesses the key's last generated
//! value (or absence), which is often but not always current: both outcomes occur.

use rand::Rng as _;
use sim::seed::Rng;

use crate::plan::{ClientOp, WorkOp};

/// Shape of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Concurrent client processes.
    pub clients: u32,
    /// Client operations per simulated second, across all clients.
    pub ops_per_sec: u64,
    /// Distinct keys (`k0..k{keys-1}`).
    pub keys: u8,
    /// Percentages of put, get, delete; the rest is compare-and-swap.
    pub put_pct: u32,
    pub get_pct: u32,
    pub delete_pct: u32,
}

impl Default for WorkloadSpec {
    /// 5 clients, 100 ops/s over 5 keys: 35% put, 35% get, 5% delete, 25% cas.
    fn default() -> WorkloadSpec {
        WorkloadSpec {
            clients: 5,
            ops_per_sec: 100,
            keys: 5,
            put_pct: 35,
            get_pct: 35,
            delete_pct: 5,
        }
    }
}

/// Generates the operations due in `[start_ns, end_ns)`.
pub fn generate(rng: &mut Rng, spec: &WorkloadSpec, start_ns: u64, end_ns: u64) -> Vec<ClientOp> {
    assert!(spec.clients > 0 && spec.keys > 0 && spec.ops_per_sec > 0, "empty workload {spec:?}");
    assert!(
        spec.put_pct + spec.get_pct + spec.delete_pct <= 100,
        "percentages exceed 100: {spec:?}"
    );
    let mean_gap = 1_000_000_000 / spec.ops_per_sec;
    let mut last: Vec<Option<u64>> = vec![None; usize::from(spec.keys)];
    let mut next_value = 1u64;
    let mut out = Vec::new();
    let mut at = start_ns + rng.random_range(0..=mean_gap);
    while at < end_ns {
        let key = rng.random_range(0..spec.keys);
        let roll = rng.random_range(0..100u32);
        let slot = &mut last[usize::from(key)];
        let op = if roll < spec.put_pct {
            let value = next_value;
            next_value += 1;
            *slot = Some(value);
            WorkOp::Put { key, value }
        } else if roll < spec.put_pct + spec.get_pct {
            WorkOp::Get { key }
        } else if roll < spec.put_pct + spec.get_pct + spec.delete_pct {
            *slot = None;
            WorkOp::Delete { key }
        } else {
            let new = next_value;
            next_value += 1;
            let old = *slot;
            *slot = Some(new);
            WorkOp::Cas { key, old, new }
        };
        out.push(ClientOp { at, client: rng.random_range(0..spec.clients), op });
        at += rng.random_range(1..=2 * mean_gap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Seed;

    #[test]
    fn rate_mix_and_unique_values() {
        let spec = WorkloadSpec::default();
        let ops = generate(&mut Seed(3).stream("workload"), &spec, 0, 20_000_000_000);
        assert!((1_800..=2_200).contains(&ops.len()), "{} ops in 20 s at 100/s", ops.len());
        assert!(ops.windows(2).all(|w| w[0].at < w[1].at), "sorted by time");
        let mut values: Vec<u64> = ops
            .iter()
            .filter_map(|o| match o.op {
                WorkOp::Put { value, .. } => Some(value),
                WorkOp::Cas { new, .. } => Some(new),
                _ => None,
            })
            .collect();
        let n = values.len();
        values.dedup();
        assert_eq!(values.len(), n, "written values are unique");
        for kind in ["put", "get", "delete", "cas"] {
            let count =
                ops.iter().filter(|o| serde_json::to_value(&o.op).unwrap()["kind"] == kind).count();
            assert!(count > 20, "{kind}: {count}");
        }
        assert!(ops.iter().all(|o| o.client < spec.clients && o.op.key() < spec.keys));
    }

    #[test]
    fn same_seed_same_workload() {
        let spec = WorkloadSpec::default();
        let a = generate(&mut Seed(9).stream("workload"), &spec, 0, 2_000_000_000);
        let b = generate(&mut Seed(9).stream("workload"), &spec, 0, 2_000_000_000);
        let c = generate(&mut Seed(10).stream("workload"), &spec, 0, 2_000_000_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
