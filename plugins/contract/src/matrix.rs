//! [`Matrix`]: the contract's square matrix (the WIT `matrix` record) — what an image transform
//! returns, what blenders take and give. The one matrix type of the workspace: the kernels
//! compute it, the runtime hands it over, the SDK converts it to its generated twin at one edge.

/// A square matrix of f64, row-major: element `(i, j)` is `data[i * size + j]`.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Matrix {
    /// Number of rows (= columns).
    pub size: usize,
    /// `size * size` values, row after row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// Element at row `i`, column `j`. Panics when out of range.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(i < self.size && j < self.size, "index out of range");
        self.data[i * self.size + j]
    }

    /// The rows, top to bottom, each a slice of `size` values.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.data.chunks(self.size.max(1)).take(self.size)
    }
}

/// The 8-bit pixel of a matrix value, as the original crypto-gaf made it:
/// `uint8(((v + 1) / 2) * 255)` with numpy's truncation — saturating outside [0, 255], NaN → 0.
/// One definition for the host's PNGs and for plugins that return pixels (`gaf:plugin@0.2.0`).
#[inline]
pub fn to_pixel(v: f64) -> u8 {
    (((v + 1.0) / 2.0) * 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_access() {
        let m = Matrix { size: 2, data: vec![1.0, 2.0, 3.0, 4.0] };
        assert_eq!(m.get(1, 0), 3.0);
        let rows: Vec<&[f64]> = m.rows().collect();
        assert_eq!(rows, vec![&[1.0, 2.0][..], &[3.0, 4.0][..]]);
        assert_eq!(Matrix::default().rows().count(), 0);
    }
}
