//! Majority arithmetic over a set of voters.

use std::collections::{BTreeMap, BTreeSet};

use sim::planted;

use super::message::PeerId;

/// The outcome of an election so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    Pending,
    Lost,
    Won,
}

/// The largest index acknowledged by a majority of `voters`, given each voter's acked index
/// (missing voters count as 0). An empty set commits everything (`u64::MAX`).
pub fn committed_index(voters: &BTreeSet<PeerId>, acked: impl Fn(PeerId) -> u64) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    // Clusters are small: sort on the stack, falling back to the heap for unusual sizes.
    const STACK: usize = 16;
    let mut stack = [0u64; STACK];
    let mut heap = Vec::new();
    let v: &mut [u64] = if voters.len() <= STACK {
        for (slot, &id) in stack.iter_mut().zip(voters) {
            *slot = acked(id);
        }
        &mut stack[..voters.len()]
    } else {
        heap.extend(voters.iter().map(|&id| acked(id)));
        &mut heap
    };
    v.sort_unstable_by(|a, b| b.cmp(a));
    if planted::active(&crate::planted::COMMIT_QUORUM_EVEN_HALF) {
        return v[(voters.len() - 1) / 2];
    }
    v[voters.len() / 2]
}

/// Tallies `votes` (granted or rejected) among `voters`.
pub fn vote_result(voters: &BTreeSet<PeerId>, votes: &BTreeMap<PeerId, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let q = if planted::active(&crate::planted::VOTE_QUORUM_HALF) {
        voters.len().div_ceil(2)
    } else {
        voters.len() / 2 + 1
    };
    let (mut yes, mut missing) = (0, 0);
    for id in voters {
        match votes.get(id) {
            Some(true) => yes += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    if yes >= q {
        VoteResult::Won
    } else if yes + missing >= q {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_index() {
        let voters: BTreeSet<u64> = [1, 2, 3, 4, 5].into();
        let acked = |id: u64| [0, 9, 7, 5, 3, 1][id as usize];
        assert_eq!(committed_index(&voters, acked), 5);
        let four: BTreeSet<u64> = [1, 2, 3, 4].into();
        assert_eq!(committed_index(&four, acked), 5);
    }

    #[test]
    fn committed_index_of_large_voter_sets() {
        // 16 voters sort on the stack, 17 on the heap: both give the majority's index.
        let sixteen: BTreeSet<u64> = (1..=16).collect();
        assert_eq!(committed_index(&sixteen, |id| 100 + id), 108);
        let seventeen: BTreeSet<u64> = (1..=17).collect();
        assert_eq!(committed_index(&seventeen, |id| 100 + id), 109);
    }

    #[test]
    fn tally() {
        let voters: BTreeSet<u64> = [1, 2, 3].into();
        let mut votes = BTreeMap::new();
        votes.insert(1, true);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(2, false);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(3, false);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Lost);
        votes.insert(3, true);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Won);
    }
}
