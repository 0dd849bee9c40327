//! Pixels and PNG: the original's truncating mapping and 8-bit grayscale/RGB PNGs.

use crate::Error;
use cgaf_kernels::Matrix;

/// PNG colour layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorType {
    /// One channel, PNG colour type 0 (Pillow mode `L`).
    Gray,
    /// Three channels, PNG colour type 2 (Pillow mode `RGB`).
    Rgb,
}

/// How PNGs are compressed. The pixels decode the same either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PngEncoding {
    /// fdeflate with the Paeth filter on every row: the fastest, a quarter larger than Pillow's
    /// default output (five 600-px images: 2.08 MB against 1.69 MB).
    Fast,
    /// zlib (zlib-rs) level 2 with the row filter chosen per image (see [`encode_raw`]): smaller
    /// than Pillow's default output on each of the five image kinds (1.48 MB), a calculate cycle
    /// about twice as long as with `Fast`.
    Small,
    /// `Small` while calculate has time to spare, `Fast` when it is busy: decided per cycle by
    /// [`AutoEncoding`] in the service; `Small` where no cycle is timed (tools, tests).
    #[default]
    Auto,
}

impl std::str::FromStr for PngEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fast" => Ok(Self::Fast),
            "small" => Ok(Self::Small),
            "auto" => Ok(Self::Auto),
            other => Err(format!("unknown PNG encoding {other:?}: auto, fast or small")),
        }
    }
}

impl std::fmt::Display for PngEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fast => "fast",
            Self::Small => "small",
            Self::Auto => "auto",
        })
    }
}

/// What [`PngEncoding::Auto`] uses from one calculate cycle to the next: `small` while a cycle
/// takes under a quarter of the interval between cycles, `fast` from the cycle after one that
/// took longer, and `small` again once a `fast` cycle takes under a tenth of the interval (a
/// `small` cycle costs about twice a `fast` one, so it would then take about a fifth). Images
/// are encoded once per change and served many times, so the smaller encoding is worth its
/// CPU exactly while calculate keeps up with its schedule easily.
#[derive(Debug)]
pub struct AutoEncoding {
    interval: std::time::Duration,
    small: std::sync::atomic::AtomicBool,
}

impl AutoEncoding {
    /// Starts with `small`, for cycles `interval` apart.
    pub fn new(interval: std::time::Duration) -> Self {
        AutoEncoding { interval, small: std::sync::atomic::AtomicBool::new(true) }
    }

    /// The encoding of the next cycle.
    pub fn current(&self) -> PngEncoding {
        if self.small.load(std::sync::atomic::Ordering::Relaxed) {
            PngEncoding::Small
        } else {
            PngEncoding::Fast
        }
    }

    /// Records that a cycle encoding with `used` took `took`; returns the next cycle's encoding.
    pub fn after_cycle(&self, used: PngEncoding, took: std::time::Duration) -> PngEncoding {
        let small = match used {
            PngEncoding::Small | PngEncoding::Auto => took * 4 < self.interval,
            PngEncoding::Fast => took * 10 < self.interval,
        };
        self.small.store(small, std::sync::atomic::Ordering::Relaxed);
        self.current()
    }
}

/// `uint8(((v + 1) / 2) * 255)` with numpy's truncation; saturates outside [0, 255], NaN → 0.
pub use cgaf_kernels::to_pixel;

/// Encodes `channels` (1 for gray, 3 for RGB, each `n`×`n`) as an 8-bit PNG with only
/// IHDR/IDAT/IEND chunks.
pub fn encode_png(encoding: PngEncoding, color: ColorType, n: usize, channels: &[&Matrix]) -> Result<Vec<u8>, Error> {
    let want = match color {
        ColorType::Gray => 1,
        ColorType::Rgb => 3,
    };
    if channels.len() != want || channels.iter().any(|m| m.size != n) {
        return Err(Error::Png(format!("expected {want} channels of {n}x{n}")));
    }
    // Written in place (no per-pixel capacity checks): the mapping was ~19 % of a cycle's
    // profile when pushed pixel by pixel.
    let mut pixels = vec![0u8; n * n * want];
    if want == 1 {
        for (p, &v) in pixels.iter_mut().zip(&channels[0].data) {
            *p = to_pixel(v);
        }
    } else {
        let (r, g, b) = (&channels[0].data, &channels[1].data, &channels[2].data);
        for (((p, &r), &g), &b) in pixels.chunks_exact_mut(3).zip(r.iter()).zip(g.iter()).zip(b.iter()) {
            p[0] = to_pixel(r);
            p[1] = to_pixel(g);
            p[2] = to_pixel(b);
        }
    }
    encode_raw(encoding, color, n, &pixels)
}

/// [`PngEncoding::Fast`]: the `png` crate with fdeflate and the Paeth filter on every row.
fn encode_fast(color: ColorType, n: usize, pixels: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(pixels.len() / 2 + 64);
    {
        let mut enc = png::Encoder::new(&mut out, n as u32, n as u32);
        enc.set_color(match color {
            ColorType::Gray => png::ColorType::Grayscale,
            ColorType::Rgb => png::ColorType::Rgb,
        });
        enc.set_depth(png::BitDepth::Eight);
        // Paeth on every row: the same bytes within 0.1 % as per-row adaptive filtering, in
        // two thirds of the time.
        enc.set_compression(png::Compression::Fast);
        enc.set_filter(png::FilterType::Paeth);
        enc.set_adaptive_filter(png::AdaptiveFilterType::NonAdaptive);
        let mut w = enc.write_header().map_err(|e| Error::Png(e.to_string()))?;
        w.write_image_data(pixels).map_err(|e| Error::Png(e.to_string()))?;
        w.finish().map_err(|e| Error::Png(e.to_string()))?;
    }
    Ok(out)
}

/// zlib level of the image data (zlib-rs, flate2's `zlib-rs` backend). Measured on the five
/// 600-px images with the row filter chosen per image (`cgaf bench --only calculate`, one
/// product, through plugins; the `fast` cycle was 14.7 ms):
///
/// | level | bytes | cycle |
/// |---|---|---|
/// | 1 | 1,904,487 (the order book larger than Pillow's) | 28 ms |
/// | **2** | **1,483,302** | **32 ms** |
/// | 3 | 1,396,912 | 36 ms |
/// | 4 | 1,384,027 | 44 ms |
/// | 6 | 1,374,258 | 62 ms |
///
/// Pillow's default (zlib 6, adaptive filters) for the same pixels: 1,690,963. Level 2 is the
/// cheapest level smaller than Pillow on every image. (miniz_oxide, flate2's default backend,
/// took 70 ms at level 4.)
const ZLIB_LEVEL: u32 = 2;

/// The row filters tried per image (PNG filter types 0 None, 1 Sub, 2 Up). Which one compresses
/// best depends on the image: Up or Sub on the smooth GAF images, None on noisy RGB ones (the
/// sum-of-absolute-differences heuristic of "adaptive" filtering picks badly there); Average and
/// Paeth were never the smallest in the measurements.
const FILTERS: [u8; 3] = [0, 1, 2];

/// One trial band in this many rows is compressed to choose an image's filter (bands of
/// [`TRIAL_BAND`] rows, so the Up filter sees its real previous rows).
const TRIAL_EVERY: usize = 8;
const TRIAL_BAND: usize = 8;

/// Row `r` of `pixels` (`stride` bytes a row, `bpp` bytes a pixel) filtered with `filter`,
/// appended to `out` after its filter-type byte.
fn filter_row(pixels: &[u8], stride: usize, bpp: usize, r: usize, filter: u8, out: &mut Vec<u8>) {
    let cur = &pixels[r * stride..(r + 1) * stride];
    out.push(filter);
    match filter {
        1 => {
            out.extend_from_slice(&cur[..bpp.min(stride)]);
            out.extend(cur.iter().skip(bpp).zip(cur).map(|(&x, &a)| x.wrapping_sub(a)));
        }
        2 if r > 0 => {
            let prev = &pixels[(r - 1) * stride..r * stride];
            out.extend(cur.iter().zip(prev).map(|(&x, &b)| x.wrapping_sub(b)));
        }
        // None, and Up on the first row (its previous row is zeros).
        _ => out.extend_from_slice(cur),
    }
}

/// `rows` of `pixels` filtered with `filter` and deflated (zlib) at [`ZLIB_LEVEL`].
fn deflate_rows(
    pixels: &[u8],
    stride: usize,
    bpp: usize,
    rows: impl Iterator<Item = usize>,
    filter: u8,
    capacity: usize,
) -> Result<Vec<u8>, Error> {
    use std::io::Write as _;
    let mut filtered = Vec::with_capacity(capacity);
    for r in rows {
        filter_row(pixels, stride, bpp, r, filter, &mut filtered);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(capacity / 2), flate2::Compression::new(ZLIB_LEVEL));
    z.write_all(&filtered).map_err(|e| Error::Png(e.to_string()))?;
    z.finish().map_err(|e| Error::Png(e.to_string()))
}

/// Appends a PNG chunk (length, type, data, CRC-32 of type and data).
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(data.len()).map_err(|_| Error::Png("a PNG chunk over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    Ok(())
}

/// Encodes raw 8-bit pixels (row-major, `n`×`n`) as PNG: IHDR, IDAT, IEND (Pillow's layout).
///
/// [`PngEncoding::Small`]: the row filter is chosen per image by compressing a sample of its rows
/// (one band of 8 rows in 8) with each of `FILTERS`; the image is then deflated with the
/// smallest at `ZLIB_LEVEL` (zlib-rs). [`PngEncoding::Auto`] given directly is `Small`.
pub fn encode_raw(encoding: PngEncoding, color: ColorType, n: usize, pixels: &[u8]) -> Result<Vec<u8>, Error> {
    if encoding == PngEncoding::Fast {
        return encode_fast(color, n, pixels);
    }
    // `Auto` not decided by a cycle: `Small`.
    let (bpp, color_type) = match color {
        ColorType::Gray => (1usize, 0u8),
        ColorType::Rgb => (3, 2),
    };
    let stride = n * bpp;
    if pixels.len() != stride * n {
        return Err(Error::Png(format!("{} bytes of pixels for a {n}x{n} image of {bpp} bytes a pixel", pixels.len())));
    }
    let side = u32::try_from(n).map_err(|_| Error::Png(format!("a {n}x{n} image is too large for PNG")))?;
    let trial_rows = || (0..n).filter(|r| (r / TRIAL_BAND).is_multiple_of(TRIAL_EVERY));
    let trial_capacity = (n / TRIAL_EVERY + TRIAL_BAND) * (stride + 1);
    let mut best = (usize::MAX, 0u8);
    if n >= TRIAL_BAND * TRIAL_EVERY {
        for &f in &FILTERS {
            let size = deflate_rows(pixels, stride, bpp, trial_rows(), f, trial_capacity)?.len();
            if size < best.0 {
                best = (size, f);
            }
        }
    } else {
        // Small images: the whole image is the trial.
        let mut smallest: Option<Vec<u8>> = None;
        for &f in &FILTERS {
            let z = deflate_rows(pixels, stride, bpp, 0..n, f, n * (stride + 1))?;
            if smallest.as_ref().is_none_or(|s| z.len() < s.len()) {
                smallest = Some(z);
            }
        }
        return write_png(side, color_type, &smallest.unwrap_or_default());
    }
    let idat = deflate_rows(pixels, stride, bpp, 0..n, best.1, n * (stride + 1))?;
    write_png(side, color_type, &idat)
}

/// The PNG file of a `side`×`side` 8-bit image of `color_type` whose zlib stream is `idat`.
fn write_png(side: u32, color_type: u8, idat: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = [0u8; 13];
    ihdr[..4].copy_from_slice(&side.to_be_bytes());
    ihdr[4..8].copy_from_slice(&side.to_be_bytes());
    // Bit depth 8, the colour type, deflate, adaptive filtering (per row), no interlace.
    ihdr[8..].copy_from_slice(&[8, color_type, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr)?;
    chunk(&mut out, b"IDAT", idat)?;
    chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_mapping_truncates_and_saturates() {
        assert_eq!(to_pixel(1.0), 255);
        assert_eq!(to_pixel(-1.0), 0);
        assert_eq!(to_pixel(0.0), 127);
        assert_eq!(to_pixel(-1.0000001), 0);
        assert_eq!(to_pixel(1.0000001), 255);
        assert_eq!(to_pixel(f64::NAN), 0);
    }

    /// Decodes a PNG with the `png` crate: (colour type, edge, pixels).
    fn decode(png: &[u8]) -> (png::ColorType, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(png).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.color_type, info.width, buf)
    }

    #[test]
    fn png_encoding_names_parse() {
        assert_eq!("fast".parse(), Ok(PngEncoding::Fast));
        assert_eq!("small".parse(), Ok(PngEncoding::Small));
        assert_eq!("auto".parse(), Ok(PngEncoding::Auto));
        assert_eq!(PngEncoding::default(), PngEncoding::Auto);
        for e in [PngEncoding::Fast, PngEncoding::Small, PngEncoding::Auto] {
            assert_eq!(e.to_string().parse(), Ok(e));
        }
        assert!("best".parse::<PngEncoding>().is_err());
    }

    #[test]
    fn auto_is_small_while_cycles_are_short_and_fast_while_they_are_long() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        let auto = AutoEncoding::new(ms(1000));
        assert_eq!(auto.current(), PngEncoding::Small, "starts small");
        // Small cycles under a quarter of the interval stay small; one over it turns fast.
        assert_eq!(auto.after_cycle(PngEncoding::Small, ms(240)), PngEncoding::Small);
        assert_eq!(auto.after_cycle(PngEncoding::Small, ms(260)), PngEncoding::Fast);
        // Fast cycles turn small again only under a tenth (hysteresis: no flapping between
        // a 130 ms fast cycle and the ~260 ms small one it would become).
        assert_eq!(auto.after_cycle(PngEncoding::Fast, ms(130)), PngEncoding::Fast);
        assert_eq!(auto.after_cycle(PngEncoding::Fast, ms(99)), PngEncoding::Small);
        assert_eq!(auto.current(), PngEncoding::Small);
    }

    #[test]
    fn auto_given_directly_encodes_small() {
        let pixels: Vec<u8> = (0..64 * 64).map(|i| (i % 64 + i / 64) as u8).collect();
        assert_eq!(
            encode_raw(PngEncoding::Auto, ColorType::Gray, 64, &pixels).unwrap(),
            encode_raw(PngEncoding::Small, ColorType::Gray, 64, &pixels).unwrap()
        );
    }

    #[test]
    fn every_filter_and_size_decodes_to_the_same_pixels() {
        // Smooth, noisy and constant pixels, small (whole-image trial) and large (banded trial)
        // images, gray and RGB: whichever filter is chosen, the pixels decode back unchanged.
        let mut x: u32 = 12345;
        for n in [1usize, 7, 63, 64, 65, 200] {
            for (color, bpp, want) in
                [(ColorType::Gray, 1, png::ColorType::Grayscale), (ColorType::Rgb, 3, png::ColorType::Rgb)]
            {
                let smooth: Vec<u8> = (0..n * n * bpp).map(|i| ((i / bpp) % n + (i / bpp) / n) as u8).collect();
                let noisy: Vec<u8> = (0..n * n * bpp)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (x >> 16) as u8
                    })
                    .collect();
                let constant = vec![200u8; n * n * bpp];
                for pixels in [smooth, noisy, constant] {
                    for encoding in [PngEncoding::Fast, PngEncoding::Small] {
                        let png = encode_raw(encoding, color, n, &pixels).unwrap();
                        assert_eq!(decode(&png), (want, n as u32, pixels.clone()), "{n}x{n} {color:?} {encoding:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn pixels_of_the_wrong_length_are_an_error() {
        assert!(matches!(encode_raw(PngEncoding::Small, ColorType::Rgb, 4, &[0; 47]), Err(Error::Png(_))));
    }
}
