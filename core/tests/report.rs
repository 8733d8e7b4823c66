//! Report export: HTML safety, Markdown, the DISM script's order, and the ZIP bundle checked with the
//! zip crate and with the independent `unzip -t` and `sha256sum -c`.

use std::io::Read;
use std::process::Command;

mod common;
use common::{old_25h2_winre, run, s, sha256sum_check};

use mediaprep_core::catalog::{evaluate, Catalog, ImageFacts, ImageRole};
use mediaprep_core::report::{dism_script, Report, ScriptPaths};
use serde_json::json;

const EVIL: &str = "<script>alert('x')</script><img src=\"https://evil.example/p.png\">";

fn images() -> Vec<ImageFacts> {
    let base = old_25h2_winre();
    vec![
        base.clone(),
        ImageFacts {
            label: format!("install.wim #1 {EVIL}"),
            role: ImageRole::Install,
            build: Some(26200),
            revision: Some(6584),
            installation_type: Some("Client".into()),
            edition: Some("Professional".into()),
            ..base.clone()
        },
        ImageFacts {
            label: "boot.wim #2".into(),
            role: ImageRole::Boot,
            build: Some(26100),
            revision: Some(6584),
            ..base.clone()
        },
        ImageFacts {
            label: "media sources".into(),
            role: ImageRole::SetupMedia,
            build: Some(26200),
            revision: None,
            ..base
        },
    ]
}

fn report() -> Report {
    let catalog = Catalog::embedded().expect("catalog");
    let imgs = images();
    let mut r = Report::new(
        "2026-11-23T10:00:00Z",
        json!({
            "media": { "label": EVIL, "size": 6_000_000_000u64 },
            "images": imgs.iter().map(|i| json!({"label": i.label, "build": i.build, "revision": i.revision})).collect::<Vec<_>>(),
        }),
    );
    r.evaluation = Some(evaluate(&catalog, &imgs));
    r.package =
        Some(json!({"file": "windows11.0-kb5079471-x64.cab", "verified": false, "note": EVIL}));
    r.notes.push(format!("user note {EVIL}"));
    r
}

#[test]
fn html_is_self_contained_and_escaped() {
    let html = report().to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    // Every real tag (text `<` is escaped, so each `<` opens one) is free of loads.
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut tags = 0;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').map_or(rest.len(), |e| start + e);
        let tag = &rest[start..end];
        for needle in [
            " src=", " href=", "url(", "@import", "<link", "<iframe", "<object", "<embed",
            "<script", "<img",
        ] {
            assert!(!tag.contains(needle), "tag {tag:?} contains {needle}");
        }
        tags += 1;
        rest = &rest[end..];
    }
    assert!(tags > 50, "only {tags} tags");
    let css =
        &lower[lower.find("<style>").expect("style")..lower.find("</style>").expect("/style")];
    assert!(!css.contains("url(") && !css.contains("@import"));
    assert!(html.contains("<style>") && html.contains("default-src 'none'"));
    // Tables of images and verdicts.
    assert!(html.contains("<h2>Verdicts</h2>") && html.contains("<h2>Recommended updates</h2>"));
    assert!(
        html.contains("<th>label</th>"),
        "inputs image list rendered as a table"
    );
    assert!(html.contains("v-applies"));
}

#[test]
fn markdown_and_json_round_trip() {
    let r = report();
    let md = r.to_markdown();
    assert!(md.contains("## Recommended updates"));
    // Outside code fences (where text is literal) no raw HTML survives.
    let mut in_fence = false;
    for line in md.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            assert!(
                !line.contains("<script>") && !line.contains("<img"),
                "raw HTML: {line}"
            );
        }
    }
    assert!(
        md.contains("&lt;script&gt;"),
        "labels are escaped in tables"
    );
    let json = r.to_json().expect("json");
    let back = Report::from_json(&json).expect("parse back");
    assert_eq!(back, r);
}

#[test]
fn dism_script_follows_microsofts_order() {
    let r = report();
    let ev = r.evaluation.as_ref().expect("evaluation");
    let s = dism_script(ev, &ScriptPaths::default());
    let pos = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("script lacks {needle:?}:\n{s}"))
    };
    // WinRE from install.wim index 1: SSU/LCU (0x8007007e tolerated), Safe OS DU, cleanup /ResetBase,
    // commit, export; then install.wim; then boot.wim; then the Setup DU expanded into sources\.
    let mount_winre = pos("'/Index:1'");
    let winre_lcu =
        pos("\"/Image:$Mount\\winre\", \"/PackagePath:$LCU_PATH\") -Tolerate @($E_MOD_NOT_FOUND)");
    let safeos = pos("\"/Image:$Mount\\winre\", \"/PackagePath:$SAFE_OS_DU_PATH\"");
    let cleanup =
        pos("\"/Image:$Mount\\winre\", '/Cleanup-Image', '/StartComponentCleanup', '/ResetBase'");
    let commit = pos("\"/MountDir:$Mount\\winre\", '/Commit'");
    let export = pos("winre2.wim\")");
    let install = pos("---- install.wim");
    let boot = pos("---- boot.wim");
    let media = pos("expand.exe $SETUP_DU_PATH -F:*");
    assert!(mount_winre < winre_lcu && winre_lcu < safeos && safeos < cleanup);
    assert!(cleanup < commit && commit < export && export < install);
    assert!(install < boot && boot < media);
    assert!(s.contains("$E_MOD_NOT_FOUND = -2147024770"));
    // The main OS cleanup has no /ResetBase.
    assert!(s.contains("\"/Image:$Mount\\main\", '/Cleanup-Image', '/StartComponentCleanup')"));
    // Placeholders refuse to run.
    assert!(s.contains("Assert-Package 'SAFE_OS_DU_PATH'"));
    assert!(s.contains("$SAFE_OS_DU_PATH = '<path to the KB"));
    // Labels with quotes and markup only appear in comments.
    for line in s.lines().filter(|l| l.contains("<script>")) {
        assert!(line.trim_start().starts_with('#'), "{line}");
    }
}

fn read_zip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut za = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip opens");
    let mut out = Vec::new();
    for i in 0..za.len() {
        let mut f = za.by_index(i).expect("entry");
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("entry reads");
        out.push((f.name().expect("entry name").to_string(), data));
    }
    out
}

#[test]
fn zip_bundle_opens_and_checksums_verify() {
    let r = report();
    let extra_bytes = b"patched winre manifest\n".to_vec();
    let bytes = r
        .to_zip(&[("extra/winre-manifest.txt", extra_bytes.as_slice())])
        .expect("zip");
    let entries = read_zip(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for n in [
        "report.json",
        "report.html",
        "report.md",
        "handoff-dism.ps1",
        "SHA256SUMS",
        "extra/winre-manifest.txt",
    ] {
        assert!(names.contains(&n), "missing {n} in {names:?}");
    }
    let get = |n: &str| {
        entries
            .iter()
            .find(|(m, _)| m == n)
            .map(|(_, d)| d.clone())
            .expect("entry")
    };
    assert_eq!(get("extra/winre-manifest.txt"), extra_bytes);
    assert_eq!(
        Report::from_json(&String::from_utf8(get("report.json")).expect("utf8")).expect("json"),
        r
    );

    // Independent tools: unzip -t and sha256sum -c in a temp dir.
    let dir = tempfile::tempdir().expect("tempdir");
    let zpath = dir.path().join("bundle.zip");
    std::fs::write(&zpath, &bytes).expect("write zip");
    let out_dir = dir.path().join("out");
    run("unzip", &["-t", s(&zpath)]);
    run("unzip", &["-q", s(&zpath), "-d", s(&out_dir)]);
    let out = sha256sum_check(&out_dir);
    assert_eq!(out.matches(": OK").count(), 5, "{out}");

    // And a tampered file must fail the same check.
    std::fs::write(dir.path().join("out/report.md"), b"tampered").expect("tamper");
    let c = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(dir.path().join("out"))
        .output()
        .expect("sha256sum runs");
    assert!(!c.status.success());
}

#[test]
fn zip_rejects_bad_extra_names() {
    let r = report();
    assert!(r.to_zip(&[("../escape", b"x".as_slice())]).is_err());
    assert!(r.to_zip(&[("report.json", b"x".as_slice())]).is_err());
    assert!(r
        .to_zip(&[("a.txt", b"x".as_slice()), ("a.txt", b"y".as_slice())])
        .is_err());
}

#[test]
fn report_without_evaluation_still_exports() {
    let r = Report::new("now", json!({"note": "inspection only"}));
    let html = r.to_html();
    assert!(html.contains("inspection only") && !html.contains("<h2>Verdicts</h2>"));
    let entries = read_zip(&r.to_zip(&[]).expect("zip"));
    let script = entries
        .iter()
        .find(|(n, _)| n == "handoff-dism.ps1")
        .map(|(_, d)| String::from_utf8_lossy(d).to_string())
        .expect("script");
    assert!(script.contains("nothing to apply"));
    assert!(!script.contains("dism.exe"));
}
