//! WIM writer tests. Every output is checked with wimlib (`wimlib-imagex verify/info/dir/apply`),
//! never with our own reader.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;

use common::{diff_trees, run, run_bytes, wimlib, wimlib_capture, wimlib_try, wimlib_verify, Rng};

use mediaprep_core::codec::Compression;
use mediaprep_core::hash::sha1;
use mediaprep_core::io::{NoProgress, Progress, ReadAt, SliceSource};
use mediaprep_core::wim::format::{flags, resflags, BlobEntry, Header, BLOB_ENTRY_SIZE};
use mediaprep_core::wim::model::{attr, Dentry, Hash, ImageTree, NamedStream};
use mediaprep_core::wim::write::{write_wim_file, WimWriter, WriteOptions};
use mediaprep_core::wim::xml_write::ImageXml;
use mediaprep_core::Error;

// ---------------------------------------------------------------- helpers

fn u(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// The first `Key<sep>value` line of wimlib-imagex output naming `key`: its value.
fn field_by(info: &str, key: &str, sep: char) -> String {
    info.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(sep)?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no '{key}' in:\n{info}"))
}

/// `Key: value` fields of `wimlib-imagex info` output (first occurrence per key).
fn info_field(info: &str, key: &str) -> String {
    field_by(info, key, ':')
}

/// `Key = value` fields of `wimlib-imagex info --header` output.
fn header_field(info: &str, key: &str) -> String {
    field_by(info, key, '=')
}

/// A minimal self-relative security descriptor: owner = BUILTIN\Administrators, DACL granting
/// Everyone full access.
fn security_descriptor(mask: u32) -> Vec<u8> {
    let admins: Vec<u8> = [1u8, 2, 0, 0, 0, 0, 0, 5]
        .into_iter()
        .chain(32u32.to_le_bytes())
        .chain(544u32.to_le_bytes())
        .collect();
    let everyone: Vec<u8> = [1u8, 1, 0, 0, 0, 0, 0, 1]
        .into_iter()
        .chain(0u32.to_le_bytes())
        .collect();
    let ace_len = 8 + everyone.len();
    let acl_len = 8 + ace_len;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&0x8004u16.to_le_bytes()); // SELF_RELATIVE | DACL_PRESENT
    let owner_off = 20u32;
    let dacl_off = owner_off + admins.len() as u32;
    sd.extend_from_slice(&owner_off.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes()); // group
    sd.extend_from_slice(&0u32.to_le_bytes()); // sacl
    sd.extend_from_slice(&dacl_off.to_le_bytes());
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&[2, 0]);
    sd.extend_from_slice(&(acl_len as u16).to_le_bytes());
    sd.extend_from_slice(&1u16.to_le_bytes());
    sd.extend_from_slice(&0u16.to_le_bytes());
    sd.extend_from_slice(&[0, 0]); // ACCESS_ALLOWED, no flags
    sd.extend_from_slice(&(ace_len as u16).to_le_bytes());
    sd.extend_from_slice(&mask.to_le_bytes());
    sd.extend_from_slice(&everyone);
    sd
}

/// A relative symbolic-link reparse buffer without its 8-byte header, as the WIM stores it.
fn symlink_reparse_data(target: &str) -> Vec<u8> {
    let t: Vec<u8> = target
        .encode_utf16()
        .flat_map(|c| c.to_le_bytes())
        .collect();
    let n = t.len() as u16;
    let mut b = Vec::new();
    b.extend_from_slice(&0u16.to_le_bytes()); // substitute name offset
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&(n + 2).to_le_bytes()); // print name offset
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // SYMLINK_FLAG_RELATIVE
    b.extend_from_slice(&t);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&t);
    b.extend_from_slice(&[0, 0]);
    b
}

/// Builds an ImageTree and remembers what each path should contain.
struct Builder {
    tree: ImageTree,
    /// (path, content) of every regular file (each hard-link name listed).
    files: Vec<(String, Vec<u8>)>,
    /// Every path `wimlib-imagex dir` should print.
    paths: BTreeSet<String>,
    /// Blob contents to add before the image.
    blobs: Vec<Vec<u8>>,
    time: u64,
}

impl Builder {
    fn new() -> Self {
        let tree = ImageTree::with_root();
        let mut paths = BTreeSet::new();
        paths.insert("/".to_string());
        Builder {
            tree,
            files: Vec::new(),
            paths,
            blobs: Vec::new(),
            time: 0x01DA_0000_0000_0000,
        }
    }

    fn push(&mut self, parent: usize, name: &str, mut d: Dentry) -> usize {
        self.time += 10_000_000;
        d.name = u(name);
        d.creation_time = self.time;
        d.last_access_time = self.time;
        d.last_write_time = self.time;
        let idx = self.tree.add_child(parent, d);
        self.paths.insert(self.tree.path_of(idx));
        idx
    }

    fn dir(&mut self, parent: usize, name: &str) -> usize {
        self.push(
            parent,
            name,
            Dentry {
                attributes: attr::DIRECTORY,
                security_id: -1,
                ..Default::default()
            },
        )
    }

    fn blob(&mut self, data: &[u8]) -> Option<Hash> {
        if !data.is_empty() {
            self.blobs.push(data.to_vec());
        }
        Some(if data.is_empty() { [0; 20] } else { sha1(data) })
    }

    fn file(&mut self, parent: usize, name: &str, data: &[u8]) -> usize {
        let hash = self.blob(data);
        self.linked_file(parent, name, data, hash, 0)
    }

    /// A file whose blob is already added (`hash`), in hard-link group `group` (0: none).
    fn linked_file(
        &mut self,
        parent: usize,
        name: &str,
        data: &[u8],
        hash: Option<Hash>,
        group: u64,
    ) -> usize {
        let idx = self.push(
            parent,
            name,
            Dentry {
                attributes: attr::ARCHIVE,
                security_id: -1,
                data: hash,
                hard_link_group: group,
                ..Default::default()
            },
        );
        self.files.push((self.tree.path_of(idx), data.to_vec()));
        idx
    }

    fn write_into<W: mediaprep_core::io::WriteAt>(&self, w: &mut WimWriter<W>, name: &str) {
        for b in &self.blobs {
            w.add_blob(b).unwrap();
        }
        w.add_image(&self.tree, ImageXml::new(name, Some("test image")))
            .unwrap();
    }
}

fn text_data(n: usize, seed: u32) -> Vec<u8> {
    let words = [
        "servicing ",
        "stack ",
        "update ",
        "recovery ",
        "Windows ",
        "image ",
        "\r\n",
        "0x",
        "component ",
        "manifest ",
    ];
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[(x % words.len() as u32) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    Rng(seed | 1).bytes(n, 24)
}

/// The rich test tree: dirs, empty file/dir, unicode, deep path, hard links, ADS, symlink,
/// security descriptors, short names, multi-chunk compressible and incompressible files.
/// Returns the builder plus the expected (dir count, file count, total bytes, hard-link bytes).
fn rich_tree() -> (Builder, [u64; 4]) {
    let mut b = Builder::new();
    b.tree.security = vec![security_descriptor(0x1F01FF), security_descriptor(0x1200A9)];
    b.tree.nodes[0].security_id = 0;
    let mut total = 0u64;
    let d1 = b.dir(0, "Program Files");
    b.tree.nodes[d1].short_name = u("PROGRA~1");
    b.tree.nodes[d1].security_id = 1;
    let hello = b"hello world\n";
    let f = b.file(d1, "hello.txt", hello);
    b.tree.nodes[f].security_id = 1;
    // An object-ID tagged item (tag 1, 16 bytes), preserved as raw bytes.
    let mut ti = Vec::new();
    ti.extend_from_slice(&1u32.to_le_bytes());
    ti.extend_from_slice(&16u32.to_le_bytes());
    ti.extend_from_slice(&[0xAB; 16]);
    b.tree.nodes[f].tagged_items = ti;
    total += hello.len() as u64;
    b.file(0, "empty.txt", b"");
    b.dir(0, "emptydir");
    let uni = "ünïcødé-名前-😀.txt";
    b.file(0, uni, b"unicode content");
    total += 15;
    let mut cur = 0;
    for i in 0..24 {
        cur = b.dir(cur, &format!("deep{i:02}"));
    }
    b.file(cur, "bottom.txt", b"at the bottom");
    total += 13;
    // Three names of one inode.
    let hl = b.dir(0, "links");
    let data = text_data(70_000, 7);
    let hash = b.blob(&data);
    for (parent, name) in [(hl, "a.bin"), (hl, "b.bin"), (0, "c.bin")] {
        b.linked_file(parent, name, &data, hash, 0x1234);
    }
    total += 3 * data.len() as u64;
    let hlbytes = 2 * data.len() as u64;
    // Multi-chunk files: compressible and not.
    let big = text_data(300_000, 3);
    b.file(0, "big.txt", &big);
    let rnd = noise(100_000, 99);
    b.file(0, "random.bin", &rnd);
    total += (big.len() + rnd.len()) as u64;
    // Same content under two unrelated names: one blob, refcnt 2, not a hard link.
    b.file(d1, "hello-copy.txt", hello);
    total += hello.len() as u64;
    // Alternate data stream.
    let ads = b"stream data";
    let main = b"main data";
    let ads_hash = b.blob(ads).unwrap();
    let a = b.file(0, "ads.txt", main);
    b.tree.nodes[a].named_streams.push(NamedStream {
        name: u("Zone.Identifier"),
        hash: ads_hash,
    });
    total += (ads.len() + main.len()) as u64;
    // Relative symlink to Program Files/hello.txt.
    let rp = symlink_reparse_data("Program Files\\hello.txt");
    let rp_hash = b.blob(&rp);
    b.push(
        0,
        "link.txt",
        Dentry {
            attributes: attr::REPARSE_POINT | attr::ARCHIVE,
            security_id: -1,
            reparse_tag: 0xA000_000C,
            reparse: rp_hash,
            data: Some([0; 20]),
            ..Default::default()
        },
    );
    total += rp.len() as u64;
    let dirs = 1 + 1 + 1 + 24 + 1;
    let files = 1 + 1 + 1 + 1 + 3 + 2 + 1 + 1 + 1;
    (b, [dirs, files, total, hlbytes])
}

fn dir_listing(wim: &Path, image: u32) -> BTreeSet<String> {
    wimlib(&["dir", wim.to_str().unwrap(), &image.to_string()])
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// verify + info + dir + apply checks of one image written from `b`.
fn check_with_wimlib(wim: &Path, image: u32, b: &Builder, name: &str, expect: [u64; 4]) {
    let w = wim.to_str().unwrap();
    wimlib(&["verify", w]);
    let info = wimlib(&["info", w, &image.to_string()]);
    assert_eq!(info_field(&info, "Name"), name);
    let counts = [
        "Directory Count",
        "File Count",
        "Total Bytes",
        "Hard Link Bytes",
    ];
    for (key, want) in counts.into_iter().zip(expect) {
        assert_eq!(info_field(&info, key), want.to_string(), "{key}: {info}");
    }
    assert_eq!(dir_listing(wim, image), b.paths);

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    wimlib(&["apply", w, &image.to_string(), out.to_str().unwrap()]);
    for (path, data) in &b.files {
        let p = out.join(path.trim_start_matches('/'));
        let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(got == *data, "{path}: content differs");
    }
    for (path, _) in b
        .files
        .iter()
        .filter(|(p, _)| p.ends_with(".bin") && p.contains("links"))
    {
        let linked = out.join(path.trim_start_matches('/'));
        let st = run("stat", &["-c", "%h", linked.to_str().unwrap()]);
        assert_eq!(st.trim(), "3", "{path} link count");
    }
    if b.paths.contains("/link.txt") {
        let target = std::fs::read_link(out.join("link.txt")).unwrap();
        assert_eq!(target, PathBuf::from("Program Files/hello.txt"));
    }
}

/// `wimlib-imagex capture SRC WIM ARGS…`, then the WIM's bytes.
fn captured(src: &Path, wim: &Path, args: &[&str]) -> Vec<u8> {
    wimlib_capture(src, wim, args);
    std::fs::read(wim).unwrap()
}

fn header_of(bytes: &[u8]) -> Header {
    Header::parse(bytes, bytes.len() as u64).unwrap()
}

fn blob_table(bytes: &[u8]) -> Vec<BlobEntry> {
    let h = header_of(bytes);
    let t = &bytes
        [h.blob_table.offset as usize..(h.blob_table.offset + h.blob_table.size_in_wim) as usize];
    t.chunks_exact(BLOB_ENTRY_SIZE)
        .map(BlobEntry::parse)
        .collect()
}

fn write_rich(opts: WriteOptions) -> (tempfile::TempDir, PathBuf, Builder, [u64; 4]) {
    let (b, expect) = rich_tree();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.wim");
    write_wim_file(&path, opts, |w| {
        b.write_into(w, "Rich");
        Ok(())
    })
    .unwrap();
    (tmp, path, b, expect)
}

// ---------------------------------------------------------------- tests

#[test]
fn rich_tree_every_compression() {
    for (compression, always_chunked) in [
        (Compression::None, false),
        (Compression::Xpress, false),
        (Compression::Lzx, false),
        (Compression::Xpress, true),
        (Compression::Lzx, true),
    ] {
        let mut opts = WriteOptions::new(compression);
        opts.always_chunked = always_chunked;
        opts.guid = [0x42; 16];
        let (_tmp, path, b, expect) = write_rich(opts);
        check_with_wimlib(&path, 1, &b, "Rich", expect);
        let hdr = wimlib(&["info", "--header", path.to_str().unwrap()]);
        let want_cs = if compression == Compression::None {
            "0"
        } else {
            "32768"
        };
        assert_eq!(header_field(&hdr, "Chunk Size"), want_cs);
        assert_eq!(header_field(&hdr, "Image Count"), "1");
        assert_eq!(header_field(&hdr, "GUID"), "42".repeat(16));
        let info = wimlib(&["info", path.to_str().unwrap()]);
        assert_eq!(info_field(&info, "Compression"), compression.name());

        let bytes = std::fs::read(&path).unwrap();
        let h = header_of(&bytes);
        assert_eq!(h.flags & flags::WRITE_IN_PROGRESS, 0);
        let table = blob_table(&bytes);
        // The 3-name hard-linked blob and the 2-name copied blob carry their reference counts.
        let linked = sha1(&text_data(70_000, 7));
        assert_eq!(table.iter().find(|e| e.hash == linked).unwrap().refcnt, 3);
        assert_eq!(
            table
                .iter()
                .find(|e| e.hash == sha1(b"hello world\n"))
                .unwrap()
                .refcnt,
            2
        );
        if compression != Compression::None {
            // The encoders shrink repetitive text: chunk table + compressed chunks.
            let big = table
                .iter()
                .find(|e| e.hash == sha1(&text_data(300_000, 3)))
                .unwrap();
            assert_eq!(big.res.flags, resflags::COMPRESSED);
            assert!(big.res.size_in_wim < 150_000, "{:?}", big.res);
        }
        if always_chunked {
            // Every multi-chunk blob is stored with a chunk table.
            let big = table
                .iter()
                .find(|e| e.hash == sha1(&text_data(300_000, 3)))
                .unwrap();
            assert_ne!(big.res.flags & resflags::COMPRESSED, 0);
        }
    }
}

/// The `dir --detailed` record of one path.
fn detailed_record(wim: &Path, path: &str) -> String {
    let text = wimlib(&["dir", wim.to_str().unwrap(), "1", "--detailed"]);
    let key = format!("Full Path           = \"{path}\"");
    let start = text
        .find(&key)
        .unwrap_or_else(|| panic!("{path} not listed:\n{text}"));
    let rest = &text[start..];
    let end = rest[key.len()..]
        .find("Full Path")
        .map_or(rest.len(), |e| e + key.len());
    rest[..end].to_string()
}

#[test]
fn rich_tree_details_seen_by_wimlib() {
    let (_tmp, path, b, _) = write_rich(WriteOptions::new(Compression::Lzx));
    let pf = detailed_record(&path, "/Program Files");
    assert!(pf.contains("Short Name          = \"PROGRA~1\""), "{pf}");
    let sd_hex = mediaprep_core::hash::hex(&b.tree.security[1]);
    assert!(
        pf.contains(&format!("Security Descriptor = {sd_hex}")),
        "{pf}"
    );
    let root = detailed_record(&path, "/");
    let sd0 = mediaprep_core::hash::hex(&b.tree.security[0]);
    assert!(
        root.contains(&format!("Security Descriptor = {sd0}")),
        "{root}"
    );
    let hello = detailed_record(&path, "/Program Files/hello.txt");
    assert!(
        hello.contains("Object ID           = 0xabababababababababababababababab"),
        "{hello}"
    );
    assert!(hello.contains("Reference Count   = 2"), "{hello}");
    let ads = detailed_record(&path, "/ads.txt");
    assert!(
        ads.contains("Named data stream \"Zone.Identifier\""),
        "{ads}"
    );
    let zone = format!(
        "Hash              = 0x{}",
        mediaprep_core::hash::hex(&sha1(b"stream data"))
    );
    assert!(ads.contains(&zone), "{ads}");
    let link = detailed_record(&path, "/link.txt");
    assert!(link.contains("Reparse Tag         = 0xa000000c"), "{link}");
    assert!(link.contains("Reparse point stream"), "{link}");
    let c = detailed_record(&path, "/c.bin");
    assert!(c.contains("Link Count          = 3"), "{c}");
    assert!(c.contains("Reference Count   = 3"), "{c}");
}

#[test]
fn multi_image_shared_blobs_boot_index_integrity() {
    let (b1, e1) = rich_tree();
    let mut b2 = Builder::new();
    let shared = text_data(300_000, 3); // same as big.txt of image 1
    b2.file(0, "again.txt", &shared);
    let d = b2.dir(0, "only2");
    b2.file(d, "new.txt", b"only in image two");
    let e2 = [2, 2, shared.len() as u64 + 17, 0];

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("multi.wim");
    let mut opts = WriteOptions::new(Compression::Lzx);
    opts.boot_index = 2;
    opts.integrity = true;
    let summary = write_wim_file(&path, opts, |w| {
        b1.write_into(w, "First");
        b2.write_into(w, "Second");
        Ok(())
    })
    .unwrap();
    assert_eq!(summary.images.len(), 2);
    check_with_wimlib(&path, 1, &b1, "First", e1);
    check_with_wimlib(&path, 2, &b2, "Second", e2);
    let p = path.to_str().unwrap();
    let info = wimlib(&["info", p]);
    assert_eq!(info_field(&info, "Boot Index"), "2");
    let hdr = wimlib(&["info", "--header", p]);
    assert_ne!(header_field(&hdr, "Integrity Size"), "0");
    assert_eq!(header_field(&hdr, "Boot Index"), "2");
    // wimlib checks the integrity table on request.
    wimlib(&["info", "--check", p]);

    let bytes = std::fs::read(&path).unwrap();
    let table = blob_table(&bytes);
    let e = table.iter().find(|e| e.hash == sha1(&shared)).unwrap();
    assert_eq!(e.refcnt, 2, "shared blob counted once per image");
    assert_eq!(
        table.iter().filter(|e| e.hash == sha1(&shared)).count(),
        1,
        "shared blob stored once"
    );
    // Boot metadata header is a copy of image 2's metadata entry.
    let h = header_of(&bytes);
    let metas: Vec<_> = table
        .iter()
        .filter(|e| e.res.flags & resflags::METADATA != 0)
        .collect();
    assert_eq!(metas.len(), 2);
    assert_eq!(h.boot_metadata, metas[1].res);

    // A flipped byte inside a file resource is caught by the integrity check.
    let mut bad = bytes.clone();
    let off = e.res.offset as usize + 100;
    bad[off] ^= 0xFF;
    let badp = tmp.path().join("bad.wim");
    std::fs::write(&badp, &bad).unwrap();
    let (ok, text) = wimlib_try(&["info", "--check", badp.to_str().unwrap()]);
    assert!(!ok, "corruption not detected:\n{text}");
}

#[test]
fn abandoned_blob_space_is_zeroed_before_the_blob_table() {
    let mut b = Builder::new();
    b.file(0, "a.txt", b"kept");
    let mut w = WimWriter::new(Vec::new(), WriteOptions::new(Compression::Lzx)).unwrap();
    b.write_into(&mut w, "Gap");
    // Written after the metadata, then refused: its bytes must not survive as garbage.
    let junk = noise(100_000, 3);
    let err = w
        .add_blob_from(&SliceSource::new(junk.clone()), Some([1; 20]), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }));
    let (summary, bytes) = w.finish_into_sink().unwrap();
    assert_eq!(summary.file_size, bytes.len() as u64);
    let h = header_of(&bytes);
    let meta = blob_table(&bytes)
        .into_iter()
        .find(|e| e.res.flags & resflags::METADATA != 0)
        .unwrap();
    let gap =
        &bytes[(meta.res.offset + meta.res.size_in_wim) as usize..h.blob_table.offset as usize];
    assert!(gap.len() >= junk.len(), "gap of {} bytes", gap.len());
    assert!(
        gap.iter().all(|&x| x == 0),
        "abandoned bytes left in the file"
    );
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("gap.wim");
    std::fs::write(&p, &bytes).unwrap();
    wimlib(&["verify", p.to_str().unwrap()]);
}

#[test]
fn deterministic_output() {
    let write = || {
        let (b, _) = rich_tree();
        let mut opts = WriteOptions::new(Compression::Lzx);
        opts.integrity = true;
        let mut w = WimWriter::new(Vec::new(), opts).unwrap();
        b.write_into(&mut w, "Same");
        let (_, bytes) = w.finish_into_sink().unwrap();
        bytes
    };
    let a = write();
    assert!(a == write(), "same input, different bytes");
}

/// A generated source of `len` bytes that counts how much it was asked to read at once.
struct Generated {
    len: u64,
    max_read: std::sync::atomic::AtomicUsize,
}

impl ReadAt for Generated {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> mediaprep_core::Result<()> {
        mediaprep_core::io::check_range("gen", offset, buf.len() as u64, self.len)?;
        self.max_read
            .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
        for (i, b) in buf.iter_mut().enumerate() {
            let p = offset + i as u64;
            *b = ((p / 4096) as u8).wrapping_mul(31) ^ (p as u8);
        }
        Ok(())
    }
}

struct Count(std::sync::atomic::AtomicU64);
impl Progress for Count {
    fn update(&self, _stage: &str, done: u64, _total: u64) {
        self.0.store(done, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn streaming_blob_bounded_reads_and_digest_check() {
    let src = Generated {
        len: 24 << 20,
        max_read: Default::default(),
    };
    let hash = {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        let mut piece = vec![0u8; 1 << 20];
        for k in 0..src.len >> 20 {
            src.read_at(k << 20, &mut piece).unwrap();
            h.update(&piece);
        }
        let hash: Hash = h.finalize().into();
        hash
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("stream.wim");
    let mut opts = WriteOptions::new(Compression::Xpress);
    opts.integrity = true;
    write_wim_file(&path, opts, |w| {
        // A wrong expected digest is refused and leaves the writer usable.
        let err = w
            .add_blob_from(&src, Some([9; 20]), &NoProgress)
            .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!w.has_blob(&[9; 20]));
        let progress = Count(Default::default());
        let got = w.add_blob_from(&src, None, &progress).unwrap();
        assert_eq!(got, hash);
        assert!(progress.0.load(std::sync::atomic::Ordering::Relaxed) >= src.len);
        // Present already: not read again.
        let before = src.max_read.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            w.add_blob_from(&src, Some(hash), &NoProgress).unwrap(),
            hash
        );
        assert_eq!(
            src.max_read.load(std::sync::atomic::Ordering::Relaxed),
            before
        );
        let mut b = Builder::new();
        b.push(
            0,
            "big.bin",
            Dentry {
                attributes: attr::ARCHIVE,
                security_id: -1,
                data: Some(hash),
                ..Default::default()
            },
        );
        w.add_image(&b.tree, ImageXml::new("Stream", None))
    })
    .unwrap();
    assert!(
        src.max_read.load(std::sync::atomic::Ordering::Relaxed) <= 1 << 20,
        "reads are bounded"
    );
    let p = path.to_str().unwrap();
    wimlib(&["verify", p]);
    wimlib(&["info", "--check", p]);
    let out = tmp.path().join("x");
    wimlib(&["apply", p, "1", out.to_str().unwrap()]);
    assert_eq!(sha1(&std::fs::read(out.join("big.bin")).unwrap()), hash);
}

#[test]
fn missing_blob_and_bad_options_are_errors() {
    let mut w = WimWriter::new(Vec::new(), WriteOptions::new(Compression::None)).unwrap();
    let mut b = Builder::new();
    b.file(0, "x", b"not added");
    assert!(matches!(
        w.add_image(&b.tree, ImageXml::new("x", None)),
        Err(Error::Invalid { .. })
    ));
    let mut opts = WriteOptions::new(Compression::Lzx);
    opts.chunk_size = 1000;
    assert!(WimWriter::new(Vec::new(), opts).is_err());
    let mut opts = WriteOptions::new(Compression::None);
    opts.boot_index = 1;
    let w = WimWriter::new(Vec::new(), opts).unwrap();
    assert!(w.finish().is_err(), "boot index past the image count");
}

#[test]
fn interrupted_write_is_refused_and_helper_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    // Dropped without finish(): the header still says WRITE_IN_PROGRESS.
    let path = tmp.path().join("partial.wim");
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut w = WimWriter::new(f, WriteOptions::new(Compression::Lzx)).unwrap();
        w.add_blob(&text_data(50_000, 1)).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let flags_field = u32::from_le_bytes(bytes[0x10..0x14].try_into().unwrap());
    assert_ne!(flags_field & flags::WRITE_IN_PROGRESS, 0);
    let (ok, text) = wimlib_try(&["verify", path.to_str().unwrap()]);
    assert!(!ok, "wimlib accepted an unfinished WIM:\n{text}");

    // The helper leaves nothing behind on error…
    let target = tmp.path().join("never.wim");
    let err = write_wim_file(&target, WriteOptions::new(Compression::None), |w| {
        w.add_blob(b"some data")?;
        Err(Error::Cancelled)
    })
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
    assert!(!target.exists());
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["partial.wim".to_string()],
        "temporary file left behind"
    );

    // …nor when the final check refuses the finished file.
    let err = mediaprep_core::wim::write::write_wim_file_checked(
        &target,
        WriteOptions::new(Compression::None),
        |w| {
            let mut b = Builder::new();
            b.file(0, "a.txt", b"a");
            b.write_into(w, "Checked");
            Ok(())
        },
        |tmp_path, summary| {
            assert!(tmp_path.exists());
            assert_eq!(
                std::fs::metadata(tmp_path).unwrap().len(),
                summary.file_size
            );
            let (ok, _) = wimlib_try(&["verify", tmp_path.to_str().unwrap()]);
            assert!(ok, "the checked file is complete");
            Err(Error::invalid("test", "refused by the check"))
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    // …and a verified file on success.
    let ok_path = tmp.path().join("ok.wim");
    let mut b = Builder::new();
    b.file(0, "a.txt", b"a");
    write_wim_file(&ok_path, WriteOptions::new(Compression::None), |w| {
        b.write_into(w, "Ok");
        Ok(())
    })
    .unwrap();
    wimlib(&["verify", ok_path.to_str().unwrap()]);
}

/// Build a tree from a real directory (files and subdirectories only), hashing file contents.
fn tree_from_dir(root: &Path) -> (ImageTree, Vec<(Hash, Vec<u8>)>) {
    fn walk(dir: &Path, tree: &mut ImageTree, parent: usize, blobs: &mut Vec<(Hash, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let ft = e.file_type().unwrap();
            let mut d = Dentry {
                name: u(&e.file_name().to_string_lossy()),
                security_id: -1,
                ..Default::default()
            };
            if ft.is_dir() {
                d.attributes = attr::DIRECTORY;
                let idx = tree.add_child(parent, d);
                walk(&e.path(), tree, idx, blobs);
            } else {
                let data = std::fs::read(e.path()).unwrap();
                d.attributes = attr::NORMAL;
                d.data = Some(if data.is_empty() {
                    [0; 20]
                } else {
                    sha1(&data)
                });
                tree.add_child(parent, d);
                if !data.is_empty() {
                    blobs.push((sha1(&data), data));
                }
            }
        }
    }
    let mut tree = ImageTree::with_root();
    let mut blobs = Vec::new();
    walk(root, &mut tree, 0, &mut blobs);
    (tree, blobs)
}

#[test]
fn raw_copy_from_wimlib_lzx() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    std::fs::create_dir_all(src_dir.join("sub")).unwrap();
    std::fs::write(src_dir.join("big.txt"), text_data(200_000, 11)).unwrap();
    std::fs::write(src_dir.join("sub/mid.txt"), text_data(40_000, 12)).unwrap();
    std::fs::write(src_dir.join("small.txt"), b"tiny").unwrap();
    std::fs::write(src_dir.join("noise.bin"), noise(70_000, 5)).unwrap();
    let src_wim = tmp.path().join("src.wim");
    let src_bytes = captured(&src_dir, &src_wim, &["Captured", "--compress=lzx"]);
    let src_table = blob_table(&src_bytes);
    let src = SliceSource::new(src_bytes.clone());
    let (tree, blobs) = tree_from_dir(&src_dir);

    let out = tmp.path().join("copy.wim");
    let opts = WriteOptions::like_source(&header_of(&src_bytes)).unwrap();
    assert_eq!(opts.compression, Compression::Lzx);
    assert_eq!(opts.chunk_size, 32768);
    assert!(opts.rp_fix, "wimlib capture sets RP_FIX");
    let summary = write_wim_file(&out, opts, |w| {
        for e in src_table
            .iter()
            .filter(|e| e.res.flags & resflags::METADATA == 0)
        {
            // A different compression or chunk size is refused (nothing written).
            assert!(!w.has_blob(&e.hash));
            if e.res.flags & resflags::COMPRESSED != 0 {
                assert!(!w.add_raw_resource(e.hash, &src, e.res, Compression::Xpress, 32768)?);
                assert!(!w.add_raw_resource(e.hash, &src, e.res, Compression::Lzx, 65536)?);
            }
            assert!(w.add_raw_resource(e.hash, &src, e.res, Compression::Lzx, 32768)?);
        }
        for (h, data) in &blobs {
            if !w.has_blob(h) {
                w.add_blob(data)?;
            }
        }
        w.add_image(&tree, ImageXml::new("Copied", None))
    })
    .unwrap();
    let compressed_src = src_table
        .iter()
        .filter(|e| e.res.flags & resflags::METADATA == 0)
        .count() as u64;
    assert_eq!(summary.raw_copied_blobs, compressed_src);
    assert!(
        src_table
            .iter()
            .any(|e| e.res.flags == resflags::COMPRESSED),
        "wimlib compressed something"
    );

    let out_bytes = std::fs::read(&out).unwrap();
    let out_table = blob_table(&out_bytes);
    for e in src_table
        .iter()
        .filter(|e| e.res.flags & resflags::METADATA == 0)
    {
        let o = out_table.iter().find(|o| o.hash == e.hash).unwrap();
        assert_eq!(o.res.size_in_wim, e.res.size_in_wim);
        assert_eq!(o.res.uncompressed_size, e.res.uncompressed_size);
        assert_eq!(o.res.flags, e.res.flags);
        let a = &src_bytes[e.res.offset as usize..(e.res.offset + e.res.size_in_wim) as usize];
        let b = &out_bytes[o.res.offset as usize..(o.res.offset + o.res.size_in_wim) as usize];
        assert!(a == b, "copied resource bytes differ");
        // The writer's record of the copy: the source's sizes and the CRC-32 of its bytes.
        let c = summary.copied[&e.hash];
        assert_eq!(
            (c.size_in_wim, c.crc32),
            (e.res.size_in_wim, crc32fast::hash(a))
        );
    }
    copied_check_sees_a_changed_byte(&out_bytes, &out_table, &summary.copied);
    let p = out.to_str().unwrap();
    wimlib(&["verify", p]);
    let x = tmp.path().join("x");
    wimlib(&["apply", p, "1", x.to_str().unwrap()]);
    for rel in ["big.txt", "sub/mid.txt", "small.txt", "noise.bin"] {
        assert_eq!(
            std::fs::read(x.join(rel)).unwrap(),
            std::fs::read(src_dir.join(rel)).unwrap(),
            "{rel}"
        );
    }
}

/// The read-back check of raw copies (`Wim::verify_blobs_copied`): the intact output passes without
/// decoding; one changed byte in a copied resource, or a record that does not match the stored
/// resource, fails for that blob alone; the full SHA-1 check agrees on the changed byte.
fn copied_check_sees_a_changed_byte(
    out_bytes: &[u8],
    out_table: &[BlobEntry],
    copied: &std::collections::HashMap<Hash, mediaprep_core::wim::CopiedResource>,
) {
    use mediaprep_core::wim::Wim;
    let open = |b: Vec<u8>| Wim::open(std::sync::Arc::new(SliceSource::new(b))).unwrap();
    let rep = open(out_bytes.to_vec())
        .verify_blobs_copied(1, copied, &NoProgress)
        .unwrap();
    assert!(rep.failures.is_empty(), "{:?}", rep.failures);
    assert_eq!(
        rep.ok as usize,
        out_table.len(),
        "every blob, metadata included"
    );

    let victim = out_table
        .iter()
        .filter(|e| e.res.flags == resflags::COMPRESSED && copied.contains_key(&e.hash))
        .max_by_key(|e| e.res.size_in_wim)
        .expect("a compressed copied resource");
    let mut bad = out_bytes.to_vec();
    bad[(victim.res.offset + victim.res.size_in_wim / 2) as usize] ^= 0x40;
    let rep = open(bad.clone())
        .verify_blobs_copied(1, copied, &NoProgress)
        .unwrap();
    assert_eq!(rep.failures.len(), 1, "{:?}", rep.failures);
    assert_eq!(rep.failures[0].0, mediaprep_core::hash::hex(&victim.hash));
    assert!(
        rep.failures[0].1.contains("CRC-32"),
        "{}",
        rep.failures[0].1
    );
    let full = open(bad).verify_blobs_with(1, &NoProgress).unwrap();
    assert_eq!(full.failures.len(), 1, "{:?}", full.failures);

    let mut wrong = copied.clone();
    wrong.get_mut(&victim.hash).unwrap().size_in_wim += 1;
    let rep = open(out_bytes.to_vec())
        .verify_blobs_copied(1, &wrong, &NoProgress)
        .unwrap();
    assert_eq!(rep.failures.len(), 1, "{:?}", rep.failures);
}

#[test]
fn xml_from_source_keeps_unknown_elements() {
    let src = "<IMAGE INDEX=\"4\"><DIRCOUNT>999</DIRCOUNT><NAME>WinRE</NAME>\
               <WINDOWS><ARCH>9</ARCH><VERSION><MAJOR>10</MAJOR><BUILD>26100</BUILD>\
               <SPBUILD>1</SPBUILD><BRANCH>ge_release</BRANCH></VERSION></WINDOWS>\
               <CUSTOM attr=\"v\">kept &amp; escaped</CUSTOM></IMAGE>";
    let mut xml = ImageXml::from_source(src).unwrap();
    xml.set("WINDOWS/VERSION/SPBUILD", "8246");
    xml.set_last_modification_time(0x01DB_0000_1234_5678);
    let mut b = Builder::new();
    b.file(0, "a.txt", b"abc");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.wim");
    write_wim_file(&path, WriteOptions::new(Compression::None), |w| {
        w.add_blob(b"abc")?;
        w.add_image(&b.tree, xml)
    })
    .unwrap();
    let p = path.to_str().unwrap();
    wimlib(&["verify", p]);
    let info = wimlib(&["info", p, "1"]);
    assert_eq!(info_field(&info, "Name"), "WinRE");
    assert_eq!(info_field(&info, "Directory Count"), "1");
    assert_eq!(info_field(&info, "File Count"), "1");
    assert_eq!(info_field(&info, "Service Pack Build"), "8246");
    assert_eq!(info_field(&info, "Build"), "26100");
    let raw = run_bytes("wimlib-imagex", &["info", "--xml", p]);
    let text = mediaprep_core::wim::xml_write::decode_xml_bytes(&raw).unwrap();
    assert!(
        text.contains("<CUSTOM attr=\"v\">kept &amp; escaped</CUSTOM>"),
        "{text}"
    );
    assert!(text.contains("<BRANCH>ge_release</BRANCH>"), "{text}");
    assert!(text.contains("<IMAGE INDEX=\"1\">"), "{text}");
}

/// Minimal metadata decoder for tests only (the real reader lives in `wim::meta_read`): enough to
/// turn a wimlib-written metadata resource back into an ImageTree.
fn decode_metadata_for_test(m: &[u8]) -> ImageTree {
    let le16 = |o: usize| u16::from_le_bytes([m[o], m[o + 1]]);
    let le32 = |o: usize| u32::from_le_bytes(m[o..o + 4].try_into().unwrap());
    let le64 = |o: usize| u64::from_le_bytes(m[o..o + 8].try_into().unwrap());
    let utf16 = |o: usize, nbytes: usize| -> Vec<u16> {
        (0..nbytes / 2).map(|i| le16(o + 2 * i)).collect()
    };
    let mut tree = ImageTree::default();
    let sd_len = le32(0) as usize;
    let n = le32(4) as usize;
    let mut p = 8 + 8 * n;
    for i in 0..n {
        let len = le64(8 + 8 * i) as usize;
        tree.security.push(m[p..p + len].to_vec());
        p += len;
    }
    // Returns (dentry, offset after its stream entries).
    let read = |o: usize, parent: usize| -> (Dentry, u64) {
        let len = le64(o) as usize;
        let attributes = le32(o + 8);
        let mut main = [0u8; 20];
        main.copy_from_slice(&m[o + 0x40..o + 0x54]);
        let reparse_point = attributes & attr::REPARSE_POINT != 0;
        let nstreams = le16(o + 0x60) as usize;
        let short_n = le16(o + 0x62) as usize;
        let name_n = le16(o + 0x64) as usize;
        let name = utf16(o + 0x66, name_n);
        let short_off = o + 0x66 + if name_n > 0 { name_n + 2 } else { 0 };
        let short_name = utf16(short_off, short_n);
        let names_end = short_off + if short_n > 0 { short_n + 2 } else { 0 } - o;
        let ti_start = (names_end + 7) & !7;
        let tagged_items = if ti_start < len {
            m[o + ti_start..o + len].to_vec()
        } else {
            Vec::new()
        };
        let mut d = Dentry {
            name,
            short_name,
            attributes,
            security_id: le32(o + 0x0C) as i32,
            creation_time: le64(o + 0x28),
            last_access_time: le64(o + 0x30),
            last_write_time: le64(o + 0x38),
            unknown_0x54: le32(o + 0x54),
            tagged_items,
            parent,
            ..Default::default()
        };
        if reparse_point {
            d.reparse_tag = le32(o + 0x58);
            d.rp_reserved = le16(o + 0x5C);
            d.rp_flags = le16(o + 0x5E);
        } else {
            d.hard_link_group = le64(o + 0x58);
        }
        let is_dir = attributes & attr::DIRECTORY != 0;
        let mut q = o + len;
        let mut unnamed = Vec::new();
        for _ in 0..nstreams {
            let el = le64(q) as usize;
            let mut h = [0u8; 20];
            h.copy_from_slice(&m[q + 0x10..q + 0x24]);
            let nn = le16(q + 0x24) as usize;
            if nn == 0 {
                unnamed.push(h);
            } else {
                d.named_streams.push(NamedStream {
                    name: utf16(q + 0x26, nn),
                    hash: h,
                });
            }
            q += el;
        }
        if nstreams == 0 {
            unnamed.push(main);
        }
        let mut it = unnamed.into_iter();
        if reparse_point {
            d.reparse = it.next();
        }
        if !is_dir {
            d.data = Some(it.next().unwrap_or([0; 20]));
        }
        (d, le64(o + 0x10))
    };
    let root_off = (sd_len + 7) & !7;
    let (root, root_sub) = read(root_off, 0);
    tree.nodes.push(root);
    let mut stack = vec![(0usize, root_sub as usize)];
    while let Some((dir, mut off)) = stack.pop() {
        let mut kids = Vec::new();
        while le64(off) > 8 {
            let (d, sub) = read(off, dir);
            let mut next = off + le64(off) as usize;
            for _ in 0..le16(off + 0x60) {
                next += le64(next) as usize;
            }
            let idx = tree.nodes.len();
            if d.is_dir() {
                kids.push((idx, sub as usize));
            }
            tree.nodes.push(d);
            tree.nodes[dir].children.push(idx);
            off = next;
        }
        stack.extend(kids.into_iter().rev());
    }
    tree
}

#[test]
fn metadata_bytes_match_wimlib_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub/empty")).unwrap();
    std::fs::create_dir_all(src.join("a/b/c/d/e")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), b"hello\n").unwrap();
    std::fs::write(src.join("a/b/c/d/e/deep.txt"), text_data(5000, 1)).unwrap();
    std::fs::write(src.join("ünï 名前.txt"), b"unicode").unwrap();
    std::fs::write(src.join("empty.txt"), b"").unwrap();
    std::fs::hard_link(src.join("a.txt"), src.join("hl.txt")).unwrap();
    std::fs::hard_link(src.join("a.txt"), src.join("sub/hl2.txt")).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let wim = tmp.path().join("cap.wim");
    let bytes = captured(&src, &wim, &["Cap", "--compress=none"]);
    let table = blob_table(&bytes);
    let meta = table
        .iter()
        .find(|e| e.res.flags & resflags::METADATA != 0)
        .unwrap();
    let m = &bytes[meta.res.offset as usize..(meta.res.offset + meta.res.size_in_wim) as usize];
    let tree = decode_metadata_for_test(m);
    assert!(tree.nodes.len() > 15, "decoded {} nodes", tree.nodes.len());
    let ours = mediaprep_core::wim::meta_write::serialize_metadata(&tree).unwrap();
    assert_eq!(ours.len(), m.len());
    assert!(ours == m, "metadata serialization differs from wimlib's");

    // XML counts computed from the tree equal wimlib's.
    let size_of = |h: &Hash| {
        table
            .iter()
            .find(|e| e.hash == *h)
            .map_or(0, |e| e.res.uncompressed_size)
    };
    let st = mediaprep_core::wim::meta_write::image_stats(&tree, &size_of);
    let info = wimlib(&["info", wim.to_str().unwrap(), "1"]);
    assert_eq!(
        info_field(&info, "Directory Count"),
        st.dir_count.to_string()
    );
    assert_eq!(info_field(&info, "File Count"), st.file_count.to_string());
    assert_eq!(info_field(&info, "Total Bytes"), st.total_bytes.to_string());
    assert_eq!(
        info_field(&info, "Hard Link Bytes"),
        st.hard_link_bytes.to_string()
    );
    assert_eq!(st.hard_link_bytes, 12);
}

// ---------------------------------------------------------------- round trips through our reader

fn open_wim(path: &Path) -> mediaprep_core::wim::read::Wim {
    let src = mediaprep_core::io::FileSource::open(path).unwrap();
    mediaprep_core::wim::read::Wim::open(std::sync::Arc::new(src)).unwrap()
}

/// Rewrite every image of `src_path` into `out` with `opts`, copying blobs from the source.
fn rebuild(
    src_path: &Path,
    out: &Path,
    opts: WriteOptions,
) -> mediaprep_core::wim::write::WriteSummary {
    let src = open_wim(src_path);
    let images = mediaprep_core::wim::xml_write::image_elements(src.xml_text()).unwrap();
    write_wim_file(out, opts, |w| {
        for (i, img) in images.iter().enumerate() {
            let tree = src.image_tree(i as u32 + 1)?;
            w.copy_tree_blobs_from_wim(&src, &tree, &NoProgress)?;
            w.add_image(&tree, ImageXml::from_source(img)?)?;
        }
        Ok(())
    })
    .unwrap()
}

#[test]
fn our_reader_reads_back_our_metadata() {
    let (_tmp, path, b, _) = write_rich(WriteOptions::new(Compression::Lzx));
    let wim = open_wim(&path);
    let tree = wim.image_tree(1).unwrap();
    let ours = mediaprep_core::wim::meta_write::serialize_metadata(&b.tree).unwrap();
    let again = mediaprep_core::wim::meta_write::serialize_metadata(&tree).unwrap();
    assert!(ours == again, "metadata changed through read + write");
}

#[test]
fn rebuild_shared_samples_raw_copy_and_recompress() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/wim");
    for name in [
        "LZX.wim",
        "BootLZX.wim",
        "MultiImage.wim",
        "XPRESS.wim",
        "BootXPRESS.wim",
        "LZMS.wim",
    ] {
        let src_path = Path::new(dir).join(name);
        if !src_path.exists() {
            continue;
        }
        let src_bytes = std::fs::read(&src_path).unwrap();
        let src_header = header_of(&src_bytes);
        let src_info = wimlib(&["info", src_path.to_str().unwrap()]);
        let n: u32 = info_field(&src_info, "Image Count").parse().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        for (tag, opts) in [
            ("same", WriteOptions::like_source(&src_header).unwrap()),
            ("none", WriteOptions::new(Compression::None)),
            ("lzx", WriteOptions::new(Compression::Lzx)),
        ] {
            let out = tmp.path().join(format!("{tag}.wim"));
            let summary = rebuild(&src_path, &out, opts.clone());
            let o = out.to_str().unwrap();
            wimlib(&["verify", o]);
            if tag == "same" && src_header.version != 0xE00 {
                assert!(
                    summary.raw_copied_blobs > 0 || summary.blobs == 0,
                    "{name}: nothing raw-copied"
                );
            }
            for i in 1..=n {
                assert_eq!(
                    dir_listing(&out, i),
                    dir_listing(&src_path, i),
                    "{name} {tag} image {i}"
                );
                let a = wimlib(&["info", src_path.to_str().unwrap(), &i.to_string()]);
                let b = wimlib(&["info", o, &i.to_string()]);
                for k in [
                    "Name",
                    "Directory Count",
                    "File Count",
                    "Total Bytes",
                    "Hard Link Bytes",
                ] {
                    assert_eq!(
                        info_field(&a, k),
                        info_field(&b, k),
                        "{name} {tag} image {i} {k}"
                    );
                }
            }
            let ta = tmp.path().join(format!("{tag}-a"));
            let tb = tmp.path().join(format!("{tag}-b"));
            wimlib(&[
                "apply",
                src_path.to_str().unwrap(),
                "1",
                ta.to_str().unwrap(),
            ]);
            wimlib(&["apply", o, "1", tb.to_str().unwrap()]);
            diff_trees(&ta, &tb);
        }
    }
}

#[test]
fn service_like_edit_replaces_and_adds_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/wim");
    let src_path = Path::new(dir).join("LZX.wim");
    let src = open_wim(&src_path);
    let mut tree = src.image_tree(1).unwrap();
    let listing = dir_listing(&src_path, 1);
    // Pick the first regular file of the source and give it new content.
    let victim = (1..tree.nodes.len())
        .find(|&i| !tree.nodes[i].is_dir() && !tree.nodes[i].is_reparse())
        .unwrap();
    let victim_path = tree.path_of(victim);
    let new_content = text_data(90_000, 77);
    tree.nodes[victim].data = Some(sha1(&new_content));
    // And add a new file under the root.
    let idx = tree.nodes.len();
    tree.nodes.push(Dentry {
        name: u("added.txt"),
        attributes: attr::ARCHIVE,
        security_id: -1,
        data: Some(sha1(b"added by servicing")),
        parent: 0,
        ..Default::default()
    });
    tree.nodes[0].children.push(idx);

    let img = &mediaprep_core::wim::xml_write::image_elements(src.xml_text()).unwrap()[0];
    let mut xml = ImageXml::from_source(img).unwrap();
    xml.set("WINDOWS/VERSION/SPBUILD", "8246")
        .set_last_modification_time(0x01DC_0000_0000_0000);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("serviced.wim");
    let opts = WriteOptions::like_source(src.header()).unwrap();
    write_wim_file(&out, opts, |w| {
        w.add_blob(&new_content)?;
        w.add_blob(b"added by servicing")?;
        w.copy_tree_blobs_from_wim(&src, &tree, &NoProgress)?;
        w.add_image(&tree, xml)
    })
    .unwrap();
    let o = out.to_str().unwrap();
    wimlib(&["verify", o]);
    let mut want = listing;
    want.insert("/added.txt".into());
    assert_eq!(dir_listing(&out, 1), want);
    let info = wimlib(&["info", o, "1"]);
    assert_eq!(info_field(&info, "Service Pack Build"), "8246");
    let x = tmp.path().join("x");
    wimlib(&["apply", o, "1", x.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(x.join(victim_path.trim_start_matches('/'))).unwrap(),
        new_content
    );
    assert_eq!(
        std::fs::read(x.join("added.txt")).unwrap(),
        b"added by servicing"
    );
}

/// A reader that counts its reads (how many round trips a copy costs).
struct CountingReader {
    inner: mediaprep_core::io::FileSource,
    reads: std::sync::atomic::AtomicUsize,
}

impl ReadAt for CountingReader {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> mediaprep_core::Result<()> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_at(offset, buf)
    }
}

#[test]
fn coalesced_raw_copy_writes_the_same_bytes_in_fewer_reads() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    std::fs::create_dir_all(src_dir.join("many")).unwrap();
    for k in 0..60u32 {
        let len = 500 + (k as usize * 977) % 20_000;
        std::fs::write(src_dir.join(format!("many/f{k}.txt")), text_data(len, k)).unwrap();
    }
    // Larger than one coalesced read (8 MiB), stored (noise does not shrink), and a compressed
    // resource of several chunks.
    std::fs::write(src_dir.join("noise.bin"), noise(9 << 20, 3)).unwrap();
    std::fs::write(src_dir.join("text.txt"), text_data(300_000, 99)).unwrap();
    let src_wim = tmp.path().join("src.wim");
    wimlib_capture(&src_dir, &src_wim, &["Captured", "--compress=lzx"]);
    let counting = Arc::new(CountingReader {
        inner: mediaprep_core::io::FileSource::open(&src_wim).unwrap(),
        reads: Default::default(),
    });
    let src = mediaprep_core::wim::read::Wim::open(counting.clone()).unwrap();
    let tree = src.image_tree(1).unwrap();
    let mut hashes = Vec::new();
    mediaprep_core::wim::meta_write::for_each_stream_ref(&tree, |h| {
        if !hashes.contains(h) {
            hashes.push(*h);
        }
    });
    assert!(hashes.len() >= 60);
    let opts = WriteOptions::like_source(&header_of(&std::fs::read(&src_wim).unwrap())).unwrap();
    let xml = ImageXml::new("Copied", None);
    let mut reads = Vec::new();
    let mut outputs = Vec::new();
    for coalesced in [false, true] {
        let out = tmp.path().join(format!("out-{coalesced}.wim"));
        let before = counting.reads.load(Ordering::Relaxed);
        let mut seen = Vec::new();
        let summary = write_wim_file(&out, opts.clone(), |w| {
            if coalesced {
                w.copy_blobs_from_wim(&src, &hashes, &NoProgress, &mut |k| seen.push(k))?;
            } else {
                for h in &hashes {
                    w.copy_blob_from_wim(&src, h, &NoProgress)?;
                }
            }
            w.add_image(&tree, xml.clone())
        })
        .unwrap();
        reads.push(counting.reads.load(Ordering::Relaxed) - before);
        if coalesced {
            assert_eq!(
                seen,
                (0..hashes.len()).collect::<Vec<_>>(),
                "done(k) once each, in order"
            );
        }
        assert_eq!(summary.raw_copied_blobs as usize, hashes.len());
        wimlib_verify(&out);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs[0] == outputs[1], "coalescing changed the output");
    assert!(
        reads[1] * 4 < reads[0],
        "coalesced copy read {} times, one by one {}",
        reads[1],
        reads[0]
    );
}
