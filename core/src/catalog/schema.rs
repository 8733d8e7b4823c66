//! Checking a catalog file against `docs/schema/catalog.schema.json` before it is typed.
//!
//! The schema file itself is embedded and walked, so the rules a catalog is held to are the
//! documented ones and cannot drift from them. Only the keywords the schema uses are understood:
//! `type` (one or a list), `enum`, `required`, `properties`, `additionalProperties: false`, `items`,
//! `minimum`, `maximum`, `maxLength`, `maxItems` and `pattern` (anchors, literals, `\` escapes,
//! `[...]` classes with ranges, and the `?` / `{n}` / `{n,m}` quantifiers). A keyword or pattern
//! outside that subset is reported as a problem rather than silently ignored.
//!
//! Every problem names the JSON path of the offending value (`$.updates[3].release_date`), so a
//! hand-edited file can be fixed without guessing.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The catalog schema, as shipped in `docs/schema/`.
pub const SCHEMA_JSON: &str = include_str!("../../../docs/schema/catalog.schema.json");

/// One thing wrong with a catalog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProblem {
    /// JSON path of the offending value, e.g. `$.updates[3].release_date` (`$` for the whole file).
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl CatalogProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        CatalogProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for CatalogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Keywords that only document; everything else must be understood.
const ANNOTATIONS: [&str; 5] = ["$schema", "$id", "title", "description", "$comment"];

/// Schema violations of `value` (empty when it conforms).
pub fn schema_problems(value: &Value) -> Vec<CatalogProblem> {
    let schema: Value = match serde_json::from_str(SCHEMA_JSON) {
        Ok(s) => s,
        Err(e) => {
            return vec![CatalogProblem::new(
                "$",
                format!("the built-in catalog schema does not parse: {e}"),
            )]
        }
    };
    let mut out = Vec::new();
    check(&schema, value, "$", &mut out);
    name_entries(value, &mut out);
    out
}

/// Add the entry's KB to problems inside `$.updates[i]`, so the reader finds the entry by name.
fn name_entries(value: &Value, problems: &mut [CatalogProblem]) {
    for p in problems {
        let Some(rest) = p.path.strip_prefix("$.updates[") else {
            continue;
        };
        let Some(idx) = rest.split(']').next().and_then(|i| i.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(kb) = value["updates"][idx]["kb"].as_str() {
            p.message = format!("{} (entry {kb})", p.message);
        }
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn check(s: &Value, v: &Value, path: &str, out: &mut Vec<CatalogProblem>) {
    let Some(obj) = s.as_object() else {
        return;
    };
    for k in obj.keys() {
        let known = ANNOTATIONS.contains(&k.as_str())
            || matches!(
                k.as_str(),
                "type"
                    | "enum"
                    | "required"
                    | "properties"
                    | "additionalProperties"
                    | "items"
                    | "minimum"
                    | "maximum"
                    | "maxLength"
                    | "maxItems"
                    | "pattern"
            );
        if !known {
            out.push(CatalogProblem::new(
                path,
                format!("the schema uses {k:?}, which this build cannot check"),
            ));
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            let want = match t {
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                other => other.as_str().unwrap_or("?").to_string(),
            };
            out.push(CatalogProblem::new(
                path,
                format!("{} is not of type {want}", short(v)),
            ));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
            out.push(CatalogProblem::new(
                path,
                format!("{} is not one of {}", short(v), allowed.join(", ")),
            ));
        }
    }
    if let Some(n) = v.as_i64().map(i128::from).or(v.as_u64().map(i128::from)) {
        if let Some(min) = s.get("minimum").and_then(Value::as_i64) {
            if n < i128::from(min) {
                out.push(CatalogProblem::new(path, format!("{n} is below {min}")));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_u64) {
            if n > i128::from(max) {
                out.push(CatalogProblem::new(path, format!("{n} is above {max}")));
            }
        }
    }
    if let Some(text) = v.as_str() {
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
            if text.chars().count() as u64 > max {
                out.push(CatalogProblem::new(
                    path,
                    format!("text is longer than {max} characters"),
                ));
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            match pattern_matches(p, text) {
                Some(true) => {}
                Some(false) => out.push(CatalogProblem::new(
                    path,
                    format!("{} does not match the pattern {p}", short(v)),
                )),
                None => out.push(CatalogProblem::new(
                    path,
                    format!("the schema pattern {p} is outside what this build can check"),
                )),
            }
        }
    }
    if let Some(map) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(r) {
                out.push(CatalogProblem::new(
                    path,
                    format!("the required field {r:?} is missing"),
                ));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in map {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, x, &format!("{path}.{k}"), out),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(CatalogProblem::new(
                        format!("{path}.{k}"),
                        "unknown field (misspelt?): the schema does not allow it",
                    ))
                }
                None => {}
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
            if arr.len() as u64 > max {
                out.push(CatalogProblem::new(
                    path,
                    format!("{} items; at most {max} are accepted", arr.len()),
                ));
                return;
            }
        }
        if let Some(items) = s.get("items") {
            for (i, x) in arr.iter().enumerate() {
                check(items, x, &format!("{path}[{i}]"), out);
            }
        }
    }
}

/// One element of a pattern: a set of accepted characters and how many times it may repeat.
struct Atom {
    accepts: Vec<(char, char)>,
    min: usize,
    max: usize,
}

/// Compile the supported regex subset; `None` for anything outside it.
fn compile(p: &str) -> Option<(bool, Vec<Atom>, bool)> {
    let mut chars: Vec<char> = p.chars().collect();
    let start = chars.first() == Some(&'^');
    if start {
        chars.remove(0);
    }
    let end = chars.last() == Some(&'$') && !(chars.len() >= 2 && chars[chars.len() - 2] == '\\');
    if end {
        chars.pop();
    }
    let mut atoms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let accepts = match chars[i] {
            '\\' => {
                let c = *chars.get(i + 1)?;
                if c.is_ascii_alphanumeric() {
                    return None; // \d, \w, ...: not in the subset
                }
                i += 2;
                vec![(c, c)]
            }
            '[' => {
                let close = i + chars[i..].iter().position(|&c| c == ']')?;
                let body = &chars[i + 1..close];
                if body.first() == Some(&'^') || body.is_empty() {
                    return None;
                }
                let mut set = Vec::new();
                let mut j = 0;
                while j < body.len() {
                    if j + 2 < body.len() && body[j + 1] == '-' {
                        set.push((body[j], body[j + 2]));
                        j += 3;
                    } else {
                        set.push((body[j], body[j]));
                        j += 1;
                    }
                }
                i = close + 1;
                set
            }
            '.' | '*' | '+' | '(' | ')' | '|' | '{' | '}' | '?' | '^' | '$' => return None,
            c => {
                i += 1;
                vec![(c, c)]
            }
        };
        let (min, max) = match chars.get(i) {
            Some('?') => {
                i += 1;
                (0, 1)
            }
            Some('{') => {
                let close = i + chars[i..].iter().position(|&c| c == '}')?;
                let body: String = chars[i + 1..close].iter().collect();
                i = close + 1;
                match body.split_once(',') {
                    Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                    None => {
                        let n = body.parse().ok()?;
                        (n, n)
                    }
                }
            }
            _ => (1, 1),
        };
        if min > max {
            return None;
        }
        atoms.push(Atom { accepts, min, max });
    }
    Some((start, atoms, end))
}

fn match_here(atoms: &[Atom], text: &[char], anchored_end: bool) -> bool {
    let Some((a, rest)) = atoms.split_first() else {
        return !anchored_end || text.is_empty();
    };
    let ok = |c: char| a.accepts.iter().any(|&(lo, hi)| lo <= c && c <= hi);
    let run = text.iter().take(a.max).take_while(|&&c| ok(c)).count();
    if run < a.min {
        return false;
    }
    // Longest first; the atoms are few and the texts short, so backtracking stays cheap.
    (a.min..=run)
        .rev()
        .any(|n| match_here(rest, &text[n..], anchored_end))
}

/// Whether `text` matches `pattern`; `None` when the pattern is outside the supported subset.
pub fn pattern_matches(pattern: &str, text: &str) -> Option<bool> {
    let (start, atoms, end) = compile(pattern)?;
    let chars: Vec<char> = text.chars().collect();
    if start {
        return Some(match_here(&atoms, &chars, end));
    }
    Some((0..=chars.len()).any(|i| match_here(&atoms, &chars[i..], end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_of_the_schema() {
        let kb = "^KB[0-9]{6,7}$";
        assert_eq!(pattern_matches(kb, "KB5079471"), Some(true));
        assert_eq!(pattern_matches(kb, "KB958488"), Some(true));
        assert_eq!(pattern_matches(kb, "KB12345"), Some(false));
        assert_eq!(pattern_matches(kb, "KB12345678"), Some(false));
        assert_eq!(pattern_matches(kb, "xKB5079471"), Some(false));
        let ver = "^[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}$";
        assert_eq!(pattern_matches(ver, "2026.11.23"), Some(true));
        assert_eq!(pattern_matches(ver, "2026-11-23"), Some(false));
        let url = "^https?://";
        assert_eq!(pattern_matches(url, "https://x"), Some(true));
        assert_eq!(pattern_matches(url, "http://x"), Some(true));
        assert_eq!(pattern_matches(url, "ftp://x"), Some(false));
        let hex = "^[0-9a-fA-F]{4}$";
        assert_eq!(pattern_matches(hex, "09aF"), Some(true));
        assert_eq!(pattern_matches(hex, "09aG"), Some(false));
        assert_eq!(pattern_matches("^a(b|c)$", "ab"), None);
        assert_eq!(pattern_matches("^\\d$", "1"), None);
    }

    #[test]
    fn every_schema_keyword_and_pattern_is_understood() {
        // An empty object violates `required`, and nothing else: no "cannot check" problem.
        let problems = schema_problems(&serde_json::json!({}));
        assert!(
            problems.iter().all(|p| p.message.contains("required")),
            "{problems:?}"
        );
        // Walk every pattern in the schema.
        fn patterns(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
                        out.push(p.to_string());
                    }
                    m.values().for_each(|x| patterns(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| patterns(x, out)),
                _ => {}
            }
        }
        let mut ps = Vec::new();
        patterns(&serde_json::from_str(SCHEMA_JSON).unwrap(), &mut ps);
        assert!(ps.len() >= 5);
        for p in ps {
            assert!(pattern_matches(&p, "").is_some(), "{p}");
        }
    }
}
