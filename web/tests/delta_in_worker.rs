//! The delta engine inside a real dedicated worker (headless Chromium): genuine vectors from
//! `../shared/testdata/msdelta` (embedded into the test binary at build time, never into the
//! repository) are read through the worker's `File` reader and applied; outputs are checked against
//! the MD5s of SOURCES.md (measured against msdelta.dll) and the target file.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[cfg(msdelta_vectors)]
mod with_vectors {
    use super::*;
    use md5::Digest;
    use mediaprep_core::delta::{self, dcm, ApplyOptions};
    use mediaprep_core::io::ReadAt;
    use mediaprep_web::source::JsFileSource;

    macro_rules! vector {
        ($p:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/testdata/msdelta/",
                $p
            ))
        };
    }

    /// Round-trip bytes through a `File` and the worker's reader, as a user's file would arrive.
    fn through_file(data: &[u8], name: &str) -> Vec<u8> {
        let arr = js_sys::Array::new();
        arr.push(&js_sys::Uint8Array::from(data));
        let f = web_sys::File::new_with_u8_array_sequence(&arr, name).unwrap();
        let src = JsFileSource::new(f).unwrap();
        let mut buf = vec![0u8; src.size() as usize];
        src.read_at(0, &mut buf).unwrap();
        buf
    }

    fn md5_hex(b: &[u8]) -> String {
        md5::Md5::digest(b)
            .iter()
            .map(|x| format!("{x:02X}"))
            .collect()
    }

    #[wasm_bindgen_test]
    fn largest_dcm_manifest_decodes_in_worker() {
        let base = through_file(vector!("dcm/base_manifest.bin"), "base_manifest.bin");
        let m = through_file(
            vector!("dcm/wow64_microsoft-windows-o..euapcommonproxystub_31bf3856ad364e35_10.0.26100.7309_none_38de5e2364a9fd20.manifest"),
            "proxystub.manifest",
        );
        let out = dcm::decode(&base, &m, &ApplyOptions::default()).unwrap();
        assert_eq!(out.len(), 3_263_571);
        assert_eq!(md5_hex(&out), "672F3A6D63609E3830089EB7763C31B7");
    }

    #[wasm_bindgen_test]
    fn raw_delta_applies_in_worker() {
        let cmd = through_file(vector!("raw/cmd.exe"), "cmd.exe");
        let d = through_file(vector!("raw/cmd__to__where__raw.pa30"), "where.pa30");
        let out = delta::apply(&cmd, &d, &ApplyOptions::default()).unwrap();
        assert!(out == vector!("raw/where.exe").as_slice());
        assert_eq!(md5_hex(&out), "8066FE09B1F19BA7752896C2FD68B04C");
    }

    /// Throughput in the worker (printed, never asserted): delta apply beside our LZX decoder on the
    /// same output bytes, as `core/examples/delta_bench.rs` does natively.
    #[wasm_bindgen_test]
    fn delta_apply_throughput_in_worker() {
        use mediaprep_core::codec::{Compression, Decoder, Encoder};
        let base = vector!("dcm/base_manifest.bin");
        let m = vector!("dcm/wow64_microsoft-windows-o..euapcommonproxystub_31bf3856ad364e35_10.0.26100.7309_none_38de5e2364a9fd20.manifest");
        let opts = ApplyOptions::default();
        let out = dcm::decode(base, m, &opts).unwrap();
        let runs = 10;
        let t = js_sys::Date::now();
        for _ in 0..runs {
            std::hint::black_box(dcm::decode(base, m, &opts).unwrap());
        }
        let delta_mbps = (out.len() * runs) as f64 / ((js_sys::Date::now() - t) / 1000.0) / 1e6;
        let mut enc = Encoder::new(Compression::Lzx);
        let chunks: Vec<(Vec<u8>, usize, bool)> = out
            .chunks(32 * 1024)
            .map(|c| {
                let mut z = Vec::new();
                let ok = enc.compress(c, &mut z);
                (if ok { z } else { c.to_vec() }, c.len(), ok)
            })
            .collect();
        let mut dec = Decoder::new(Compression::Lzx);
        let mut buf = vec![0u8; 32 * 1024];
        let t = js_sys::Date::now();
        for _ in 0..runs {
            for (c, n, ok) in &chunks {
                if *ok {
                    dec.decompress(c, &mut buf[..*n]).unwrap();
                } else {
                    buf[..*n].copy_from_slice(c);
                }
            }
        }
        let lzx_mbps = (out.len() * runs) as f64 / ((js_sys::Date::now() - t) / 1000.0) / 1e6;
        console_log!(
            "wasm: DCM proxystub manifest apply {delta_mbps:.1} MB/s, our LZX decode {lzx_mbps:.1} MB/s (same bytes)"
        );
    }

    /// (name, reference, delta, target).
    type Case = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

    /// PE-typed deltas (issue 14): the reference is transformed before the codec runs; each output
    /// equals the genuine target (and the SHA-256 in its header, where it has one).
    #[wasm_bindgen_test]
    fn pe_deltas_apply_in_worker() {
        let cases: [Case; 4] = [
            (
                "cmd amd64",
                vector!("raw/cmd.exe"),
                vector!("pe/cmd__to__cmd_patched__pe_amd64_genuine.pa30"),
                vector!("raw/cmd_patched.exe"),
            ),
            (
                "amd64_kbdwol",
                vector!("pe/amd64_kbdwol/base.bin"),
                vector!("pe/amd64_kbdwol/delta.pa30"),
                vector!("pe/amd64_kbdwol/target.bin"),
            ),
            (
                "wow64_kbdmaori",
                vector!("pe/wow64_kbdmaori/base.bin"),
                vector!("pe/wow64_kbdmaori/delta.pa30"),
                vector!("pe/wow64_kbdmaori/target.bin"),
            ),
            (
                "x86_mscordbi",
                vector!("pe/x86_mscordbi/base.bin"),
                vector!("pe/x86_mscordbi/delta.pa30"),
                vector!("pe/x86_mscordbi/target.bin"),
            ),
        ];
        for (name, reference, d, target) in cases {
            let reference = through_file(reference, "base.bin");
            let d = through_file(d, "delta.pa30");
            let out = delta::apply(&reference, &d, &ApplyOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out == target, "{name}: output differs from the target");
        }
    }

    /// In the worker too: a rebased reference is rebased back by the genuine delta (decision 36;
    /// the rebase itself is checked against pefile natively), and our own PE-typed delta of the
    /// same pair (`create_pe`, decision 37) gives the target.
    #[wasm_bindgen_test]
    fn rebase_and_our_pe_deltas_in_worker() {
        use mediaprep_core::delta::encode::{create_pe, CreateOptions};
        let reference = through_file(vector!("pe/x86_mscordbi/base.bin"), "base.bin");
        let d = vector!("pe/x86_mscordbi/delta.pa30");
        let target = vector!("pe/x86_mscordbi/target.bin");
        // ImageBase of this PE32 at e_lfanew + 24 + 28.
        let pe = u32::from_le_bytes(reference[0x3c..0x40].try_into().unwrap()) as usize;
        let at = pe + 24 + 28;
        let base = u32::from_le_bytes(reference[at..at + 4].try_into().unwrap());
        let new_base = u64::from(base) + 0x1340_0000;
        let mut moved = delta::pe_address_transforms_rebased(
            2,
            0x20,
            &reference,
            &[],
            delta::RipVariant::V1,
            new_base,
        )
        .unwrap();
        moved[at..at + 4].copy_from_slice(&(new_base as u32).to_le_bytes());
        assert!(moved != reference);
        let a = delta::apply_detailed(&moved, d, &ApplyOptions::default()).unwrap();
        assert!(a.target == target, "rebased reference: output differs");
        assert_eq!(a.pe.unwrap().rebased, Some((new_base, u64::from(base))));
        let ours = create_pe(&reference, target, &CreateOptions::default()).unwrap();
        let out = delta::apply(&reference, &ours, &ApplyOptions::default()).unwrap();
        assert!(out == target, "our PE-typed delta: output differs");
    }
}

#[cfg(not(msdelta_vectors))]
#[wasm_bindgen_test]
fn msdelta_vectors_missing() {
    assert!(
        option_env!("CI").is_none(),
        "shared/testdata/msdelta is required in CI"
    );
    web_sys::console::log_1(&"skipped: shared/testdata/msdelta not found".into());
}
