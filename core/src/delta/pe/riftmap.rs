//! Piecewise maps between address spaces (RVA, file offset; reference, target) and their
//! composition into the copy rift the codec predicts source positions with.

use super::super::rift::Rift;

/// A piecewise map with slope one: from each `from` breakpoint on, `x ↦ to + (x − from)`; below
/// the first breakpoint, the identity.
#[derive(Debug, Clone, Default)]
pub(crate) struct Map {
    points: Vec<(i64, i64)>,
}

impl Map {
    pub(crate) fn new(mut points: Vec<(i64, i64)>) -> Map {
        points.sort_by_key(|p| p.0);
        points.dedup_by_key(|p| p.0);
        Map { points }
    }

    /// The inverse map (breakpoints swapped).
    pub(crate) fn inverse(&self) -> Map {
        Map::new(self.points.iter().map(|&(a, b)| (b, a)).collect())
    }

    pub(crate) fn apply(&self, x: i64) -> i64 {
        let i = self.points.partition_point(|p| p.0 <= x);
        if i == 0 {
            x
        } else {
            let (f, t) = self.points[i - 1];
            t.saturating_add(x.saturating_sub(f))
        }
    }

    /// The (from, to) breakpoints, sorted by `from`.
    pub(crate) fn points(&self) -> &[(i64, i64)] {
        &self.points
    }

    pub(crate) fn breakpoints(&self) -> impl Iterator<Item = i64> + '_ {
        self.points.iter().map(|p| p.0)
    }

    pub(crate) fn is_identity(&self) -> bool {
        self.points.iter().all(|p| p.0 == p.1)
    }
}

/// A rift table as a map from its key column to its other column.
pub(crate) fn from_rifts(r: &[Rift]) -> Map {
    Map::new(
        r.iter()
            .map(|e| (e.target as i64, e.source as i64))
            .collect(),
    )
}

/// Compose the codec's copy rift: target file offset → target RVA (inverse of `target_layout`,
/// the preprocess buffer's RVA → file offset table) → reference RVA (inverse of `rva_map`,
/// reference RVA → target RVA) → reference file offset (`ref_layout`). Every map has slope one
/// between its breakpoints, so the composition is exact at the union of their images.
pub(crate) fn compose(target_layout: &Map, rva_map: &Map, ref_layout: &Map) -> Vec<Rift> {
    let t_inv = target_layout.inverse();
    let r_inv = rva_map.inverse();
    let f = |o: i64| ref_layout.apply(r_inv.apply(t_inv.apply(o)));
    let mut pts: Vec<i64> = vec![0];
    pts.extend(t_inv.breakpoints());
    pts.extend(r_inv.breakpoints().map(|b| target_layout.apply(b)));
    pts.extend(
        ref_layout
            .breakpoints()
            .map(|v| target_layout.apply(rva_map.apply(v))),
    );
    pts.retain(|&p| p >= 0);
    pts.sort_unstable();
    pts.dedup();
    pts.into_iter()
        .filter_map(|o| {
            let s = f(o);
            (s >= 0).then_some(Rift {
                target: o as u64,
                source: s as u64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_slope_one_with_identity_below_the_first_point() {
        let m = Map::new(vec![(0x1000, 0x400), (0x2000, 0x1400)]);
        assert_eq!(m.apply(0x10), 0x10);
        assert_eq!(m.apply(0x1010), 0x410);
        assert_eq!(m.apply(0x2345), 0x1745);
        assert_eq!(m.inverse().apply(0x1745), 0x2345);
        assert!(!m.is_identity());
        assert!(Map::new(vec![(5, 5), (9, 9)]).is_identity());
    }

    #[test]
    fn composition_moves_the_target_offsets_of_a_shifted_rva_range() {
        // The shape of x86_mscordbi: sections at RVA 0x1000/0x2000 → file 0x400/0x1400 in both
        // images; RVAs 0x10f0..0x1e40 of the reference sit 8 bytes later in the target.
        let layout = Map::new(vec![(0, 0), (0x1000, 0x400), (0x2000, 0x1400)]);
        let rva = Map::new(vec![(0x10f0, 0x10f8), (0x1e40, 0x1e40)]);
        let rift = compose(&layout, &rva, &layout);
        let at = |o: u64| {
            let i = rift.partition_point(|e| e.target <= o);
            let e = rift[i - 1];
            e.source + (o - e.target)
        };
        assert_eq!(at(0x100), 0x100);
        assert_eq!(at(0x4f8), 0x4f0); // target RVA 0x10f8 came from reference RVA 0x10f0
        assert_eq!(at(0x1000), 0xff8);
        assert_eq!(at(0x1240), 0x1240); // back in step from RVA 0x1e40 on
        assert_eq!(at(0x1500), 0x1500);
    }
}
