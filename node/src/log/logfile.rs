//! The log export file format (`comity-node export` writes it, `comity-node import` reads it):
//! a magic line, a length-prefixed [`pb::LogExportHeader`], then every log entry (its log time
//! then its envelope bytes, [`comity_proto::log::entry_bytes`]), length-prefixed, exactly as
//! logged. `proto/comity/v1/export.proto` documents the layout.
//!
//! A file is untrusted input: every length is bounded before anything is allocated, a file cut
//! short or with bytes after its last entry is refused, and nothing here checks signatures or
//! hashes (the importer does, with the mirror's code).

use std::io::{self, Read, Write};

use comity_proto::pb;
use comity_proto::statement::MAX_ENVELOPE_BYTES;
use prost::Message;

/// The first line of every export file.
pub const MAGIC: &[u8] = b"comity-log-export\n";
/// The header's `format` field.
pub const FORMAT: &str = "comity-log-export";
/// The layout version this binary writes and reads (2: entries carry their log time).
pub const VERSION: u32 = 2;
/// Largest entry: its log time and the largest envelope.
pub const MAX_ENTRY_BYTES: usize = 8 + MAX_ENVELOPE_BYTES;
/// Largest header accepted: a checkpoint note with its cosignatures is a few KiB.
pub const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// A file that is not a readable log export.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("not a Comity log export (it does not start with the line `{FORMAT}`)")]
    NotAnExport,
    #[error("log export format {format} version {version} is not supported (this binary reads {FORMAT} version {VERSION})")]
    UnsupportedVersion { format: String, version: u32 },
    #[error("log export header: {0}")]
    Header(String),
    #[error("entry {index} claims {len} bytes, more than a log entry may have ({MAX_ENTRY_BYTES})")]
    OversizedEntry { index: u64, len: u32 },
    #[error("entry {index} is {len} bytes, shorter than its 8-byte log time")]
    ShortEntry { index: u64, len: u32 },
    #[error("the file ends in entry {index} of its {expected}: it was cut short")]
    Truncated { index: u64, expected: u64 },
    #[error("bytes follow the last of the file's {expected} entries: it was altered")]
    TrailingBytes { expected: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Writes an export file: the header first, then each entry in log order.
pub struct LogFileWriter<W: Write> {
    out: W,
    bytes: u64,
}

impl<W: Write> LogFileWriter<W> {
    /// Starts a file for `origin` up to the signed `checkpoint` note.
    pub fn start(mut out: W, origin: &str, checkpoint: &str, exported_from: &str, exported_at: i64) -> io::Result<Self> {
        let header = pb::LogExportHeader {
            format: FORMAT.into(),
            version: VERSION,
            origin: origin.into(),
            checkpoint: checkpoint.into(),
            exported_from: exported_from.into(),
            exported_at,
        };
        out.write_all(MAGIC)?;
        let mut writer = Self { out, bytes: MAGIC.len() as u64 };
        writer.frame(&header.encode_to_vec())?;
        Ok(writer)
    }

    /// Appends the next entry: its log time and its envelope, byte for byte.
    pub fn entry(&mut self, logged_at: i64, envelope: &[u8]) -> io::Result<()> {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("an envelope of {} bytes is larger than any valid one", envelope.len())));
        }
        self.frame(&comity_proto::log::entry_bytes(logged_at, envelope))
    }

    fn frame(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame longer than 4 GiB"))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(bytes)?;
        self.bytes += 4 + bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads an export file: [`LogFileReader::open`] reads the header, then
/// [`LogFileReader::next_entry`] yields exactly as many entries as the caller's verified
/// checkpoint says, and refuses a file with fewer or more.
pub struct LogFileReader<R: Read> {
    input: R,
    /// Entries read so far.
    read: u64,
    bytes: u64,
}

impl<R: Read> LogFileReader<R> {
    /// Reads and checks the magic line and the header.
    pub fn open(mut input: R) -> Result<(pb::LogExportHeader, Self), LogFileError> {
        let mut magic = [0u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => LogFileError::NotAnExport,
            _ => LogFileError::Io(e),
        })?;
        if magic != MAGIC {
            return Err(LogFileError::NotAnExport);
        }
        let mut reader = Self { input, read: 0, bytes: MAGIC.len() as u64 };
        let header_err = |m: String| LogFileError::Header(m);
        let len = reader.length().map_err(|e| header_err(format!("cannot read its length: {e}")))?.ok_or_else(|| header_err("missing".into()))?;
        if len > MAX_HEADER_BYTES {
            return Err(header_err(format!("{len} bytes, more than the {MAX_HEADER_BYTES} allowed")));
        }
        let bytes = reader.exactly(len).map_err(|e| header_err(format!("cut short: {e}")))?;
        let header = pb::LogExportHeader::decode(bytes.as_slice()).map_err(|e| header_err(e.to_string()))?;
        if header.format != FORMAT || header.version != VERSION {
            return Err(LogFileError::UnsupportedVersion { format: header.format, version: header.version });
        }
        Ok((header, reader))
    }

    /// The next of `expected` entries (the checkpoint's size), or `None` after the last one,
    /// once the end of the file is reached right there.
    /// Each entry is its log time and its envelope bytes.
    pub fn next_entry(&mut self, expected: u64) -> Result<Option<(i64, Vec<u8>)>, LogFileError> {
        let index = self.read;
        if index == expected {
            let mut probe = [0u8; 1];
            return match self.input.read(&mut probe)? {
                0 => Ok(None),
                _ => Err(LogFileError::TrailingBytes { expected }),
            };
        }
        let truncated = |e: io::Error| if e.kind() == io::ErrorKind::UnexpectedEof { LogFileError::Truncated { index, expected } } else { LogFileError::Io(e) };
        let len = self.length().map_err(truncated)?.ok_or_else(|| truncated(io::ErrorKind::UnexpectedEof.into()))?;
        if len as usize > MAX_ENTRY_BYTES {
            return Err(LogFileError::OversizedEntry { index, len });
        }
        if len < 8 {
            return Err(LogFileError::ShortEntry { index, len });
        }
        let mut entry = self.exactly(len).map_err(truncated)?;
        let envelope = entry.split_off(8);
        let logged_at = i64::from_be_bytes(entry.try_into().expect("8 bytes checked above"));
        self.read += 1;
        Ok(Some((logged_at, envelope)))
    }

    /// Entries read so far.
    pub fn entries_read(&self) -> u64 {
        self.read
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A frame length, or `None` at a clean end of file; a partial length is `UnexpectedEof`.
    fn length(&mut self) -> io::Result<Option<u32>> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < len.len() {
            match self.input.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.bytes += 4;
        Ok(Some(u32::from_be_bytes(len)))
    }

    /// Exactly `len` bytes (bounded by the caller before this allocates).
    fn exactly(&mut self, len: u32) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; len as usize];
        self.input.read_exact(&mut bytes)?;
        self.bytes += len as u64;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[&[u8]]) -> Vec<u8> {
        let mut w = LogFileWriter::start(Vec::new(), "o.example/log", "note", "http://x", 7).unwrap();
        for (i, e) in entries.iter().enumerate() {
            w.entry(1_700_000_000 + i as i64, e).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8], expected: u64) -> Result<Vec<Vec<u8>>, LogFileError> {
        let (_, mut r) = LogFileReader::open(bytes)?;
        let mut out = Vec::new();
        while let Some((time, e)) = r.next_entry(expected)? {
            assert_eq!(time, 1_700_000_000 + out.len() as i64, "each entry's log time comes back");
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_header_and_entries_byte_for_byte() {
        let bytes = file(&[b"first", b"", b"third"]);
        let (header, _) = LogFileReader::open(bytes.as_slice()).unwrap();
        assert_eq!((header.origin.as_str(), header.checkpoint.as_str(), header.version), ("o.example/log", "note", VERSION));
        assert_eq!(read_all(&bytes, 3).unwrap(), vec![b"first".to_vec(), Vec::new(), b"third".to_vec()]);
    }

    #[test]
    fn refuses_a_file_cut_short_anywhere_or_with_extra_bytes() {
        let bytes = file(&[b"first", b"second"]);
        let header_end = bytes.len() - (4 + 8 + 5) - (4 + 8 + 6);
        for cut in header_end..bytes.len() {
            let err = read_all(&bytes[..cut], 2).unwrap_err();
            assert!(matches!(err, LogFileError::Truncated { .. }), "cut at {cut}: {err}");
        }
        for cut in 0..header_end {
            assert!(read_all(&bytes[..cut], 2).is_err(), "cut in the header at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(read_all(&longer, 2), Err(LogFileError::TrailingBytes { expected: 2 })));
        assert!(matches!(read_all(&bytes, 1), Err(LogFileError::TrailingBytes { expected: 1 })));
    }

    #[test]
    fn bounds_every_length_before_allocating() {
        let mut bytes = file(&[]);
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read_all(&bytes, 1), Err(LogFileError::OversizedEntry { index: 0, len: u32::MAX })));
        let mut huge_header = MAGIC.to_vec();
        huge_header.extend_from_slice(&(MAX_HEADER_BYTES + 1).to_be_bytes());
        assert!(matches!(LogFileReader::open(huge_header.as_slice()), Err(LogFileError::Header(_))));
    }

    #[test]
    fn refuses_other_files_and_other_versions() {
        assert!(matches!(LogFileReader::open(&b"{\"json\": true}"[..]), Err(LogFileError::NotAnExport)));
        assert!(matches!(LogFileReader::open(&b""[..]), Err(LogFileError::NotAnExport)));
        let header = pb::LogExportHeader { format: FORMAT.into(), version: VERSION + 1, ..Default::default() }.encode_to_vec();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(header.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&header);
        let err = LogFileReader::open(bytes.as_slice()).err().expect("refused");
        assert!(err.to_string().contains("version 3 is not supported"), "{err}");
    }

    #[test]
    fn refuses_an_entry_without_its_log_time() {
        let mut bytes = file(&[]);
        bytes.extend_from_slice(&7u32.to_be_bytes());
        bytes.extend_from_slice(&[0; 7]);
        assert!(matches!(read_all(&bytes, 1), Err(LogFileError::ShortEntry { index: 0, len: 7 })));
    }
}
