//! Pre-compressed `br` (brotli) answers of `GET /api/gaf/image`, made like the gzip ones
//! ([`crate::gzip`]): the cached JSON up to its date is compressed once per change (and only once
//! a client asked for `br`) and flushed to a byte boundary; each answer appends its own date as
//! an uncompressed meta-block and the stream's last, empty meta-block (RFC 7932, 9.2), so a `br`
//! answer costs no compression per request. On this JSON (mostly base64 of PNGs) brotli at
//! quality 1 keeps 0.750 of the size, as gzip level 2 does (0.753), and is made about 4 times
//! quicker (8 ms against 30 for 1.84 MB), so it is preferred when a client accepts both.

use bytes::{BufMut, Bytes, BytesMut};
use std::io::Write as _;

/// Largest payload of one uncompressed meta-block written here (16 bits of MLEN − 1).
const UNCOMPRESSED_BLOCK_MAX: usize = 1 << 16;

/// log2 of the window: 4 MiB, larger than any image JSON's repeats are apart.
const WINDOW_BITS: u32 = 22;

/// A JSON prefix compressed once: a brotli stream up to a flush (byte-aligned, not last).
#[derive(Debug)]
pub struct BrotliPrefix {
    head: Bytes,
}

impl BrotliPrefix {
    /// Compresses `prefix` at `quality` (0–11) and flushes it to a byte boundary.
    pub fn new(prefix: &[u8], quality: u32) -> std::io::Result<Self> {
        let mut w = brotli::CompressorWriter::new(
            Vec::with_capacity(prefix.len() * 4 / 5 + 1024),
            64 * 1024,
            quality.min(11),
            WINDOW_BITS,
        );
        w.write_all(prefix)?;
        // BROTLI_OPERATION_FLUSH: everything written is decodable and the stream is
        // byte-aligned; the writer's own end (a last meta-block) is never taken.
        w.flush()?;
        Ok(BrotliPrefix { head: Bytes::from(w.get_ref().clone()) })
    }

    /// The compressed bytes up to the tail (shared, not copied).
    pub fn head(&self) -> Bytes {
        self.head.clone()
    }

    /// The rest of a `br` answer whose content is the prefix followed by `tail`: `tail` in
    /// uncompressed meta-blocks, then the last, empty meta-block.
    pub fn tail(&self, tail: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(tail.len() + tail.len().div_ceil(UNCOMPRESSED_BLOCK_MAX) * 3 + 1);
        for chunk in tail.chunks(UNCOMPRESSED_BLOCK_MAX) {
            // ISLAST = 0 (bit 0), MNIBBLES = 4 (bits 1–2 = 0), MLEN − 1 (bits 3–18),
            // ISUNCOMPRESSED = 1 (bit 19), zero padding to the byte boundary: three bytes.
            let header = ((chunk.len() as u32 - 1) << 3) | (1 << 19);
            out.put_slice(&header.to_le_bytes()[..3]);
            out.put_slice(chunk);
        }
        // ISLAST = 1, ISLASTEMPTY = 1, padding.
        out.put_u8(0b11);
        out.freeze()
    }

    /// Length of a whole answer with a tail of `tail_len` bytes.
    pub fn answer_len(&self, tail_len: usize) -> usize {
        self.head.len() + tail_len + tail_len.div_ceil(UNCOMPRESSED_BLOCK_MAX) * 3 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn unbrotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).expect("a valid brotli stream");
        out
    }

    #[test]
    fn a_prefix_compressed_once_takes_any_tail() {
        let prefix: Vec<u8> = (0..300_000u32).flat_map(|i| format!("{}", i % 977).into_bytes()).collect();
        let b = BrotliPrefix::new(&prefix, 1).unwrap();
        for tail in [&b""[..], b"2026-11-29T02:40:00.123Z\"}", &vec![b'x'; 70_000][..], &vec![b'y'; 65_536][..]] {
            let mut whole = b.head().to_vec();
            whole.extend_from_slice(&b.tail(tail));
            assert_eq!(whole.len(), b.answer_len(tail.len()));
            let mut want = prefix.clone();
            want.extend_from_slice(tail);
            assert_eq!(unbrotli(&whole), want, "tail of {} bytes", tail.len());
        }
        assert!(b.head().len() < prefix.len() / 2, "it compresses");
    }

    #[test]
    fn an_empty_prefix_is_a_valid_stream() {
        let b = BrotliPrefix::new(b"", 5).unwrap();
        let mut whole = b.head().to_vec();
        whole.extend_from_slice(&b.tail(b"{}"));
        assert_eq!(unbrotli(&whole), b"{}");
    }
}
