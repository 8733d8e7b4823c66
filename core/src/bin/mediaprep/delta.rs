//! `mediaprep delta info|apply|create`: Microsoft PA30/PA31 deltas (RAW and PE-typed) read, applied
//! and written with the core's engine. A DCM manifest given to `info` or `apply` is read as the
//! PA30 delta after its `DCM\x01` signature.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mediaprep_core::delta::encode::{self, CreateOptions};
use mediaprep_core::delta::{self, dcm, ApplyOptions, DeltaHeader, DeltaVersion};
use mediaprep_core::{Error, Result};

/// Largest delta, reference or target file read into memory (the decoder's target cap is 1 GiB).
const MAX_FILE: u64 = 1 << 30;

/// `mediaprep delta` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeltaCmd {
    /// Header fields of a PA30/PA31 delta (or a DCM manifest).
    Info {
        /// The delta.
        delta: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Apply a delta; the output is written only once it is complete and its hash (when the
    /// header has one) matched.
    Apply {
        /// The delta.
        delta: PathBuf,
        /// The reference (source) file; none = an empty reference, as for `n\` deltas.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Create a PA30 delta (file type RAW, or I386/AMD64 with --pe) that turns REFERENCE into
    /// TARGET.
    Create {
        /// The reference (source) file.
        reference: PathBuf,
        /// The target file.
        target: PathBuf,
        /// Target hash in the header: sha256 (default), sha1, md5 or none.
        #[arg(long, default_value = "sha256")]
        hash: String,
        /// Write a DCM manifest (`DCM\x01`, flags 0x20000, no hash) instead of a bare delta.
        #[arg(long, conflicts_with = "pe")]
        dcm: bool,
        /// Write a PE-typed delta (file type I386 or AMD64 from the images' machine, the flags
        /// Microsoft's servicing deltas carry, an RVA map pairing the sections); needs a hash.
        #[arg(long)]
        pe: bool,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Arguments of `mediaprep delta`.
#[derive(Debug, Args)]
pub struct DeltaArgs {
    #[command(subcommand)]
    cmd: DeltaCmd,
}

/// Read a whole file, naming it in errors and refusing files above `limit`.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path.display().to_string(), e))?
        .len();
    if len > limit {
        return Err(Error::limit(
            len,
            limit,
            format!("{}: {len} bytes; the limit is {limit}", path.display()),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path.display().to_string(), e))
}

/// Put the file's name in front of an engine error.
pub fn in_file(path: &Path, e: Error) -> Error {
    Error::invalid("command line", format!("{}: {e}", path.display()))
}

/// The delta proper: a DCM manifest's bytes after its signature, otherwise the file itself.
fn strip_dcm(bytes: &[u8]) -> (&[u8], bool) {
    if dcm::is_dcm(bytes) {
        (&bytes[4..], true)
    } else {
        (bytes, false)
    }
}

/// Run a `delta` subcommand.
pub fn run(a: DeltaArgs) -> Result<()> {
    match a.cmd {
        DeltaCmd::Info { delta: p, json } => info(&p, json),
        DeltaCmd::Apply {
            delta: p,
            reference,
            output,
        } => {
            let bytes = read_file(&p, MAX_FILE)?;
            let reference = match &reference {
                Some(r) => read_file(r, MAX_FILE)?,
                None => Vec::new(),
            };
            let (d, _) = strip_dcm(&bytes);
            let applied = delta::apply_detailed(&reference, d, &ApplyOptions::default())
                .map_err(|e| in_file(&p, e))?;
            let out = applied.target;
            let n = super::write_atomically(&output, |f| {
                f.write_all(&out)?;
                Ok(out.len() as u64)
            })?;
            if let Some(v) = applied.e8_variant {
                eprintln!(
                    "x86 E8 filter read as {} ({}): the target hash matched",
                    v.short_name(),
                    v.description()
                );
            }
            eprintln!("wrote {} ({n} bytes)", output.display());
            if let Some(v) = applied.rip_variant {
                eprintln!(
                    "x64 RIP-relative disassembly: reading {} ({}), confirmed by the target hash",
                    v.name(),
                    v.describe()
                );
            }
            if let Some(pe) = applied.pe {
                if let Some(v) = pe.lock_variant {
                    eprintln!(
                        "x86 lock prefixes (0x40): reading {} ({}), confirmed by the target hash",
                        v.name(),
                        v.describe()
                    );
                }
                if let Some(v) = pe.resource_variant {
                    eprintln!(
                        "resource data entries: {} rule, confirmed by the target hash",
                        v.name()
                    );
                }
                if let Some(v) = pe.pdata_variant {
                    eprintln!(
                        "x64 .pdata unwind information: {} reading, confirmed by the target hash",
                        v.name()
                    );
                }
                if let Some((from, to)) = pe.rebased {
                    eprintln!(
                        "image rebased {from:#x} → {to:#x} through its relocations, confirmed by \
                         the target hash"
                    );
                }
                if pe.decodes > 1 {
                    eprintln!("{} readings decoded", pe.decodes);
                }
            }
            Ok(())
        }
        DeltaCmd::Create {
            reference,
            target,
            hash,
            dcm: as_dcm,
            pe: as_pe,
            output,
        } => {
            let r = read_file(&reference, MAX_FILE)?;
            let t = read_file(&target, MAX_FILE)?;
            let d = if as_dcm {
                encode::create_dcm(&r, &t)?
            } else {
                let hash_alg_id = match hash.to_ascii_lowercase().as_str() {
                    "sha256" | "sha-256" => delta::CALG_SHA_256,
                    "sha1" | "sha-1" => delta::CALG_SHA1,
                    "md5" => delta::CALG_MD5,
                    "none" => 0,
                    other => {
                        return Err(Error::invalid(
                            "command line",
                            format!("--hash {other}: expected sha256, sha1, md5 or none"),
                        ))
                    }
                };
                let opts = CreateOptions {
                    hash_alg_id,
                    target_file_time: file_time_of(&target),
                    ..CreateOptions::default()
                };
                if as_pe {
                    encode::create_pe(&r, &t, &opts)?
                } else {
                    encode::create(&r, &t, &opts)?
                }
            };
            // Never write a delta that does not give the target back.
            let (check, _) = strip_dcm(&d);
            if delta::apply(&r, check, &ApplyOptions::default())? != t {
                return Err(Error::invalid("command line", 
                    "the created delta does not reproduce the target (encoder bug); nothing written",
                ));
            }
            let n = super::write_atomically(&output, |f| {
                f.write_all(&d)?;
                Ok(d.len() as u64)
            })?;
            eprintln!(
                "wrote {} ({n} bytes for a {}-byte target)",
                output.display(),
                t.len()
            );
            Ok(())
        }
    }
}

/// The target's modification time as a FILETIME (0 when unknown).
fn file_time_of(p: &Path) -> u64 {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| FILETIME_UNIX_EPOCH + d.as_secs() * 10_000_000 + u64::from(d.subsec_nanos() / 100))
        .unwrap_or(0)
}

const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

fn info(p: &Path, json: bool) -> Result<()> {
    let bytes = read_file(p, MAX_FILE)?;
    let (d, is_dcm) = strip_dcm(&bytes);
    let h = delta::parse_header(d).map_err(|e| in_file(p, e))?;
    let codec = delta::patch_codec(d).map_err(|e| in_file(p, e))?;
    // A file type we cannot transform still shows its header; its preprocess buffer is skipped.
    let pe = delta::pe_preprocess_info(d).ok().flatten();
    if json {
        let v = serde_json::json!({
            "file": p.display().to_string(),
            "dcm": is_dcm,
            "signature": signature(&h),
            "crc32_prefix": h.crc32.map(|c| format!("{c:08x}")),
            "crc32_checked": h.crc32.is_some(),
            "target_file_time": h.target_file_time,
            "target_time_utc": filetime_utc(h.target_file_time),
            "file_type_set": h.file_type_set,
            "file_type": h.file_type,
            "file_type_name": delta::file_type_name(h.file_type),
            "flags": format!("{:#x}", h.flags),
            "flag_names": delta::flag_names(h.flags),
            "transforms": delta::transform_names(h.file_type, h.flags),
            "codec": codec,
            "target_size": h.target_size,
            "hash_alg_id": h.hash_alg_id,
            "hash_alg": hash_name(h.hash_alg_id),
            "target_hash": mediaprep_core::hash::hex(&h.target_hash),
            "pe_preprocess": pe.as_ref().map(|x| serde_json::json!({
                "image_base": format!("{:#x}", x.image_base),
                "checksum": x.checksum,
                "timestamp": x.timestamp,
                "layout": x.layout,
                "rva_map": x.rva_map,
            })),
            "pa31": h.pa31.as_ref().map(|x| serde_json::json!({
                "header_info_size": x.header_info_size,
                "is_pa31": x.is_pa31,
                "delta_client_min_version": x.delta_client_min_version,
                "additional_hash": mediaprep_core::hash::hex(&x.additional_hash),
            })),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::io("writing JSON", e.into()))?
        );
        return Ok(());
    }
    println!(
        "{}: {}{}",
        p.display(),
        signature(&h),
        if is_dcm { " (DCM manifest)" } else { "" }
    );
    match h.crc32 {
        Some(c) => println!("  crc32 prefix  {c:08x} (checked)"),
        None => println!("  crc32 prefix  none"),
    }
    println!(
        "  target time   {} ({})",
        h.target_file_time,
        filetime_utc(h.target_file_time)
    );
    println!("  file types    {:#x}", h.file_type_set);
    println!(
        "  file type     {} ({})",
        h.file_type,
        delta::file_type_name(h.file_type)
    );
    let names = delta::flag_names(h.flags);
    if names.is_empty() {
        println!("  flags         {:#x}", h.flags);
    } else {
        println!("  flags         {:#x} ({})", h.flags, names.join(" | "));
    }
    println!("  codec         {codec}");
    let transforms = delta::transform_names(h.file_type, h.flags);
    if !transforms.is_empty() {
        println!("  transforms    {}", transforms.join(", "));
    }
    if let Some(x) = &pe {
        println!(
            "  pe target     image base {:#x}, timestamp {:#x}, checksum {:#x}, {} layout entries",
            x.image_base,
            x.timestamp,
            x.checksum,
            x.layout.len()
        );
        if x.rva_map.iter().all(|(r, t)| r == t) {
            println!(
                "  rva map       identity (no address moves: the address transforms do nothing)"
            );
        } else {
            let shown: Vec<String> = x
                .rva_map
                .iter()
                .take(8)
                .map(|(r, t)| format!("{r:#x}→{t:#x}"))
                .collect();
            println!(
                "  rva map       {} breakpoints (reference → target): {}{}",
                x.rva_map.len(),
                shown.join(", "),
                if x.rva_map.len() > 8 { ", …" } else { "" }
            );
        }
    }
    println!("  target size   {} bytes", h.target_size);
    if h.hash_alg_id == 0 && h.target_hash.is_empty() {
        println!("  hash          none");
    } else {
        println!(
            "  hash          {} ({:#x}) {}",
            hash_name(h.hash_alg_id),
            h.hash_alg_id,
            mediaprep_core::hash::hex(&h.target_hash)
        );
    }
    if let Some(x) = &h.pa31 {
        println!(
            "  pa31          header info size {:#x}, is_pa31 {}, min client version {}, additional hash {}",
            x.header_info_size,
            x.is_pa31,
            x.delta_client_min_version,
            mediaprep_core::hash::hex(&x.additional_hash)
        );
    }
    Ok(())
}

fn signature(h: &DeltaHeader) -> &'static str {
    match h.version {
        DeltaVersion::Pa30 => "PA30",
        DeltaVersion::Pa31 => "PA31",
    }
}

fn hash_name(alg: u32) -> &'static str {
    match alg {
        0 => "none",
        delta::CALG_MD5 => "MD5",
        delta::CALG_SHA1 => "SHA-1",
        delta::CALG_SHA_256 => "SHA-256",
        delta::CALG_SHA_384 => "SHA-384",
        delta::CALG_SHA_512 => "SHA-512",
        _ => "unknown",
    }
}

/// FILETIME as `YYYY-MM-DD HH:MM:SS UTC`.
fn filetime_utc(ft: u64) -> String {
    let secs = (i128::from(ft) - i128::from(FILETIME_UNIX_EPOCH)).div_euclid(10_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = mediaprep_core::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
