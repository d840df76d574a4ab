//! A small, strict reader and writer for the subset of EDN that history files use.
//!
//! Grammar (one datum per call; whitespace is space, tab, CR, LF and comma):
//!
//! ```text
//! datum   = nil | true | false | integer | string | keyword | vector | map
//! integer = ["-" | "+"] digit+            (must fit in i64)
//! string  = '"' (char | '\"' | '\\' | '\n' | '\t' | '\r')* '"'
//! keyword = ":" namechar+                 (namechar: ASCII alphanumeric or * + ! - _ ? < > = / .)
//! vector  = "[" datum* "]"
//! map     = "{" (datum datum)* "}"        (no duplicate keys)
//! ```
//!
//! Input is untrusted: every malformed input gives an [`EdnError`] naming the column, what was
//! expected and what was found; nesting deeper than [`MAX_DEPTH`] is refused rather than
//! overflowing the stack.

use std::fmt;

/// Deepest nesting of vectors and maps accepted.
pub const MAX_DEPTH: usize = 32;

/// An EDN datum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    /// A keyword, without its leading colon.
    Keyword(String),
    Vector(Vec<Edn>),
    /// Entries in source order; keys are distinct.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value of `key` (a keyword name) in a map; `None` if absent or not a map.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description of the kind of datum, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Edn::Nil => "nil",
            Edn::Bool(_) => "a boolean",
            Edn::Int(_) => "an integer",
            Edn::Str(_) => "a string",
            Edn::Keyword(_) => "a keyword",
            Edn::Vector(_) => "a vector",
            Edn::Map(_) => "a map",
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Str(s) => write_string(f, s),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Vector(items) => write_vector(f, items),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Writes `s` as an EDN string literal with the escapes the reader accepts.
pub fn write_string(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Why a datum could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// 1-based column (in characters) where the problem was found.
    pub column: usize,
    /// What the reader expected there.
    pub expected: &'static str,
    /// What it found instead.
    pub found: String,
}

impl fmt::Display for EdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: expected {}, found {}", self.column, self.expected, self.found)
    }
}

impl std::error::Error for EdnError {}

/// Parses `text` as exactly one datum surrounded by optional whitespace.
pub fn parse(text: &str) -> Result<Edn, EdnError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0 };
    let datum = p.datum(0)?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.error("end of line after the datum"));
    }
    Ok(datum)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | ',')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "*+!-_?<>=/.".contains(c)
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of line".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn error(&self, expected: &'static str) -> EdnError {
        EdnError { column: self.pos + 1, expected, found: self.found() }
    }

    fn datum(&mut self, depth: usize) -> Result<Edn, EdnError> {
        self.skip_ws();
        match self.peek() {
            Some('{') => self.map(depth),
            Some('[') => self.vector(depth),
            Some('"') => self.string(),
            Some(':') => self.keyword(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.integer(),
            Some(c) if c.is_ascii_alphabetic() => self.symbol(),
            _ => Err(self.error("a value (map, vector, string, keyword, integer or nil)")),
        }
    }

    fn nested(&mut self, depth: usize) -> Result<usize, EdnError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nesting no deeper than 32"));
        }
        self.pos += 1;
        Ok(depth + 1)
    }

    /// Items up to `close`; the opening bracket has been consumed.
    fn items(&mut self, close: char, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => {
                    return Err(self.error(if close == ']' {
                        "']' to close the vector"
                    } else {
                        "'}' to close the map"
                    }))
                }
                Some(_) => items.push(self.datum(depth)?),
            }
        }
    }

    fn vector(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let depth = self.nested(depth)?;
        Ok(Edn::Vector(self.items(']', depth)?))
    }

    fn map(&mut self, depth: usize) -> Result<Edn, EdnError> {
        let open = self.pos;
        let depth = self.nested(depth)?;
        let mut entries: Vec<(Edn, Edn)> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Edn::Map(entries));
                }
                None => return Err(self.error("'}' to close the map")),
                Some(_) => {
                    let key_pos = self.pos;
                    let key = self.datum(depth)?;
                    self.skip_ws();
                    if self.peek() == Some('}') || self.peek().is_none() {
                        return Err(self.error("a value for the last key of the map"));
                    }
                    let value = self.datum(depth)?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(EdnError {
                            column: key_pos + 1,
                            expected: "distinct map keys",
                            found: format!("{key} a second time in the map at column {}", open + 1),
                        });
                    }
                    entries.push((key, value));
                }
            }
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("'\"' to close the string")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(Edn::Str(s));
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        _ => return Err(self.error("an escape: \\\" \\\\ \\n \\t or \\r")),
                    };
                    s.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// After a token, the next character must end it.
    fn end_of_token(&self) -> Result<(), EdnError> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_ws(c) || "]}[{\"".contains(c) => Ok(()),
            Some(_) => Err(self.error("whitespace, ',' or a closing bracket after the token")),
        }
    }

    fn keyword(&mut self) -> Result<Edn, EdnError> {
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(self.error("a keyword name after ':'"));
        }
        self.end_of_token()?;
        Ok(Edn::Keyword(name))
    }

    fn integer(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(self.error("a digit"));
        }
        self.end_of_token()?;
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<i64>().map(Edn::Int).map_err(|_| EdnError {
            column: start + 1,
            expected: "an integer that fits in 64 bits",
            found: text,
        })
    }

    fn symbol(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        let name = self.name();
        let datum = match name.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => {
                return Err(EdnError {
                    column: start + 1,
                    expected: "a value (symbols other than nil, true and false are not supported)",
                    found: name,
                })
            }
        };
        self.end_of_token()?;
        Ok(datum)
    }
}

/// Writes `items` as an EDN vector: `[a b c]`.
pub(crate) fn write_vector<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str("]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Edn {
        Edn::Keyword(s.to_string())
    }

    #[test]
    fn parses_a_history_line() {
        let d =
            parse(r#"{:process 3, :type :invoke, :f :cas, :value [nil -4], :key "k\"1"}"#).unwrap();
        assert_eq!(d.get("process"), Some(&Edn::Int(3)));
        assert_eq!(d.get("type"), Some(&kw("invoke")));
        assert_eq!(d.get("value"), Some(&Edn::Vector(vec![Edn::Nil, Edn::Int(-4)])));
        assert_eq!(d.get("key"), Some(&Edn::Str("k\"1".into())));
        assert_eq!(d.get("missing"), None);
    }

    #[test]
    fn display_round_trips() {
        let text = r#"{:a [1 -2 nil true "x\ny\\"], :b {:c :d}}"#;
        let d = parse(text).unwrap();
        assert_eq!(parse(&d.to_string()).unwrap(), d);
        assert_eq!(d.to_string(), text);
    }

    #[test]
    fn errors_name_column_and_expectation() {
        let cases: &[(&str, usize, &str)] = &[
            ("{:a 1", 6, "'}' to close the map"),
            ("{:a}", 4, "a value for the last key of the map"),
            ("[1 2", 5, "']' to close the vector"),
            ("{:a 1} x", 8, "end of line after the datum"),
            ("\"abc", 5, "'\"' to close the string"),
            ("\"a\\q\"", 4, "an escape: \\\" \\\\ \\n \\t or \\r"),
            ("foo", 1, "a value (symbols other than nil, true and false are not supported)"),
            ("99999999999999999999", 1, "an integer that fits in 64 bits"),
            ("12ab", 3, "whitespace, ',' or a closing bracket after the token"),
            (": x", 2, "a keyword name after ':'"),
            ("-", 2, "a digit"),
            ("{:a 1 :a 2}", 7, "distinct map keys"),
            ("", 1, "a value (map, vector, string, keyword, integer or nil)"),
            ("#{1}", 1, "a value (map, vector, string, keyword, integer or nil)"),
        ];
        for (text, column, expected) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!((e.column, e.expected), (*column, *expected), "input {text:?}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000);
        let e = parse(&text).unwrap_err();
        assert_eq!(e.expected, "nesting no deeper than 32");
        let ok = format!("{}{}", "[".repeat(31), "]".repeat(31));
        assert!(parse(&ok).is_ok());
    }
}
