//! The `mediaprep` binary: exit codes and outputs checked against wimlib and sha256sum.

mod common;

use common::*;
use std::process::Command;

fn mediaprep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mediaprep"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn extract_nested_winre_equals_wimlib_and_bad_input_exits_1() {
    let fx = fixtures();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("winre.wim");
    let o = mediaprep(&[
        "extract",
        fx.join("media-udf.iso").to_str().unwrap(),
        "/sources/install.wim",
        "1:/Windows/System32/Recovery/Winre.wim",
        "-o",
        dest.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = wimlib_extract(
        &fx.join("install.wim"),
        1,
        "/Windows/System32/Recovery/Winre.wim",
    );
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    run("wimlib-imagex", &["verify", dest.to_str().unwrap()]);

    let h = mediaprep(&["hash", dest.to_str().unwrap()]);
    let sum = run("sha256sum", &[dest.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&h.stdout).contains(sum.split_whitespace().next().unwrap()));

    let junk = out.path().join("junk.iso");
    std::fs::write(&junk, vec![1u8; 50_000]).unwrap();
    let o = mediaprep(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.iso"));
    let o = mediaprep(&[
        "extract",
        fx.join("install.wim").to_str().unwrap(),
        "1:/nope",
        "-o",
        out.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.path().join("x").exists() && !out.path().join("x.mediaprep-part").exists());
}

#[test]
fn inspect_json_reports_winre_version_signals() {
    let fx = fixtures();
    let o = mediaprep(&[
        "inspect",
        "--json",
        fx.join("Winre-stale.wim").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let img = &v["wims"][0]["images"][0];
    let info = info_images(&wimlib_info(&fx.join("Winre-stale.wim")));
    let spb = field(&info[0], "Service Pack Build").unwrap();
    assert_eq!(
        img["spbuild"].to_string(),
        spb,
        "XML SPBUILD as wimlib reads it"
    );
    let sig = &img["version_signals"];
    // The stale fixture's package record (named in its servicing\Packages, listed by wimlib dir)
    // is newer than the XML: the effective version must follow the record.
    let records: Vec<String> = wimlib_dir(&fx.join("Winre-stale.wim"), 1)
        .into_iter()
        .filter(|p| p.contains("Package_for_SafeOSDU~"))
        .collect();
    assert!(!records.is_empty());
    // The highest installed Safe OS DU revision (older records stay behind, as on real images).
    let rev = records
        .iter()
        .filter_map(|r| {
            let ver = r
                .rsplit('~')
                .next()?
                .trim_end_matches(".mum")
                .trim_end_matches(".cat");
            ver.split('.').nth(1)?.parse::<u32>().ok()
        })
        .max()
        .unwrap();
    assert!(
        sig["effective"]
            .as_str()
            .unwrap()
            .ends_with(&format!(".{rev}")),
        "{sig}"
    );
    assert_eq!(sig["confidence"], "high");
    assert!(!sig["disagreements"].as_array().unwrap().is_empty());
}

#[test]
fn report_bundle_unzips_and_its_sums_verify_with_sha256sum() {
    let fx = fixtures();
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("report.zip");
    let o = mediaprep(&[
        "report",
        fx.join("media-udf.iso").to_str().unwrap(),
        "--package",
        fx.join("safeos-du.cab").to_str().unwrap(),
        "--package",
        fx.join("safeos-du-tampered.cab").to_str().unwrap(),
        "--generated",
        "2026-11-23T00:00:00Z",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.path().join("unzipped");
    run(
        "unzip",
        &["-q", zip.to_str().unwrap(), "-d", dir.to_str().unwrap()],
    );
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let listed = String::from_utf8_lossy(&check.stdout);
    for name in [
        "report.json",
        "report.html",
        "report.md",
        "handoff-dism.ps1",
    ] {
        assert!(listed.contains(&format!("{name}: OK")), "{listed}");
    }
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["generated"], "2026-11-23T00:00:00Z");
    // The images wimlib sees are the images the report evaluated.
    let images = rep["inputs"]["wims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"].as_str().unwrap().ends_with("install.wim"))
        .unwrap()["images"]
        .as_array()
        .unwrap()
        .len();
    let info = run(
        "wimlib-imagex",
        &["info", fx.join("install.wim").to_str().unwrap()],
    );
    let count: usize = info
        .lines()
        .find(|l| l.starts_with("Image Count:"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(images, count);
    assert!(!rep["evaluation"].is_null());
    let pkgs = rep["package"].as_array().unwrap();
    assert_eq!(pkgs.len(), 2);
    assert_eq!(pkgs[0]["verification"]["ok"], true);
    assert_eq!(pkgs[1]["verification"]["ok"], false);
    assert!(rep["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("safeos-du-tampered.cab")));

    // Other forms follow the extension; an unknown one is refused and nothing is left behind.
    let html = out.path().join("r.html");
    let o = mediaprep(&[
        "report",
        fx.join("install.wim").to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let bad = out.path().join("r.txt");
    let o = mediaprep(&[
        "report",
        fx.join("install.wim").to_str().unwrap(),
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!bad.exists());
}

#[test]
fn base_manifest_names_the_newest_stack_and_writes_its_base() {
    let fx = fixtures();
    let out = tempfile::tempdir().unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("spec/Winre.wim.json")).unwrap()).unwrap();
    let stacks = spec["servicing_stacks"].as_array().unwrap();
    let newest = stacks
        .iter()
        .find(|s| s["revision"] == 2)
        .expect("the image's own stack");
    let ver = newest["version"].as_str().unwrap();
    let folder = newest["folder"].as_str().unwrap();
    let want_file = fx.join(format!("wcp/base-{ver}.bin"));
    let want = std::fs::read(&want_file).unwrap();

    // JSON, from the WinRE nested in the ISO, with -o; sha256sum is the oracle for the digest.
    let dest = out.path().join("base.bin");
    let o = mediaprep(&[
        "base-manifest",
        fx.join("media-udf.iso").to_str().unwrap(),
        "/sources/install.wim",
        "1:/Windows/System32/Recovery/Winre.wim",
        "-o",
        dest.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    let sum = run("sha256sum", &[want_file.to_str().unwrap()]);
    assert_eq!(v["sha256"], sum.split_whitespace().next().unwrap());
    assert_eq!(v["size"], want.len());
    assert_eq!(v["source"]["kind"], "image");
    assert_eq!(
        v["source"]["wcp"]["path"],
        format!("/Windows/WinSxS/{folder}/wcp.dll")
    );
    assert_eq!(v["source"]["stack"]["version"], ver);
    assert_eq!(v["source"]["wcp"]["file_version"], ver);
    assert_eq!(v["source"]["stacks"].as_array().unwrap().len(), 2);

    // Text, from a wcp.dll file: names the file and its version.
    let dll = fx.join(format!("wcp/wcp-{ver}.dll"));
    let o = mediaprep(&["base-manifest", dll.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("{} bytes", want.len())), "{text}");
    assert!(
        text.contains("wcp.dll file") && text.contains(ver),
        "{text}"
    );

    // No servicing stack: exit 1, the reason, and no output left behind.
    let none = out.path().join("none.bin");
    let o = mediaprep(&[
        "base-manifest",
        fx.join("Winre-fileonly.wim").to_str().unwrap(),
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no servicing stack"));
    assert!(!none.exists() && !out.path().join("none.bin.mediaprep-part").exists());
}
