//! The public proptest strategy, used the way a user's CI would use it.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use scenarios::prop::{fault_plan, run, PROP_DURATION_NS};

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(20261128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_stack_survives_generated_plans(plan in fault_plan()) {
        let report = run(plan);
        prop_assert!(report.ok(), "{:?}", report.verdict);
    }

    #[test]
    fn generated_plans_are_well_formed(plan in fault_plan()) {
        prop_assert!(plan.validate().is_ok());
        prop_assert!(plan.actions.windows(2).all(|w| w[0].at <= w[1].at));
        prop_assert!(plan.actions.iter().all(|a| a.at < PROP_DURATION_NS));
        let mut values: Vec<u64> = plan.workload.iter().filter_map(|o| match o.op {
            scenarios::plan::WorkOp::Put { value, .. } => Some(value),
            scenarios::plan::WorkOp::Cas { new, .. } => Some(new),
            _ => None,
        }).collect();
        let n = values.len();
        values.sort();
        values.dedup();
        prop_assert_eq!(values.len(), n, "written values are unique");
    }
}
