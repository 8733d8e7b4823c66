//! PE-typed deltas (file types I386 and AMD64): transforms of the reference image before the codec.

pub(crate) mod image;
pub(crate) mod preprocess;
pub(crate) mod reloc;
pub(crate) mod riftmap;
pub(crate) mod transform;

#[cfg(test)]
mod explore {
    use super::super::header;
    #[test]
    #[ignore]
    fn dump() {
        let root = "/work/shared/testdata/msdelta/pe";
        for f in [
            "cmd__to__cmd_patched__pe_amd64_genuine.pa30",
            "amd64_kbdwol/delta.pa30",
            "wow64_kbdmaori/delta.pa30",
            "x86_mscordbi/delta.pa30",
        ] {
            let d = std::fs::read(format!("{root}/{f}")).unwrap();
            let p = header::parse(&d).unwrap();
            let pp = super::preprocess::parse(p.preprocess, 0).unwrap();
            println!("{f}: {pp:x?}");
            let mut r = super::super::bits::BitReader::new(p.patch, 0, "x").unwrap();
            let rr = super::super::rift::read(&mut r).unwrap();
            println!("  patch rift {rr:x?}");
        }
    }
}

#[cfg(test)]
mod explore2 {
    #[test]
    #[ignore]
    fn raw_try() {
        let root = "/work/shared/testdata/msdelta/pe";
        for (f, b, t) in [
            (
                "cmd__to__cmd_patched__pe_amd64_genuine.pa30",
                "../raw/cmd.exe",
                "../raw/cmd_patched.exe",
            ),
            (
                "amd64_kbdwol/delta.pa30",
                "amd64_kbdwol/base.bin",
                "amd64_kbdwol/target.bin",
            ),
            (
                "wow64_kbdmaori/delta.pa30",
                "wow64_kbdmaori/base.bin",
                "wow64_kbdmaori/target.bin",
            ),
            (
                "x86_mscordbi/delta.pa30",
                "x86_mscordbi/base.bin",
                "x86_mscordbi/target.bin",
            ),
        ] {
            let d = std::fs::read(format!("{root}/{f}")).unwrap();
            let base = std::fs::read(format!("{root}/{b}")).unwrap();
            let tgt = std::fs::read(format!("{root}/{t}")).unwrap();
            let strict = super::super::apply(&base, &d, &Default::default());
            println!("{f}: strict {:?}", strict.as_ref().map(|o| o == &tgt));
            let lax = super::super::ApplyOptions {
                verify_hash: false,
                ..Default::default()
            };
            let _ = lax;
            let p = super::super::header::parse(&d).unwrap();
            let pp = super::preprocess::parse(p.preprocess, 0).unwrap();
            let prep = super::transform::prepare(&p.header, &base, &pp).unwrap();
            std::fs::write(
                format!("/tmp/pe/{}.tsrc", f.replace('/', "_")),
                &prep.reference,
            )
            .unwrap();
            println!("  rift {:x?}", prep.rift);
            match super::super::plzx::decode_with_rift(
                &prep.reference,
                p.patch,
                0,
                p.header.target_size as usize,
                Some(&prep.rift),
            ) {
                Ok(out) => {
                    let diffs: Vec<usize> = (0..out.len().min(tgt.len()))
                        .filter(|&i| out[i] != tgt[i])
                        .collect();
                    println!(
                        "  len {} vs {}, {} diffs, first {:x?}",
                        out.len(),
                        tgt.len(),
                        diffs.len(),
                        &diffs[..diffs.len().min(20)]
                    );
                    std::fs::write(format!("/tmp/pe/{}.out", f.replace('/', "_")), &out).unwrap();
                }
                Err(e) => println!("  {e}"),
            }
        }
    }
}
