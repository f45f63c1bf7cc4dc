//! Tests and production on one 2-D map (`--coords`, `--format html`): both sets are projected
//! by one call on their stacked embeddings, so that a test and a production prompt that are
//! close on the map are close in the embedding space, whichever set each comes from.

use super::Embedded;
use crate::analysis::slices::{coords_by_row, round_point, Coords};
use crate::error::Result;
use crate::input::Record;
use crate::matrix::Matrix;
use crate::progress::Progress;
use serde::Serialize;

/// Each data row's `[x, y]` on the map, per file (`null` for a row `--skip-invalid` dropped),
/// rounded to 4 decimals.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageCoords {
    pub tests: Coords,
    pub production: Coords,
}

/// One analysed prompt as the HTML map draws it.
#[derive(Debug, Clone)]
pub struct MapPoint {
    /// 0-based data row of its file.
    pub row: usize,
    pub prompt: String,
    pub xy: [f64; 2],
}

/// What the HTML map draws: every test, then every production prompt in record order (as
/// [`super::CoverageReport::prompts`]).
#[derive(Debug, Clone, Default)]
pub struct CoverageMap {
    pub tests: Vec<MapPoint>,
    pub production: Vec<MapPoint>,
}

/// Places tests and production on one map, deterministic for `seed`.
pub fn place(
    embedded: &Embedded,
    layout: crate::cluster::MapLayout,
    seed: u64,
    progress: &Progress,
) -> Result<(CoverageCoords, CoverageMap)> {
    let (t, p) = (&embedded.test_emb, &embedded.prod_emb);
    let mut stacked = Vec::with_capacity(t.as_slice().len() + p.as_slice().len());
    stacked.extend_from_slice(t.as_slice());
    stacked.extend_from_slice(p.as_slice());
    let stacked = Matrix::from_vec(t.rows() + p.rows(), p.cols(), stacked);
    let points = crate::cluster::map_2d_with(&stacked, layout, seed, progress)?;
    let (test_points, prod_points) = points.split_at(t.rows());
    let tests = &embedded.tests.records;
    let production = &embedded.production.records;
    let coords = CoverageCoords {
        tests: coords_by_row(tests, test_points),
        production: coords_by_row(production, prod_points),
    };
    let drawn = |records: &[Record], points: &[[f32; 2]]| -> Vec<MapPoint> {
        records
            .iter()
            .zip(points)
            .map(|(r, &p)| MapPoint {
                row: r.row,
                prompt: r.prompt.clone(),
                xy: round_point(p),
            })
            .collect()
    };
    let map = CoverageMap {
        tests: drawn(tests, test_points),
        production: drawn(production, prod_points),
    };
    Ok((coords, map))
}
