//! The x86-64 decoder of the AMD64 RIP-relative transform (issue #14) against objdump, the
//! independent decoder: over every executable section of real binaries — glibc (hand-written
//! SSE/AVX2/AVX-512 string functions: VEX and EVEX), and the largest 64-bit libwine PE DLLs
//! (MinGW-built Windows code with `.pdata`) — every instruction objdump decodes must have the
//! same length here, and a 32-bit relative operand here exactly when objdump shows one
//! (`(%rip)` memory operands; direct `call`/`jmp`/`jcc` with a 4-byte displacement).

mod common;

use common::{libwine_dll, run, skip_unless};
use mediaprep_core::delta;
use std::path::{Path, PathBuf};

/// One instruction as objdump lists it: its offset in the section's bytes, its bytes, its text.
struct Listed {
    at: usize,
    len: usize,
    text: String,
}

/// Disassemble `file` and return, per executable section, its bytes (rebuilt from the listing,
/// which with `-z` covers every byte) and its instructions.
fn objdump(file: &Path) -> Vec<(Vec<u8>, Vec<Listed>)> {
    let out = run(
        "objdump",
        &[
            "-d",
            "-z",
            "-w",
            "--insn-width=16",
            "-M",
            "att",
            &file.display().to_string(),
        ],
    );
    let mut sections: Vec<(Vec<u8>, Vec<Listed>)> = Vec::new();
    for line in out.lines() {
        if line.starts_with("Disassembly of section") {
            sections.push((Vec::new(), Vec::new()));
            continue;
        }
        let Some((bytes, list)) = sections.last_mut() else {
            continue;
        };
        // "  addr:\tbytes \tmnemonic operands"
        let mut parts = line.splitn(3, '\t');
        let (Some(addr), Some(hex)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !addr.trim_end().ends_with(':') || addr.trim().contains(' ') {
            continue;
        }
        let code: Vec<u8> = hex
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).expect("objdump prints hex bytes"))
            .collect();
        if code.is_empty() {
            continue;
        }
        list.push(Listed {
            at: bytes.len(),
            len: code.len(),
            text: parts.next().unwrap_or("").trim().to_string(),
        });
        bytes.extend_from_slice(&code);
    }
    sections
}

/// What objdump says of an instruction's relative operand: `Some("rip")` for a `(%rip)` memory
/// operand, `Some("call" | "jump" | "jcc")` for a direct near branch with a 4-byte displacement.
fn objdump_rel(code: &[u8], text: &str) -> Option<&'static str> {
    if text.contains("(%rip)") {
        return Some("rip");
    }
    let mnemonic = text.split_whitespace().find(|w| {
        !matches!(
            *w,
            "bnd" | "notrack" | "data16" | "rex" | "rex.W" | "cs" | "ds" | "es" | "ss"
        )
    })?;
    let direct = !text.contains(" *");
    let op = code.iter().position(|b| !is_prefix(*b))?;
    match (code.get(op), code.get(op + 1)) {
        (Some(0xe8), _) if direct && mnemonic.starts_with("call") => Some("call"),
        (Some(0xe9), _) if direct && mnemonic.starts_with("jmp") => Some("jump"),
        (Some(0x0f), Some(0x80..=0x8f)) if direct && mnemonic.starts_with('j') => Some("jcc"),
        _ => None,
    }
}

fn is_prefix(b: u8) -> bool {
    matches!(
        b,
        0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x40..=0x4f
    )
}

/// Counts of one binary's comparison.
#[derive(Default, Debug)]
struct Tally {
    instructions: usize,
    relative: usize,
    vex_evex: usize,
    bad: usize,
}

/// Compare every instruction objdump decodes in `file`; panics listing the first mismatches.
fn compare(file: &Path) -> Tally {
    let mut t = Tally::default();
    let mut mismatches = Vec::new();
    for (bytes, list) in objdump(file) {
        for l in &list {
            // `.byte`: bytes objdump could not make an instruction of (a section's cut-off tail).
            if l.text.starts_with("(bad)") || l.text.starts_with(".byte") || l.text.is_empty() {
                t.bad += 1;
                continue;
            }
            let code = &bytes[l.at..l.at + l.len];
            let ours = delta::x64_instruction(&bytes[l.at..]);
            let theirs = objdump_rel(code, &l.text);
            let ok = match ours {
                Some((len, rel)) => {
                    len == l.len
                        && rel.map(|r| r.1) == theirs
                        && rel.is_none_or(|(at, _)| at + 4 <= len)
                }
                None => false,
            };
            if !ok {
                mismatches.push(format!(
                    "{:x}: {:02x?} {} → ours {:?}, objdump len {} rel {:?}",
                    l.at, code, l.text, ours, l.len, theirs
                ));
            }
            t.instructions += 1;
            t.relative += usize::from(theirs.is_some());
            let op = code.iter().position(|b| !is_prefix(*b)).unwrap_or(0);
            t.vex_evex += usize::from(matches!(code.get(op), Some(0xc4 | 0xc5 | 0x62)));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}: {} of {} instructions differ from objdump, first:\n{}",
        file.display(),
        mismatches.len(),
        t.instructions,
        mismatches[..mismatches.len().min(40)].join("\n")
    );
    eprintln!("{}: {t:?}", file.display());
    t
}

#[test]
fn glibc_decodes_as_objdump_reads_it() {
    let libc = PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6");
    let Some(libc) = skip_unless(libc.is_file(), libc, "glibc (libc6)") else {
        return;
    };
    let t = compare(&libc);
    assert!(t.instructions > 100_000, "{t:?}");
    assert!(t.relative > 10_000, "{t:?}");
    assert!(t.vex_evex > 5_000, "glibc's AVX2/AVX-512 functions: {t:?}");
}

#[test]
fn windows_dlls_decode_as_objdump_reads_them() {
    for dll in ["shell32.dll", "mshtml.dll", "wined3d.dll", "ntdll.dll"] {
        let Some(p) = libwine_dll(dll) else {
            return;
        };
        let t = compare(&p);
        assert!(t.instructions > 10_000, "{dll}: {t:?}");
        assert!(t.relative > 1_000, "{dll}: {t:?}");
    }
}

/// Encodings compilers rarely emit, assembled by GNU `as` and read back by objdump: 16-bit
/// immediates, 64-bit absolute moves, `enter`, group-3 `test` immediates, 3DNow!, XOP, VEX and
/// EVEX with immediates, RIP-relative operands followed by immediates, x87, system opcodes.
#[test]
fn rare_encodings_decode_as_objdump_reads_them() {
    if std::process::Command::new("as")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_unless(false, PathBuf::from("as"), "GNU as (binutils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("rare.s");
    let obj = dir.path().join("rare.o");
    std::fs::write(&src, RARE).unwrap();
    run(
        "as",
        &[
            "--64",
            "-o",
            &obj.display().to_string(),
            &src.display().to_string(),
        ],
    );
    let t = compare(&obj);
    assert!(t.instructions >= 90, "{t:?}");
    assert!(t.relative >= 25, "{t:?}");
}

const RARE: &str = r#"
    .text
f:
    addw $0x1234, %ax
    addw $0x1234, (%rip)
    addl $0x12345678, sym(%rip)
    cmpb $1, sym(%rip)
    movw $0x1234, sym(%rip)
    movq $-1, sym(%rip)
    testb $1, sym(%rip)
    testw $0x1234, sym(%rip)
    testl $0x12345678, sym(%rip)
    testq $0x12345678, sym(%rip)
    notl sym(%rip)
    imulw $0x1234, sym(%rip), %ax
    imul $0x12345678, sym(%rip), %eax
    imul $5, sym(%rip), %eax
    shll $3, sym(%rip)
    btl $5, sym(%rip)
    shldl $3, %eax, sym(%rip)
    pushw $0x1234
    pushq $0x12345678
    pushq $5
    movabs 0x1122334455667788, %al
    movabs 0x1122334455667788, %rax
    movabs %rax, 0x1122334455667788
    addr32 movabs 0x11223344, %eax
    movabsq $0x1122334455667788, %r11
    movw $0x1234, %r8w
    enter $0x10, $1
    leave
    ret $8
    lretq $8
    int $0x29
    int3
    in $0x60, %al
    out %al, $0x80
    xabort $3
    xbegin f
    lock cmpxchg %ecx, sym(%rip)
    lock xaddq %rax, sym(%rip)
    rep movsb
    repne scasb
    cpuid
    rdtsc
    rdtscp
    syscall
    xgetbv
    swapgs
    lfence
    mfence
    sfence
    pause
    ud2
    prefetcht0 sym(%rip)
    prefetchw sym(%rip)
    femms
    pfadd sym(%rip), %mm0
    pf2id %mm1, %mm0
    fldt sym(%rip)
    fstpl 8(%rsp)
    fxch %st(2)
    fnstsw %ax
    cmovzq sym(%rip), %rax
    setnz sym(%rip)
    bswap %r9
    popcnt sym(%rip), %rax
    lzcnt %rax, %rcx
    tzcnt sym(%rip), %ecx
    crc32q sym(%rip), %rax
    crc32b %al, %eax
    movbe sym(%rip), %eax
    adcx %rax, %rbx
    andn %rax, %rbx, %rcx
    bextr %rax, sym(%rip), %rcx
    rorx $7, sym(%rip), %rax
    shlx %rax, %rbx, %rcx
    pshufd $0x1b, sym(%rip), %xmm1
    psrlq $4, %xmm2
    pextrw $3, %xmm1, %eax
    pinsrw $2, sym(%rip), %xmm0
    shufps $0x44, sym(%rip), %xmm3
    cmpps $2, sym(%rip), %xmm3
    palignr $4, sym(%rip), %xmm1
    pshufb sym(%rip), %xmm1
    roundsd $4, sym(%rip), %xmm2
    pclmulqdq $0x11, sym(%rip), %xmm3
    aesenc sym(%rip), %xmm4
    aeskeygenassist $1, %xmm1, %xmm2
    sha256rnds2 %xmm0, sym(%rip), %xmm1
    vmovdqu sym(%rip), %ymm0
    vpshufd $0x1b, sym(%rip), %ymm1
    vpsrlq $4, %ymm2, %ymm3
    vcmpps $2, sym(%rip), %ymm3, %ymm4
    vpblendd $0xf0, sym(%rip), %ymm1, %ymm2
    vperm2i128 $0x31, %ymm1, %ymm2, %ymm3
    vpgatherdd %ymm2, (%rax,%ymm1,4), %ymm0
    vfmadd231ps sym(%rip), %ymm1, %ymm2
    vzeroupper
    vzeroall
    vcvtps2ph $4, %ymm1, sym(%rip)
    vmovdqu64 sym(%rip), %zmm0
    vmovdqu64 0x40(%rsi), %zmm1
    vpternlogd $0x96, sym(%rip), %zmm1, %zmm2
    vpcmpub $4, sym(%rip), %zmm1, %k1
    vpshufd $0x1b, 0x80(%rax), %zmm3
    vpsrlq $4, %zmm2, %zmm3{%k1}{z}
    vaddph sym(%rip), %zmm1, %zmm2
    vcvtph2psx sym(%rip), %zmm1
    vpcmov %xmm1, sym(%rip), %xmm2, %xmm3
    vprotd $5, sym(%rip), %xmm1
    vfrczps sym(%rip), %xmm1
    bextr $0x1234, sym(%rip), %eax
    jrcxz h
    loop h
h:
    jmp f
    call g
    jmp g
    jz g
    jnz g
    call *sym(%rip)
    jmp *sym(%rip)
    bnd jmp g
    notrack jmp *%rax
    endbr64
    cs nopw 0x0(%rax,%rax,1)
    nopl 0x0(%rax,%rax,1)
    .skip 200, 0x90
g:
    ret
    .data
sym:
    .quad 0
"#;
