//! The maintenance checks `scripts/catalog-check` runs before a catalog update is merged.
//!
//! The loader ([`Catalog::load`]) only rejects what would make the engine misread the file. A
//! monthly research pass can also leave data that loads fine but is wrong: a supersedence loop, a
//! replacement dated before the update it replaces, a release date that is not a release day, a
//! revision going backwards, a title naming another KB. These checks find those; each problem names
//! the JSON path of the field to look at.

use std::collections::BTreeMap;

use super::age::Date;
use super::model::{Catalog, Update};
use super::schema::CatalogProblem;

/// Words in `notes` that document a release off Microsoft's monthly cycle.
pub const OFF_CYCLE_WORDS: [&str; 3] = ["out-of-band", "out of band", "off-cycle"];

/// Load `bytes` and run every check: the loader's (schema, formats, duplicates), then
/// [`Catalog::maintenance_problems`]. Empty when the file is fit to ship.
pub fn check_catalog(bytes: &[u8]) -> Vec<CatalogProblem> {
    match Catalog::load(bytes) {
        Ok(c) => c.maintenance_problems(),
        Err(e) => e.problems,
    }
}

impl Catalog {
    /// The maintenance checks on a loaded catalog: supersession references and agreement
    /// ([`Catalog::lint_problems`]), supersedence cycles, release dates, and KB / revision
    /// consistency.
    pub fn maintenance_problems(&self) -> Vec<CatalogProblem> {
        let mut out = self.lint_problems();
        out.extend(self.cycle_problems());
        out.extend(self.date_problems());
        out.extend(self.revision_problems());
        out.extend(self.kb_problems());
        out
    }

    fn index_of(&self, kb: &str) -> Option<usize> {
        self.updates
            .iter()
            .position(|u| u.kb.eq_ignore_ascii_case(kb))
    }

    /// Replacement edges `(newer, older)` between entries present in the catalog, from both
    /// `supersedes` and `superseded_by`, without duplicates.
    fn replacement_edges(&self) -> Vec<(usize, usize)> {
        let mut edges = Vec::new();
        for (i, u) in self.updates.iter().enumerate() {
            for kb in &u.supersedes {
                if let Some(j) = self.index_of(kb) {
                    edges.push((i, j));
                }
            }
            for kb in &u.superseded_by {
                if let Some(j) = self.index_of(kb) {
                    edges.push((j, i));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        edges
    }

    /// A chain of replacements must end: KB A replaces B replaces A is a data error.
    fn cycle_problems(&self) -> Vec<CatalogProblem> {
        let edges = self.replacement_edges();
        let n = self.updates.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in &edges {
            next[a].push(b);
        }
        // Iterative depth-first search; state 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; n];
        let mut out = Vec::new();
        let mut reported: Vec<Vec<usize>> = Vec::new();
        for root in 0..n {
            if state[root] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some(&mut (node, ref mut child)) = stack.last_mut() {
                if let Some(&to) = next[node].get(*child) {
                    *child += 1;
                    match state[to] {
                        0 => {
                            state[to] = 1;
                            stack.push((to, 0));
                        }
                        1 => {
                            let from = stack.iter().position(|(x, _)| *x == to).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                stack[from..].iter().map(|(x, _)| *x).collect();
                            let mut key = cycle.clone();
                            key.sort_unstable();
                            if !reported.contains(&key) {
                                reported.push(key);
                                cycle.push(to);
                                let names: Vec<&str> =
                                    cycle.iter().map(|&i| self.updates[i].kb.as_str()).collect();
                                out.push(CatalogProblem::new(
                                    format!("$.updates[{to}].supersedes"),
                                    format!(
                                        "supersedence cycle: {} (each replaces the next, so none \
                                         is the newest)",
                                        names.join(" replaces ")
                                    ),
                                ));
                            }
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        out
    }

    /// Release dates: a replacement is not older than what it replaces, and every date is a
    /// Microsoft release day unless the notes document an out-of-band release.
    fn date_problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        let date = |u: &Update| u.release_date.as_deref().and_then(Date::parse);
        for (newer, older) in self.replacement_edges() {
            let (n, o) = (&self.updates[newer], &self.updates[older]);
            if let (Some(dn), Some(dold)) = (date(n), date(o)) {
                if dn < dold {
                    out.push(CatalogProblem::new(
                        format!("$.updates[{newer}].release_date"),
                        format!(
                            "{} ({dn}) replaces {} but is dated before it ({dold})",
                            n.kb, o.kb
                        ),
                    ));
                }
            }
        }
        for (i, u) in self.updates.iter().enumerate() {
            let Some(d) = date(u) else { continue };
            let release_day = d.weekday() == 1 && matches!(d.week_of_month(), 2 | 4);
            let documented = u.notes.as_deref().is_some_and(|n| {
                let n = n.to_ascii_lowercase();
                OFF_CYCLE_WORDS.iter().any(|w| n.contains(w))
            });
            if !release_day && !documented {
                out.push(CatalogProblem::new(
                    format!("$.updates[{i}].release_date"),
                    format!(
                        "{d} is a {} (week {} of the month), not a release day (the second \
                         Tuesday, or the fourth-Tuesday preview release); check the date, or say \
                         \"out-of-band\" or \"off-cycle\" in the notes of {} if Microsoft \
                         released it then",
                        d.weekday_name(),
                        d.week_of_month(),
                        u.kb
                    ),
                ));
            }
        }
        out
    }

    /// Revisions only grow along a servicing branch: a later update of the same kind, build family
    /// and product side never brings a lower revision, and a replacement never a lower one than
    /// what it replaces.
    fn revision_problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        let mut branches: BTreeMap<(String, u32, bool, bool), Vec<usize>> = BTreeMap::new();
        for (i, u) in self.updates.iter().enumerate() {
            let (Some(fam), Some(_), Some(_)) = (
                u.build_family,
                u.revision,
                u.release_date.as_deref().and_then(Date::parse),
            ) else {
                continue;
            };
            branches
                .entry((
                    u.kind.as_str().to_string(),
                    fam,
                    u.for_client(),
                    u.for_server(),
                ))
                .or_default()
                .push(i);
        }
        for members in branches.values() {
            for &a in members {
                for &b in members {
                    let (ua, ub) = (&self.updates[a], &self.updates[b]);
                    if ua.release_date < ub.release_date && ua.revision > ub.revision {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{b}].revision"),
                            format!(
                                "{} ({}) brings revision {} but the older {} ({}) of the same \
                                 branch already brings {}",
                                ub.kb,
                                ub.release_date.as_deref().unwrap_or("?"),
                                ub.revision.unwrap_or(0),
                                ua.kb,
                                ua.release_date.as_deref().unwrap_or("?"),
                                ua.revision.unwrap_or(0)
                            ),
                        ));
                    }
                }
            }
        }
        for (newer, older) in self.replacement_edges() {
            let (n, o) = (&self.updates[newer], &self.updates[older]);
            if let (Some(rn), Some(ro)) = (n.revision, o.revision) {
                if n.kind == o.kind && n.build_family == o.build_family && rn < ro {
                    out.push(CatalogProblem::new(
                        format!("$.updates[{newer}].revision"),
                        format!(
                            "{} replaces {} but brings a lower revision ({rn} < {ro})",
                            n.kb, o.kb
                        ),
                    ));
                }
            }
        }
        out
    }

    /// The KB number, kind and revision an entry states must agree with its title and file names.
    fn kb_problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        for (i, u) in self.updates.iter().enumerate() {
            if let Some(title) = &u.title {
                for kb in kb_numbers(title) {
                    if !kb.eq_ignore_ascii_case(&u.kb) {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{i}].title"),
                            format!("the title names {kb}, but the entry is {}", u.kb),
                        ));
                    }
                }
                let lower = title.to_ascii_lowercase();
                let kind_word = [
                    ("Safe OS Dynamic Update", "safeos-du"),
                    ("Setup Dynamic Update", "setup-du"),
                ]
                .into_iter()
                .find(|(w, _)| lower.contains(&w.to_ascii_lowercase()));
                if let Some((word, kind)) = kind_word {
                    if u.kind.as_str() != kind {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{i}].kind"),
                            format!(
                                "the title says {word} but the kind is {} ({})",
                                u.kind.as_str(),
                                u.kb
                            ),
                        ));
                    }
                }
                // "(OS Builds 26200.7623 and 26100.7623)": the revision of a listed build.
                let stated: Vec<u32> = build_revisions(title)
                    .into_iter()
                    .filter(|(b, _)| u.os_builds.contains(b) || u.build_family == Some(*b))
                    .map(|(_, r)| r)
                    .collect();
                if !stated.is_empty() && !u.revision.is_some_and(|r| stated.contains(&r)) {
                    out.push(CatalogProblem::new(
                        format!("$.updates[{i}].revision"),
                        format!(
                            "the title gives revision {} but the entry says {} ({})",
                            stated
                                .iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(" / "),
                            u.revision
                                .map_or_else(|| "null".to_string(), |r| r.to_string()),
                            u.kb
                        ),
                    ));
                }
            }
            for (j, f) in u.files.iter().enumerate() {
                for kb in kb_numbers(&f.name) {
                    if !kb.eq_ignore_ascii_case(&u.kb) {
                        out.push(CatalogProblem::new(
                            format!("$.updates[{i}].files[{j}].name"),
                            format!("the file name names {kb}, but the entry is {}", u.kb),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// KB numbers (`KB` + 6–7 digits, any case) in free text, upper-cased.
fn kb_numbers(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary && b[i].eq_ignore_ascii_case(&b'k') && b[i + 1].eq_ignore_ascii_case(&b'b') {
            let digits = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
            if (6..=7).contains(&digits) {
                out.push(format!("KB{}", &text[i + 2..i + 2 + digits]));
                i += 2 + digits;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `build.revision` pairs (a 5-digit build, a dot, digits) in free text.
fn build_revisions(text: &str) -> Vec<(u32, u32)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let after = i + n;
        if n == 5 && b.get(after) == Some(&b'.') {
            let m = b[after + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let next_is_dot = b.get(after + 1 + m) == Some(&b'.');
            if (1..=6).contains(&m) && !next_is_dot {
                if let (Ok(build), Ok(rev)) = (
                    text[i..after].parse::<u32>(),
                    text[after + 1..after + 1 + m].parse::<u32>(),
                ) {
                    out.push((build, rev));
                }
            }
            i = after + 1 + m;
            continue;
        }
        i = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_scanners() {
        assert_eq!(
            kb_numbers("January 13, 2026—KB5074109 (OS Builds 26200.7623 and 26100.7623)"),
            vec!["KB5074109"]
        );
        assert_eq!(
            kb_numbers("windows11.0-kb5079471-x64_0123.cab"),
            vec!["KB5079471"]
        );
        assert!(kb_numbers("KB12345 and xKB5079471").is_empty());
        assert_eq!(
            build_revisions("(OS Builds 26200.7623 and 26100.7623)"),
            vec![(26200, 7623), (26100, 7623)]
        );
        // A full four-part version is not a build.revision pair.
        assert!(build_revisions("WinRE 10.0.26100.7623.1").is_empty());
        assert!(build_revisions("version 2026.11.23").is_empty());
    }
}
