//! The packed form the stored blocks share (the decision log's, the bars'): a format byte, then
//! LZ4 (size-prefixed) of a value's postcard form.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` packed behind the byte `format`.
pub(crate) fn pack<T: Serialize>(format: u8, value: &T) -> Result<Vec<u8>, String> {
    let plain = postcard::to_stdvec(value).map_err(|e| e.to_string())?;
    Ok(pack_plain(format, &plain))
}

/// A value's postcard form `plain` packed behind the byte `format`.
pub(crate) fn pack_plain(format: u8, plain: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(plain.len() / 2 + 16);
    data.push(format);
    data.extend_from_slice(&lz4_flex::compress_prepend_size(plain));
    data
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
