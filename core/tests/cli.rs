//! The `mediaprep` binary: exit codes and outputs checked against wimlib and sha256sum.

mod common;

use common::cli::{fx_arg, mediaprep, ok, s};
use common::*;
use std::process::Command;

#[test]
fn extract_nested_winre_equals_wimlib_and_bad_input_exits_1() {
    let fx = fixtures();
    let (out, [dest]) = tmp_paths(["winre.wim"]);
    let o = mediaprep(&[
        "extract",
        &fx_arg("media-udf.iso"),
        "/sources/install.wim",
        "1:/Windows/System32/Recovery/Winre.wim",
        "-o",
        s(&dest),
    ]);
    ok(&o);
    let want = wimlib_extract(
        &fx.join("install.wim"),
        1,
        "/Windows/System32/Recovery/Winre.wim",
    );
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    wimlib_verify(&dest);

    let h = mediaprep(&["hash", s(&dest)]);
    let sum = run("sha256sum", &[s(&dest)]);
    assert!(String::from_utf8_lossy(&h.stdout).contains(sum.split_whitespace().next().unwrap()));

    let junk = out.path().join("junk.iso");
    std::fs::write(&junk, vec![1u8; 50_000]).unwrap();
    let o = mediaprep(&["inspect", s(&junk)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.iso"));
    let o = mediaprep(&[
        "extract",
        &fx_arg("install.wim"),
        "1:/nope",
        "-o",
        out.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(left_behind(out.path(), "x").is_empty());
}

#[test]
fn inspect_json_reports_winre_version_signals() {
    let fx = fixtures();
    let o = mediaprep(&["inspect", "--json", &fx_arg("Winre-stale.wim")]);
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
    let (out, [zip]) = tmp_paths(["report.zip"]);
    let o = mediaprep(&[
        "report",
        &fx_arg("media-udf.iso"),
        "--package",
        &fx_arg("safeos-du.cab"),
        "--package",
        &fx_arg("safeos-du-tampered.cab"),
        "--generated",
        "2026-11-23T00:00:00Z",
        "-o",
        s(&zip),
    ]);
    ok(&o);
    let dir = out.path().join("unzipped");
    run("unzip", &["-q", s(&zip), "-d", s(&dir)]);
    let listed = sha256sum_check(&dir);
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
    let info = run("wimlib-imagex", &["info", &fx_arg("install.wim")]);
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
    let o = mediaprep(&["report", &fx_arg("install.wim"), "-o", s(&html)]);
    ok(&o);
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let bad = out.path().join("r.txt");
    let o = mediaprep(&["report", &fx_arg("install.wim"), "-o", s(&bad)]);
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
        &fx_arg("media-udf.iso"),
        "/sources/install.wim",
        "1:/Windows/System32/Recovery/Winre.wim",
        "-o",
        s(&dest),
        "--json",
    ]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    let sum = run("sha256sum", &[s(&want_file)]);
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
    let o = mediaprep(&["base-manifest", s(&dll)]);
    ok(&o);
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
        &fx_arg("Winre-fileonly.wim"),
        "-o",
        s(&none),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no servicing stack"));
    assert!(left_behind(out.path(), "none.bin").is_empty());
}

/// A catalog file with the given Safe OS DUs for the WinRE fixture (build 26100, x64, revision 1000
/// in the WIM XML and in its `Package_for_SafeOSDU` record): `(kb, release date, revision)`.
fn safeos_catalog(
    dir: &std::path::Path,
    name: &str,
    version: &str,
    dus: &[(&str, &str, u32)],
) -> String {
    let updates: Vec<serde_json::Value> = dus
        .iter()
        .map(|(kb, date, rev)| {
            serde_json::json!({
                "kb": kb, "kind": "safeos-du",
                "title": null, "release_date": date,
                "products": ["Windows 11, version 24H2"],
                "build_family": 26100, "os_builds": [26100], "revision": rev,
                "architectures": ["x64"], "targets": ["winre"],
                "source": "https://example.invalid/scripts/fixtures.d/safeos-du.json",
                "confidence": "third-party", "notes": "test entry for the WinRE fixture"
            })
        })
        .collect();
    let cat = serde_json::json!({
        "schema": 1, "version": version, "generated": "test", "updates": updates
    });
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&cat).unwrap()).unwrap();
    s(&p).to_string()
}

/// Files in `dir` named `name` or starting `name.` (the output or any temporary of it).
fn left_behind(dir: &std::path::Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f == name || f.starts_with(&format!("{name}.")))
        .collect()
}

/// `mediaprep check Winre.wim --catalog CATALOG --today TODAY EXTRA…`, which must succeed: its
/// stdout.
fn check_winre(catalog: &str, today: &str, extra: &[&str]) -> String {
    let winre = fx_arg("Winre.wim");
    let args = [
        &["check", &winre, "--catalog", catalog, "--today", today],
        extra,
    ]
    .concat();
    ok(&mediaprep(&args))
}

fn finding<'a>(check: &'a serde_json::Value, kb: &str) -> &'a serde_json::Value {
    check["evaluation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kb"] == kb)
        .unwrap_or_else(|| panic!("no finding for {kb}"))
}

#[test]
fn a_newer_catalog_turns_an_already_current_winre_into_applies() {
    let t = tempfile::tempdir().unwrap();
    let old_du = ("KB5040530", "2024-07-09", 1000);
    let a = safeos_catalog(t.path(), "a.json", "2026.11.23", &[old_du]);
    let b = safeos_catalog(
        t.path(),
        "b.json",
        "2026.11.24",
        &[old_du, ("KB5079500", "2026-03-10", 8037)],
    );
    let check = |cat: &str| -> serde_json::Value {
        serde_json::from_str(&check_winre(cat, "2026-12-03", &["--json"])).unwrap()
    };
    let with_a = check(&a);
    assert_eq!(finding(&with_a, "KB5040530")["verdict"], "already-current");
    assert!(with_a["evaluation"]["recommendations"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(with_a["catalog"]["date"], "2026-11-23");
    assert_eq!(with_a["catalog"]["source"]["kind"], "file");
    assert_eq!(with_a["catalog"]["source"]["name"], a.as_str());
    assert_eq!(with_a["catalog"]["stale"], false);

    let with_b = check(&b);
    assert_eq!(finding(&with_b, "KB5079500")["verdict"], "applies");
    let recs = with_b["evaluation"]["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["kb"], "KB5079500");

    // The text form: the age line first, plain words for a fresh catalog.
    let text = check_winre(&a, "2026-12-03", &[]);
    assert_eq!(
        text.lines().next(),
        Some("Catalog of 2026-11-23 (10 days old): updates released after that date are unknown to it.")
    );
    assert!(
        text.contains("already current") && text.contains("KB5040530"),
        "{text}"
    );
    assert!(!text.contains("up to date as of"), "{text}");
}

#[test]
fn an_old_catalog_shows_its_age_and_says_up_to_date_as_of() {
    let t = tempfile::tempdir().unwrap();
    let winre = &fx_arg("Winre.wim");
    let a = safeos_catalog(
        t.path(),
        "a.json",
        "2026.11.23",
        &[("KB5040530", "2024-07-09", 1000)],
    );
    // 2027-01-12 is January's release day, after the catalog's date.
    let text = check_winre(&a, "2027-01-20", &[]);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("Catalog of 2026-11-23 (58 days old): updates released after that date are unknown to it.")
            && first.contains("2027-01-12"),
        "{text}"
    );
    assert!(text.contains("up to date as of 2026-11-23"), "{text}");
    assert!(!text.contains("already current"), "{text}");

    // The report carries the catalog's date, source and age, and uses the same words.
    let md = t.path().join("r.md");
    let o = mediaprep(&[
        "report",
        winre,
        "--catalog",
        &a,
        "--today",
        "2027-01-20",
        "-o",
        s(&md),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Catalog of 2026-11-23 (58 days old)"));
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("up to date as of 2026-11-23"), "{md}");
    assert!(
        md.contains("No update in the catalog of 2026-11-23 applies"),
        "{md}"
    );
    assert!(md.contains("58 days old") && md.contains("a.json"), "{md}");
    let json = t.path().join("r.json");
    let o = mediaprep(&["report", winre, "--today", "2027-06-01", "-o", s(&json)]);
    ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["catalog"]["source"]["kind"], "built-in");
    assert_eq!(r["catalog"]["age_days"], 190);
    assert_eq!(r["catalog"]["stale"], true);
}

#[test]
fn catalog_export_loads_back_and_bad_files_name_the_field() {
    let t = tempfile::tempdir().unwrap();
    let exported = ok(&mediaprep(&["catalog", "--json"]));
    let file = t.path().join("exported.json");
    std::fs::write(&file, &exported).unwrap();
    let f = s(&file);
    // Export → load → export gives the same file; it passes the maintenance checks.
    assert_eq!(
        ok(&mediaprep(&["catalog", "--catalog", f, "--json"])),
        exported
    );
    assert!(ok(&mediaprep(&["catalog", "--check", f])).contains("passes every check"));
    let listed = ok(&mediaprep(&["catalog", "--today", "2026-12-03"]));
    assert!(
        listed.contains("Catalog of 2026-11-23 (10 days old)"),
        "{listed}"
    );

    // A misspelt field: --catalog refuses it, naming the JSON path.
    let bad = t.path().join("bad.json");
    std::fs::write(&bad, exported.replacen("\"revision\"", "\"revison\"", 1)).unwrap();
    let o = mediaprep(&["check", &fx_arg("Winre.wim"), "--catalog", s(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("$.updates[0].revison: unknown field"), "{err}");

    // scripts/catalog-check: one line per problem, exit 1; the embedded catalog passes.
    let script = workspace().join("scripts").join("catalog-check");
    let run_script = |args: &[&str]| {
        Command::new(&script)
            .args(args)
            .env("MEDIAPREP", env!("CARGO_BIN_EXE_mediaprep"))
            .output()
            .unwrap()
    };
    let o = run_script(&[]);
    ok(&o);
    let off = exported.replacen(
        "\"release_date\": \"2025-07-08\"",
        "\"release_date\": \"2025-07-09\"",
        1,
    );
    assert_ne!(
        off, exported,
        "the shipped catalog changed: pick another date to break"
    );
    let twice = off.replacen("\"revision\"", "\"revison\"", 1);
    for (content, want) in [
        (off, vec!["release_date: 2025-07-09 is a Wednesday"]),
        (twice, vec!["revison: unknown field"]),
    ] {
        std::fs::write(&bad, content).unwrap();
        let o = run_script(&[s(&bad)]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        for w in want {
            assert!(err.contains(w), "{err}");
        }
    }
}

/// A WinRE whose XML type fields and name are stripped is WinRE by its tree, so `check` gives it
/// the Safe OS DU verdicts (and recommends the one that applies to either side); a boot.wim saved as winpe-setup.wim stays a
/// boot image (LCU verdicts, no Safe OS DU). Issue #18.
#[test]
fn check_gives_roles_by_content_for_a_stripped_winre_and_a_renamed_boot_wim() {
    let fx = fixtures();
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&ok(&mediaprep(args))).unwrap()
    };
    let stripped = fx.join("backup-image.wim");
    let stripped = s(&stripped);
    let inspect = json(&["inspect", "--json", stripped]);
    let img = &inspect["wims"][0]["images"][0];
    assert_eq!(img["installation_type"], serde_json::Value::Null);
    assert_eq!(img["role"], "winre");
    assert_eq!(img["pe_content"], "recovery");
    let check = json(&["check", "--json", "--today", "2026-11-30", stripped]);
    let safeos: Vec<&serde_json::Value> = check["evaluation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "safeos-du" && f["verdict"] != "not-applicable")
        .collect();
    assert!(
        safeos.iter().any(|f| f["verdict"] == "applies"),
        "{safeos:#?}"
    );
    assert!(check["evaluation"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "safeos-du" && r["target"] == "winre"));

    // The stripped XML no longer names EDITIONID, the only client/server hint a lone WinRE has:
    // the Safe OS DUs of one side only cannot be decided, and say why.
    for f in safeos.iter().filter(|f| f["verdict"] == "unknown") {
        let why = f["reasons"][0].as_str().unwrap();
        assert!(why.contains("both client and server releases"), "{why}");
    }

    let renamed = fx.join("winpe-setup.wim");
    let check = json(&["check", "--json", "--today", "2026-11-30", s(&renamed)]);
    let images = check["inspection"]["wims"][0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert!(images.iter().all(|i| i["role"] == "boot"), "{images:#?}");
    let findings = check["evaluation"]["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .filter(|f| f["kind"] == "safeos-du")
        .all(|f| f["verdict"] == "not-applicable"));
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "lcu" && f["verdict"] == "applies"));
    // As the genuine boot.wim's verdicts, image for image.
    let boot = json(&[
        "check",
        "--json",
        "--today",
        "2026-11-30",
        &fx_arg("boot.wim"),
    ]);
    let key = |v: &serde_json::Value| -> Vec<(u64, String, String)> {
        v["evaluation"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["image"].as_u64().unwrap(),
                    f["kb"].as_str().unwrap().to_string(),
                    f["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(key(&check), key(&boot));
}
