//! std files as [`ReadAt`], using positioned reads so one handle serves many readers.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use crate::io::{check_range, ReadAt};
    use crate::Result;
    use std::fs::File;
    use std::path::Path;

    /// A file on disk, read with positioned reads (no shared cursor).
    pub struct FileSource {
        file: File,
        size: u64,
    }

    impl FileSource {
        /// Open `path` read-only. Inputs are never modified.
        pub fn open(path: impl AsRef<Path>) -> Result<Self> {
            let path = path.as_ref();
            let file =
                File::open(path).map_err(|e| crate::Error::io(path.display().to_string(), e))?;
            let size = file.metadata()?.len();
            Ok(FileSource { file, size })
        }
    }

    impl ReadAt for FileSource {
        fn size(&self) -> u64 {
            self.size
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            check_range("file read", offset, buf.len() as u64, self.size)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileExt;
                self.file.read_exact_at(buf, offset)?;
            }
            #[cfg(windows)]
            {
                use std::os::windows::fs::FileExt;
                let mut done = 0usize;
                while done < buf.len() {
                    let n = self
                        .file
                        .seek_read(&mut buf[done..], offset + done as u64)?;
                    if n == 0 {
                        return Err(crate::Error::io(
                            "reading",
                            std::io::ErrorKind::UnexpectedEof.into(),
                        ));
                    }
                    done += n;
                }
            }
            Ok(())
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::FileSource;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::FileSource;
    use crate::Error;

    #[test]
    fn a_missing_file_keeps_the_os_error_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.iso");
        match FileSource::open(&path) {
            Err(e @ Error::Os { .. }) => {
                assert!(e.to_string().contains("absent.iso"), "{e}");
                let source = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .expect("the io::Error is the source");
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("opened a missing file"),
        }
    }
}
