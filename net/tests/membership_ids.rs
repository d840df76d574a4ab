//! Member and cluster IDs must equal the numbers etcd's own tests expect.
//!
//! Sources (read for the numbers only):
//! - etcd-io/etcd `server/etcdserver/api/membership/member_test.go`, `TestMemberTime`.
//! - etcd-io/etcd `etcdserver/cluster_test.go` (the 2014 predecessor of
//!   `server/etcdserver/api/membership/cluster_test.go`, commit 28862e5e), `TestClusterFromString`
//!   and `TestClusterFromStringBad`. Today's `membership/cluster_test.go` (`TestClusterGenID`)
//!   only checks that the cluster ID is non-zero and depends on the member set; it has no fixed
//!   number, so for the cluster ID we also pin the default single-member etcd cluster
//!   (`default=http://localhost:2380`, token `etcd-cluster`), whose member `8e9e05c52164694d` in
//!   cluster `cdf818194e3a8c32` every default etcd start-up log prints.
//!
//! Our construction (sorted URLs joined, then token, then decimal seconds) is the same order as
//! etcd's `computeMemberId`; these tests would fail if it differed.

use net::cluster::{cluster_id_of, Cluster, MembershipError};
use net::ids::{ClusterId, MemberId};
use net::member::{compute_member_id, Member};
use sim::time::Instant;

fn urls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// 1984-12-23T15:04:05Z in unix seconds (the time etcd's `TestMemberTime` parses).
const T_1984: u64 = 472_662_245;

#[test]
fn member_ids_match_etcd_test_member_time() {
    // member_test.go TestMemberTime: (peer URLs, cluster name, time) -> expected ID.
    let cases: &[(&[&str], &str, Option<u64>, u64)] = &[
        (&["http://10.0.0.8:2379"], "", None, 14544069596553697298),
        (&["http://10.0.0.8:2379"], "", Some(T_1984), 2448790162483548276),
        (&["http://10.0.0.8:2379"], "etcd", Some(T_1984), 6973882743191604649),
        (&["http://10.0.0.1:2379"], "", Some(T_1984), 1466075294948436910),
        (&["http://10.0.0.1:2379", "http://10.0.0.2:2379"], "", None, 16552244735972308939),
        (&["http://10.0.0.2:2379", "http://10.0.0.1:2379"], "", None, 16552244735972308939),
    ];
    for (i, (u, token, time, want)) in cases.iter().enumerate() {
        let m = Member::make("mem1", urls(u), token, *time, false).unwrap();
        assert_eq!(m.id, MemberId(*want), "case #{i}");
        // Names do not enter the ID.
        let other = Member::make("memfoo", urls(u), token, *time, false).unwrap();
        assert_eq!(other.id, m.id, "case #{i} with another name");
    }
}

#[test]
fn runtime_add_uses_clock_seconds_like_etcd() {
    // Same inputs as TestMemberTime's third case, with the time coming from the Clock seam.
    let now = Instant(T_1984 * 1_000_000_000 + 999_999_999);
    let m = Member::at_runtime(urls(&["http://10.0.0.8:2379"]), now, false).unwrap();
    assert_eq!(m.id, MemberId(2448790162483548276));
}

#[test]
fn bootstrap_ids_match_etcd_test_cluster_from_string() {
    // cluster_test.go TestClusterFromString, token "abc"; mem1 appears twice and gets both URLs.
    let s = "mem1=http://10.0.0.1:2379,mem1=http://128.193.4.20:2379,\
             mem2=http://10.0.0.2:2379,default=http://127.0.0.1:2379";
    let c = Cluster::bootstrap(s, "abc").unwrap();
    let got: Vec<(u64, &str, Vec<String>)> =
        c.members().map(|m| (m.id.0, m.name.as_str(), m.peer_urls.clone())).collect();
    assert_eq!(
        got,
        vec![
            (3141198903430435750, "mem2", urls(&["http://10.0.0.2:2379"])),
            (
                4322322643958477905,
                "mem1",
                urls(&["http://10.0.0.1:2379", "http://128.193.4.20:2379"])
            ),
            (12762790032478827328, "default", urls(&["http://127.0.0.1:2379"])),
        ]
    );
    assert_eq!(c.id(), cluster_id_of(c.member_ids()));
    assert_ne!(c.id(), ClusterId(0));
}

#[test]
fn default_single_member_cluster_matches_etcd() {
    let c = Cluster::bootstrap("default=http://localhost:2380", "etcd-cluster").unwrap();
    assert_eq!(c.member_ids(), vec![MemberId(0x8e9e05c52164694d)]);
    assert_eq!(c.id(), ClusterId(0xcdf818194e3a8c32));
    assert_eq!(c.id().to_string(), "cdf818194e3a8c32");
}

#[test]
fn bad_initial_cluster_strings_match_etcd_test_cluster_from_string_bad() {
    let bad = [
        "%^",
        "mem1=,mem2=http://128.193.4.20:2379,mem3=http://10.0.0.2:2379",
        "mem1,mem2=http://128.193.4.20:2379,mem3=http://10.0.0.2:2379",
        "default=http://localhost/",
        "mem1=http://128.193.4.20:2379,mem2=http://128.193.4.20:2379",
        "",
    ];
    for s in bad {
        assert!(Cluster::bootstrap(s, "abc").is_err(), "{s:?} must be refused");
    }
    assert!(matches!(
        Cluster::bootstrap("mem1=http://a:1,mem2=http://a:1", "t"),
        Err(MembershipError::DuplicateId { .. })
    ));
    assert!(matches!(
        Cluster::bootstrap("mem1=http://a:1,mem2=http://a:1,mem2=http://b:1", "t"),
        Err(MembershipError::PeerUrlInUse { .. })
    ));
    assert!(matches!(
        Cluster::bootstrap("mem1", "t"),
        Err(MembershipError::MalformedInitialCluster { .. })
    ));
}

#[test]
fn cluster_id_is_fixed_at_bootstrap_and_depends_on_the_member_set() {
    let mut c = Cluster::bootstrap("a=http://a:2380,b=http://b:2380", "tok").unwrap();
    let id = c.id();
    // Like etcd's TestClusterGenID: a different member set gives a different ID ...
    let three = cluster_id_of(c.member_ids().into_iter().chain([MemberId(3)]));
    assert_ne!(three, id);
    // ... but a running cluster never recomputes its ID.
    let m = Member::at_runtime(urls(&["http://c:2380"]), Instant(5_000_000_000), false).unwrap();
    c.add_member(m.clone()).unwrap();
    assert_eq!(c.id(), id);
    c.remove_member(m.id).unwrap();
    assert_eq!(c.id(), id);
    // Another token gives other member IDs and so another cluster ID.
    let other = Cluster::bootstrap("a=http://a:2380,b=http://b:2380", "other").unwrap();
    assert_ne!(other.id(), id);
}

#[test]
fn membership_changes_and_their_errors() {
    let mut c = Cluster::bootstrap("a=http://a:2380,b=http://b:2380", "tok").unwrap();
    let a = c.member_by_name("a").unwrap().id;
    let b = c.member_by_name("b").unwrap().id;

    let dup = c.member(a).unwrap().clone();
    assert_eq!(c.add_member(dup), Err(MembershipError::DuplicateId { id: a }));
    let mut zero = c.member(a).unwrap().clone();
    zero.id = MemberId(0);
    assert_eq!(c.add_member(zero), Err(MembershipError::IdZero));
    let taken = Member::at_runtime(urls(&["http://a:2380"]), Instant(0), false).unwrap();
    assert_eq!(
        c.add_member(taken),
        Err(MembershipError::PeerUrlInUse { url: "http://a:2380".into(), by: a })
    );

    let cid = c.add_runtime_member(urls(&["http://c:2380"]), Instant(9_000_000_000), true).unwrap();
    assert_eq!(cid, compute_member_id(&urls(&["http://c:2380"]), "", Some(9)));
    assert_eq!(
        c.add_runtime_member(urls(&["http://c:2380"]), Instant(9_500_000_000), true),
        Err(MembershipError::DuplicateId { id: cid }),
        "the same URLs in the same second give the same ID"
    );
    assert_eq!(c.member(cid).unwrap().name, "");
    assert!(!c.member(cid).unwrap().is_started());
    c.publish(cid, "c", urls(&["http://c:2379"])).unwrap();
    assert_eq!(c.member(cid).unwrap().client_urls, urls(&["http://c:2379"]));
    c.promote(cid).unwrap();
    assert!(!c.member(cid).unwrap().is_learner);

    assert_eq!(
        c.update_peer_urls(cid, urls(&["http://b:2380"])),
        Err(MembershipError::PeerUrlInUse { url: "http://b:2380".into(), by: b })
    );
    c.update_peer_urls(cid, urls(&["http://c2:2380"])).unwrap();
    assert_eq!(c.member(cid).unwrap().peer_urls, urls(&["http://c2:2380"]));

    c.remove_member(b).unwrap();
    assert!(c.is_removed(b));
    assert_eq!(c.remove_member(b), Err(MembershipError::IdRemoved { id: b }));
    assert_eq!(
        c.remove_member(MemberId(77)),
        Err(MembershipError::UnknownMember { id: MemberId(77) })
    );
    assert_eq!(
        c.publish(MemberId(77), "x", vec![]),
        Err(MembershipError::UnknownMember { id: MemberId(77) })
    );
    // A removed ID never comes back.
    let again = Member::bootstrap("b", urls(&["http://b:2380"]), "tok").unwrap();
    assert_eq!(again.id, b);
    assert_eq!(c.add_member(again), Err(MembershipError::IdRemoved { id: b }));
    assert_eq!(compute_member_id(&urls(&["http://b:2380"]), "tok", None), b);
}
