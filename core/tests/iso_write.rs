//! The ISO writer (`mediaprep rebuild-iso`) against independent tools: isoinfo (ISO 9660 and
//! Joliet trees), 7-Zip (UDF tree and file bytes), udfinfo, xorriso (El Torito entries) and QEMU
//! (the rebuilt image boots its BIOS boot image through El Torito).

mod common;

use common::{fixture, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn mediaprep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mediaprep"))
        .args(args)
        .output()
        .expect("run mediaprep")
}

fn ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "mediaprep failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// `isoinfo -f` (with `-J`: the Joliet tree), version suffixes removed.
fn isoinfo_paths(iso: &Path, joliet: bool) -> Vec<String> {
    let mut args = vec!["-f", "-i", s(iso)];
    if joliet {
        args.insert(0, "-J");
    }
    sorted_lines(&run("isoinfo", &args).replace(";1", ""))
}

/// Paths 7-Zip lists (it reads the UDF tree when there is one), with sizes.
fn sevenzip_listing(iso: &Path) -> Vec<String> {
    let out = run("7zz", &["l", "-slt", s(iso)]);
    let mut v = Vec::new();
    let mut path = None;
    for l in out.lines() {
        if let Some(p) = l.strip_prefix("Path = ") {
            path = Some(p.to_string());
        } else if let Some(sz) = l.strip_prefix("Size = ") {
            if let Some(p) = path.take() {
                if p != iso.to_str().unwrap() {
                    v.push(format!("{p} {sz}"));
                }
            }
        } else if l.starts_with("Folder = +") {
            if let Some(p) = path.take() {
                v.push(format!("{p}/"));
            }
        }
    }
    v.sort();
    v
}

/// Extract everything with 7-Zip into `dir`.
fn sevenzip_extract(iso: &Path, dir: &Path) {
    run("7zz", &["x", "-y", &format!("-o{}", s(dir)), s(iso)]);
}

fn rebuild(src: &Path, out: &Path, replace: &[(&str, &Path)]) -> String {
    let mut args = vec![
        "rebuild-iso".to_string(),
        s(src).into(),
        "-o".into(),
        s(out).into(),
    ];
    for (p, f) in replace {
        args.push("--replace".into());
        args.push(format!("{p}={}", s(f)));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(mediaprep(&a))
}

#[test]
fn bridge_rebuild_lists_the_same_tree_everywhere_and_bytes_match() {
    let src = fixture("media-udf.iso");
    let t = tempfile::tempdir().unwrap();
    let new_wim = t.path().join("new.wim");
    std::fs::write(&new_wim, b"a patched install.wim stand-in".repeat(5000)).unwrap();
    let added = t.path().join("added.txt");
    std::fs::write(&added, b"Setup DU file").unwrap();
    let out = t.path().join("new.iso");
    rebuild(
        &src,
        &out,
        &[
            ("/sources/install.wim", &new_wim),
            ("/sources/du/added.txt", &added),
        ],
    );

    // Same label.
    let label = |p: &Path| {
        run("isoinfo", &["-d", "-i", s(p)])
            .lines()
            .find(|l| l.starts_with("Volume id:"))
            .map(str::to_owned)
    };
    assert_eq!(label(&src), label(&out));

    // Joliet and UDF (7-Zip) trees: the source's plus the added directory and file.
    let mut want = isoinfo_paths(&src, true);
    want.extend(["/sources/du".to_string(), "/sources/du/added.txt".into()]);
    want.sort();
    assert_eq!(isoinfo_paths(&out, true), want);
    let udf: Vec<String> = sevenzip_listing(&out)
        .iter()
        .map(|l| format!("/{}", l.split(' ').next().unwrap().trim_end_matches('/')))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(udf, want);
    // The primary tree holds the same number of entries (names are 8-bit d-characters).
    assert_eq!(isoinfo_paths(&out, false).len(), want.len());
    // Our reader (the writer also re-read the UDF and Joliet trees before committing).
    let ls = ok(mediaprep(&["ls", s(&out), "/sources/du"]));
    assert!(ls.contains("added.txt"), "{ls}");
    let info = run("udfinfo", &[s(&out)]);
    assert!(info.contains("udfrev=1.02"), "{info}");

    // Every file: the replacement or the source's bytes (7-Zip extracts both images).
    let a = t.path().join("a");
    let b = t.path().join("b");
    sevenzip_extract(&src, &a);
    sevenzip_extract(&out, &b);
    std::fs::copy(&new_wim, a.join("sources/install.wim")).unwrap();
    std::fs::create_dir_all(a.join("sources/du")).unwrap();
    std::fs::copy(&added, a.join("sources/du/added.txt")).unwrap();
    run("diff", &["-r", s(&a), s(&b)]);

    // Deterministic: the same inputs give the same bytes.
    let again = t.path().join("again.iso");
    rebuild(
        &src,
        &again,
        &[
            ("/sources/install.wim", &new_wim),
            ("/sources/du/added.txt", &added),
        ],
    );
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap());
}

#[test]
fn udf_only_source_keeps_its_small_iso9660_tree() {
    let src = fixture("media-msft.iso");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("new.iso");
    let f = t.path().join("x.txt");
    std::fs::write(&f, b"x").unwrap();
    let stdout = rebuild(&src, &out, &[("/sources/x.txt", &f)]);
    assert!(stdout.contains("/sources/x.txt"));
    // ISO 9660: only the README, as on Microsoft's media; no Joliet.
    assert_eq!(isoinfo_paths(&out, false), isoinfo_paths(&src, false));
    let d = run("isoinfo", &["-d", "-i", s(&out)]);
    assert!(d.contains("NO Joliet present"), "{d}");
    // UDF: the source's tree plus the file; 7-Zip reads it without errors or warnings.
    let mut want = sevenzip_listing(&src);
    want.push("sources/x.txt 1".into());
    want.sort();
    assert_eq!(sevenzip_listing(&out), want);
    let test = Command::new("7zz").args(["t", s(&out)]).output().unwrap();
    let text = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && !text.contains("WARNING") && !text.contains("ERROR"),
        "{text}"
    );
}

/// A 16-bit boot sector that writes `marker` to COM1 (port 0x3F8) and halts, assembled by hand:
/// `cli; mov dx,0x3F8; (mov al,c; out dx,al)…; hlt; jmp $-1`.
fn boot_sector(marker: &[u8]) -> Vec<u8> {
    let mut code = vec![0xFA, 0xBA, 0xF8, 0x03];
    for &c in marker {
        code.extend_from_slice(&[0xB0, c, 0xEE]);
    }
    code.extend_from_slice(&[0xF4, 0xEB, 0xFD]);
    code.resize(2048, 0);
    code
}

const MARKER: &str = "MEDIAPREP-ELTORITO-OK";

/// A small bootable source: BIOS no-emulation entry (etfsboot.com, 4 sectors) and a UEFI entry
/// (efisys.bin, platform 0xEF), built by xorriso or genisoimage.
fn boot_source(dir: &Path, tool: &str) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("boot")).unwrap();
    std::fs::create_dir_all(tree.join("efi/microsoft/boot")).unwrap();
    std::fs::create_dir_all(tree.join("sources")).unwrap();
    std::fs::write(
        tree.join("boot/etfsboot.com"),
        boot_sector(format!("{MARKER}\r\n").as_bytes()),
    )
    .unwrap();
    let efi: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(tree.join("efi/microsoft/boot/efisys.bin"), efi).unwrap();
    std::fs::write(tree.join("sources/install.wim"), b"old".repeat(1000)).unwrap();
    let iso = dir.join("src.iso");
    let common = [
        "-V",
        "BOOTTEST",
        "-J",
        "-b",
        "boot/etfsboot.com",
        "-no-emul-boot",
        "-boot-load-size",
        "4",
        "-eltorito-alt-boot",
        "-e",
        "efi/microsoft/boot/efisys.bin",
        "-no-emul-boot",
    ];
    let mut args: Vec<&str> = Vec::new();
    if tool == "xorriso" {
        args.extend(["-as", "mkisofs"]);
    } else {
        args.extend(["-udf", "-iso-level", "3", "-quiet"]);
    }
    args.extend(["-o", s(&iso)]);
    args.extend(common);
    args.push(s(&tree));
    run(tool, &args);
    iso
}

/// `xorriso -report_el_torito plain` without the LBA column (the images move).
fn boot_entries(iso: &Path) -> Vec<String> {
    let out = Command::new("xorriso")
        .args(["-indev", s(iso), "-report_el_torito", "plain"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("El Torito boot img") || l.starts_with("El Torito img path"))
        .map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            if l.starts_with("El Torito boot img") {
                w.pop();
            }
            w.join(" ")
        })
        .collect();
    assert!(!v.is_empty(), "no boot entries: {text}");
    v
}

#[test]
fn boot_entries_are_reproduced_from_xorriso_and_genisoimage_sources() {
    for tool in ["xorriso", "genisoimage"] {
        let t = tempfile::tempdir().unwrap();
        let src = boot_source(t.path(), tool);
        let new_wim = t.path().join("new.wim");
        std::fs::write(&new_wim, b"new".repeat(3000)).unwrap();
        let out = t.path().join("new.iso");
        rebuild(&src, &out, &[("/sources/install.wim", &new_wim)]);
        let want = boot_entries(&src);
        assert!(
            want.iter().any(|l| l.contains("UEFI")) && want.iter().any(|l| l.contains("BIOS")),
            "{want:?}"
        );
        assert_eq!(boot_entries(&out), want, "{tool}");
    }
}

#[test]
fn the_rebuilt_image_boots_in_qemu() {
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-system-x86_64 is missing (scripts/setup installs qemu-system-x86)"
        );
        eprintln!(
            "SKIPPED: qemu-system-x86_64 is not installed; the El Torito boot test did not run"
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = boot_source(t.path(), "xorriso");
    let new_wim = t.path().join("new.wim");
    std::fs::write(&new_wim, b"new".repeat(3000)).unwrap();
    let out = t.path().join("new.iso");
    rebuild(&src, &out, &[("/sources/install.wim", &new_wim)]);
    let serial = t.path().join("serial.txt");
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-cdrom",
            s(&out),
            "-boot",
            "d",
            "-m",
            "64",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            &format!("file:{}", s(&serial)),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Poll the serial log for up to ~20 s, then stop QEMU either way.
    let mut seen = String::new();
    for _ in 0..80 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        seen = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        if seen.contains(MARKER) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains(MARKER),
        "the rebuilt image did not print the marker: {seen:?}"
    );
}

#[test]
fn a_file_over_4_gib_survives_in_udf_and_iso9660_multi_extent() {
    if std::env::var_os("MEDIAPREP_SLOW_TESTS").is_none() {
        eprintln!("skipped: set MEDIAPREP_SLOW_TESTS=1 (writes a 4.5 GiB image)");
        return;
    }
    let src = fixture("media-udf.iso");
    let t = tempfile::tempdir().unwrap();
    let big = t.path().join("big.wim");
    let len: u64 = (4 << 30) + (512 << 20) + 12345;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&big).unwrap();
        f.write_all(b"HEAD").unwrap();
        f.seek(SeekFrom::Start(len - 4)).unwrap();
        f.write_all(b"TAIL").unwrap();
    }
    let out = t.path().join("big.iso");
    rebuild(&src, &out, &[("/sources/install.wim", &big)]);
    // UDF (7-Zip) and Joliet multi-extent (isoinfo) both show the full size.
    assert!(sevenzip_listing(&out).contains(&format!("sources/install.wim {len}")));
    let l = run("isoinfo", &["-J", "-l", "-i", s(&out)]);
    let n = l.lines().filter(|x| x.contains("install.wim")).count();
    assert!(n >= 2, "expected a multi-extent record: {l}");
    // 7-Zip reads the tail through the UDF extents.
    let piped = run(
        "bash",
        &[
            "-c",
            "7zz e -so \"$0\" sources/install.wim | tail -c 4",
            s(&out),
        ],
    );
    assert_eq!(piped, "TAIL");
}

#[test]
fn patch_target_iso_and_folder_carry_the_patched_install_wim_and_setup_du() {
    let media = fixture("media-udf.iso");
    let safeos = fixture("safeos-du.cab");
    let setup = fixture("setup-du.cab");
    let t = tempfile::tempdir().unwrap();
    let iso = t.path().join("new.iso");
    let install = t.path().join("install.wim");
    let patch = |target: &str, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "patch",
            s(&media),
            "--package",
            s(&safeos),
            "--package",
            s(&setup),
            "--target",
            target,
            "-o",
            s(out),
        ];
        args.extend_from_slice(extra);
        ok(mediaprep(&args))
    };
    patch("iso", &iso, &[]);
    ok(mediaprep(&[
        "patch",
        s(&media),
        "--package",
        s(&safeos),
        "--target",
        "install",
        "-o",
        s(&install),
    ]));
    // The ISO's install.wim is the install target's output, byte for byte; it verifies.
    let x = t.path().join("x");
    sevenzip_extract(&iso, &x);
    assert!(
        std::fs::read(x.join("sources/install.wim")).unwrap() == std::fs::read(&install).unwrap()
    );
    run(
        "wimlib-imagex",
        &["verify", s(&x.join("sources/install.wim"))],
    );
    // The Setup DU's files are in sources\ as cabextract expands them.
    let cab = t.path().join("cab");
    run("cabextract", &["-q", "-d", s(&cab), s(&setup)]);
    for e in std::fs::read_dir(&cab).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let name = p.file_name().unwrap();
            assert!(
                std::fs::read(&p).unwrap() == std::fs::read(x.join("sources").join(name)).unwrap(),
                "{}",
                p.display()
            );
        }
    }

    // Folder: the same tree; install.wim over 2 MiB is split and the set verifies.
    let usb = t.path().join("usb");
    patch("folder", &usb, &["--split-mib", "2"]);
    let first = usb.join("sources/install.swm");
    let reference = format!("--ref={}/sources/install*.swm", usb.display());
    run("wimlib-imagex", &["verify", s(&first), &reference]);
    assert_eq!(
        common::info_images(&common::wimlib_info(&first)),
        common::info_images(&common::wimlib_info(&install))
    );
    std::fs::remove_file(x.join("sources/install.wim")).unwrap();
    for e in std::fs::read_dir(usb.join("sources")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "swm") {
            std::fs::remove_file(p).unwrap();
        }
    }
    run("diff", &["-r", s(&x), s(&usb)]);
    // Nothing else was left beside the outputs.
    let mut left: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["cab", "install.wim", "new.iso", "usb", "x"]);
}

#[test]
fn a_failed_iso_or_folder_patch_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    for (target, name) in [("iso", "new.iso"), ("folder", "usb")] {
        let out = t.path().join(name);
        let o = mediaprep(&[
            "patch",
            s(&fixture("media-udf.iso")),
            "--package",
            s(&fixture("safeos-du-tampered.cab")),
            "--target",
            target,
            "-o",
            s(&out),
        ]);
        assert_eq!(o.status.code(), Some(1), "{target}");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0, "{target}");
    }
}

#[test]
fn esd_media_get_a_serviced_lzx_install_wim_in_place_of_install_esd() {
    let media = fixture("media-esd.iso");
    let safeos = fixture("safeos-du.cab");
    let t = tempfile::tempdir().unwrap();
    let iso = t.path().join("new.iso");
    let install = t.path().join("install.wim");
    let args = |target: &str, out: &Path| {
        vec![
            "patch".to_string(),
            s(&media).into(),
            "--package".into(),
            s(&safeos).into(),
            "--target".into(),
            target.into(),
            "-o".into(),
            s(out).into(),
        ]
    };
    let run_args =
        |a: Vec<String>| ok(mediaprep(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    run_args(args("iso", &iso));
    // The install target over the ESD, named explicitly, is what the ISO carries.
    let mut a = args("install", &install);
    a.insert(2, "/sources/install.esd".into());
    run_args(a);
    let listing = sevenzip_listing(&iso);
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("sources/install.wim ")),
        "{listing:?}"
    );
    assert!(
        !listing.iter().any(|l| l.contains("install.esd")),
        "{listing:?}"
    );
    let x = t.path().join("x");
    sevenzip_extract(&iso, &x);
    let carried = x.join("sources/install.wim");
    assert!(std::fs::read(&carried).unwrap() == std::fs::read(&install).unwrap());
    // wimlib: verifies, LZX (not solid LZMS), the ESD's editions.
    run("wimlib-imagex", &["verify", s(&carried)]);
    let info = common::wimlib_info(&carried);
    assert!(info.contains("LZX"), "{info}");
    let esd = t.path().join("install.esd");
    run(
        "7zz",
        &[
            "e",
            "-y",
            &format!("-o{}", t.path().display()),
            s(&media),
            "sources/install.esd",
        ],
    );
    // Same editions (the serviced WinRE changes sizes and times, not identities).
    let editions = |info: &str| {
        common::info_images(info)
            .into_iter()
            .map(|img| {
                img.into_iter()
                    .filter(|(k, _)| ["Index", "Name", "Edition ID", "Build"].contains(&k.as_str()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let want = editions(&common::wimlib_info(&esd));
    assert_eq!(want.len(), 3);
    assert_eq!(editions(&info), want); // The folder target splits it for FAT32 (the ESD itself could not be split).
    let usb = t.path().join("usb");
    let mut a = args("folder", &usb);
    a.extend(["--split-mib".into(), "2".into()]);
    run_args(a);
    let reference = format!("--ref={}/sources/install*.swm", usb.display());
    run(
        "wimlib-imagex",
        &["verify", s(&usb.join("sources/install.swm")), &reference],
    );
    assert!(!usb.join("sources/install.esd").exists());
}

/// A change made to an image's bytes.
type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn malformed_boot_catalogs_fail_the_rebuild_with_a_typed_error() {
    let t = tempfile::tempdir().unwrap();
    let src = boot_source(t.path(), "xorriso");
    let bytes = std::fs::read(&src).unwrap();
    // The boot record's catalog pointer and the catalog itself, as xorriso wrote them.
    let br = 17 * 2048;
    assert_eq!(&bytes[br + 7..br + 30], b"EL TORITO SPECIFICATION");
    let cat = u32::from_le_bytes(bytes[br + 0x47..br + 0x4B].try_into().unwrap()) as usize * 2048;
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let cases: Vec<(&str, Corrupt)> = vec![
        ("bad checksum", Box::new(move |b| b[cat + 28] ^= 1)),
        ("bad key bytes", Box::new(move |b| b[cat + 31] = 0)),
        (
            "catalog past the end",
            Box::new(move |b| put32(b, br + 0x47, u32::MAX / 2)),
        ),
        (
            "catalog at the descriptors",
            Box::new(move |b| put32(b, br + 0x47, 16)),
        ),
        (
            "load RBA past the end",
            Box::new(move |b| put32(b, cat + 32 + 8, 1 << 30)),
        ),
        (
            "load RBA at the catalog",
            Box::new(move |b| put32(b, cat + 32 + 8, (cat / 2048) as u32)),
        ),
        (
            "section count beyond the sector",
            Box::new(move |b| b[cat + 64 + 2..cat + 64 + 4].copy_from_slice(&[0xFF, 0xFF])),
        ),
        (
            "truncated inside the catalog",
            Box::new(move |b| b.truncate(cat + 40)),
        ),
    ];
    for (what, corrupt) in cases {
        let mut b = bytes.clone();
        corrupt(&mut b);
        let bad = t.path().join("bad.iso");
        std::fs::write(&bad, &b).unwrap();
        let out = t.path().join("out.iso");
        let o = mediaprep(&["rebuild-iso", s(&bad), "-o", s(&out)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            err.contains("El Torito") || what.starts_with("truncated"),
            "{what}: {err}"
        );
        assert!(!out.exists(), "{what}: output left behind");
    }
}
