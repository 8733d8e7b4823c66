//! The media layer end to end on generated fixtures: ISO → install.wim → Winre.wim, checked
//! against wimlib-imagex, 7-Zip and sha1sum — never against our own output.

mod common;

use common::*;
use mediaprep_core::io::{FileSource, NoProgress, SharedReader};
use mediaprep_core::media::{self, Target};
use std::path::Path;
use std::sync::Arc;

fn open(p: &Path) -> Vec<(String, SharedReader)> {
    vec![(
        p.display().to_string(),
        Arc::new(FileSource::open(p).unwrap()) as SharedReader,
    )]
}

fn tmp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    f
}

#[test]
fn iso_inspection_agrees_with_wimlib_down_to_nested_winre() {
    let fx = fixtures();
    let rep = media::inspect(open(&fx.join("media-udf.iso")), &NoProgress).unwrap();
    assert_eq!(rep.container, "iso");
    let iso = rep.iso.as_ref().unwrap();
    let label = run(
        "isoinfo",
        &["-d", "-i", fx.join("media-udf.iso").to_str().unwrap()],
    );
    assert!(
        label.contains(iso.volume_label.as_deref().unwrap()),
        "volume label {:?} not in isoinfo output",
        iso.volume_label
    );
    assert_eq!(iso.layout.install.as_deref(), Some("/sources/install.wim"));

    // install.wim images vs wimlib-imagex info of the same file taken out with 7-Zip.
    let install = rep
        .wims
        .iter()
        .find(|w| w.path == "/sources/install.wim")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    run(
        "7zz",
        &[
            "x",
            "-y",
            &format!("-o{}", dir.path().display()),
            fx.join("media-udf.iso").to_str().unwrap(),
            "sources/install.wim",
        ],
    );
    let wim_path = dir.path().join("sources/install.wim");
    let info = wimlib_info(&wim_path);
    let images = info_images(&info);
    assert_eq!(install.images.len(), images.len());
    for (ours, theirs) in install.images.iter().zip(&images) {
        assert_eq!(ours.name.as_deref(), field(theirs, "Name"));
        assert_eq!(ours.edition.as_deref(), field(theirs, "Edition ID"));
        assert_eq!(
            ours.build.map(|b| b.to_string()).as_deref(),
            field(theirs, "Build")
        );
        assert_eq!(
            ours.file_count.map(|b| b.to_string()).as_deref(),
            field(theirs, "File Count")
        );
    }

    // One WinRE blob shared by every edition; its bytes are what wimlib extracts.
    assert_eq!(install.winre.len(), 1, "one distinct WinRE blob");
    let re = &install.winre[0];
    assert_eq!(re.shared_by, (1..=images.len() as u32).collect::<Vec<_>>());
    let winre_bytes = wimlib_extract(&wim_path, 1, "/Windows/System32/Recovery/Winre.wim");
    assert_eq!(re.size, winre_bytes.len() as u64);
    assert_eq!(
        re.sha1,
        mediaprep_core::hash::hex(&mediaprep_core::hash::sha1(&winre_bytes))
    );
    let re_file = tmp_file(&winre_bytes);
    let re_info = info_images(&wimlib_info(re_file.path()));
    assert_eq!(re.wim.images.len(), re_info.len());
    let ours = &re.wim.images[0];
    assert_eq!(ours.name.as_deref(), field(&re_info[0], "Name"));
    assert_eq!(
        ours.build.map(|b| b.to_string()).as_deref(),
        field(&re_info[0], "Build")
    );
    assert_eq!(
        ours.spbuild.map(|b| b.to_string()).as_deref(),
        field(&re_info[0], "Service Pack Build")
    );
    assert!(ours.version_signals.is_some(), "WinRE gets version signals");
}

#[test]
fn extract_through_layers_equals_wimlib_extract() {
    let fx = fixtures();
    let (name, src) = open(&fx.join("media-udf.iso")).pop().unwrap();
    let node = media::open_node(src, &name).unwrap();
    let layers = vec![
        "/sources/install.wim".to_string(),
        "2:/Windows/System32/Recovery/Winre.wim".to_string(),
    ];
    let Target::File(reader, sha1) = media::descend(node, &layers).unwrap() else {
        panic!("expected a file")
    };
    let mut out = Vec::new();
    media::copy_target(&reader, sha1, &mut out, &NoProgress).unwrap();
    let want = wimlib_extract(
        &fx.join("install.wim"),
        2,
        "/Windows/System32/Recovery/Winre.wim",
    );
    assert_eq!(out, want);
}

#[test]
fn listing_through_layers_matches_wimlib_dir() {
    let fx = fixtures();
    let (name, src) = open(&fx.join("install.wim")).pop().unwrap();
    let node = media::open_node(src, &name).unwrap();
    let Target::Dir(entries) = media::descend(node, &["1:/Windows/System32".to_string()]).unwrap()
    else {
        panic!("expected a directory")
    };
    let want: Vec<String> = wimlib_dir(&fx.join("install.wim"), 1)
        .into_iter()
        .filter_map(|p| p.strip_prefix("/Windows/System32/").map(String::from))
        .filter(|p| !p.contains('/') && !p.is_empty())
        .collect();
    let mut got: Vec<String> = entries.into_iter().map(|e| e.name).collect();
    let mut want = want;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn esd_and_split_sets_report_the_same_editions_as_wimlib() {
    let fx = fixtures();
    let esd = media::inspect(open(&fx.join("install.esd")), &NoProgress).unwrap();
    assert_eq!(esd.container, "esd");
    let names: Vec<_> = info_images(&wimlib_info(&fx.join("install.esd")))
        .iter()
        .map(|i| field(i, "Name").unwrap().to_string())
        .collect();
    let ours: Vec<_> = esd.wims[0]
        .images
        .iter()
        .map(|i| i.name.clone().unwrap())
        .collect();
    assert_eq!(ours, names);
    assert_eq!(
        esd.wims[0].winre.len(),
        1,
        "nested WinRE found inside the solid ESD"
    );

    let mut parts: Vec<_> = std::fs::read_dir(&fx)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "swm"))
        .collect();
    parts.reverse();
    let files = parts.iter().flat_map(|p| open(p)).collect();
    let swm = media::inspect(files, &NoProgress).unwrap();
    assert_eq!(swm.container, "swm");
    assert_eq!(swm.wims[0].images.len(), names.len());
}

#[test]
fn garbage_and_truncated_media_give_typed_errors() {
    let fx = fixtures();
    let iso = std::fs::read(fx.join("media-udf.iso")).unwrap();
    for cut in [0usize, 100, 40_000, 300_000, iso.len() / 2] {
        let f = tmp_file(&iso[..cut]);
        assert!(
            media::inspect(open(f.path()), &NoProgress).is_err(),
            "cut at {cut}"
        );
    }
    let f = tmp_file(&[0x5au8; 70_000]);
    let err = media::inspect(open(f.path()), &NoProgress).unwrap_err();
    assert!(
        err.to_string().contains("not an ISO, WIM, ESD or SWM"),
        "{err}"
    );
}

/// Every fixture's inspection conforms to docs/schema/inspection.schema.json (the documented shape
/// the CLI prints and the browser receives), with no undocumented field.
#[test]
fn inspection_json_conforms_to_the_documented_schema() {
    let schema: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schema/inspection.schema.json"
    )))
    .unwrap();
    let fx = fixtures();
    let mut sets: Vec<Vec<std::path::PathBuf>> = [
        "media-udf.iso",
        "media-esd.iso",
        "media-msft.iso",
        "install.wim",
        "install.esd",
        "boot.wim",
        "Winre.wim",
        "Winre-stale.wim",
        "Winre-norecords.wim",
        "Winre-fileonly.wim",
        "backup-image.wim",
        "winpe-setup.wim",
    ]
    .iter()
    .map(|n| vec![fx.join(n)])
    .collect();
    let mut swm: Vec<_> = std::fs::read_dir(&fx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "swm"))
        .collect();
    swm.sort();
    assert!(swm.len() > 1, "split set fixture missing");
    sets.push(swm);
    for files in sets {
        let parts: Vec<(String, SharedReader)> = files.iter().flat_map(|p| open(p)).collect();
        let rep = media::inspect(parts, &NoProgress).unwrap();
        let v = serde_json::to_value(&rep).unwrap();
        let bad = schema::violations(&schema, &v);
        assert!(bad.is_empty(), "{}: {bad:#?}", files[0].display());
    }
    // The checker itself rejects what the schema forbids.
    let mut v =
        serde_json::to_value(media::inspect(open(&fx.join("Winre.wim")), &NoProgress).unwrap())
            .unwrap();
    v["wims"][0]["images"][0]["surprise"] = serde_json::json!(1);
    v["container"] = serde_json::json!("zip");
    assert_eq!(schema::violations(&schema, &v).len(), 2);
}

/// What each image is (issue #18): the XML, the name, the file name (boot.wim) and, where they
/// leave it open, the tree. wimlib shows what the fixtures hold; the roles follow from that.
#[test]
fn image_roles_come_from_what_the_images_hold() {
    use mediaprep_core::catalog::ImageRole;
    use mediaprep_core::media::PeContent;
    let fx = fixtures();
    let roles = |name: &str| -> Vec<(ImageRole, Option<PeContent>, bool)> {
        let rep = media::inspect(open(&fx.join(name)), &NoProgress).unwrap();
        let mut v = Vec::new();
        for w in &rep.wims {
            for i in &w.images {
                v.push((i.role, i.pe_content, i.version_signals.is_some()));
            }
            for re in &w.winre {
                for i in &re.wim.images {
                    v.push((i.role, i.pe_content, i.version_signals.is_some()));
                }
            }
        }
        // The facts the verdicts are computed from carry the same roles, in the same order.
        let facts: Vec<ImageRole> = media::image_facts(&rep).iter().map(|f| f.role).collect();
        assert_eq!(facts, v.iter().map(|r| r.0).collect::<Vec<_>>(), "{name}");
        v
    };
    let has = |name: &str, idx: u32, path: &str| {
        wimlib_dir(&fx.join(name), idx)
            .iter()
            .any(|p| p.eq_ignore_ascii_case(path))
    };

    // The WinRE with its XML type fields and name stripped: only its tree says WinRE.
    let info = info_images(&wimlib_info(&fx.join("backup-image.wim")));
    assert_eq!(field(&info[0], "Name"), Some("Backup image"));
    assert_eq!(field(&info[0], "Edition ID"), None, "{info:?}");
    assert_eq!(field(&info[0], "Installation Type"), None, "{info:?}");
    assert!(has("backup-image.wim", 1, "/Windows/System32/winpeshl.exe"));
    assert!(has("backup-image.wim", 1, "/sources/recovery"));
    assert!(!has("backup-image.wim", 1, "/sources/setup.exe"));
    assert_eq!(
        roles("backup-image.wim"),
        [(ImageRole::Winre, Some(PeContent::Recovery), true)]
    );

    // A boot.wim saved under another name: WinPE (no sources\recovery) and Setup.
    assert!(has("winpe-setup.wim", 1, "/Windows/System32/winpeshl.exe"));
    assert!(!has("winpe-setup.wim", 1, "/sources/recovery"));
    assert!(has("winpe-setup.wim", 2, "/sources/setup.exe"));
    assert!(has("winpe-setup.wim", 2, "/sources/recovery"));
    assert_eq!(
        roles("winpe-setup.wim"),
        [
            (ImageRole::Boot, Some(PeContent::PlainPe), true),
            (ImageRole::Boot, Some(PeContent::Setup), true),
        ]
    );

    // Unchanged: boot.wim by its name, install editions never decoded for this (their XML says
    // Client), the nested WinRE and a lone Winre.wim.
    let boot = roles("boot.wim");
    assert!(
        boot.iter().all(|r| r.0 == ImageRole::Boot && r.2),
        "{boot:?}"
    );
    let install = roles("install.wim");
    assert_eq!(install.len(), 4);
    assert!(install[..3]
        .iter()
        .all(|r| *r == (ImageRole::Install, None, false)));
    assert_eq!(
        install[3],
        (ImageRole::Winre, Some(PeContent::Recovery), true)
    );
    assert_eq!(roles("Winre.wim")[0].0, ImageRole::Winre);
    let esd = roles("media-esd.iso");
    assert_eq!(
        esd.iter().map(|r| r.0).collect::<Vec<_>>(),
        [
            ImageRole::Install,
            ImageRole::Install,
            ImageRole::Install,
            ImageRole::Winre,
            ImageRole::Boot,
            ImageRole::Boot
        ]
    );
}
