//! Finding the offending field of a malformed fault plan: a walk over the parsed JSON value that
//! mirrors the plan's shape and returns the path (`faults[2].fault.node`) and what is wrong.

use serde_json::{Map, Value};

/// Walks `value` as a fault plan and returns the path and description of the first problem.
pub(super) fn locate(value: &Value) -> Option<(String, String)> {
    let Some(obj) = value.as_object() else {
        return Some(("<root>".into(), format!("expected an object, found {}", type_name(value))));
    };
    if let Some(e) = unknown_keys(obj, &["faults"], "") {
        return Some(e);
    }
    let Some(list) = obj.get("faults") else {
        return Some(("faults".into(), "missing field".into()));
    };
    let Some(list) = list.as_array() else {
        return Some(("faults".into(), format!("expected an array, found {}", type_name(list))));
    };
    list.iter().enumerate().find_map(|(i, tf)| locate_timed(tf, &format!("faults[{i}]")))
}

fn locate_timed(value: &Value, path: &str) -> Option<(String, String)> {
    let Some(obj) = value.as_object() else {
        return Some((path.into(), format!("expected an object, found {}", type_name(value))));
    };
    if let Some(e) = unknown_keys(obj, &["at", "fault"], path) {
        return Some(e);
    }
    if let Some(e) = expect(obj, "at", FieldType::U64, path) {
        return Some(e);
    }
    let fpath = format!("{path}.fault");
    let Some(fault) = obj.get("fault") else {
        return Some((fpath, "missing field".into()));
    };
    let Some(fobj) = fault.as_object() else {
        return Some((fpath, format!("expected an object, found {}", type_name(fault))));
    };
    let Some(kind) = fobj.get("kind") else {
        return Some((format!("{fpath}.kind"), "missing field".into()));
    };
    let Some(kind) = kind.as_str() else {
        return Some((
            format!("{fpath}.kind"),
            format!("expected a string, found {}", type_name(kind)),
        ));
    };
    let Some(fields) = fields_of(kind) else {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Some((
            format!("{fpath}.kind"),
            format!("unknown fault kind {kind:?}; expected one of {}", known.join(", ")),
        ));
    };
    let mut names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    names.push("kind");
    if let Some(e) = unknown_keys(fobj, &names, &fpath) {
        return Some(e);
    }
    fields.iter().find_map(|(name, ty)| expect(fobj, name, *ty, &fpath))
}

#[derive(Clone, Copy)]
pub(super) enum FieldType {
    U32,
    U64,
    I64,
    Str,
    OptU64,
}

pub(super) const KINDS: &[(&str, &[(&str, FieldType)])] = {
    use FieldType::*;
    &[
        ("crash", &[("node", U32)]),
        ("crash_at_disk_op", &[("node", U32), ("op", U64)]),
        ("restart", &[("node", U32)]),
        ("pause", &[("node", U32), ("for_ns", U64)]),
        ("partition", &[("a", U32), ("b", U32)]),
        ("partition_one_way", &[("from", U32), ("to", U32)]),
        ("isolate", &[("node", U32)]),
        ("heal", &[]),
        ("clog", &[("a", U32), ("b", U32)]),
        ("unclog", &[("a", U32), ("b", U32)]),
        ("link_latency", &[("a", U32), ("b", U32), ("latency_ns", U64), ("jitter_ns", U64)]),
        ("sync_eio", &[("node", U32), ("path_prefix", Str)]),
        ("bit_flip", &[("node", U32), ("path", Str), ("offset", U64), ("len", U64)]),
        ("disk_full", &[("node", U32), ("capacity", OptU64)]),
        ("disk_latency", &[("node", U32), ("op_ns", U64), ("sync_ns", U64)]),
        ("clock_skew", &[("node", U32), ("skew_ns", I64), ("drift_ppm", I64)]),
    ]
};

fn fields_of(kind: &str) -> Option<&'static [(&'static str, FieldType)]> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    path: &str,
) -> Option<(String, String)> {
    let key = obj.keys().find(|k| !allowed.contains(&k.as_str()))?;
    Some((join(path, key), format!("unknown field; expected one of {}", allowed.join(", "))))
}

fn expect(
    obj: &Map<String, Value>,
    name: &str,
    ty: FieldType,
    path: &str,
) -> Option<(String, String)> {
    let field = join(path, name);
    let Some(v) = obj.get(name) else {
        return match ty {
            FieldType::OptU64 => None,
            _ => Some((field, "missing field".into())),
        };
    };
    let ok = match ty {
        FieldType::U32 => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        FieldType::U64 => v.as_u64().is_some(),
        FieldType::I64 => v.as_i64().is_some(),
        FieldType::Str => v.is_string(),
        FieldType::OptU64 => v.is_null() || v.as_u64().is_some(),
    };
    if ok {
        return None;
    }
    let want = match ty {
        FieldType::U32 => "an unsigned 32-bit integer",
        FieldType::U64 => "an unsigned 64-bit integer",
        FieldType::I64 => "a signed 64-bit integer",
        FieldType::Str => "a string",
        FieldType::OptU64 => "null or an unsigned 64-bit integer",
    };
    Some((field, format!("expected {want}, found {}", describe(v))))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        other => type_name(other).to_string(),
    }
}
