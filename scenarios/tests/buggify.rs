//! BUGGIFY in `dst` runs: swarm plans carry a drawn BUGGIFY configuration and the sites fire;
//! a saved plan replays the same run; quiet scenarios keep every site off.

use scenarios::plan::Plan;
use scenarios::runner::{run, RunOptions};
use scenarios::scenario::{find, CATALOGUE};

#[test]
fn swarm_plans_carry_buggify_and_quiet_scenarios_do_not() {
    let swarm = find("swarm").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=40 {
        let p = swarm.plan_for(seed, None);
        let b = p.knobs.buggify.clone().unwrap_or_else(|| panic!("swarm seed {seed}: no buggify"));
        b.validate().unwrap();
        assert!(b.sites.is_none());
        seen.insert((b.activation.to_bits(), b.firing.to_bits()));
    }
    assert!(seen.len() >= 6, "the probabilities vary per seed: {} pairs", seen.len());
    for s in CATALOGUE.iter().filter(|s| s.name != "swarm") {
        assert_eq!(s.plan(3, 3).knobs.buggify, None, "{} must keep BUGGIFY off", s.name);
    }
}

#[test]
fn a_swarm_run_fires_sites_and_its_saved_plan_replays_the_same_trace() {
    let plan = find("swarm").unwrap().plan(4, 3);
    let first = run(&plan, &RunOptions::default());
    assert!(first.ok(), "{:?}", first.verdict);
    assert!(!first.buggify_fired.is_empty(), "no site fired in a 20 s swarm run");
    for site in first.buggify_fired.keys() {
        assert!(scenarios::buggify::sites().any(|s| s.name == *site), "unknown site {site}");
    }
    let replayed = Plan::from_json(&plan.to_json()).unwrap();
    assert_eq!(replayed.knobs, plan.knobs);
    let again = run(&replayed, &RunOptions::default());
    assert_eq!(again.trace_hash, first.trace_hash, "the plan file must replay the run");
    assert_eq!(again.buggify_fired, first.buggify_fired);
    // Without BUGGIFY the same plan is another run.
    let mut quiet = plan.clone();
    quiet.knobs.buggify = None;
    let off = run(&quiet, &RunOptions::default());
    assert!(off.buggify_fired.is_empty());
    assert_ne!(off.trace_hash, first.trace_hash);
}

#[test]
fn an_only_list_restricts_the_sites_that_fire() {
    let mut plan = find("swarm").unwrap().plan(4, 3);
    let b = plan.knobs.buggify.as_mut().unwrap();
    b.activation = 1.0;
    b.firing = 0.1;
    b.sites = Some(vec![raft::buggify::WAL_EARLY_CUT.to_string()]);
    let r = run(&plan, &RunOptions::default());
    assert!(r.ok(), "{:?}", r.verdict);
    let fired: Vec<&str> = r.buggify_fired.keys().copied().collect();
    assert_eq!(fired, vec![raft::buggify::WAL_EARLY_CUT]);
}

#[test]
fn quiet_scenarios_keep_their_trace_hash() {
    // README's example run: BUGGIFY and the new environment knobs must not change it.
    let plan = find("leader-change").unwrap().plan(1, 3);
    let r = run(&plan, &RunOptions::default());
    assert!(r.ok(), "{:?}", r.verdict);
    assert_eq!(format!("0x{:016x}", r.trace_hash), "0x470a4caa93b99207");
}
