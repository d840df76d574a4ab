//! Jepsen-style EDN history files: one map per line.
//!
//! ```text
//! {:process 3, :type :invoke, :f :write, :value 4}
//! {:process 1, :type :invoke, :f :read, :value nil, :key "k"}
//! {:process 3, :type :ok, :f :write, :value 4}
//! {:process 1, :type :ok, :f :read, :value 4, :key "k"}
//! ```
//!
//! - `:process`: a non-negative integer. Lines whose process is a keyword (Jepsen's `:nemesis`)
//!   are skipped.
//! - `:type`: `:invoke`, `:ok`, `:fail` or `:info`. A completion closes the process's open
//!   invocation, which must have the same `:f` (and `:key`, if the completion names one).
//! - `:f`: `:read :write :cas :get :put :append :delete`, and this project's
//!   `:read-serializable :range :txn :compact` (see [`Func`] for their values).
//! - `:key` (optional): a string or an integer; lines without it use one implicit key.
//! - `:value`: the argument on an invocation (cas: `[old new]`), the result on an `:ok` read,
//!   get, range or txn; `nil` (or absent) for nothing / an absent value. Completions of other functions may
//!   repeat the argument; it is ignored.
//! - `:committed true` (optional, on `:info`): our extension — the simulator knows the operation
//!   took effect. Other tools read it as a plain `:info`.
//! - Other keys (`:time`, `:index`, `:error`, ...) are ignored. Blank lines are skipped.
//!
//! Time is line order: the n-th event line (0-based, skipped lines not counted) happens at time
//! n. An invocation never completed is an unknown outcome (`Info`, no completion).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::edn::{self, Edn, EdnError};
use super::history::{Func, History, Key, Operation, Outcome, Value};

/// Why a history file could not be read. Every variant names the 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    NotUtf8 {
        line: usize,
    },
    Syntax {
        line: usize,
        error: EdnError,
    },
    /// A field is missing or has the wrong kind of value.
    Field {
        line: usize,
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A completion for a process with no open invocation.
    NothingOpen {
        line: usize,
        process: u64,
    },
    /// An invocation while the process still has one open.
    AlreadyOpen {
        line: usize,
        process: u64,
        open_line: usize,
    },
    /// A completion whose `:f` or `:key` differs from its invocation's.
    Mismatch {
        line: usize,
        field: &'static str,
        invoke_line: usize,
        invoked: String,
        found: String,
    },
}

impl ReadError {
    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            ReadError::NotUtf8 { line }
            | ReadError::Syntax { line, .. }
            | ReadError::Field { line, .. }
            | ReadError::NothingOpen { line, .. }
            | ReadError::AlreadyOpen { line, .. }
            | ReadError::Mismatch { line, .. } => *line,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line())?;
        match self {
            ReadError::NotUtf8 { .. } => write!(f, "expected UTF-8 text"),
            ReadError::Syntax { error, .. } => write!(f, "{error}"),
            ReadError::Field { field, expected, found, .. } => {
                write!(f, "expected {expected} for :{field}, found {found}")
            }
            ReadError::NothingOpen { process, .. } => {
                write!(f, "expected an :invoke of process {process} before its completion")
            }
            ReadError::AlreadyOpen { process, open_line, .. } => write!(
                f,
                "expected a completion of process {process}'s invocation on line {open_line} \
                 before it invokes again"
            ),
            ReadError::Mismatch { field, invoke_line, invoked, found, .. } => write!(
                f,
                "expected :{field} {invoked} as invoked on line {invoke_line}, found {found}"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

enum EventType {
    Invoke,
    Complete(Outcome),
}

/// One parsed event line.
struct Event {
    process: u64,
    kind: EventType,
    func: Func,
    key: Option<Key>,
    value: Value,
}

fn field_error(
    line: usize,
    field: &'static str,
    expected: &'static str,
    found: Option<&Edn>,
) -> ReadError {
    let found = found.map_or_else(|| "nothing (the key is missing)".to_string(), |d| d.to_string());
    ReadError::Field { line, field, expected, found }
}

fn keyword<'a>(
    d: &'a Edn,
    line: usize,
    field: &'static str,
    expected: &'static str,
) -> Result<&'a str, ReadError> {
    match d.get(field) {
        Some(Edn::Keyword(k)) => Ok(k),
        other => Err(field_error(line, field, expected, other)),
    }
}

fn to_value(d: &Edn, line: usize, field: &'static str) -> Result<Value, ReadError> {
    let bad = || field_error(line, field, "nil, an integer, a string or a vector of them", Some(d));
    Ok(match d {
        Edn::Nil => Value::Nil,
        Edn::Int(i) => Value::Int(*i),
        Edn::Str(s) => Value::Str(s.clone()),
        Edn::Vector(items) => {
            Value::Vec(items.iter().map(|i| to_value(i, line, field)).collect::<Result<_, _>>()?)
        }
        Edn::Bool(_) | Edn::Keyword(_) | Edn::Map(_) => return Err(bad()),
    })
}

/// Parses one non-blank line; `None` for a line to skip (a nemesis event).
fn parse_event(text: &str, line: usize) -> Result<Option<Event>, ReadError> {
    let d = edn::parse(text).map_err(|error| ReadError::Syntax { line, error })?;
    if !matches!(d, Edn::Map(_)) {
        return Err(ReadError::Field {
            line,
            field: "process",
            expected: "a map {:process .., :type .., :f ..}",
            found: d.kind().to_string(),
        });
    }
    let process = match d.get("process") {
        Some(Edn::Int(p)) if *p >= 0 => *p as u64,
        Some(Edn::Keyword(_)) => return Ok(None),
        other => return Err(field_error(line, "process", "a non-negative integer", other)),
    };
    const TYPES: &str = "one of :invoke :ok :fail :info";
    let kind = match keyword(&d, line, "type", TYPES)? {
        "invoke" => EventType::Invoke,
        "ok" => EventType::Complete(Outcome::Ok),
        "fail" => EventType::Complete(Outcome::Fail),
        "info" => match d.get("committed") {
            None | Some(Edn::Bool(false)) | Some(Edn::Nil) => EventType::Complete(Outcome::Info),
            Some(Edn::Bool(true)) => EventType::Complete(Outcome::Committed),
            other => return Err(field_error(line, "committed", "true or false", other)),
        },
        _ => return Err(field_error(line, "type", TYPES, d.get("type"))),
    };
    const FUNCS: &str = "one of :read :write :cas :get :put :append :delete \
                         :read-serializable :range :txn :compact";
    let func = Func::from_name(keyword(&d, line, "f", FUNCS)?)
        .ok_or_else(|| field_error(line, "f", FUNCS, d.get("f")))?;
    let key = match d.get("key") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s)) => Some(Key::Str(s.clone())),
        Some(Edn::Int(i)) => Some(Key::Int(*i)),
        other => return Err(field_error(line, "key", "a string or an integer", other)),
    };
    let value = match d.get("value") {
        None => Value::Nil,
        Some(v) => to_value(v, line, "value")?,
    };
    if func == Func::Cas && matches!(kind, EventType::Invoke) && !is_pair(&value) {
        return Err(field_error(line, "value", "[old new] for :cas", d.get("value")));
    }
    Ok(Some(Event { process, kind, func, key, value }))
}

fn is_pair(v: &Value) -> bool {
    matches!(v, Value::Vec(items) if items.len() == 2)
}

/// Reads a history file. See the module documentation for the format.
pub fn read(bytes: &[u8]) -> Result<History, ReadError> {
    let mut ops: Vec<Operation> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut time = 0u64;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let text = std::str::from_utf8(raw).map_err(|_| ReadError::NotUtf8 { line })?;
        if text.trim().is_empty() {
            continue;
        }
        let Some(event) = parse_event(text, line)? else { continue };
        match event.kind {
            EventType::Invoke => {
                if let Some(&op) = open.get(&event.process) {
                    let open_line = ops[op].line.unwrap_or(0) as usize;
                    return Err(ReadError::AlreadyOpen { line, process: event.process, open_line });
                }
                open.insert(event.process, ops.len());
                let arg = if event.func.takes_no_argument() { Value::Nil } else { event.value };
                ops.push(Operation {
                    process: event.process,
                    invoke: time,
                    complete: None,
                    func: event.func,
                    key: event.key.unwrap_or(Key::Default),
                    arg,
                    outcome: Outcome::Info,
                    result: Value::Nil,
                    line: Some(line as u32),
                });
            }
            EventType::Complete(outcome) => {
                let op = open
                    .remove(&event.process)
                    .ok_or(ReadError::NothingOpen { line, process: event.process })?;
                complete(&mut ops[op], event, outcome, time, line)?;
            }
        }
        time += 1;
    }
    Ok(History::new(ops).expect("the reader maintains the history invariants"))
}

fn complete(
    op: &mut Operation,
    event: Event,
    outcome: Outcome,
    time: u64,
    line: usize,
) -> Result<(), ReadError> {
    let invoke_line = op.line.unwrap_or(0) as usize;
    if event.func != op.func {
        return Err(ReadError::Mismatch {
            line,
            field: "f",
            invoke_line,
            invoked: format!(":{}", op.func),
            found: format!(":{}", event.func),
        });
    }
    if let Some(key) = event.key {
        if key != op.key {
            return Err(ReadError::Mismatch {
                line,
                field: "key",
                invoke_line,
                invoked: key_edn(&op.key),
                found: key_edn(&key),
            });
        }
    }
    op.complete = Some(time);
    op.outcome = outcome;
    if outcome == Outcome::Ok && op.func.has_result() {
        op.result = event.value;
    }
    Ok(())
}

fn key_edn(key: &Key) -> String {
    match key {
        Key::Default => "nil".to_string(),
        Key::Int(_) | Key::Str(_) => key.to_string(),
    }
}

/// Writes `history` in the file format, one event per line, in time order (at equal times,
/// completions before invocations, so each process stays sequential).
pub fn write(history: &History) -> String {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(history.len() * 2);
    for (i, op) in history.ops().iter().enumerate() {
        events.push((op.invoke, true, i));
        if let Some(c) = op.complete {
            events.push((c, false, i));
        }
    }
    events.sort();
    let mut out = String::new();
    for (_, is_invoke, i) in events {
        let op = &history.ops()[i];
        let (kind, value) = if is_invoke {
            (":invoke", &op.arg)
        } else {
            let kind = match op.outcome {
                Outcome::Ok => ":ok",
                Outcome::Fail => ":fail",
                Outcome::Info | Outcome::Committed => ":info",
            };
            let value = if op.outcome == Outcome::Ok && op.func.has_result() {
                &op.result
            } else {
                &op.arg
            };
            (kind, value)
        };
        write!(out, "{{:process {}, :type {kind}, :f :{}", op.process, op.func)
            .expect("writing to a String cannot fail");
        if op.key != Key::Default {
            write!(out, ", :key {}", op.key).expect("writing to a String cannot fail");
        }
        write!(out, ", :value {value}").expect("writing to a String cannot fail");
        if !is_invoke && op.outcome == Outcome::Committed {
            out.push_str(", :committed true");
        }
        out.push_str("}\n");
    }
    out
}
