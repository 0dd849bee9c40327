//! The original crypto-gaf's pixels (tests/golden/crypto-gaf-images.json), bit for bit, and
//! the shape of every image calculate writes.

use base64::Engine as _;
use cgaf_calculate::{
    compute_images, compute_images_encoded, encode_png, to_pixel, ColorType, ImageTransforms, NativeKernels,
    PngEncoding,
};
use cgaf_kernels::{GafMethod, GafParams, SizeParam};
use cgaf_store::Snapshot;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

fn golden() -> serde_json::Value {
    let path = cgaf_test_kit::golden("crypto-gaf-images.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn pixels(x: &[f64], method: GafMethod) -> Vec<u8> {
    let p = GafParams { image_size: SizeParam::Int(x.len() as i64), ..GafParams::default() };
    cgaf_kernels::gaf(x, method, &p).unwrap().data.iter().map(|&v| to_pixel(v)).collect()
}

fn decode(b64: &str) -> (png::OutputInfo, Vec<u8>) {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info, buf)
}

#[test]
fn midpoint_images_match_the_original_bit_for_bit() {
    let g = golden();
    let x: Vec<f64> =
        g["golden_midpoints_input_newest_first"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let n = x.len();
    let gasf = pixels(&x, GafMethod::Summation);
    let gadf = pixels(&x, GafMethod::Difference);
    let row0 =
        |key: &str| -> Vec<u8> { g[key].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect() };
    assert_eq!(&gasf[..n], row0("golden_gasf_row0").as_slice());
    assert_eq!(&gadf[..n], row0("golden_gadf_row0").as_slice());
    assert_eq!(hex::encode(Sha256::digest(&gasf)), g["golden_gasf_sha256"].as_str().unwrap());
    assert_eq!(hex::encode(Sha256::digest(&gadf)), g["golden_gadf_sha256"].as_str().unwrap());
}

#[test]
fn constant_and_zero_series_map_like_the_original() {
    let g = golden();
    let c = vec![3.5; 21];
    assert!(pixels(&c, GafMethod::Summation).iter().all(|&p| u64::from(p) == g["constant"]["gasf_u8_unique"][0]));
    assert!(pixels(&c, GafMethod::Difference).iter().all(|&p| u64::from(p) == g["constant"]["gadf_u8_unique"][0]));
    let zeros = vec![0.0; 21];
    let p01 = GafParams { image_size: SizeParam::Int(21), sample_range: Some((0.0, 1.0)), overlapping: false };
    let m = cgaf_kernels::gaf(&zeros, GafMethod::Summation, &p01).unwrap();
    assert!(m.data.iter().all(|&v| u64::from(to_pixel(v)) == g["gasf01_zero_series_u8"][0]));
    assert_eq!(u64::from(to_pixel(-1e-12 * 2.0 - 1.0)), g["cast_neg_tiny"]);
}

#[test]
fn png_layout_matches_pillow() {
    for encoding in [PngEncoding::Fast, PngEncoding::Small] {
        let g = golden();
        let m = cgaf_kernels::Matrix { size: 21, data: vec![0.0; 21 * 21] };
        let png = encode_png(encoding, ColorType::Gray, 21, &[&m]).unwrap();
        // signature + IHDR chunk (length, type, 13 bytes, CRC) as Pillow writes it
        assert_eq!(hex::encode(&png[8..33]), g["png_ihdr_2d"].as_str().unwrap());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
        assert!(b64.starts_with(g["b64_prefix"].as_str().unwrap()));
        // Only IHDR, IDAT, IEND chunks.
        let mut i = 8;
        let mut chunks = Vec::new();
        while i + 8 <= png.len() {
            let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            chunks.push(String::from_utf8_lossy(&png[i + 4..i + 8]).to_string());
            i += 12 + len;
        }
        chunks.dedup();
        assert_eq!(chunks, ["IHDR", "IDAT", "IEND"]);
    }
}

fn snapshot(n: usize) -> Snapshot {
    let mut s = Snapshot::default();
    for i in 0..n {
        let t = i as f64;
        s.sample_ids.push((n - i) as i64);
        s.midpoints.push(100.0 + (t * 0.3).sin());
        let lvl = |k: usize| Some(Decimal::from(((i * 7 + k * 3) % 5) as i64));
        s.ask_sizes.push(vec![lvl(0), lvl(1), lvl(2)]);
        s.bid_sizes.push(vec![lvl(2), lvl(0), lvl(1)]);
        s.buys.push([Some(100.0), Some(1.0 + (i % 4) as f64), Some((i % 3) as f64)]);
        s.sells.push([Some(100.0), Some((i % 5) as f64), Some(1.0 + (i % 2) as f64)]);
    }
    s.newest_midpoint = Some("100".into());
    s
}

#[test]
fn computed_images_have_the_originals_modes_and_colours() {
    let s = snapshot(40);
    let img = compute_images(&s, &NativeKernels, &ImageTransforms::default()).unwrap();
    assert_eq!(img.size, 40);
    for (b64, color) in [
        (&img.midpoint_gasf, png::ColorType::Grayscale),
        (&img.midpoint_gadf, png::ColorType::Grayscale),
        (&img.orderbook, png::ColorType::Rgb),
        (&img.buy, png::ColorType::Rgb),
        (&img.sell, png::ColorType::Rgb),
    ] {
        let (info, _) = decode(b64);
        assert_eq!((info.width, info.height, info.color_type, info.bit_depth), (40, 40, color, png::BitDepth::Eight));
    }
    // Buys are pure green, sells pure red (the two zero channels are GASF -1 → 0).
    let (_, buy) = decode(&img.buy);
    assert!(buy.chunks(3).all(|p| p[0] == 0 && p[2] == 0));
    assert!(buy.chunks(3).any(|p| p[1] > 0));
    let (_, sell) = decode(&img.sell);
    assert!(sell.chunks(3).all(|p| p[1] == 0 && p[2] == 0));
    // The midpoint GADF is the golden formula's pixels.
    let (_, gadf) = decode(&img.midpoint_gadf);
    assert_eq!(gadf, pixels(&s.midpoints, GafMethod::Difference));
}

#[test]
fn negated_book_gives_the_same_orderbook_pixels() {
    // The original stored asks as bids; GASF over (-1, 1) does not see the sign, so its images
    // equal ours.
    let s = snapshot(30);
    let mut swapped = s.clone();
    std::mem::swap(&mut swapped.ask_sizes, &mut swapped.bid_sizes);
    assert_eq!(
        decode(&compute_images(&s, &NativeKernels, &ImageTransforms::default()).unwrap().orderbook).1,
        decode(&compute_images(&swapped, &NativeKernels, &ImageTransforms::default()).unwrap().orderbook).1
    );
}

#[test]
fn small_pngs_decode_to_the_same_pixels_as_fast_ones() {
    // 90 samples: the filter trial samples bands of rows (images of 64 rows and more).
    let s = snapshot(90);
    let config = ImageTransforms::default();
    let fast = compute_images_encoded(&s, &NativeKernels, &config, PngEncoding::Fast).unwrap();
    let small = compute_images_encoded(&s, &NativeKernels, &config, PngEncoding::Small).unwrap();
    for (f, s) in [
        (&fast.midpoint_gasf, &small.midpoint_gasf),
        (&fast.midpoint_gadf, &small.midpoint_gadf),
        (&fast.orderbook, &small.orderbook),
        (&fast.buy, &small.buy),
        (&fast.sell, &small.sell),
    ] {
        let ((fi, fp), (si, sp)) = (decode(f), decode(s));
        assert_eq!((fi.width, fi.color_type), (si.width, si.color_type));
        assert_eq!(fp, sp);
    }
}
