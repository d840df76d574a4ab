//! EDN history files: round trips and errors that name the line.

use proptest::prelude::*;
use scenarios::check::history_file::{self, ReadError};
use scenarios::check::synth::{self, Config, Workload};
use scenarios::check::{Func, Key, Outcome, Value};

fn error_of(text: &str) -> ReadError {
    history_file::read(text.as_bytes()).expect_err(text)
}

const GOOD: &str = "{:process 0, :type :invoke, :f :write, :value 1}\n";

#[test]
fn parse_errors_name_the_line_and_the_expectation() {
    let cases: &[(&str, usize, &str)] = &[
        ("{:process 0, :type :invoke, :f :write, :value 1", 2, "line 2: column 48: expected '}' to close the map, found end of line"),
        ("{:process 0, :f :write}", 2, "line 2: expected one of :invoke :ok :fail :info for :type, found nothing (the key is missing)"),
        ("{:process 1, :type :invoke, :f :frob}", 2, "line 2: expected one of :read :write :cas :get :put :append :delete :read-serializable :range :txn :compact for :f, found :frob"),
        ("{:process -1, :type :invoke, :f :read}", 2, "line 2: expected a non-negative integer for :process, found -1"),
        ("{:process 1, :type :ok, :f :read}", 2, "line 2: expected an :invoke of process 1 before its completion"),
        ("{:process 0, :type :invoke, :f :read}", 2, "line 2: expected a completion of process 0's invocation on line 1 before it invokes again"),
        ("{:process 0, :type :ok, :f :read}", 2, "line 2: expected :f :write as invoked on line 1, found :read"),
        ("{:process 0, :type :ok, :f :write, :key \"b\"}", 2, "line 2: expected :key nil as invoked on line 1, found \"b\""),
        ("{:process 1, :type :invoke, :f :cas, :value 3}", 2, "line 2: expected [old new] for :cas for :value, found 3"),
        ("{:process 1, :type :invoke, :f :write, :value :x}", 2, "line 2: expected nil, an integer, a string or a vector of them for :value, found :x"),
        ("[1 2]", 2, "line 2: expected a map {:process .., :type .., :f ..} for :process, found a vector"),
        ("{:process 1, :type :info, :f :write, :committed 1}", 2, "line 2: expected true or false for :committed, found 1"),
    ];
    for (line2, line, message) in cases {
        let text = format!("{GOOD}{line2}\n");
        let e = error_of(&text);
        assert_eq!(e.line(), *line, "{line2}");
        assert_eq!(e.to_string(), *message, "{line2}");
    }
    let e = history_file::read(b"\n\n\xff\xfe\n").unwrap_err();
    assert_eq!(e.to_string(), "line 3: expected UTF-8 text");
}

#[test]
fn jepsen_extras_are_tolerated() {
    let text = "\
{:type :info, :f :start-partition, :process :nemesis, :value nil}

{:process 2, :type :invoke, :f :read, :value nil, :time 1234, :index 0}
{:process 2, :type :ok, :f :read, :value 3, :time 1300, :index 1, :error \"slow\"}
{:process 4, :type :invoke, :f :cas, :value [3 nil], :key 7}
";
    let h = history_file::read(text.as_bytes()).unwrap();
    assert_eq!(h.len(), 2);
    let (read, cas) = (&h.ops()[0], &h.ops()[1]);
    assert_eq!((read.process, read.func, read.result.clone()), (2, Func::Read, Value::Int(3)));
    assert_eq!((read.invoke, read.complete, read.line), (0, Some(1), Some(3)));
    assert_eq!(read.key, Key::Default);
    assert_eq!((cas.key.clone(), cas.outcome, cas.complete), (Key::Int(7), Outcome::Info, None));
    assert_eq!(cas.arg, Value::Vec(vec![Value::Int(3), Value::Nil]));
}

#[test]
fn committed_info_round_trips() {
    let text = "\
{:process 0, :type :invoke, :f :put, :key \"a\\\"b\", :value \"x y\"}
{:process 0, :type :info, :f :put, :key \"a\\\"b\", :value \"x y\", :committed true}
{:process 0, :type :invoke, :f :get, :key \"a\\\"b\", :value nil}
{:process 0, :type :fail, :f :get, :key \"a\\\"b\", :value nil}
";
    let h = history_file::read(text.as_bytes()).unwrap();
    assert_eq!(h.ops()[0].outcome, Outcome::Committed);
    assert_eq!(h.ops()[1].outcome, Outcome::Fail);
    assert_eq!(history_file::write(&h), text);
}

fn strip_lines(h: &scenarios::check::History) -> Vec<scenarios::check::Operation> {
    h.ops()
        .iter()
        .cloned()
        .map(|mut o| {
            o.line = None;
            o
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn recorded_histories_round_trip(seed in any::<u64>(), kv in any::<bool>(), keys in 1usize..4, info in 0u32..500) {
        let cfg = Config {
            workload: if kv { Workload::Kv } else { Workload::Register },
            ops: 40,
            processes: 4,
            keys,
            info_per_mille: info,
        };
        let h = synth::generate(&mut sim::Seed(seed).stream("history"), &cfg);
        let text = history_file::write(&h);
        let back = history_file::read(text.as_bytes()).unwrap();
        prop_assert_eq!(strip_lines(&back), strip_lines(&h));
        prop_assert_eq!(history_file::write(&back), text);
    }
}
