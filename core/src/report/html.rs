//! A self-contained HTML rendering of a [`Report`].
//!
//! The page must open from a ZIP on an air-gapped machine and must not leak that a report was opened:
//! all CSS is inline, nothing is loaded from anywhere (no scripts, images, fonts or links to follow
//! automatically), and every piece of text from the media or the catalog is escaped.

use serde_json::Value;

use super::export::{no_update_words, Report};
use crate::catalog::Verdict;

/// How deep the generic JSON renderer descends before falling back to preformatted JSON.
const MAX_DEPTH: usize = 6;

const CSS: &str =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;\
color:#1b1b1b;background:#fff}h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;\
border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}\
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f0f0f0}pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.8rem}\
.v-applies{background:#fff3cd}.v-already-current{background:#d1e7dd}.v-superseded{color:#666}\
.v-not-applicable{color:#888}.v-unknown{background:#e2e3e5}\
details{margin:.5rem 0}summary{cursor:pointer}.catalog-age{font-weight:600}\
.catalog-stale{font-weight:600;background:#fff3cd;padding:.25rem .5rem}";

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Applies => "v-applies",
        Verdict::AlreadyCurrent => "v-already-current",
        Verdict::Superseded => "v-superseded",
        Verdict::NotApplicable => "v-not-applicable",
        Verdict::Unknown => "v-unknown",
    }
}

fn row(cells: &[&str]) -> String {
    let mut s = String::from("<tr>");
    for c in cells {
        s.push_str("<td>");
        s.push_str(&escape(c));
        s.push_str("</td>");
    }
    s.push_str("</tr>\n");
    s
}

fn header(cells: &[&str]) -> String {
    let mut s = String::from("<tr>");
    for c in cells {
        s.push_str("<th>");
        s.push_str(&escape(c));
        s.push_str("</th>");
    }
    s.push_str("</tr>\n");
    s
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Render any JSON as nested tables: objects as key/value rows, arrays of flat objects as one table
/// with a column per key (that is how the inspection's image lists come out as an image table).
fn json_html(v: &Value, depth: usize, out: &mut String) {
    if depth >= MAX_DEPTH {
        out.push_str("<pre>");
        out.push_str(&escape(
            &serde_json::to_string_pretty(v).unwrap_or_default(),
        ));
        out.push_str("</pre>");
        return;
    }
    match v {
        Value::Object(map) => {
            out.push_str("<table>\n");
            for (k, val) in map {
                out.push_str("<tr><th>");
                out.push_str(&escape(k));
                out.push_str("</th><td>");
                json_html(val, depth + 1, out);
                out.push_str("</td></tr>\n");
            }
            out.push_str("</table>\n");
        }
        Value::Array(items) => {
            let flat_objects = !items.is_empty()
                && items.iter().all(|i| {
                    i.as_object()
                        .is_some_and(|m| m.values().all(|x| !x.is_object() && !x.is_array()))
                });
            if flat_objects {
                let mut cols: Vec<&str> = Vec::new();
                for i in items {
                    if let Some(m) = i.as_object() {
                        for k in m.keys() {
                            if !cols.contains(&k.as_str()) {
                                cols.push(k);
                            }
                        }
                    }
                }
                out.push_str("<table>\n");
                out.push_str(&header(&cols));
                for i in items {
                    let cells: Vec<String> = cols
                        .iter()
                        .map(|c| i.get(*c).map(scalar).unwrap_or_default())
                        .collect();
                    let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
                    out.push_str(&row(&refs));
                }
                out.push_str("</table>\n");
            } else {
                out.push_str("<ol>\n");
                for i in items {
                    out.push_str("<li>");
                    json_html(i, depth + 1, out);
                    out.push_str("</li>\n");
                }
                out.push_str("</ol>\n");
            }
        }
        other => out.push_str(&escape(&scalar(other))),
    }
}

impl Report {
    /// A complete, self-contained HTML document.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(16 * 1024);
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        // Forbid every network load even if a future edit slips one in.
        h.push_str(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'\">\n",
        );
        h.push_str("<title>mediaprep report</title>\n<style>");
        h.push_str(CSS);
        h.push_str("</style>\n</head>\n<body>\n<h1>mediaprep report</h1>\n<table>\n");
        h.push_str(&row(&["Tool version", &self.tool_version]));
        h.push_str(&row(&["Generated", &self.generated]));
        if let Some(age) = &self.catalog {
            h.push_str(&row(&["Catalog", &age.version]));
            h.push_str(&row(&["Catalog source", &age.source.describe()]));
            h.push_str(&row(&["Catalog age", &format!("{} days", age.age_days)]));
        } else if let Some(ev) = &self.evaluation {
            h.push_str(&row(&["Catalog version", &ev.catalog_version]));
        }
        h.push_str("</table>\n");
        if let Some(age) = &self.catalog {
            h.push_str(&format!(
                "<p class=\"{}\" id=\"catalog-age\">{}</p>\n",
                if age.stale {
                    "catalog-stale"
                } else {
                    "catalog-age"
                },
                escape(&age.notice)
            ));
        }

        if let Some(ev) = &self.evaluation {
            h.push_str("<h2>Recommended updates</h2>\n");
            if ev.recommendations.is_empty() {
                h.push_str(&format!(
                    "<p>{}</p>\n",
                    escape(&no_update_words(self.catalog.as_ref()))
                ));
            } else {
                h.push_str("<table>\n");
                h.push_str(&header(&[
                    "Image", "Target", "KB", "Kind", "Title", "Released", "Why",
                ]));
                for r in &ev.recommendations {
                    h.push_str(&row(&[
                        &r.image_label,
                        r.target.label(),
                        &r.kb,
                        r.kind.label(),
                        r.title.as_deref().unwrap_or("unknown"),
                        r.release_date.as_deref().unwrap_or("unknown"),
                        &r.reason,
                    ]));
                }
                h.push_str("</table>\n");
            }
            if !ev.procedure.is_empty() {
                h.push_str("<h2>Procedure (Microsoft's order)</h2>\n<table>\n");
                h.push_str(&header(&[
                    "Step", "Target", "Action", "KBs", "Images", "Note",
                ]));
                for s in &ev.procedure {
                    h.push_str(&row(&[
                        &s.order.to_string(),
                        s.target.label(),
                        &s.action,
                        &s.kbs.join(", "),
                        &s.images.join(", "),
                        s.note.as_deref().unwrap_or(""),
                    ]));
                }
                h.push_str("</table>\n");
            }
            h.push_str("<h2>Verdicts</h2>\n");
            let mut labels: Vec<(usize, &str)> = Vec::new();
            for f in &ev.findings {
                if !labels.iter().any(|(i, _)| *i == f.image) {
                    labels.push((f.image, &f.image_label));
                }
            }
            for (img, label) in labels {
                h.push_str("<h3>");
                h.push_str(&escape(label));
                h.push_str("</h3>\n<table>\n");
                h.push_str(&header(&["KB", "Kind", "Verdict", "Reasons", "Facts used"]));
                let mut hidden = 0usize;
                for f in ev.findings_for(img) {
                    if f.verdict == Verdict::NotApplicable {
                        hidden += 1;
                        continue;
                    }
                    let facts: Vec<String> =
                        f.facts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    h.push_str(&format!(
                        "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        verdict_class(f.verdict),
                        escape(&f.kb),
                        escape(f.kind.label()),
                        escape(&f.verdict.words(self.catalog.as_ref())),
                        escape(&f.reasons.join("; ")),
                        escape(&facts.join("; "))
                    ));
                }
                h.push_str("</table>\n");
                if hidden > 0 {
                    h.push_str("<details><summary>");
                    h.push_str(&format!("{hidden} updates not applicable to this image"));
                    h.push_str("</summary><table>\n");
                    h.push_str(&header(&["KB", "Reason"]));
                    for f in ev
                        .findings_for(img)
                        .filter(|f| f.verdict == Verdict::NotApplicable)
                    {
                        h.push_str(&row(&[&f.kb, &f.reasons.join("; ")]));
                    }
                    h.push_str("</table></details>\n");
                }
            }
            if !ev.notes.is_empty() {
                h.push_str("<h2>Evaluation notes</h2>\n<ul>\n");
                for n in &ev.notes {
                    h.push_str("<li>");
                    h.push_str(&escape(n));
                    h.push_str("</li>\n");
                }
                h.push_str("</ul>\n");
            }
        }
        if !self.notes.is_empty() {
            h.push_str("<h2>Notes</h2>\n<ul>\n");
            for n in &self.notes {
                h.push_str("<li>");
                h.push_str(&escape(n));
                h.push_str("</li>\n");
            }
            h.push_str("</ul>\n");
        }
        if let Some(p) = &self.package {
            h.push_str("<h2>Package verification</h2>\n");
            json_html(p, 0, &mut h);
        }
        h.push_str("<h2>Inputs</h2>\n");
        json_html(&self.inputs, 0, &mut h);
        h.push_str("</body>\n</html>\n");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
    }
}
