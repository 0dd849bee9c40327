//! The packed form the stored blocks share (the decision log's, the bars'): a format byte, then
//! LZ4 (size-prefixed) of a value's postcard form, and a writer of that form straight from rows.

use serde::de::DeserializeOwned;

/// `value` packed behind the byte `format`.
#[cfg(test)]
pub(crate) fn pack<T: serde::Serialize>(format: u8, value: &T) -> Result<Vec<u8>, String> {
    let plain = postcard::to_stdvec(value).map_err(|e| e.to_string())?;
    Ok(pack_plain(format, &plain))
}

/// A value's postcard form `plain` packed behind the byte `format`: the byte, the plain size
/// (u32, little-endian) and the LZ4 block, compressed into its place.
pub(crate) fn pack_plain(format: u8, plain: &[u8]) -> Vec<u8> {
    let mut data = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(plain.len())];
    data[0] = format;
    data[1..5].copy_from_slice(&(plain.len() as u32).to_le_bytes());
    // The output has the room LZ4's bound asks for, so compressing into it cannot fail.
    let n = lz4_flex::block::compress_into(plain, &mut data[5..]).unwrap_or(0);
    data.truncate(5 + n);
    data
}

/// Postcard's form of columns written straight from rows, without gathering each column first
/// or serde's call per value: a sequence is its length (LEB128) and its items, an `f64` its 8
/// little-endian bytes, an integer zigzag LEB128, an option 0, or 1 and the value.
pub(crate) struct PostcardColumns {
    /// The form written so far.
    pub(crate) out: Vec<u8>,
}

impl PostcardColumns {
    /// An empty form with room for `bytes`.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        PostcardColumns { out: Vec::with_capacity(bytes) }
    }

    /// An unsigned integer or a length.
    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    /// A signed integer (zigzag).
    pub(crate) fn signed(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A column of floats.
    pub(crate) fn floats<R>(&mut self, rows: &[R], f: impl Fn(&R) -> f64) {
        self.varint(rows.len() as u64);
        for r in rows {
            self.out.extend_from_slice(&f(r).to_le_bytes());
        }
    }

    /// A column of optional floats.
    pub(crate) fn optional_floats<R>(&mut self, rows: &[R], f: impl Fn(&R) -> Option<f64>) {
        self.varint(rows.len() as u64);
        for r in rows {
            match f(r) {
                Some(v) => {
                    self.out.push(1);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
                None => self.out.push(0),
            }
        }
    }
}

/// The value packed in `data`, which must start with the byte `format`.
pub(crate) fn unpack<T: DeserializeOwned>(format: u8, data: &[u8]) -> Result<T, String> {
    let packed = match data.split_first() {
        Some((&f, packed)) if f == format => packed,
        Some((f, _)) => return Err(format!("unknown format {f}")),
        None => return Err("no data".into()),
    };
    let plain = lz4_flex::decompress_size_prepended(packed).map_err(|e| e.to_string())?;
    postcard::from_bytes(&plain).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn packing_in_place_gives_lz4s_size_prefixed_block() {
        for plain in [Vec::new(), vec![7u8], (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect()] {
            let mut expected = vec![9u8];
            expected.extend(lz4_flex::compress_prepend_size(&plain));
            assert_eq!(super::pack_plain(9, &plain), expected, "{} bytes", plain.len());
            assert_eq!(lz4_flex::decompress_size_prepended(&super::pack_plain(9, &plain)[1..]).unwrap(), plain);
        }
    }
}
