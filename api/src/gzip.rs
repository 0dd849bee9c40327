//! Pre-compressed `gzip` answers of `GET /api/gaf/image` (and the `Accept-Encoding` reading
//! shared with the `br` ones, [`crate::br`]). The cached JSON up to its date is
//! deflated once per change (and only once a client asked for gzip); each answer appends its
//! own date as a stored (uncompressed) final block and the gzip trailer, whose CRC-32 is combined
//! from the prefix's and the tail's. A gzip answer therefore costs no compression per request.

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Largest payload of one stored deflate block.
const STORED_BLOCK_MAX: usize = 0xffff;

/// A JSON prefix deflated once: the gzip header and the deflate stream up to a sync flush
/// (byte-aligned, not final), with the prefix's CRC-32 and length.
#[derive(Debug)]
pub struct GzipPrefix {
    head: Bytes,
    crc: Crc,
}

impl GzipPrefix {
    /// Deflates `prefix` at `level` (0–9) and sync-flushes it.
    pub fn new(prefix: &[u8], level: u32) -> Result<Self, flate2::CompressError> {
        let mut deflate = Compress::new(Compression::new(level.min(9)), false);
        let mut out = Vec::with_capacity(prefix.len() * 4 / 5 + 1024);
        out.extend_from_slice(&GZIP_HEADER);
        loop {
            let consumed = deflate.total_in() as usize;
            let status = deflate.compress_vec(&prefix[consumed..], &mut out, FlushCompress::Sync)?;
            // Done once every byte went in and the flush fitted in the room left.
            if deflate.total_in() as usize == prefix.len() && out.len() < out.capacity() {
                break;
            }
            if status == Status::BufError || out.len() == out.capacity() {
                out.reserve(64 * 1024);
            }
        }
        let mut crc = Crc::new();
        crc.update(prefix);
        Ok(GzipPrefix { head: Bytes::from(out), crc })
    }

    /// The compressed bytes up to the tail (shared, not copied).
    pub fn head(&self) -> Bytes {
        self.head.clone()
    }

    /// The rest of a gzip answer whose content is the prefix followed by `tail`: `tail` in
    /// stored blocks (the last one final), then the CRC-32 and the length of the whole content.
    pub fn tail(&self, tail: &[u8]) -> Bytes {
        let blocks = tail.len().div_ceil(STORED_BLOCK_MAX).max(1);
        let mut out = BytesMut::with_capacity(tail.len() + blocks * 5 + 8);
        let mut chunks: Vec<&[u8]> = tail.chunks(STORED_BLOCK_MAX).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            // BFINAL on the last block, BTYPE 00 (stored); the stream is byte-aligned here.
            out.put_u8(u8::from(i == last));
            let len = chunk.len() as u16;
            out.put_u16_le(len);
            out.put_u16_le(!len);
            out.put_slice(chunk);
        }
        let mut tail_crc = Crc::new();
        tail_crc.update(tail);
        let mut crc = Crc::new();
        crc.combine(&self.crc);
        crc.combine(&tail_crc);
        out.put_u32_le(crc.sum());
        out.put_u32_le(crc.amount());
        out.freeze()
    }

    /// Length of a whole answer with a tail of `tail_len` bytes.
    pub fn answer_len(&self, tail_len: usize) -> usize {
        self.head.len() + tail_len + tail_len.div_ceil(STORED_BLOCK_MAX).max(1) * 5 + 8
    }
}

/// True when an `Accept-Encoding` header accepts gzip (`gzip`, `x-gzip` or `*`, with a q-value
/// above zero; an explicit `gzip;q=0` refuses it even when `*` is accepted).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accepts(accept_encoding, &["gzip", "x-gzip"])
}

/// True when an `Accept-Encoding` header accepts brotli (`br` or `*`, read like
/// [`accepts_gzip`]).
pub fn accepts_br(accept_encoding: Option<&str>) -> bool {
    accepts(accept_encoding, &["br"])
}

/// True when an `Accept-Encoding` header accepts one of `codings` (or `*`) with a q-value above
/// zero; a coding named with `q=0` is refused even when `*` is accepted.
fn accepts(accept_encoding: Option<&str>, codings: &[&str]) -> bool {
    let Some(header) = accept_encoding else { return false };
    let mut star = false;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if codings.contains(&coding.as_str()) {
            return q > 0.0;
        }
        if coding == "*" {
            star = q > 0.0;
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_prefix_deflated_once_takes_any_tail() {
        let prefix: Vec<u8> = (0..300_000u32).flat_map(|i| format!("{}", i % 977).into_bytes()).collect();
        let g = GzipPrefix::new(&prefix, 1).unwrap();
        for tail in [&b""[..], b"2026-11-29T02:40:00.123Z\"}", &vec![b'x'; 70_000][..]] {
            let mut whole = g.head().to_vec();
            whole.extend_from_slice(&g.tail(tail));
            assert_eq!(whole.len(), g.answer_len(tail.len()));
            let mut want = prefix.clone();
            want.extend_from_slice(tail);
            assert_eq!(gunzip(&whole), want, "tail of {} bytes", tail.len());
        }
        assert!(g.head().len() < prefix.len() / 2, "it compresses");
    }

    #[test]
    fn an_empty_prefix_is_a_valid_stream() {
        let g = GzipPrefix::new(b"", 6).unwrap();
        let mut whole = g.head().to_vec();
        whole.extend_from_slice(&g.tail(b"{}"));
        assert_eq!(gunzip(&whole), b"{}");
    }

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0, *")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
        assert!(accepts_br(Some("gzip, deflate, br")));
        assert!(accepts_br(Some("*")));
        assert!(!accepts_br(Some("br;q=0, *")));
        assert!(!accepts_br(Some("gzip")));
    }
}
