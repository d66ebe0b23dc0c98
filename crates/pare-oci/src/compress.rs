//! Layer compression with pinned settings, so the same tar always gives the same blob.
//!
//! gzip is written by hand on top of raw deflate (flate2 with the zlib-rs backend): the stream is cut into
//! fixed 128 KiB blocks, each compressed on its own core with the previous block's last 32 KiB as a preset
//! dictionary and ended with a sync flush, then the pieces are joined in order under one gzip header and
//! trailer (the scheme pigz uses). Block boundaries depend only on the input, never on the number of
//! cores, so the bytes are identical on every machine. No crate offers this deterministic parallel gzip,
//! hence this module. zstd uses libzstd's own workers, whose output does not depend on their number.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{mpsc, Arc};

use flate2::{Compress, FlushCompress, Status};

/// gzip level used for every layer (pigz's and docker's default).
pub const GZIP_LEVEL: u32 = 6;
/// zstd level used for every layer (the zstd CLI's default).
pub const ZSTD_LEVEL: i32 = 3;
/// gzip level for layers that are built once and then reused (package layers): zlib-rs below level 7
/// uses a faster match finder that compresses binaries a few percent worse than zlib's level 6.
pub const GZIP_LEVEL_THOROUGH: u32 = 9;
/// Uncompressed bytes per parallel gzip block.
pub const GZIP_BLOCK: usize = 128 * 1024;
const DICT_SIZE: usize = 32 * 1024;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Plain tar (what `docker save` writes).
    None,
    /// gzip, level 6, deterministic parallel blocks.
    #[default]
    Gzip,
    /// zstd, level 3.
    Zstd,
}

impl Compression {
    /// The compression a stream's first bytes announce: the gzip or zstd magic number, else none
    /// (a plain tar). Four bytes are enough; fewer are fine.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// A short stable name (`none`, `gzip`, `zstd`), also used as a cache key part.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses the name given on the command line or in pare.toml.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// A writer that compresses into `W` according to a [`Compression`].
pub enum Compressor<W: Write + Send> {
    None(W),
    Gzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write + Send> Compressor<W> {
    /// Starts a compressed stream into `out`.
    pub fn new(compression: Compression, out: W) -> io::Result<Self> {
        Self::with_gzip_level(compression, out, GZIP_LEVEL)
    }

    /// Starts a compressed stream into `out`, gzip at `gzip_level` (1-9).
    pub fn with_gzip_level(compression: Compression, out: W, gzip_level: u32) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(out),
            Compression::Gzip => Compressor::Gzip(ParallelGzip::new(out, gzip_level.clamp(1, 9))),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                // At least one worker always: libzstd's output is the same for any number of workers
                // >= 1, but differs from its single-threaded mode (0).
                let workers = u32::try_from(rayon::current_num_threads().max(1)).unwrap_or(1);
                encoder.multithread(workers)?;
                encoder.include_checksum(false)?;
                Compressor::Zstd(encoder)
            }
        })
    }

    /// Ends the stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write + Send> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

/// gzip writer that deflates fixed-size blocks on the rayon pool and writes them in order.
/// Must not be driven from inside a rayon worker (it blocks waiting for pool jobs).
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    block: Vec<u8>,
    previous: Option<Arc<Vec<u8>>>,
    pending: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    total: u64,
    header_written: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// Starts a gzip stream at `level`.
    pub fn new(out: W, level: u32) -> Self {
        Self {
            out,
            level,
            block: Vec::with_capacity(GZIP_BLOCK),
            previous: None,
            pending: VecDeque::new(),
            max_pending: rayon::current_num_threads().max(1) * 4,
            crc: crc32fast::Hasher::new(),
            total: 0,
            header_written: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // magic, deflate, no flags, mtime 0, no extra flags, OS unknown (255): no name, no time.
            self.out
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
            self.header_written = true;
        }
        Ok(())
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let block = Arc::new(std::mem::replace(
            &mut self.block,
            Vec::with_capacity(if last { 0 } else { GZIP_BLOCK }),
        ));
        let dictionary = self.previous.replace(Arc::clone(&block));
        let level = self.level;
        let (tx, rx) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            let dict = dictionary
                .as_deref()
                .map(|prev| &prev[prev.len().saturating_sub(DICT_SIZE)..]);
            // The receiver only goes away when the writer is dropped on an error path.
            let _ = tx.send(deflate_block(&block, dict, last, level));
        });
        self.pending.push_back(rx);
        while self.pending.len() > self.max_pending {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let compressed = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip compression job was lost"))??;
            self.write_header()?;
            self.out.write_all(&compressed)?;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.write_header()?;
        let crc = std::mem::take(&mut self.crc).finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 (RFC 1952).
        self.out
            .write_all(&((self.total & 0xffff_ffff) as u32).to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = GZIP_BLOCK - self.block.len();
        let take = room.min(buf.len());
        self.block.extend_from_slice(&buf[..take]);
        self.crc.update(&buf[..take]);
        self.total += take as u64;
        if self.block.len() == GZIP_BLOCK {
            self.dispatch(false)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Flushing mid-stream would change block boundaries; completed blocks are written as they finish.
        Ok(())
    }
}

/// Deflates one block as raw deflate. Non-final blocks end with a sync flush (byte aligned, so pieces
/// can be joined); the final block ends the deflate stream.
fn deflate_block(
    block: &[u8],
    dictionary: Option<&[u8]>,
    last: bool,
    level: u32,
) -> io::Result<Vec<u8>> {
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    if let Some(dict) = dictionary {
        deflate.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(block.len() / 2 + 64);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(block.len() / 4 + 1024);
        }
        let consumed = usize::try_from(deflate.total_in()).map_err(io::Error::other)?;
        let status = deflate
            .compress_vec(&block[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = usize::try_from(deflate.total_in()).map_err(io::Error::other)? == block.len();
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => break,
            _ if !last && all_in && room_left => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a repeating text with a counter.
        let mut data = Vec::with_capacity(len);
        let mut i = 0u64;
        while data.len() < len {
            data.extend_from_slice(
                format!("line {i} of the sample, value {}\n", i * 7919 % 1013).as_bytes(),
            );
            i += 1;
        }
        data.truncate(len);
        data
    }

    fn gzip_with_threads(data: &[u8], threads: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            // Drive from a plain thread, as the layer writer does.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut gz = ParallelGzip::new(Vec::new(), GZIP_LEVEL);
                    for chunk in data.chunks(10_000) {
                        gz.write_all(chunk).unwrap();
                    }
                    gz.finish().unwrap()
                })
                .join()
                .unwrap()
            })
        })
    }

    #[test]
    fn gzip_round_trips_at_every_size() {
        for len in [
            0,
            1,
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            5 * GZIP_BLOCK + 17,
        ] {
            let data = sample(len);
            let mut gz = ParallelGzip::new(Vec::new(), GZIP_LEVEL);
            gz.write_all(&data).unwrap();
            let compressed = gz.finish().unwrap();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "length {len}");
        }
    }

    #[test]
    fn gzip_bytes_do_not_depend_on_the_number_of_threads() {
        let data = sample(9 * GZIP_BLOCK + 333);
        let one = gzip_with_threads(&data, 1);
        let four = gzip_with_threads(&data, 4);
        assert_eq!(one, four);
        // The header carries no name and no time.
        assert_eq!(&one[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn gzip_compresses_about_as_well_as_one_stream() {
        let data = sample(40 * GZIP_BLOCK);
        let mut gz = ParallelGzip::new(Vec::new(), GZIP_LEVEL);
        gz.write_all(&data).unwrap();
        let ours = gz.finish().unwrap().len();
        let mut single =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
        single.write_all(&data).unwrap();
        let reference = single.finish().unwrap().len();
        assert!(
            ours <= reference + reference / 20 + 64,
            "{ours} vs {reference}"
        );
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_the_number_of_workers() {
        let data = sample(6_000_000);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut z = Compressor::new(Compression::Zstd, Vec::new()).unwrap();
                z.write_all(&data).unwrap();
                z.finish().unwrap()
            })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }
}
