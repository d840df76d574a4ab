//! The history model: what clients asked for, when, and what they were told.
//!
//! A [`History`] is a list of [`Operation`]s in invocation order. Each operation has a process
//! (a sequential client), an invocation time, an optional completion time, a function, a key, an
//! argument, an [`Outcome`] and (for reads) a result. Times are plain `u64`s on one shared
//! axis: logical event numbers for recorded and file histories, nanoseconds if a caller prefers.
//!
//! Outcomes follow Jepsen:
//! - `Ok`: the operation took effect between its invocation and its completion;
//! - `Fail`: it certainly did not take effect (it is ignored by the checker);
//! - `Info`: unknown — it may or may not have taken effect, at any time after its invocation,
//!   and its result (if any) is unknown. The checker treats its completion time as +infinity;
//! - `Committed`: the simulator knows it took effect (its entry was committed) although the
//!   client never saw the response: it must be linearized, after its invocation, at any time.

use std::fmt;

/// Index of an operation in its [`History`] (`History::ops()[id.0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// The functions of the supported models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Func {
    /// Register: read the value (result: the value, `nil` if never written).
    Read,
    /// Register: write the argument.
    Write,
    /// Register: compare-and-set, argument `[old new]`; `Ok` means it swapped.
    Cas,
    /// Key-value: get the value (result: the value, `nil` if absent).
    Get,
    /// Key-value: put the argument.
    Put,
    /// Key-value: append the argument to the list stored at the key.
    Append,
    /// Key-value: delete the key.
    Delete,
    /// A serializable read of one key (result: the value, `nil` if absent). It promises less
    /// than a linearizable read (see `crate::check::serializable`), so the linearizability
    /// search never sees it.
    SerialRead,
    /// A read of several keys at once, argument `[k1 k2 ...]` (ascending key numbers); result:
    /// one value per key, in the same order (`nil`: absent).
    Range,
    /// A multi-key txn, argument `[[[k v] ...] [[k v] ...] [k ...]]`: the compares (key `k`
    /// holds `v`, `nil`: absent), the writes of the success branch in order (`v` `nil`: a
    /// delete), the keys the failure branch reads. Result of an `ok` txn: `[1]` when every
    /// compare held and the writes took effect, `[0 v ...]` when not, with the value read for
    /// each failure key.
    Txn,
    /// A compaction (argument: the revision); no effect on any key's value.
    Compact,
}

impl Func {
    /// All functions, in a fixed order.
    pub const ALL: [Func; 11] = [
        Func::Read,
        Func::Write,
        Func::Cas,
        Func::Get,
        Func::Put,
        Func::Append,
        Func::Delete,
        Func::SerialRead,
        Func::Range,
        Func::Txn,
        Func::Compact,
    ];

    /// The EDN keyword name, without the colon.
    pub fn name(self) -> &'static str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
            Func::Get => "get",
            Func::Put => "put",
            Func::Append => "append",
            Func::Delete => "delete",
            Func::SerialRead => "read-serializable",
            Func::Range => "range",
            Func::Txn => "txn",
            Func::Compact => "compact",
        }
    }

    /// The function named `name` (no colon), if any.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// True for functions that never change the state (their only content is their result).
    pub fn is_read_only(self) -> bool {
        matches!(self, Func::Read | Func::Get | Func::SerialRead | Func::Range)
    }

    /// True for functions whose argument is always `nil` (single-key reads).
    pub fn takes_no_argument(self) -> bool {
        matches!(self, Func::Read | Func::Get | Func::SerialRead)
    }

    /// True for functions whose `ok` completion carries a result (reads, ranges, txns).
    pub fn has_result(self) -> bool {
        matches!(self, Func::Read | Func::Get | Func::SerialRead | Func::Range | Func::Txn)
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value: an argument or a result. `Nil` is "absent" (a register never written, a deleted key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Nil,
    Int(i64),
    Str(String),
    /// A vector: a cas argument `[old new]`, or a list built by `append`.
    Vec(Vec<Value>),
}

impl fmt::Display for Value {
    /// Formats as EDN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => crate::check::edn::write_string(f, s),
            Value::Vec(items) => crate::check::edn::write_vector(f, items),
        }
    }
}

/// The key an operation acts on. Keys are independent: each is checked on its own.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// The one implicit key of a history whose lines carry no `:key`.
    Default,
    Int(i64),
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Default => f.write_str("(default key)"),
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => crate::check::edn::write_string(f, s),
        }
    }
}

/// How an operation ended (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    Committed,
}

/// One operation of a history.
///
/// Invariants (checked by [`History::new`]): `complete >= invoke` when present; an `Ok` or `Fail`
/// operation has a completion time; a non-`Ok` operation has result `Nil`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    /// Invocation time.
    pub invoke: u64,
    /// When the completion was recorded (`None`: never completed). For `Info` and `Committed`
    /// this is only when the client gave up; the checker treats their completion as +infinity.
    pub complete: Option<u64>,
    pub func: Func,
    pub key: Key,
    /// The argument: the written value, `[old new]` for cas, the appended element; `Nil` for
    /// reads and deletes.
    pub arg: Value,
    pub outcome: Outcome,
    /// The result of an `Ok` read or get; `Nil` otherwise.
    pub result: Value,
    /// The 1-based source line of the invocation, when the history came from a file.
    pub line: Option<u32>,
}

impl Operation {
    /// The completion time the checker uses: `None` means +infinity.
    pub fn effective_completion(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Ok | Outcome::Fail => self.complete,
            Outcome::Info | Outcome::Committed => None,
        }
    }
}

impl Operation {
    /// Every key the operation touches: the keys of a range or txn (named in its argument, see
    /// [`Func::Range`] and [`Func::Txn`]), none for a compaction, else its `key`.
    pub fn keys(&self) -> Vec<Key> {
        let int = |v: &Value| match v {
            Value::Int(k) => Some(Key::Int(*k)),
            _ => None,
        };
        let mut keys: Vec<Key> = match (self.func, &self.arg) {
            (Func::Compact, _) => Vec::new(),
            (Func::Range, Value::Vec(ks)) => ks.iter().filter_map(int).collect(),
            (Func::Txn, Value::Vec(parts)) => parts
                .iter()
                .flat_map(|part| match part {
                    Value::Vec(items) => items.as_slice(),
                    _ => &[],
                })
                .filter_map(|item| match item {
                    Value::Vec(pair) => pair.first().and_then(int),
                    other => int(other),
                })
                .collect(),
            _ => vec![self.key.clone()],
        };
        keys.sort();
        keys.dedup();
        keys
    }
}

impl fmt::Display for Operation {
    /// `process 3 write 4 -> ok [t 12..15] (line 7)`: one line, for reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {} {}", self.process, self.func)?;
        if self.arg != Value::Nil {
            write!(f, " {}", self.arg)?;
        }
        if self.key != Key::Default {
            write!(f, " key {}", self.key)?;
        }
        let outcome = match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Committed => "committed",
        };
        write!(f, " -> {outcome}")?;
        if self.outcome == Outcome::Ok && self.func.has_result() {
            write!(f, " {}", self.result)?;
        }
        match self.effective_completion() {
            Some(c) => write!(f, " [t {}..{}]", self.invoke, c)?,
            None => write!(f, " [t {}..]", self.invoke)?,
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// A malformed history built in code (files report [`crate::check::history_file::ReadError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    CompletesBeforeInvoke { op: usize, invoke: u64, complete: u64 },
    MissingCompletion { op: usize, outcome: Outcome },
    ResultWithoutOk { op: usize },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::CompletesBeforeInvoke { op, invoke, complete } => {
                write!(f, "operation {op} completes at {complete}, before its invocation {invoke}")
            }
            HistoryError::MissingCompletion { op, outcome } => {
                write!(f, "operation {op} is {outcome:?} but has no completion time")
            }
            HistoryError::ResultWithoutOk { op } => {
                write!(f, "operation {op} has a result but its outcome is not ok")
            }
        }
    }
}

impl std::error::Error for HistoryError {}

/// A history: operations in invocation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<Operation>,
}

impl History {
    /// Validates the invariants of [`Operation`] and sorts by invocation time (stable).
    pub fn new(mut ops: Vec<Operation>) -> Result<History, HistoryError> {
        for (i, op) in ops.iter().enumerate() {
            if let Some(c) = op.complete {
                if c < op.invoke {
                    return Err(HistoryError::CompletesBeforeInvoke {
                        op: i,
                        invoke: op.invoke,
                        complete: c,
                    });
                }
            }
            if matches!(op.outcome, Outcome::Ok | Outcome::Fail) && op.complete.is_none() {
                return Err(HistoryError::MissingCompletion { op: i, outcome: op.outcome });
            }
            if op.outcome != Outcome::Ok && op.result != Value::Nil {
                return Err(HistoryError::ResultWithoutOk { op: i });
            }
        }
        ops.sort_by_key(|op| op.invoke);
        Ok(History { ops })
    }

    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn get(&self, id: OpId) -> &Operation {
        &self.ops[id.0]
    }
}
