//! Catalog invariants and table-driven applicability checks.
//!
//! The applicability tables use a small synthetic catalog (so a data refresh cannot silently change
//! what is being tested) plus a few checks against the shipped catalog for the facts the product is
//! built on (KB5079471 for 24H2/25H2, KB5059281 for 22H2/23H2).

use mediaprep_core::catalog::{
    evaluate, load, partition_fit, Catalog, Fit, ImageFacts, ImageRole, Target, Verdict,
};
use serde_json::Value;

mod common;
use common::old_25h2_winre;

fn embedded() -> Catalog {
    Catalog::embedded().expect("embedded catalog parses")
}

// ---------------------------------------------------------------------------------------------
// Invariants of the shipped data
// ---------------------------------------------------------------------------------------------

#[test]
fn every_entry_is_sourced_and_well_formed() {
    let c = embedded();
    assert!(c.updates.len() >= 30, "catalog unexpectedly small");
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    for u in &c.updates {
        assert!(load::is_kb(&u.kb), "{}", u.kb);
        assert!(
            u.source.starts_with("https://"),
            "{} has no https source",
            u.kb
        );
        if let Some(d) = &u.release_date {
            assert!(load::is_iso_date(d), "{}: {d}", u.kb);
        }
        assert!(!u.targets.is_empty(), "{} has no target", u.kb);
        assert!(!u.products.is_empty(), "{} has no product", u.kb);
        assert!(u.build_family.is_some(), "{} has no build family", u.kb);
        // 25H2 is 26200 and its packages are 26100; 27200 is a known third-party error.
        assert!(!u.os_builds.contains(&27200), "{}", u.kb);
        assert_ne!(u.build_family, Some(27200), "{}", u.kb);
        assert_ne!(u.build_family, Some(26200), "{}: use 26100", u.kb);
        assert_ne!(u.build_family, Some(22631), "{}: use 22621", u.kb);
    }
}

#[test]
fn supersession_references_exist_or_are_noted() {
    let c = embedded();
    let lint = c.lint();
    assert!(lint.is_empty(), "{lint:#?}");
}

#[test]
fn known_kbs_have_the_documented_families() {
    let c = embedded();
    let k = c.get("KB5079471").expect("KB5079471 present");
    assert_eq!(k.build_family, Some(26100));
    assert_eq!(k.release_date.as_deref(), Some("2026-03-10"));
    assert!(k.services(Target::Winre));
    assert!(k.os_builds.contains(&26100) && k.os_builds.contains(&26200));
    let k = c.get("KB5059281").expect("KB5059281 present");
    assert_eq!(k.build_family, Some(22621));
    assert!(k
        .release_date
        .as_deref()
        .unwrap_or("")
        .starts_with("2025-04"));
}

/// Check the embedded JSON against the schema's `required` lists and enums (a small structural
/// validator: the schema only uses `required`, `properties`, `items`, `enum`, `type`, `pattern`).
#[test]
fn json_matches_schema_required_fields() {
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schema/catalog.schema.json"
    )))
    .expect("schema parses");
    let data: Value = serde_json::from_str(load::EMBEDDED_JSON).expect("catalog parses");
    let mut errors = Vec::new();
    check(&schema, &data, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
}

fn check(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(types) = schema.get("type") {
        let ok = |t: &str| match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            _ => false,
        };
        let matches = match types {
            Value::String(t) => ok(t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(ok),
            _ => true,
        };
        if !matches {
            errors.push(format!("{path}: expected type {types}, got {v}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(v) {
            errors.push(format!("{path}: {v} not in enum"));
        }
    }
    if let (Some(Value::String(p)), Some(s)) = (schema.get("pattern"), v.as_str()) {
        // The schema's patterns are anchored KB / date / hex patterns; check the ones we know.
        let ok = match p.as_str() {
            "^KB[0-9]{6,7}$" => load::is_kb(s),
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" => load::is_iso_date(s),
            "^[0-9a-fA-F]{40}$" => s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            "^[0-9a-fA-F]{64}$" => s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()),
            "^https?://" => s.starts_with("https://") || s.starts_with("http://"),
            "^[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}$" => load::is_iso_date(&s.replace('.', "-")),
            other => {
                errors.push(format!("{path}: test does not know pattern {other}"));
                true
            }
        };
        if !ok {
            errors.push(format!("{path}: {s:?} does not match {p}"));
        }
    }
    if let (Some(Value::Array(req)), Some(obj)) = (schema.get("required"), v.as_object()) {
        for r in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(format!("{path}: missing required {r}"));
            }
        }
    }
    if let (Some(Value::Object(props)), Some(obj)) = (schema.get("properties"), v.as_object()) {
        for (k, sub) in props {
            if let Some(child) = obj.get(k) {
                check(sub, child, &format!("{path}.{k}"), errors);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, child) in arr.iter().enumerate() {
            check(items, child, &format!("{path}[{i}]"), errors);
        }
    }
}

#[test]
fn from_json_rejects_bad_files() {
    let good = r#"{"schema":1,"version":"2026.11.23","generated":"t","updates":[
        {"kb":"KB5000001","kind":"safeos-du","source":"https://example.invalid/a","targets":["winre"]}]}"#;
    assert!(Catalog::from_json(good).is_ok());
    for bad in [
        good.replace("KB5000001", "KB50"),
        good.replace("\"schema\":1", "\"schema\":2"),
        good.replace("https://example.invalid/a", ""),
        good.replace("\"source\":", "\"release_date\":\"2026-02-30\",\"source\":"),
        good.replace("2026.11.23", "yesterday"),
        good.replace("safeos-du", "hotfix"),
        good.replace(
            "]}]}",
            "]},{\"kb\":\"KB5000001\",\"kind\":\"lcu\",\"source\":\"https://x\"}]}",
        ),
        "{".to_string(),
    ] {
        assert!(Catalog::from_json(&bad).is_err(), "accepted: {bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Applicability, table-driven over a synthetic catalog
// ---------------------------------------------------------------------------------------------

const TEST_CATALOG: &str = r#"{"schema":1,"version":"2026.01.01","generated":"test","updates":[
 {"kb":"KB1000001","kind":"safeos-du","release_date":"2025-11-11","products":["Windows 11, version 24H2","Windows 11, version 25H2","Windows Server 2025"],
  "build_family":26100,"os_builds":[26100,26200],"revision":7149,"architectures":["x64","arm64"],"targets":["winre"],"source":"https://t/1"},
 {"kb":"KB1000002","kind":"safeos-du","release_date":"2026-02-10","products":["Windows 11, version 24H2","Windows 11, version 25H2"],
  "build_family":26100,"os_builds":[26100,26200],"revision":7817,"architectures":["x64","arm64"],"targets":["winre"],"supersedes":["KB1000001"],"source":"https://t/2"},
 {"kb":"KB1000003","kind":"safeos-du","release_date":"2026-03-10","products":["Windows 11, version 24H2","Windows 11, version 25H2"],
  "build_family":26100,"os_builds":[26100,26200],"revision":null,"architectures":["x64","arm64"],"targets":["winre"],"source":"https://t/3"},
 {"kb":"KB1000004","kind":"safeos-du","release_date":"2025-04-22","products":["Windows 11, version 22H2","Windows 11, version 23H2"],
  "build_family":22621,"os_builds":[22621,22631],"revision":5000,"architectures":["x64","arm64"],"targets":["winre"],"source":"https://t/4"},
 {"kb":"KB1000005","kind":"safeos-du","release_date":"2025-11-11","products":["Windows 10, version 22H2"],
  "build_family":19041,"os_builds":[19045],"revision":6500,"architectures":["x86","x64","arm64"],"targets":["winre"],"source":"https://t/5"},
 {"kb":"KB1000006","kind":"safeos-du","release_date":"2025-01-14","products":["Windows Server 2022"],
  "build_family":20348,"os_builds":[20348],"revision":2846,"architectures":["x64"],"targets":["winre"],"source":"https://t/6"},
 {"kb":"KB1000007","kind":"lcu","release_date":"2026-03-10","products":["Windows 11, version 24H2","Windows 11, version 25H2"],
  "build_family":26100,"os_builds":[26100,26200],"revision":8037,"architectures":["x64","arm64"],"targets":["winre","install","boot"],"source":"https://t/7"},
 {"kb":"KB1000008","kind":"lcu","release_date":"2026-01-13","products":["Windows Server 2025"],
  "build_family":26100,"os_builds":[26100],"revision":32230,"architectures":["x64"],"targets":["winre","install","boot"],"source":"https://t/8"},
 {"kb":"KB1000009","kind":"setup-du","release_date":"2026-01-29","products":["Windows 11, version 24H2","Windows 11, version 25H2","Windows Server 2025"],
  "build_family":26100,"os_builds":[26100,26200],"architectures":["x64","arm64"],"targets":["media-sources"],"source":"https://t/9"},
 {"kb":"KB1000011","kind":"safeos-du","release_date":"2026-01-13","products":["Windows 10, version 22H2"],
  "build_family":19041,"os_builds":[19045],"revision":null,"architectures":["x86","x64","arm64"],"targets":["winre"],"source":"https://t/11"},
 {"kb":"KB1000012","kind":"lcu","release_date":"2025-09-09","products":["Windows 11, version 24H2"],
  "build_family":26100,"os_builds":[26100],"revision":6584,"architectures":["x64","arm64"],"targets":["winre","install","boot"],"source":"https://t/12"},
 {"kb":"KB1000010","kind":"safeos-du","release_date":"2026-04-14","products":["Windows 11, version 24H2","Windows 11, version 25H2"],
  "build_family":26100,"os_builds":[26100,26200],"revision":8309,"architectures":["x64","arm64"],"targets":["winre"],"source":"https://t/10"}
]}"#;

fn test_catalog() -> Catalog {
    Catalog::from_json(TEST_CATALOG).expect("test catalog")
}

struct Img {
    role: ImageRole,
    arch: Option<&'static str>,
    build: Option<u32>,
    rev: Option<u32>,
    pkg: Option<u32>,
    itype: Option<&'static str>,
    hint: Option<&'static str>,
}

fn facts(i: &Img) -> ImageFacts {
    ImageFacts {
        label: "image".into(),
        role: i.role,
        arch: i.arch.map(Into::into),
        build: i.build,
        revision: i.rev,
        revision_source: i.rev.map(|_| "WIM XML SPBUILD".into()),
        installed_safeos_revision: i.pkg,
        installation_type: i.itype.map(Into::into),
        edition: None,
        product_hint: i.hint.map(Into::into),
    }
}

const fn winre(arch: &'static str, build: u32, rev: u32) -> Img {
    Img {
        role: ImageRole::Winre,
        arch: Some(arch),
        build: Some(build),
        rev: Some(rev),
        pkg: None,
        itype: Some("WindowsPE"),
        hint: Some("Windows 11"),
    }
}

/// (case, image, kb, expected verdict, words the first reason must contain)
#[test]
fn applicability_table() {
    use Verdict::*;
    let cases: Vec<(&str, Img, &str, Verdict, &str)> = vec![
        // 25H2 media: WIM says 26200 but WinRE services as 26100.
        (
            "25H2 WinRE old",
            winre("x64", 26100, 6584),
            "KB1000010",
            Applies,
            "8309",
        ),
        (
            "25H2 WinRE old, older DU superseded",
            winre("x64", 26100, 6584),
            "KB1000002",
            Superseded,
            "KB1000010",
        ),
        (
            "25H2 WinRE old, oldest DU superseded",
            winre("x64", 26100, 6584),
            "KB1000001",
            Superseded,
            "KB1000010",
        ),
        (
            "25H2 install 26200 takes the LCU",
            Img {
                role: ImageRole::Install,
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26200, 7623)
            },
            "KB1000007",
            Applies,
            "8037",
        ),
        (
            "25H2 install does not take Safe OS DU",
            Img {
                role: ImageRole::Install,
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26200, 7623)
            },
            "KB1000010",
            NotApplicable,
            "services",
        ),
        // 23H2 media: 22631 install, 22621 WinRE.
        (
            "23H2 WinRE via 22621",
            winre("x64", 22621, 4000),
            "KB1000004",
            Applies,
            "5000",
        ),
        (
            "23H2 WIM build 22631 maps to 22621",
            winre("x64", 22631, 4000),
            "KB1000004",
            Applies,
            "5000",
        ),
        (
            "23H2 WinRE vs 24H2 DU",
            winre("x64", 22621, 4000),
            "KB1000010",
            NotApplicable,
            "22621",
        ),
        // arm64 is covered; x86 is not a Windows 11 architecture.
        (
            "arm64 WinRE",
            winre("arm64", 26100, 6584),
            "KB1000010",
            Applies,
            "8309",
        ),
        (
            "wrong arch",
            winre("x86", 26100, 6584),
            "KB1000010",
            NotApplicable,
            "x86",
        ),
        (
            "amd64 spelled the wim way",
            winre("amd64", 26100, 6584),
            "KB1000010",
            Applies,
            "8309",
        ),
        // Windows 10 x86, 19045 media with a 19041 WinRE.
        (
            "Win10 x86 WinRE",
            Img {
                hint: None,
                ..winre("x86", 19041, 3920)
            },
            "KB1000011",
            Applies,
            "older than even KB1000005",
        ),
        (
            "unpublished revision, nothing newer decides",
            Img {
                hint: None,
                ..winre("x86", 19041, 6600)
            },
            "KB1000011",
            Unknown,
            "not published",
        ),
        (
            "Win10 older DU current at 6600",
            Img {
                hint: None,
                ..winre("x86", 19041, 6600)
            },
            "KB1000005",
            AlreadyCurrent,
            "6500",
        ),
        (
            "Win10 19045 build maps to 19041",
            Img {
                hint: None,
                ..winre("x86", 19045, 3920)
            },
            "KB1000005",
            Superseded,
            "KB1000011",
        ),
        (
            "Win10 vs Win11 DU",
            Img {
                hint: None,
                ..winre("x86", 19045, 3920)
            },
            "KB1000004",
            NotApplicable,
            "19041",
        ),
        // Server 2022 / 2025 vs client DUs.
        (
            "Server 2022 WinRE",
            Img {
                hint: None,
                ..winre("x64", 20348, 2000)
            },
            "KB1000006",
            Applies,
            "2846",
        ),
        (
            "Server 2022 vs client DU",
            Img {
                hint: None,
                ..winre("x64", 20348, 2000)
            },
            "KB1000004",
            NotApplicable,
            "20348",
        ),
        (
            "Server 2025 WinRE vs client-only DU",
            Img {
                hint: Some("Windows Server 2025"),
                ..winre("x64", 26100, 6584)
            },
            "KB1000010",
            NotApplicable,
            "Windows Server",
        ),
        (
            "Server 2025 WinRE takes shared DU",
            Img {
                hint: Some("Windows Server 2025"),
                ..winre("x64", 26100, 6584)
            },
            "KB1000001",
            Applies,
            "7149",
        ),
        (
            "Server 2025 install vs client LCU",
            Img {
                role: ImageRole::Install,
                itype: Some("Server Core"),
                hint: None,
                ..winre("x64", 26100, 1742)
            },
            "KB1000007",
            NotApplicable,
            "Windows Server",
        ),
        (
            "Server 2025 install takes server LCU",
            Img {
                role: ImageRole::Install,
                itype: Some("Server"),
                hint: None,
                ..winre("x64", 26100, 1742)
            },
            "KB1000008",
            Applies,
            "32230",
        ),
        (
            "client install vs server LCU",
            Img {
                role: ImageRole::Install,
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26100, 1742)
            },
            "KB1000008",
            NotApplicable,
            "Windows client",
        ),
        (
            "26100 WinRE, product unknown, one-sided DU",
            Img {
                hint: None,
                ..winre("x64", 26100, 6584)
            },
            "KB1000010",
            Unknown,
            "client and server",
        ),
        // Unknown versions.
        (
            "build unknown",
            Img {
                build: None,
                ..winre("x64", 26100, 0)
            },
            "KB1000010",
            Unknown,
            "build",
        ),
        (
            "arch unknown",
            Img {
                arch: None,
                ..winre("x64", 26100, 6584)
            },
            "KB1000010",
            Unknown,
            "architecture",
        ),
        (
            "revision unknown",
            Img {
                rev: None,
                ..winre("x64", 26100, 0)
            },
            "KB1000010",
            Unknown,
            "revision",
        ),
        (
            "unknown build family",
            winre("x64", 26300, 1),
            "KB1000010",
            NotApplicable,
            "26300",
        ),
        // Already current via XML, and via the package record although XML lags.
        (
            "current via XML",
            winre("x64", 26100, 8309),
            "KB1000010",
            AlreadyCurrent,
            "WIM XML SPBUILD",
        ),
        (
            "older DU current too",
            winre("x64", 26100, 8309),
            "KB1000002",
            AlreadyCurrent,
            "7817",
        ),
        (
            "current via package record",
            Img {
                pkg: Some(8309),
                ..winre("x64", 26100, 5074)
            },
            "KB1000010",
            AlreadyCurrent,
            "Package_for_SafeOSDU",
        ),
        (
            "package record does not count for LCU on install",
            Img {
                role: ImageRole::Install,
                pkg: Some(9000),
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26100, 7000)
            },
            "KB1000007",
            Applies,
            "8037",
        ),
        // Unpublished revision: bounded by peers.
        (
            "unpublished revision, image older than earlier DU",
            winre("x64", 26100, 6584),
            "KB1000003",
            Superseded,
            "KB1000010",
        ),
        (
            "unpublished revision, image past later DU",
            winre("x64", 26100, 8400),
            "KB1000003",
            AlreadyCurrent,
            "KB1000010",
        ),
        (
            "unpublished revision, image in between: newer applicable decides",
            winre("x64", 26100, 7900),
            "KB1000003",
            Superseded,
            "KB1000010",
        ),
        // A 24H2-only LCU is not for 25H2 (26200) install images, though both service as 26100.
        (
            "24H2-only LCU vs 25H2 install",
            Img {
                role: ImageRole::Install,
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26200, 5074)
            },
            "KB1000012",
            NotApplicable,
            "published for OS build 26100",
        ),
        (
            "24H2-only LCU on 24H2 install is superseded by the newer one",
            Img {
                role: ImageRole::Install,
                itype: Some("Client"),
                hint: None,
                ..winre("x64", 26100, 5074)
            },
            "KB1000012",
            Superseded,
            "KB1000007",
        ),
        // WinRE takes only the SSU of the LCU.
        (
            "WinRE takes LCU's SSU",
            winre("x64", 26100, 6584),
            "KB1000007",
            Applies,
            "servicing stack",
        ),
        // Setup DU into media sources\.
        (
            "media takes Setup DU",
            Img {
                role: ImageRole::SetupMedia,
                itype: None,
                hint: Some("Windows 11"),
                ..winre("x64", 26200, 7623)
            },
            "KB1000009",
            Applies,
            "sources",
        ),
        (
            "boot.wim does not take Setup DU",
            Img {
                role: ImageRole::Boot,
                ..winre("x64", 26100, 7623)
            },
            "KB1000009",
            NotApplicable,
            "services",
        ),
    ];
    let cat = test_catalog();
    let mut failures = Vec::new();
    for (name, img, kb, want, words) in &cases {
        let ev = evaluate(&cat, &[facts(img)]);
        let f = ev.finding(0, kb).expect("finding exists");
        let first = f.reasons.first().cloned().unwrap_or_default();
        if f.verdict != *want || !first.contains(words) {
            failures.push(format!(
                "{name}: got {:?} ({first}), want {want:?} containing {words:?}; facts {:?}",
                f.verdict, f.facts
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn recommendation_and_procedure_order() {
    let cat = test_catalog();
    let imgs = [
        facts(&winre("x64", 26100, 6584)),
        facts(&Img {
            role: ImageRole::Install,
            itype: Some("Client"),
            hint: None,
            ..winre("x64", 26200, 7623)
        }),
        facts(&Img {
            role: ImageRole::SetupMedia,
            itype: None,
            ..winre("x64", 26200, 7623)
        }),
    ];
    let ev = evaluate(&cat, &imgs);
    let winre_recs: Vec<&str> = ev
        .recommendations
        .iter()
        .filter(|r| r.image == 0)
        .map(|r| r.kb.as_str())
        .collect();
    assert_eq!(winre_recs.len(), 2, "{winre_recs:?}");
    assert!(winre_recs.contains(&"KB1000010") && winre_recs.contains(&"KB1000007"));
    // Exactly one recommendation per image and kind.
    let orders: Vec<u32> = ev.procedure.iter().map(|s| s.order).collect();
    let mut sorted = orders.clone();
    sorted.sort_unstable();
    assert_eq!(orders, sorted);
    let pos = |o: u32| orders.iter().position(|x| *x == o).expect("step present");
    // SSU (1) before Safe OS DU (6) before cleanup (7) before export (8); media Setup DU at 26.
    assert!(pos(1) < pos(6) && pos(6) < pos(7) && pos(7) < pos(8));
    assert!(pos(9) < pos(14) && pos(14) < pos(16) && pos(16) < pos(26));
    let ssu = &ev.procedure[pos(1)];
    assert_eq!(ssu.kbs, vec!["KB1000007".to_string()]);
    assert!(ssu.note.as_deref().unwrap_or("").contains("0x8007007e"));
    assert_eq!(ev.procedure[pos(6)].kbs, vec!["KB1000010".to_string()]);
    assert!(ev.procedure[pos(26)].kbs.contains(&"KB1000009".to_string()));
    // No boot.wim image, so no boot steps.
    assert!(!orders.contains(&17) && !orders.contains(&24));
    // Safe OS DU is from April, the LCU from March: Microsoft's month-matching rule is noted.
    assert!(ev
        .notes
        .iter()
        .any(|n| n.contains("KB1000010") && n.contains("same month")));
    // The evaluation serialises (the report embeds it).
    let json = serde_json::to_string(&ev).expect("serialises");
    assert!(json.contains("\"already-current\"") || json.contains("\"applies\""));
}

#[test]
fn ambiguous_product_is_reported() {
    let img = facts(&Img {
        hint: None,
        ..winre("x64", 26100, 6584)
    });
    let ev = evaluate(&test_catalog(), &[img]);
    assert!(
        ev.notes
            .iter()
            .any(|n| n.contains("client or a server") && n.contains("KB1000010")),
        "{:?}",
        ev.notes
    );
    // The shared (client + server) DU is still evaluated and recommended.
    assert!(ev.recommendations.iter().any(|r| r.kb == "KB1000001"));
}

#[test]
fn shipped_catalog_recommends_a_24h2_safeos_du_for_old_25h2_winre() {
    let c = embedded();
    let img = old_25h2_winre();
    let ev = evaluate(&c, &[img]);
    let safeos: Vec<_> = ev
        .recommendations
        .iter()
        .filter(|r| r.kind == mediaprep_core::catalog::UpdateKind::SafeosDu)
        .collect();
    assert_eq!(safeos.len(), 1, "{:?}", ev.recommendations);
    // Whatever the newest is, it must be a 26100-family entry and not older than KB5079471.
    let rec = c.get(&safeos[0].kb).expect("in catalog");
    assert_eq!(rec.build_family, Some(26100));
    assert!(rec.release_date.as_deref().unwrap_or("") >= "2026-03-10");
    let f = ev.finding(0, "KB5059281").expect("finding");
    assert_eq!(f.verdict, Verdict::NotApplicable);
}

#[test]
fn partition_fit_guidance() {
    const MB: u64 = 1024 * 1024;
    let v = partition_fit(600 * MB, 1000 * MB, 750 * MB);
    assert_eq!(v.fit, Fit::FitsBelowGuidance);
    assert!(v.explanation.contains("250 MB"));
    assert_eq!(partition_fit(400 * MB, 1000 * MB, 750 * MB).fit, Fit::Fits);
    assert_eq!(
        partition_fit(800 * MB, 1000 * MB, 750 * MB).fit,
        Fit::DoesNotFit
    );
}

// ---------------------------------------------------------------------------------------------
// Loading a catalog file: named fields, export round-trip, maintenance checks, age
// ---------------------------------------------------------------------------------------------

use mediaprep_core::catalog::{check_catalog, CatalogAge, CatalogSource, Date};
use mediaprep_core::report::Report;

/// A small sound catalog for the checks: a Safe OS DU chain (Patch Tuesdays, growing revisions)
/// and an LCU whose title states its KB and build.
const SMALL: &str = r#"{"schema":1,"version":"2026.03.16","generated":"test","updates":[
 {"kb":"KB2000001","kind":"safeos-du","release_date":"2026-01-13","products":["Windows 11, version 24H2"],
  "build_family":26100,"os_builds":[26100],"revision":7618,"architectures":["x64"],"targets":["winre"],
  "superseded_by":["KB2000002"],"source":"https://t/1"},
 {"kb":"KB2000002","kind":"safeos-du","release_date":"2026-02-10","products":["Windows 11, version 24H2"],
  "build_family":26100,"os_builds":[26100],"revision":7817,"architectures":["x64"],"targets":["winre"],
  "supersedes":["KB2000001"],"source":"https://t/2"},
 {"kb":"KB2000003","kind":"lcu","title":"March 10, 2026—KB2000003 (OS Build 26100.8037)","release_date":"2026-03-10",
  "products":["Windows 11, version 24H2"],"build_family":26100,"os_builds":[26100],"revision":8037,
  "architectures":["x64"],"targets":["winre","install"],"files":[{"name":"windows11.0-kb2000003-x64.msu"}],
  "source":"https://t/3"}
]}"#;

fn problems_of(json: &str) -> Vec<String> {
    check_catalog(json.as_bytes())
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `json` has exactly one problem, at `path`, whose message contains `words`.
fn one_problem(json: &str, path: &str, words: &str) {
    let p = problems_of(json);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(&format!("{path}: ")) && p[0].contains(words),
        "want {path}: …{words}…, got {p:#?}"
    );
}

fn edit(json: &str, from: &str, to: &str) -> String {
    assert!(json.contains(from), "{from}");
    json.replacen(from, to, 1)
}

#[test]
fn small_catalog_passes_every_check_and_so_does_the_shipped_one() {
    assert_eq!(problems_of(SMALL), Vec::<String>::new());
    assert_eq!(problems_of(load::EMBEDDED_JSON), Vec::<String>::new());
}

#[test]
fn load_errors_name_the_json_path_of_the_field() {
    for (bad, path, words) in [
        // Misspelt field: refused rather than silently read as "not sourced".
        (
            edit(SMALL, "\"revision\":7618", "\"revison\":7618"),
            "$.updates[0].revison",
            "unknown field",
        ),
        (
            edit(SMALL, "\"revision\":7817", "\"revision\":\"7817\""),
            "$.updates[1].revision",
            "not of type integer or null",
        ),
        (
            edit(SMALL, "\"revision\":8037", "\"revision\":-1"),
            "$.updates[2].revision",
            "below 0",
        ),
        (
            edit(SMALL, "\"2026-02-10\"", "\"2026-2-10\""),
            "$.updates[1].release_date",
            "pattern",
        ),
        (
            edit(SMALL, "\"2026-02-10\"", "\"2026-02-30\""),
            "$.updates[1].release_date",
            "not a real date",
        ),
        (
            edit(SMALL, "\"kind\":\"lcu\"", "\"kind\":\"hotfix\""),
            "$.updates[2].kind",
            "not one of",
        ),
        (
            edit(
                SMALL,
                "\"architectures\":[\"x64\"],\"targets\":[\"winre\"],\n  \"superseded_by\"",
                "\"architectures\":[\"amd64\"],\"targets\":[\"winre\"],\n  \"superseded_by\"",
            ),
            "$.updates[0].architectures[0]",
            "\"amd64\"",
        ),
        (
            edit(SMALL, ",\"source\":\"https://t/2\"", ""),
            "$.updates[1]",
            "required field \"source\"",
        ),
        (
            edit(SMALL, "\"schema\":1", "\"schema\":2"),
            "$.schema",
            "not one of",
        ),
        (
            edit(SMALL, "\"2026.03.16\"", "\"2026.02.30\""),
            "$.version",
            "not a real date",
        ),
        (
            edit(SMALL, "\"kb\":\"KB2000002\"", "\"kb\":\"KB2000001\""),
            "$.updates[1].kb",
            "more than once",
        ),
        (
            edit(SMALL, "\"updates\":", "\"updats\":[],\"updates\":"),
            "$.updats",
            "unknown field",
        ),
    ] {
        let err = Catalog::load(bad.as_bytes()).expect_err(&bad);
        let first = err.problems[0].to_string();
        assert!(
            first.starts_with(&format!("{path}: ")) && first.contains(words),
            "want {path}: …{words}…, got {first}"
        );
        // The crate error names the field too (what the CLI prints).
        assert!(Catalog::from_json(&bad)
            .unwrap_err()
            .to_string()
            .contains(path));
    }
    // The entry is named by its KB as well as its index.
    let e =
        Catalog::load(edit(SMALL, "\"revision\":7618", "\"revison\":7618").as_bytes()).unwrap_err();
    assert!(e.to_string().contains("KB2000001"), "{e}");
    // Not JSON / not UTF-8: the whole file, with where it broke.
    let e = Catalog::load(b"{\"schema\":1,\n\"version\":}").unwrap_err();
    assert_eq!(e.problems[0].path, "$");
    assert!(e.problems[0].message.contains("line 2"), "{e}");
    let e = Catalog::load(b"\xff\xfe{}").unwrap_err();
    assert!(e.problems[0].message.contains("UTF-8"), "{e}");
}

#[test]
fn export_then_load_round_trips() {
    for cat in [
        embedded(),
        test_catalog(),
        Catalog::from_json(SMALL).unwrap(),
    ] {
        let json = cat.to_json().unwrap();
        assert_eq!(Catalog::load(json.as_bytes()).unwrap(), cat);
    }
}

#[test]
fn check_finds_a_supersedence_cycle() {
    let bad = edit(
        SMALL,
        "\"supersedes\":[\"KB2000001\"],\"source\":\"https://t/2\"",
        "\"supersedes\":[\"KB2000001\"],\"superseded_by\":[\"KB2000001\"],\"source\":\"https://t/2\"",
    );
    // KB2000001 lists KB2000002 as its replacement too, so the only problems are the loop and the
    // dates/revisions that go backwards along it.
    let p = problems_of(&bad);
    assert!(
        p.iter().any(|m| m.contains("supersedence cycle")
            && m.contains("KB2000001")
            && m.contains("KB2000002")),
        "{p:#?}"
    );
    // A self-reference is a cycle of one.
    let p = problems_of(&edit(
        SMALL,
        "\"kind\":\"lcu\"",
        "\"kind\":\"lcu\",\"supersedes\":[\"KB2000003\"]",
    ));
    assert!(
        p.iter()
            .any(|m| m.contains("supersedence cycle: KB2000003 replaces KB2000003")),
        "{p:#?}"
    );
}

#[test]
fn check_finds_a_replacement_older_than_what_it_replaces() {
    // KB2000002 moves to a January Patch Tuesday before KB2000001's.
    let bad = edit(SMALL, "\"2026-02-10\"", "\"2025-12-09\"");
    let p = problems_of(&bad);
    assert!(
        p.iter()
            .any(|m| m.starts_with("$.updates[1].release_date: ")
                && m.contains("replaces KB2000001 but is dated before it")),
        "{p:#?}"
    );
}

#[test]
fn check_wants_release_days_or_a_documented_out_of_band_release() {
    // 2026-02-12 is a Thursday.
    let off = edit(SMALL, "\"2026-02-10\"", "\"2026-02-12\"");
    one_problem(&off, "$.updates[1].release_date", "is a Thursday");
    let documented = edit(
        &off,
        "\"source\":\"https://t/2\"",
        "\"source\":\"https://t/2\",\"notes\":\"Out-of-band release.\"",
    );
    assert_eq!(problems_of(&documented), Vec::<String>::new());
    // The fourth-Tuesday preview release is a release day (2026-02-24).
    assert_eq!(
        problems_of(&edit(SMALL, "\"2026-02-10\"", "\"2026-02-24\"")),
        Vec::<String>::new()
    );
    // A first Tuesday is not (2026-02-03).
    one_problem(
        &edit(SMALL, "\"2026-02-10\"", "\"2026-02-03\""),
        "$.updates[1].release_date",
        "week 1",
    );
}

#[test]
fn check_finds_revisions_going_backwards() {
    let bad = edit(SMALL, "\"revision\":7817", "\"revision\":7000");
    let p = problems_of(&bad);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p.iter().all(|m| m.starts_with("$.updates[1].revision: ")));
    assert!(p.iter().any(|m| m.contains("the older KB2000001")));
    assert!(p.iter().any(|m| m.contains("lower revision (7000 < 7618)")));
}

#[test]
fn check_finds_kb_and_revision_disagreements() {
    one_problem(
        &edit(SMALL, "—KB2000003 (", "—KB2000009 ("),
        "$.updates[2].title",
        "names KB2000009",
    );
    one_problem(
        &edit(SMALL, "26100.8037)", "26100.8038)"),
        "$.updates[2].revision",
        "title gives revision 8038 but the entry says 8037",
    );
    one_problem(
        &edit(SMALL, "kb2000003-x64.msu", "kb2000004-x64.msu"),
        "$.updates[2].files[0].name",
        "names KB2000004",
    );
    one_problem(
        &edit(
            SMALL,
            "\"kind\":\"lcu\",\"title\":\"March 10, 2026—KB2000003",
            "\"kind\":\"lcu\",\"title\":\"KB2000003: Safe OS Dynamic Update, March 10, 2026—KB2000003",
        ),
        "$.updates[2].kind",
        "Safe OS Dynamic Update",
    );
    // A dangling supersedes link that the notes do not explain.
    one_problem(
        &edit(
            SMALL,
            "\"supersedes\":[\"KB2000001\"]",
            "\"supersedes\":[\"KB2000001\",\"KB2999999\"]",
        ),
        "$.updates[1].supersedes[1]",
        "neither in the catalog nor explained",
    );
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The test catalog's KB1000002 (7817) is the newest Safe OS DU with a revision below the image's.
fn current_winre() -> ImageFacts {
    facts(&winre("x64", 26100, 8400))
}

#[test]
fn stale_catalog_says_up_to_date_as_of_its_date() {
    let cat = test_catalog(); // version 2026.01.01
    let ev = evaluate(&cat, &[current_winre()]);
    let f = ev.finding(0, "KB1000010").unwrap();
    assert_eq!(f.verdict, Verdict::AlreadyCurrent);

    // 2026-01-12: the newest release day is 2025-12-09, before the catalog: fresh.
    let fresh = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-01-12")).unwrap();
    assert!(!fresh.stale);
    assert_eq!(f.verdict.words(Some(&fresh)), "already current");
    assert_eq!(
        fresh.notice,
        "Catalog of 2026-01-01 (11 days old): updates released after that date are unknown to it."
    );
    // 2026-01-13 is January's release day: the catalog cannot know that month's updates.
    let stale = CatalogAge::new(&cat, CatalogSource::built_in(), d("2026-01-13")).unwrap();
    assert!(stale.stale);
    assert_eq!(f.verdict.words(Some(&stale)), "up to date as of 2026-01-01");
    assert!(stale
        .notice
        .starts_with("Catalog of 2026-01-01 (12 days old): updates released after that date"));
    // Other verdicts keep their words.
    assert_eq!(Verdict::Applies.words(Some(&stale)), "applies");

    // The report carries date, source and age, and never says a bare "already current" then.
    let mut r = Report::new("2026-01-13T00:00:00Z", serde_json::json!({}));
    r.catalog = Some(stale.clone());
    r.evaluation = Some(ev.clone());
    let json: Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(json["catalog"]["date"], "2026-01-01");
    assert_eq!(json["catalog"]["source"]["kind"], "built-in");
    assert_eq!(json["catalog"]["age_days"], 12);
    assert_eq!(json["catalog"]["stale"], true);
    assert_eq!(Report::from_json(&r.to_json().unwrap()).unwrap(), r);
    for text in [r.to_markdown(), r.to_html()] {
        assert!(text.contains("up to date as of 2026-01-01"), "{text}");
        assert!(!text.contains("already current"), "{text}");
        assert!(text.contains("12 days old"), "{text}");
    }
    // A fresh catalog reads plainly.
    r.catalog = Some(fresh);
    for text in [r.to_markdown(), r.to_html()] {
        assert!(text.contains("already current"));
        assert!(!text.contains("up to date as of"));
        assert!(text.contains("11 days old"));
    }
}
