//! Sweep heatmaps as PNG: one cell per grid point, coloured on the viridis scale from the worst
//! (dark purple) to the best (yellow) value; cells without a value are grey. The first grid axis
//! runs left to right, the second bottom to top. Matrix heatmaps ([`render_diverging`]): a
//! square matrix on a diverging blue–white–red scale symmetric about zero, with a legend bar
//! labelled with its ends.

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

/// Pixels per matrix cell of [`render_diverging`].
const MATRIX_CELL: usize = 32;

/// The diverging colour at `t` in [−1, 1]: blue (−1), white (0), red (1).
pub fn diverging(t: f64) -> [u8; 3] {
    const BLUE: [f64; 3] = [59.0, 76.0, 192.0];
    const WHITE: [f64; 3] = [247.0, 247.0, 247.0];
    const RED: [f64; 3] = [180.0, 4.0, 38.0];
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let (end, f) = if t < 0.0 { (BLUE, -t) } else { (RED, t) };
    [0, 1, 2].map(|k| (WHITE[k] + (end[k] - WHITE[k]) * f).round() as u8)
}

/// 3×5 glyphs of the legend's labels: each row's three bits, top row first.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '.' => [0, 0, 0, 0, 2],
        'e' => [0, 7, 7, 4, 7],
        _ => [0; 5],
    }
}

/// Writes `text` with 2-pixel glyph dots at (x, y) (top left) in an RGB image `w` wide.
fn draw_text(data: &mut [u8], w: usize, x: usize, y: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits >> (2 - col) & 1 == 1 {
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let (px, py) = (x + i * 8 + col * 2 + dx, y + row * 2 + dy);
                        let o = (py * w + px) * 3;
                        if let Some(p) = data.get_mut(o..o + 3) {
                            p.copy_from_slice(&[0, 0, 0]);
                        }
                    }
                }
            }
        }
    }
}

/// Renders row-major `n`×`n` `matrix` (row 0 at the top, column 0 at the left) on the diverging
/// scale symmetric about zero (`±max|value|`; white is 0), with a legend bar on the right from
/// `+max` (top) to `−max` (bottom), its ends labelled. Non-finite values are grey.
pub fn render_diverging(matrix: &[f64], n: usize) -> Result<Vec<u8>, png::EncodingError> {
    let n = n.max(1);
    let max = matrix.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    let top_label = format!("+{max:.3}");
    let label_w = (top_label.len() + 1) * 8;
    let side = n * MATRIX_CELL;
    let (pad, bar) = (8, 16);
    let (w, h) = (side + pad + bar + pad + label_w, side.max(48) + 2 * pad);
    let mut data = vec![255u8; w * h * 3];
    for i in 0..n {
        for j in 0..n {
            let v = matrix.get(i * n + j).copied().unwrap_or(f64::NAN);
            let colour = if !v.is_finite() {
                [128, 128, 128]
            } else if max > 0.0 {
                diverging(v / max)
            } else {
                diverging(0.0)
            };
            for py in i * MATRIX_CELL..(i + 1) * MATRIX_CELL {
                for px in j * MATRIX_CELL..(j + 1) * MATRIX_CELL {
                    let edge = py % MATRIX_CELL == MATRIX_CELL - 1 || px % MATRIX_CELL == MATRIX_CELL - 1;
                    let o = ((py + pad) * w + px) * 3;
                    data[o..o + 3].copy_from_slice(&if edge { [32, 32, 32] } else { colour });
                }
            }
        }
    }
    let bar_h = side.max(48);
    let x0 = side + pad;
    for py in 0..bar_h {
        let t = 1.0 - 2.0 * py as f64 / (bar_h - 1) as f64;
        for px in x0..x0 + bar {
            let o = ((py + pad) * w + px) * 3;
            data[o..o + 3].copy_from_slice(&diverging(t));
        }
    }
    let lx = x0 + bar + pad;
    draw_text(&mut data, w, lx, pad, &top_label);
    draw_text(&mut data, w, lx, pad + bar_h / 2 - 5, "0");
    draw_text(&mut data, w, lx, pad + bar_h - 10, &format!("-{max:.3}"));
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
    fn diverging_matrix_heatmap_with_legend() {
        let png = render_diverging(&[0.5, -1.0, 0.0, 1.0], 2).unwrap();
        let mut r = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        let w = info.width as usize;
        assert_eq!(info.height, 64 + 16);
        let px = |x: usize, y: usize| buf[(y * w + x) * 3..(y * w + x) * 3 + 3].to_vec();
        // (0,0) = 0.5: half-way to red; (0,1) = −1: blue; (1,0) = 0: white; (1,1) = 1: red.
        assert_eq!(px(5, 8 + 5), diverging(0.5));
        assert_eq!(px(32 + 5, 8 + 5), diverging(-1.0).to_vec());
        assert_eq!(px(5, 8 + 32 + 5), vec![247, 247, 247]);
        assert_eq!(px(32 + 5, 8 + 32 + 5), vec![180, 4, 38]);
        // The legend: red at the top, blue at the bottom, and dark label pixels beside it.
        assert_eq!(px(64 + 8 + 4, 8), vec![180, 4, 38]);
        assert_eq!(px(64 + 8 + 4, 8 + 63), vec![59, 76, 192]);
        let label = (64 + 32..w).any(|x| (8..18).any(|y| px(x, y) == [0, 0, 0]));
        assert!(label, "the +max label is drawn");
        assert_eq!(diverging(f64::NAN), [247, 247, 247]);
    }

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
