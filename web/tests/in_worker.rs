//! Worker glue tested inside a real dedicated worker in headless Chromium: the `File` reader
//! (`FileReaderSync` slices) and a job run through it, checked against digests computed by the
//! independent `sha2` implementation over the same bytes.
#![cfg(target_arch = "wasm32")]

use mediaprep_core::io::{NoProgress, ReadAt};
use mediaprep_web::protocol::Request;
use mediaprep_web::source::JsFileSource;
use sha2::Digest;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn make_file(data: &[u8]) -> web_sys::File {
    let arr = js_sys::Array::new();
    arr.push(&js_sys::Uint8Array::from(data));
    web_sys::File::new_with_u8_array_sequence(&arr, "sample.bin").unwrap()
}

fn sample(n: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[wasm_bindgen_test]
fn file_source_reads_any_range() {
    let data = sample(300_000);
    let src = JsFileSource::new(make_file(&data)).unwrap();
    assert_eq!(src.size(), data.len() as u64);
    for (off, len) in [
        (0usize, 1usize),
        (12_345, 70_000),
        (299_990, 10),
        (0, 300_000),
    ] {
        let mut buf = vec![0u8; len];
        src.read_at(off as u64, &mut buf).unwrap();
        assert_eq!(buf, data[off..off + len]);
    }
    let mut buf = [0u8; 11];
    assert!(
        src.read_at(299_990, &mut buf).is_err(),
        "read past the end must fail"
    );
}

#[wasm_bindgen_test]
fn hash_job_in_worker_matches_sha2() {
    let data = sample(3 << 20);
    let expect = mediaprep_core::hash::hex(&sha2::Sha256::digest(&data));
    let result = mediaprep_web::worker::run(
        Request::Hash { slice_mib: 1 },
        vec![make_file(&data)],
        &NoProgress,
    )
    .unwrap();
    let mediaprep_web::protocol::JobResult::Hashed(h) = result else {
        panic!("not a hash result: {result:?}");
    };
    assert_eq!(mediaprep_core::hash::hex(&h.sha256), expect);
    assert_eq!(h.size, data.len() as u64);
}

#[wasm_bindgen_test]
fn inspect_of_garbage_is_a_typed_error() {
    let err = mediaprep_web::worker::run(
        Request::Inspect {
            today: None,
            catalog: false,
            fallback: false,
        },
        vec![make_file(&[7u8; 5000])],
        &NoProgress,
    )
    .unwrap_err();
    assert!(!err.to_string().is_empty());
}

fn read_file(file: &web_sys::File) -> Vec<u8> {
    let ab = web_sys::FileReaderSync::new()
        .unwrap()
        .read_as_array_buffer(file)
        .unwrap();
    js_sys::Uint8Array::new(&ab).to_vec()
}

#[wasm_bindgen_test]
async fn opfs_sink_positioned_writes_then_cleanup() {
    use mediaprep_core::io::WriteAt;
    use mediaprep_web::save;
    use wasm_bindgen::JsCast;

    let dir = save::opfs_root().await.unwrap();
    save::check_quota(1 << 20).await.unwrap();
    assert!(
        save::check_quota(u64::MAX / 2).await.is_err(),
        "an impossible size must be refused before writing"
    );
    let name = "test-output.wim.partial";
    let fh = save::file_handle(&dir, name).await.unwrap();
    let data = sample(1 << 20);
    let mut sink = save::OpfsSink::open(&fh).await.unwrap();
    // Back to front, as the WIM writer patches its header last.
    for (i, chunk) in data.chunks(100_000).enumerate().rev() {
        sink.write_at((i * 100_000) as u64, chunk).unwrap();
    }
    let mut back = vec![0u8; 4096];
    sink.read_back(500_000, &mut back).unwrap();
    assert_eq!(back, data[500_000..504_096]);
    assert_eq!(sink.size().unwrap(), data.len() as u64);
    sink.close().unwrap();
    let file: web_sys::File = wasm_bindgen_futures::JsFuture::from(fh.get_file())
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(
        mediaprep_core::hash::hex(&sha2::Sha256::digest(read_file(&file))),
        mediaprep_core::hash::hex(&sha2::Sha256::digest(&data))
    );
    // A cancelled job leaves a .partial behind; the sweep removes it and nothing else.
    let keep = save::file_handle(&dir, "keep.bin").await.unwrap();
    assert_eq!(save::sweep_partials(&dir).await.unwrap(), 1);
    let gone = wasm_bindgen_futures::JsFuture::from(dir.get_file_handle(name)).await;
    assert!(gone.is_err(), "the partial output must be gone");
    let still = wasm_bindgen_futures::JsFuture::from(keep.get_file()).await;
    assert!(still.is_ok());
    save::remove(&dir, "keep.bin").await;
}

#[wasm_bindgen_test]
async fn copy_to_a_file_handle_is_streamed_and_exact() {
    use mediaprep_core::io::WriteAt;
    use mediaprep_web::save;
    use wasm_bindgen::JsCast;

    let dir = save::opfs_root().await.unwrap();
    let data = sample(3 << 20);
    let src_h = save::file_handle(&dir, "copy-src.bin").await.unwrap();
    let mut sink = save::OpfsSink::open(&src_h).await.unwrap();
    sink.write_at(0, &data).unwrap();
    sink.close().unwrap();
    let src: web_sys::Blob = wasm_bindgen_futures::JsFuture::from(src_h.get_file())
        .await
        .unwrap()
        .unchecked_into();
    // The same handle type showSaveFilePicker returns; here from OPFS.
    let dest = save::file_handle(&dir, "copy-dest.bin").await.unwrap();
    save::copy_to_handle(&src, &dest).await.unwrap();
    let file: web_sys::File = wasm_bindgen_futures::JsFuture::from(dest.get_file())
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(read_file(&file), data);
    assert!(!save::can_pick(), "no picker inside a worker");
    save::remove(&dir, "copy-src.bin").await;
    save::remove(&dir, "copy-dest.bin").await;
}

/// Names in the origin-private file system.
async fn opfs_names(dir: &web_sys::FileSystemDirectoryHandle) -> Vec<String> {
    let keys = dir.keys();
    let mut names = Vec::new();
    loop {
        let r = wasm_bindgen_futures::JsFuture::from(keys.next().unwrap())
            .await
            .unwrap();
        if js_sys::Reflect::get(&r, &"done".into()).unwrap().as_bool() == Some(true) {
            return names;
        }
        names.push(
            js_sys::Reflect::get(&r, &"value".into())
                .unwrap()
                .as_string()
                .unwrap(),
        );
    }
}

#[wasm_bindgen_test]
async fn opfs_store_commits_the_output_and_removes_the_rest() {
    use mediaprep_core::io::{OutputStore, Part, WriteAt};
    use mediaprep_web::save;
    use wasm_bindgen::JsCast;

    let data = sample(300_000);
    let mut store = save::OpfsStore::open("store-out.wim", &[Part::WinreStage(0), Part::Output])
        .await
        .unwrap();
    assert!(store.reserve(u64::MAX / 2).is_err(), "the quota is checked");
    store.reserve(1 << 20).unwrap();
    let dir = save::opfs_root().await.unwrap();
    let names = opfs_names(&dir).await;
    assert!(
        names.contains(&"store-out.wim.partial".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"store-out.wim.winre0.partial".to_string()),
        "{names:?}"
    );
    // The stage is written and read back, then discarded; the output committed.
    for part in [Part::WinreStage(0), Part::Output] {
        let mut sink = store.create(part).unwrap();
        for (i, chunk) in data.chunks(70_000).enumerate().rev() {
            sink.write_at((i * 70_000) as u64, chunk).unwrap();
        }
        let back = store.reopen(part, sink).unwrap();
        assert_eq!(back.size(), data.len() as u64);
        let mut buf = vec![0u8; 5000];
        back.read_at(123_456, &mut buf).unwrap();
        assert_eq!(buf, data[123_456..128_456]);
        assert!(back.read_at(data.len() as u64 - 10, &mut buf).is_err());
    }
    assert!(
        store.create(Part::Output).is_err(),
        "a part is written once"
    );
    store.discard(Part::WinreStage(0));
    store.commit(Part::Output).unwrap();
    let name = store.settle().await.unwrap();
    assert_eq!(name, "store-out.wim");
    let names = opfs_names(&dir).await;
    assert!(
        !names.iter().any(|n| n.starts_with("store-out.wim.")),
        "{names:?}"
    );
    let fh: web_sys::FileSystemFileHandle =
        wasm_bindgen_futures::JsFuture::from(dir.get_file_handle("store-out.wim"))
            .await
            .unwrap()
            .unchecked_into();
    let file: web_sys::File = wasm_bindgen_futures::JsFuture::from(fh.get_file())
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(read_file(&file), data);
    save::remove(&dir, "store-out.wim").await;

    // Nothing committed (a failed job): everything goes.
    let mut store = save::OpfsStore::open("store-fail.wim", &[Part::Output])
        .await
        .unwrap();
    let mut sink = store.create(Part::Output).unwrap();
    sink.write_at(0, &data[..1000]).unwrap();
    drop(sink);
    assert_eq!(store.settle().await, None);
    assert!(!opfs_names(&dir)
        .await
        .iter()
        .any(|n| n.starts_with("store-fail.wim")));
}
