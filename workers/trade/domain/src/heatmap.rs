//! Sweep heatmaps as PNG: one cell per grid point, coloured on the viridis scale from the worst
//! (dark purple) to the best (yellow) value; cells without a value are grey. The first grid axis
//! runs left to right, the second bottom to top.

/// Pixels per cell edge.
const CELL: usize = 24;

/// Viridis, sampled at 9 stops.
const VIRIDIS: [[f64; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [71.0, 44.0, 122.0],
    [59.0, 81.0, 139.0],
    [44.0, 113.0, 142.0],
    [33.0, 144.0, 141.0],
    [39.0, 173.0, 129.0],
    [92.0, 200.0, 99.0],
    [170.0, 220.0, 50.0],
    [253.0, 231.0, 37.0],
];

/// The viridis colour at `t` in [0, 1].
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

/// Renders `values[y][x]` (row 0 at the bottom). `higher_is_better` puts the largest value at the
/// bright end.
pub fn render(values: &[Vec<Option<f64>>], higher_is_better: bool) -> Result<Vec<u8>, png::EncodingError> {
    let ny = values.len().max(1);
    let nx = values.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let finite = values.iter().flatten().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    let (w, h) = (nx * CELL, ny * CELL);
    let mut data = vec![0u8; w * h * 3];
    for (iy, row) in values.iter().enumerate() {
        for ix in 0..nx {
            let colour = match row.get(ix).copied().flatten().filter(|v| v.is_finite()) {
                Some(v) => {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
                    viridis(if higher_is_better { t } else { 1.0 - t })
                }
                None => [128, 128, 128],
            };
            let top = (ny - 1 - iy) * CELL;
            for py in top..top + CELL {
                for px in ix * CELL..(ix + 1) * CELL {
                    // A one-pixel dark grid line between cells.
                    let edge = py % CELL == CELL - 1 || px % CELL == CELL - 1;
                    let c = if edge { [32, 32, 32] } else { colour };
                    let o = (py * w + px) * 3;
                    data[o..o + 3].copy_from_slice(&c);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&data)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_cell_is_brightest_and_missing_is_grey() {
        let png = render(&[vec![Some(1.0), Some(3.0)], vec![None, Some(2.0)]], true).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (48, 48));
        let px = |x: usize, y: usize| &buf[(y * 48 + x) * 3..(y * 48 + x) * 3 + 3];
        // Bottom row is values[0]: (x=1) holds 3.0, the best → yellow.
        assert_eq!(px(24 + 5, 24 + 5), &viridis(1.0));
        assert_eq!(px(5, 24 + 5), &viridis(0.0));
        // Top-left is values[1][0] = None → grey.
        assert_eq!(px(5, 5), &[128, 128, 128]);
    }
}
