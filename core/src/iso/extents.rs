//! File data as a list of extents, and the reader that maps a file offset onto them.
//!
//! Both ISO 9660 (multi-extent records) and UDF (allocation descriptors) describe a file as runs of
//! sectors; a file inside the image is served straight from the underlying reader, never buffered,
//! because install.wim is several GiB and the browser heap is not.

use crate::io::{check_range, ReadAt, SharedReader, SliceSource};
use crate::{Error, Result};
use std::sync::Arc;

/// Where the bytes of one extent come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// Recorded at this absolute byte offset of the image.
    Recorded(u64),
    /// Not recorded (sparse / allocated-but-unrecorded): reads as zeros.
    Zero,
}

/// One run of a file: bytes `file_off..file_off+len` of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub file_off: u64,
    pub len: u64,
    pub run: Run,
}

/// The content of a file or directory.
#[derive(Clone, Debug)]
pub(crate) enum FileData {
    /// Runs of the image, in file order, covering exactly the file size.
    Extents(Arc<[Extent]>),
    /// Bytes stored inside the UDF File Entry itself.
    Inline(Arc<[u8]>),
}

/// Collects extents in file order and clips them to the file's declared size.
pub(crate) struct ExtentBuilder {
    size: u64,
    pos: u64,
    out: Vec<Extent>,
}

impl ExtentBuilder {
    pub fn new(size: u64) -> Self {
        ExtentBuilder {
            size,
            pos: 0,
            out: Vec::new(),
        }
    }

    /// Append a run; the part beyond the declared size is ignored (UDF rounds the last extent up).
    pub fn push(&mut self, len: u64, run: Run) -> Result<()> {
        if self.out.len() >= super::MAX_EXTENTS {
            return Err(Error::limit(
                self.out.len() + 1,
                super::MAX_EXTENTS,
                format!("file has more than {} extents", super::MAX_EXTENTS),
            ));
        }
        let take = len.min(self.size - self.pos);
        if take == 0 {
            return Ok(());
        }
        // Adjacent recorded runs are merged so a big read touches fewer extents.
        if let (Some(last), Run::Recorded(off)) = (self.out.last_mut(), run) {
            if let Run::Recorded(last_off) = last.run {
                if last_off.checked_add(last.len) == Some(off) {
                    last.len += take;
                    self.pos += take;
                    return Ok(());
                }
            }
        }
        self.out.push(Extent {
            file_off: self.pos,
            len: take,
            run,
        });
        self.pos += take;
        Ok(())
    }

    /// True once the declared size is covered.
    pub fn full(&self) -> bool {
        self.pos == self.size
    }

    /// Finish; fails if the runs do not cover the declared size.
    pub fn finish(self, structure: &'static str, offset: u64) -> Result<FileData> {
        if self.pos != self.size {
            return Err(Error::malformed(
                structure,
                offset,
                format!(
                    "allocation covers {} bytes but the recorded length is {}",
                    self.pos, self.size
                ),
            ));
        }
        Ok(FileData::Extents(self.out.into()))
    }
}

impl FileData {
    /// Check that every recorded run lies inside an image of `image_size` bytes.
    pub fn check_inside(&self, image_size: u64) -> Result<()> {
        if let FileData::Extents(ext) = self {
            for e in ext.iter() {
                if let Run::Recorded(off) = e.run {
                    check_range("file extent", off, e.len, image_size)?;
                }
            }
        }
        Ok(())
    }

    /// A reader over the content, `size` bytes long.
    pub fn reader(&self, src: &SharedReader, size: u64) -> Result<SharedReader> {
        self.check_inside(src.size())?;
        Ok(match self {
            FileData::Inline(b) => {
                let n = usize::try_from(size)
                    .ok()
                    .filter(|&n| n <= b.len())
                    .ok_or_else(|| {
                        Error::malformed("UDF embedded data", 0, "length exceeds the entry")
                    })?;
                Arc::new(SliceSource::new(b[..n].to_vec()))
            }
            FileData::Extents(ext) => Arc::new(ExtentReader {
                src: src.clone(),
                extents: ext.clone(),
                size,
            }),
        })
    }

    /// Read the whole content (directories), refusing more than `limit` bytes.
    pub fn read_all(&self, src: &SharedReader, size: u64, limit: u64) -> Result<Vec<u8>> {
        if size > limit {
            return Err(Error::limit(
                size,
                limit,
                format!("directory of {size} bytes; the limit is {limit}"),
            ));
        }
        let r = self.reader(src, size)?;
        crate::io::read_vec(&*r, "directory", 0, size, limit)
    }
}

/// A file inside the image, read through its extents.
pub(crate) struct ExtentReader {
    src: SharedReader,
    extents: Arc<[Extent]>,
    size: u64,
}

impl ReadAt for ExtentReader {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range("ISO file read", offset, buf.len() as u64, self.size)?;
        let mut pos = offset;
        let mut done = 0usize;
        // Extents are sorted by file offset and contiguous, so a binary search finds the first.
        let mut idx = self
            .extents
            .partition_point(|e| e.file_off + e.len <= offset);
        while done < buf.len() {
            let e = self.extents.get(idx).ok_or_else(|| {
                Error::malformed("ISO file extents", pos, "no extent covers this offset")
            })?;
            let within = pos - e.file_off;
            let n = usize::try_from((e.len - within).min((buf.len() - done) as u64))
                .unwrap_or(usize::MAX)
                .min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match e.run {
                Run::Recorded(abs) => self.src.read_at(abs + within, part)?,
                Run::Zero => part.fill(0),
            }
            done += n;
            pos += n as u64;
            idx += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_across_extents_and_holes() {
        let img: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
        let src: SharedReader = Arc::new(SliceSource::new(img.clone()));
        let mut b = ExtentBuilder::new(5000);
        b.push(2048, Run::Recorded(4096)).unwrap();
        b.push(1000, Run::Zero).unwrap();
        b.push(4096, Run::Recorded(100)).unwrap(); // clipped to 1952
        assert!(b.full());
        let data = b.finish("t", 0).unwrap();
        let r = data.reader(&src, 5000).unwrap();
        let mut all = vec![0u8; 5000];
        r.read_at(0, &mut all).unwrap();
        assert_eq!(&all[..2048], &img[4096..6144]);
        assert!(all[2048..3048].iter().all(|&x| x == 0));
        assert_eq!(&all[3048..], &img[100..2052]);
        let mut mid = [0u8; 10];
        r.read_at(3045, &mut mid).unwrap();
        assert_eq!(&mid[..3], &[0, 0, 0]);
        assert_eq!(&mid[3..], &img[100..107]);
        assert!(r.read_at(4995, &mut mid).is_err());
    }

    #[test]
    fn merges_adjacent_and_rejects_short() {
        let mut b = ExtentBuilder::new(10);
        b.push(4, Run::Recorded(0)).unwrap();
        b.push(4, Run::Recorded(4)).unwrap();
        assert!(b.finish("t", 0).is_err());
        let mut b = ExtentBuilder::new(8);
        b.push(4, Run::Recorded(0)).unwrap();
        b.push(4, Run::Recorded(4)).unwrap();
        let FileData::Extents(e) = b.finish("t", 0).unwrap() else {
            panic!()
        };
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn extent_past_end_is_refused() {
        let src: SharedReader = Arc::new(SliceSource::new(vec![0u8; 100]));
        let mut b = ExtentBuilder::new(50);
        b.push(50, Run::Recorded(60)).unwrap();
        let d = b.finish("t", 0).unwrap();
        assert!(matches!(d.reader(&src, 50), Err(Error::Truncated { .. })));
    }
}
