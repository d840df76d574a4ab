//! Hand-made histories for each model, written as EDN so they read like the files users check.

use scenarios::check::{self, history_file, Budget, KvModel, Model, OpId, RegisterModel, Verdict};

fn verdict<M: Model>(model: &M, edn: &str) -> Verdict {
    let history = history_file::read(edn.as_bytes()).expect("valid history");
    check::check(model, &history, &mut Budget::unlimited()).expect("model accepts it").verdict
}

fn register(edn: &str) -> Verdict {
    verdict(&RegisterModel, edn)
}

fn kv(edn: &str) -> Verdict {
    verdict(&KvModel, edn)
}

/// Asserts the only failing key names the operation invoked on `line` as blocked, pending or
/// waiting for the state it was stuck in.
fn assert_names_line(edn: &str, v: &Verdict, line: usize) {
    let Verdict::NotLinearizable(failures) = v else { panic!("expected a violation, got {v:?}") };
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    let history = history_file::read(edn.as_bytes()).unwrap();
    let lines: Vec<usize> = std::iter::once(&f.blocked)
        .chain(&f.pending)
        .chain(&f.waiting)
        .map(|id| history.get(*id).line.unwrap() as usize)
        .collect();
    assert!(lines.contains(&line), "line {line} not named in {f:?}");
}

const SEQUENTIAL: &str = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}
";

#[test]
fn sequential_register_is_linearizable() {
    assert_eq!(register(SEQUENTIAL), Verdict::Linearizable);
}

#[test]
fn stale_read_is_caught_and_named() {
    let h = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 0, :type :invoke, :f :write, :value 2}
{:process 0, :type :ok, :f :write, :value 2}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}
";
    let v = register(h);
    assert_names_line(h, &v, 5);
    let Verdict::NotLinearizable(f) = v else { unreachable!() };
    // Write 2 cannot overwrite 1 while the read of 1 waits for it.
    assert_eq!(f[0].prefix, vec![OpId(0)]);
    assert_eq!(f[0].state, "register = 1");
    assert_eq!((f[0].blocked, f[0].waiting.clone()), (OpId(1), vec![OpId(2)]));
}

#[test]
fn lost_write_is_caught() {
    let h = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value nil}
";
    assert_names_line(h, &register(h), 3);
}

#[test]
fn concurrent_overlapping_operations_are_fine() {
    // The write overlaps both reads: one sees the old value, one the new, in either order of
    // completion.
    let h = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 1}
{:process 1, :type :ok, :f :read, :value nil}
{:process 0, :type :ok, :f :write, :value 1}
";
    assert_eq!(register(h), Verdict::Linearizable);
}

#[test]
fn new_then_old_reads_in_real_time_order_are_not() {
    // Read 1 completes before read 2 starts; read 2 sees the older value.
    let h = "\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value nil}
{:process 0, :type :ok, :f :write, :value 1}
";
    assert_names_line(h, &register(h), 4);
}

#[test]
fn cas_race_with_two_winners_is_not_linearizable() {
    let h = "\
{:process 0, :type :invoke, :f :write, :value 0}
{:process 0, :type :ok, :f :write, :value 0}
{:process 1, :type :invoke, :f :cas, :value [0 1]}
{:process 2, :type :invoke, :f :cas, :value [0 2]}
{:process 1, :type :ok, :f :cas, :value [0 1]}
{:process 2, :type :ok, :f :cas, :value [0 2]}
";
    assert!(matches!(register(h), Verdict::NotLinearizable(_)));
    // One winner, one loser (a failed cas did not happen): fine, whichever read follows.
    let one_winner = h.replace("{:process 2, :type :ok", "{:process 2, :type :fail");
    let then_read = |v: i64| {
        format!("{one_winner}{{:process 3, :type :invoke, :f :read}}\n{{:process 3, :type :ok, :f :read, :value {v}}}\n")
    };
    assert_eq!(register(&then_read(1)), Verdict::Linearizable);
    assert!(matches!(register(&then_read(2)), Verdict::NotLinearizable(_)));
}

#[test]
fn cas_from_nil_and_chain() {
    let h = "\
{:process 0, :type :invoke, :f :cas, :value [nil 1]}
{:process 0, :type :ok, :f :cas, :value [nil 1]}
{:process 0, :type :invoke, :f :cas, :value [1 2]}
{:process 1, :type :invoke, :f :cas, :value [2 3]}
{:process 1, :type :ok, :f :cas, :value [2 3]}
{:process 0, :type :ok, :f :cas, :value [1 2]}
{:process 0, :type :invoke, :f :read}
{:process 0, :type :ok, :f :read, :value 3}
";
    assert_eq!(register(h), Verdict::Linearizable);
}

#[test]
fn info_write_that_happened_and_that_did_not() {
    let happened = "\
{:process 0, :type :invoke, :f :write, :value 7}
{:process 0, :type :info, :f :write, :value 7}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value nil}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value 7}
";
    assert_eq!(register(happened), Verdict::Linearizable);
    let did_not = "\
{:process 0, :type :invoke, :f :write, :value 7}
{:process 0, :type :info, :f :write, :value 7}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value nil}
";
    assert_eq!(register(did_not), Verdict::Linearizable);
    // Once read, it took effect: a later read cannot go back to nil.
    let flip_flop = format!(
        "{happened}{{:process 1, :type :invoke, :f :read}}\n{{:process 1, :type :ok, :f :read, :value nil}}\n"
    );
    assert_names_line(&flip_flop, &register(&flip_flop), 7);
}

#[test]
fn a_value_read_before_its_unknown_write_was_invoked_is_not_linearizable() {
    let h = "\
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value 7}
{:process 0, :type :invoke, :f :write, :value 7}
{:process 0, :type :info, :f :write, :value 7}
";
    assert_names_line(h, &register(h), 1);
}

#[test]
fn never_completed_invocations_are_unknown() {
    let h = "\
{:process 0, :type :invoke, :f :write, :value 7}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value 7}
";
    assert_eq!(register(h), Verdict::Linearizable);
}

#[test]
fn committed_operations_must_take_effect() {
    // A committed write nobody read: it can take effect after everything.
    let unread = "\
{:process 0, :type :invoke, :f :write, :value 5}
{:process 0, :type :info, :f :write, :value 5, :committed true}
{:process 1, :type :invoke, :f :read}
{:process 1, :type :ok, :f :read, :value nil}
";
    assert_eq!(register(unread), Verdict::Linearizable);
    // A committed cas whose expected value never exists cannot take effect anywhere...
    let impossible = "\
{:process 0, :type :invoke, :f :cas, :value [1 2]}
{:process 0, :type :info, :f :cas, :value [1 2], :committed true}
";
    assert!(matches!(register(impossible), Verdict::NotLinearizable(_)));
    // ...while as a plain unknown outcome it simply did not happen.
    assert_eq!(register(&impossible.replace(", :committed true", "")), Verdict::Linearizable);
}

#[test]
fn kv_put_get_delete() {
    let h = "\
{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}
{:process 0, :type :ok, :f :put, :key \"a\", :value \"x\"}
{:process 0, :type :invoke, :f :get, :key \"a\"}
{:process 0, :type :ok, :f :get, :key \"a\", :value \"x\"}
{:process 0, :type :invoke, :f :delete, :key \"a\"}
{:process 0, :type :ok, :f :delete, :key \"a\"}
{:process 0, :type :invoke, :f :get, :key \"a\"}
{:process 0, :type :ok, :f :get, :key \"a\", :value nil}
";
    assert_eq!(kv(h), Verdict::Linearizable);
    let stale = h.replace(":value nil}", ":value \"x\"}");
    assert_names_line(&stale, &kv(&stale), 7);
}

#[test]
fn kv_appends_order_and_keys_are_independent() {
    let h = "\
{:process 0, :type :invoke, :f :append, :key 1, :value 1}
{:process 1, :type :invoke, :f :append, :key 1, :value 2}
{:process 0, :type :ok, :f :append, :key 1, :value 1}
{:process 1, :type :ok, :f :append, :key 1, :value 2}
{:process 0, :type :invoke, :f :get, :key 1}
{:process 0, :type :ok, :f :get, :key 1, :value [2 1]}
{:process 2, :type :invoke, :f :put, :key 2, :value 9}
{:process 2, :type :ok, :f :put, :key 2, :value 9}
{:process 2, :type :invoke, :f :get, :key 2}
{:process 2, :type :ok, :f :get, :key 2, :value GET2}
";
    assert_eq!(kv(&h.replace("GET2", "9")), Verdict::Linearizable);
    let broken = h.replace("GET2", "nil");
    let Verdict::NotLinearizable(f) = kv(&broken) else { panic!("key 2 is broken") };
    assert_eq!(f.len(), 1, "only key 2 fails: {f:?}");
    assert_eq!(f[0].key, scenarios::check::Key::Int(2));
    let missing = h.replace("GET2", "9").replace("[2 1]", "[2 1 3]");
    assert!(matches!(kv(&missing), Verdict::NotLinearizable(_)));
}

#[test]
fn kv_unknown_put_and_unknown_append() {
    let h = "\
{:process 0, :type :invoke, :f :put, :value 1}
{:process 0, :type :info, :f :put, :value 1}
{:process 1, :type :invoke, :f :append, :value 5}
{:process 1, :type :info, :f :append, :value 5}
{:process 2, :type :invoke, :f :get}
{:process 2, :type :ok, :f :get, :value [5]}
";
    assert_eq!(kv(h), Verdict::Linearizable);
    // The put must then not have taken effect after the append... or it took effect before.
    let after = format!(
        "{h}{{:process 2, :type :invoke, :f :get}}\n{{:process 2, :type :ok, :f :get, :value 1}}\n"
    );
    assert_eq!(kv(&after), Verdict::Linearizable);
    let impossible = h.replace("[5]", "[1 5]");
    assert!(matches!(kv(&impossible), Verdict::NotLinearizable(_)));
}

#[test]
fn a_step_budget_gives_unknown() {
    let history = history_file::read(SEQUENTIAL.as_bytes()).unwrap();
    let r = check::check(&RegisterModel, &history, &mut Budget::steps(1)).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown { keys: vec![scenarios::check::Key::Default] });
    let mut calls = 0;
    let mut never = || {
        calls += 1;
        false
    };
    let r =
        check::check(&RegisterModel, &history, &mut Budget::unlimited().with_deadline(&mut never))
            .unwrap();
    assert_eq!(r.verdict, Verdict::Linearizable);
}

#[test]
fn the_model_refuses_foreign_functions() {
    let e = check::check(
        &RegisterModel,
        &history_file::read(b"{:process 0, :type :invoke, :f :put, :value 1}\n").unwrap(),
        &mut Budget::unlimited(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "line 1: function :put is not part of the register model");
}
