//! Disjoint sets (union-find with path halving), for grouping by connectivity: flat clusters
//! from a dendrogram, overlapping slices, connected regions of a neighbour graph.
//!
//! Hand-written: a dozen lines, no maintained crate is in the dependency tree, and callers need
//! to know which root survives a union to carry per-set totals along.

/// Sets over `0..n`; each set is named by its lowest member, so results do not depend on the
/// order of the unions.
#[derive(Debug, Clone)]
pub struct DisjointSets {
    parent: Vec<u32>,
}

impl DisjointSets {
    pub fn new(n: usize) -> Self {
        DisjointSets {
            parent: (0..n as u32).collect(),
        }
    }

    /// The root (lowest member) of `i`'s set.
    pub fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] as usize != i {
            let up = self.parent[self.parent[i] as usize];
            self.parent[i] = up;
            i = up as usize;
        }
        i
    }

    /// Joins the sets of `a` and `b`. Returns `(kept, absorbed)` roots when they were apart:
    /// the lower root stays.
    pub fn union(&mut self, a: usize, b: usize) -> Option<(usize, usize)> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return None;
        }
        let (kept, absorbed) = (ra.min(rb), ra.max(rb));
        self.parent[absorbed] = kept as u32;
        Some((kept, absorbed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_join_sets_under_their_lowest_member() {
        let mut sets = DisjointSets::new(6);
        assert_eq!(sets.union(4, 2), Some((2, 4)));
        assert_eq!(sets.union(5, 4), Some((2, 5)));
        assert_eq!(sets.union(2, 5), None);
        assert_eq!(sets.union(1, 3), Some((1, 3)));
        let roots: Vec<usize> = (0..6).map(|i| sets.find(i)).collect();
        assert_eq!(roots, vec![0, 1, 2, 1, 2, 2]);
    }
}
