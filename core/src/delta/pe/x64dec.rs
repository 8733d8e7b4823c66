//! x86-64 instruction lengths and 32-bit relative operands, for the AMD64 RIP-relative transform
//! of PE-typed deltas (flag 0x200), which walks the functions `.pdata` lists instruction by
//! instruction.
//!
//! Only what that walk needs is decoded: where an instruction ends, and whether it holds a
//! displacement relative to the next instruction (a `rel32` branch or a RIP-relative memory
//! operand) and where. No instruction-set crate fits: the disassemblers on crates.io decode far
//! more (operands, mnemonics) than this needs, and most pull in large tables; this file is small
//! enough to check by hand against the Intel SDM and is checked against objdump over whole
//! binaries (`core/tests/x64_decoder.rs`).
//!
//! Facts (Intel 64 and IA-32 Architectures Software Developer's Manual, vol. 2, chapter 2
//! "Instruction format", appendix A "Opcode map", and AMD's XOP encoding; docs/formats/pa30-pe.md):
//! legacy prefixes, then REX (0x40–0x4F, ignored when another prefix follows it), then the opcode
//! (one byte, `0F xx`, `0F 38 xx`, `0F 3A xx`, or VEX `C4`/`C5`, EVEX `62`, XOP `8F` with map ≥ 8,
//! each of which carries its own map), then ModRM, SIB, displacement and immediate. ModRM
//! `mod = 00, r/m = 101` without SIB is `[RIP + disp32]` in 64-bit mode. An instruction is at most
//! 15 bytes.

/// What an instruction's 32-bit relative operand is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelKind {
    /// `E8 rel32`.
    Call,
    /// `E9 rel32`.
    Jump,
    /// `0F 80`–`0F 8F rel32`.
    CondJump,
    /// A ModRM `[RIP + disp32]` memory operand.
    Memory,
}

/// One decoded instruction: its length and, when it has one, its 32-bit relative operand
/// (offset of the disp32 inside the instruction, and kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub len: usize,
    pub rel32: Option<(usize, RelKind)>,
}

const MAX_LEN: usize = 15;

/// How the operands after an opcode are laid out.
#[derive(Clone, Copy)]
enum Form {
    /// Not an instruction in 64-bit mode (or a prefix in the wrong place).
    Invalid,
    /// No ModRM, `imm` immediate bytes.
    Plain(Imm),
    /// ModRM (+ SIB + displacement), then `imm` immediate bytes.
    ModRm(Imm),
    /// A `rel32` branch.
    Rel32(RelKind),
}

/// Immediate sizes, some depending on the operand size.
#[derive(Clone, Copy)]
enum Imm {
    None,
    B1,
    B2,
    /// 2 bytes with a 0x66 prefix (and no REX.W), else 4 (Intel's "z").
    Z,
    /// `ENTER`: 2 + 1.
    B3,
    /// `MOV r, imm`: 8 with REX.W, 2 with 0x66, else 4 (Intel's "v").
    V,
    /// `MOV` to/from a 64-bit absolute address: 8 bytes, 4 with 0x67.
    Moffs,
    /// `TEST` in groups F6/F7: an immediate only for /0 and /1 (B1 for F6, Z for F7).
    Group3(bool),
    /// 4 bytes whatever the prefixes (XOP map 10).
    B4,
}

/// Operand-size and address-size state the immediate sizes depend on.
#[derive(Clone, Copy, Default)]
struct Prefixes {
    opsize: bool,
    addrsize: bool,
    rex_w: bool,
}

impl Imm {
    fn size(self, p: Prefixes, modrm_reg: u8) -> usize {
        let z = if p.opsize && !p.rex_w { 2 } else { 4 };
        match self {
            Imm::None => 0,
            Imm::B1 => 1,
            Imm::B2 => 2,
            Imm::B3 => 3,
            Imm::B4 => 4,
            Imm::Z => z,
            Imm::V if p.rex_w => 8,
            Imm::V => z,
            Imm::Moffs if p.addrsize => 4,
            Imm::Moffs => 8,
            Imm::Group3(wide) if modrm_reg < 2 => {
                if wide {
                    z
                } else {
                    1
                }
            }
            Imm::Group3(_) => 0,
        }
    }
}

/// The one-byte opcode map in 64-bit mode (prefixes, REX, VEX/EVEX/XOP escapes and `0F` are
/// handled before this is asked).
fn one_byte(op: u8) -> Form {
    use Form::*;
    use Imm::*;
    match op {
        // ALU r/m forms and AL/eAX immediates; 06/07/0E/16/17/1E/1F/27/2F/37/3F are invalid in
        // 64-bit mode.
        0x00..=0x3f => match op & 7 {
            0..=3 => ModRm(None),
            4 => Plain(B1),
            5 => Plain(Z),
            _ => Invalid,
        },
        0x50..=0x5f => Plain(None),
        0x63 => ModRm(None),
        0x68 => Plain(Z),
        0x69 => ModRm(Z),
        0x6a => Plain(B1),
        0x6b => ModRm(B1),
        0x6c..=0x6f => Plain(None),
        0x70..=0x7f => Plain(B1),
        0x80 | 0x83 => ModRm(B1),
        0x81 => ModRm(Z),
        0x84..=0x8f => ModRm(None),
        0x90..=0x99 | 0x9b..=0x9f => Plain(None),
        0xa0..=0xa3 => Plain(Moffs),
        0xa4..=0xa7 | 0xaa..=0xaf => Plain(None),
        0xa8 => Plain(B1),
        0xa9 => Plain(Z),
        0xb0..=0xb7 => Plain(B1),
        0xb8..=0xbf => Plain(V),
        0xc0 | 0xc1 => ModRm(B1),
        0xc2 => Plain(B2),
        0xc3 => Plain(None),
        0xc6 => ModRm(B1),
        0xc7 => ModRm(Z),
        0xc8 => Plain(B3),
        0xc9 | 0xcb | 0xcc | 0xcf => Plain(None),
        0xca => Plain(B2),
        0xcd => Plain(B1),
        0xd0..=0xd3 => ModRm(None),
        0xd7 => Plain(None),
        0xd8..=0xdf => ModRm(None),
        0xe0..=0xe7 => Plain(B1),
        0xe8 => Rel32(RelKind::Call),
        0xe9 => Rel32(RelKind::Jump),
        0xeb => Plain(B1),
        0xec..=0xef => Plain(None),
        0xf1 | 0xf4 | 0xf5 => Plain(None),
        0xf6 => ModRm(Group3(false)),
        0xf7 => ModRm(Group3(true)),
        0xf8..=0xfd => Plain(None),
        0xfe | 0xff => ModRm(None),
        // 0x40–0x4f REX, 0x26/2e/36/3e/64–67/f0/f2/f3 prefixes, 0x62 EVEX, 0xc4/c5 VEX, 0x0f:
        // handled by the caller; 0x60/61/82/9a/ce/d4/d5/d6/ea and the rest: invalid.
        _ => Invalid,
    }
}

/// The `0F xx` map.
fn two_byte(op: u8) -> Form {
    use Form::*;
    use Imm::*;
    match op {
        0x00..=0x03 | 0x0d => ModRm(None),
        0x05..=0x09 | 0x0b | 0x0e => Plain(None),
        // 3DNow!: ModRM, then the real opcode as a trailing byte.
        0x0f => ModRm(B1),
        0x10..=0x23 | 0x28..=0x2f => ModRm(None),
        0x30..=0x35 | 0x37 => Plain(None),
        0x40..=0x6f => ModRm(None),
        0x70..=0x73 => ModRm(B1),
        0x74..=0x76 | 0x78 | 0x79 | 0x7c..=0x7f => ModRm(None),
        0x77 => Plain(None),
        0x80..=0x8f => Rel32(RelKind::CondJump),
        0x90..=0x9f => ModRm(None),
        0xa0..=0xa2 | 0xa8..=0xaa => Plain(None),
        0xa3 | 0xa5 | 0xab | 0xad..=0xaf => ModRm(None),
        0xa4 | 0xac => ModRm(B1),
        0xb0..=0xb9 | 0xbb..=0xbf => ModRm(None),
        0xba => ModRm(B1),
        0xc0 | 0xc1 | 0xc3 | 0xc7 => ModRm(None),
        0xc2 | 0xc4..=0xc6 => ModRm(B1),
        0xc8..=0xcf => Plain(None),
        0xd0..=0xff => ModRm(None),
        _ => Invalid,
    }
}

/// Immediate of a VEX/EVEX instruction in map 1 (`0F`): the same opcodes as the legacy map
/// carry an imm8.
fn vex_map1_imm(op: u8) -> Imm {
    match op {
        0x70..=0x73 | 0xc2 | 0xc4..=0xc6 => Imm::B1,
        _ => Imm::None,
    }
}

/// Decode the instruction at the start of `code` in 64-bit mode; `None` when the bytes are no
/// valid instruction or it runs past `code`'s end.
pub(crate) fn decode(code: &[u8]) -> Option<Insn> {
    let mut p = Prefixes::default();
    let mut i = 0;
    let mut rex = 0u8;
    loop {
        let b = *code.get(i)?;
        match b {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0xf0 | 0xf2 | 0xf3 => rex = 0,
            0x66 => {
                p.opsize = true;
                rex = 0;
            }
            0x67 => {
                p.addrsize = true;
                rex = 0;
            }
            0x40..=0x4f => rex = b,
            _ => break,
        }
        i += 1;
        if i >= MAX_LEN {
            return None;
        }
    }
    p.rex_w = rex & 8 != 0;
    let op = code[i];
    i += 1;
    let form = match op {
        0x0f => {
            let op2 = *code.get(i)?;
            i += 1;
            match op2 {
                0x38 => {
                    i += 1; // the third opcode byte
                    Form::ModRm(Imm::None)
                }
                0x3a => {
                    i += 1;
                    Form::ModRm(Imm::B1)
                }
                _ => two_byte(op2),
            }
        }
        0xc5 => {
            // Two-byte VEX: one payload byte, map 1.
            i += 1;
            vex_form(*code.get(i)?, 1, &mut i)?
        }
        0xc4 => {
            let map = *code.get(i)? & 0x1f;
            p.rex_w = *code.get(i + 1)? & 0x80 != 0;
            i += 2;
            vex_form(*code.get(i)?, map, &mut i)?
        }
        0x62 => {
            // EVEX: three payload bytes; the map is in the low bits of the first (1–3, and 5/6
            // for the FP16 maps, which carry no immediate).
            let map = *code.get(i)? & 0x07;
            i += 3;
            vex_form(*code.get(i)?, map, &mut i)?
        }
        0x8f if *code.get(i)? & 0x1f >= 8 => {
            // XOP: like the three-byte VEX; map 8 carries an imm8, map 10 an imm32.
            let map = code[i] & 0x1f;
            i += 2;
            code.get(i)?; // the opcode byte
            i += 1;
            match map {
                8 => Form::ModRm(Imm::B1),
                9 => Form::ModRm(Imm::None),
                10 => Form::ModRm(Imm::B4),
                _ => return None,
            }
        }
        _ => one_byte(op),
    };
    let insn = match form {
        Form::Invalid => return None,
        Form::Plain(imm) => Insn {
            len: i + imm.size(p, 0),
            rel32: None,
        },
        Form::Rel32(kind) => {
            if p.opsize {
                // 0x66 on a near branch: Intel ignores it in 64-bit mode, AMD takes a rel16.
                // Vendors disagree on the length, so the walk stops here.
                return None;
            }
            Insn {
                len: i + 4,
                rel32: Some((i, kind)),
            }
        }
        Form::ModRm(imm) => {
            let modrm = *code.get(i)?;
            i += 1;
            let (md, reg, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
            let mut rel32 = None;
            if md != 3 {
                if rm == 4 {
                    let sib = *code.get(i)?;
                    i += 1;
                    if md == 0 && sib & 7 == 5 {
                        i += 4;
                    }
                } else if md == 0 && rm == 5 {
                    rel32 = Some((i, RelKind::Memory));
                    i += 4;
                }
                match md {
                    1 => i += 1,
                    2 => i += 4,
                    _ => {}
                }
            }
            Insn {
                len: i + imm.size(p, reg),
                rel32,
            }
        }
    };
    (insn.len <= code.len() && insn.len <= MAX_LEN).then_some(insn)
}

/// The form of a VEX/EVEX instruction whose opcode byte `op` sits at `*i` in opcode map `map`;
/// advances `*i` past the opcode.
fn vex_form(op: u8, map: u8, i: &mut usize) -> Option<Form> {
    *i += 1;
    Some(match map {
        // VZEROUPPER / VZEROALL have no ModRM.
        1 if op == 0x77 => Form::Plain(Imm::None),
        1 => Form::ModRm(vex_map1_imm(op)),
        2 | 5 | 6 => Form::ModRm(Imm::None),
        3 => Form::ModRm(Imm::B1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(code: &[u8]) -> Option<usize> {
        decode(code).map(|d| d.len)
    }

    #[test]
    fn lengths_of_hand_checked_encodings() {
        // push rbp; mov rbp,rsp; sub rsp,0x20; ret
        assert_eq!(len(&[0x55]), Some(1));
        assert_eq!(len(&[0x48, 0x89, 0xe5]), Some(3));
        assert_eq!(len(&[0x48, 0x83, 0xec, 0x20]), Some(4));
        assert_eq!(len(&[0xc3]), Some(1));
        // mov rax, imm64; mov ax, imm16; mov eax, imm32
        assert_eq!(len(&[0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8]), Some(10));
        assert_eq!(len(&[0x66, 0xb8, 1, 2]), Some(4));
        assert_eq!(len(&[0xb8, 1, 2, 3, 4]), Some(5));
        // mov qword [rsp+8], rcx (SIB + disp8)
        assert_eq!(len(&[0x48, 0x89, 0x4c, 0x24, 0x08]), Some(5));
        // test byte [rax], 1 / not dword [rax] (group 3 immediates only for /0, /1)
        assert_eq!(len(&[0xf6, 0x00, 0x01]), Some(3));
        assert_eq!(len(&[0xf7, 0x10]), Some(2));
        // vmovdqu ymm0, [rcx] (VEX C5); vpshufb ymm0, ymm1, [rdx] (VEX C4 map 2)
        assert_eq!(len(&[0xc5, 0xfe, 0x6f, 0x01]), Some(4));
        assert_eq!(len(&[0xc4, 0xe2, 0x75, 0x00, 0x02]), Some(5));
        // vpalignr ymm0, ymm1, ymm2, 4 (VEX map 3 + imm8); vzeroupper
        assert_eq!(len(&[0xc4, 0xe3, 0x75, 0x0f, 0xc2, 0x04]), Some(6));
        assert_eq!(len(&[0xc5, 0xf8, 0x77]), Some(3));
        // vmovdqu64 zmm0, [rsi+0x40] (EVEX, compressed disp8)
        assert_eq!(len(&[0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x46, 0x01]), Some(7));
        // movabs eax, [moffs64]; with 0x67, moffs32
        assert_eq!(len(&[0xa1, 0, 0, 0, 0, 0, 0, 0, 0]), Some(9));
        assert_eq!(len(&[0x67, 0xa1, 0, 0, 0, 0]), Some(6));
        // enter 0x10, 0
        assert_eq!(len(&[0xc8, 0x10, 0, 0]), Some(4));
    }

    #[test]
    fn relative_operands_and_their_offsets() {
        let call = decode(&[0xe8, 1, 0, 0, 0]).unwrap();
        assert_eq!(call.rel32, Some((1, RelKind::Call)));
        let jcc = decode(&[0x0f, 0x84, 1, 0, 0, 0]).unwrap();
        assert_eq!((jcc.len, jcc.rel32), (6, Some((2, RelKind::CondJump))));
        // lea rax, [rip+0x10]
        let lea = decode(&[0x48, 0x8d, 0x05, 0x10, 0, 0, 0]).unwrap();
        assert_eq!((lea.len, lea.rel32), (7, Some((3, RelKind::Memory))));
        // cmp byte [rip+0x10], 0: the immediate follows the displacement.
        let cmp = decode(&[0x80, 0x3d, 0x10, 0, 0, 0, 0]).unwrap();
        assert_eq!((cmp.len, cmp.rel32), (7, Some((2, RelKind::Memory))));
        // mov dword [rip+0x10], imm32
        let mov = decode(&[0xc7, 0x05, 0x10, 0, 0, 0, 1, 2, 3, 4]).unwrap();
        assert_eq!((mov.len, mov.rel32), (10, Some((2, RelKind::Memory))));
        // [disp32] through a SIB with no base is absolute, not RIP-relative.
        let abs = decode(&[0x8b, 0x04, 0x25, 0, 0, 0, 0]).unwrap();
        assert_eq!((abs.len, abs.rel32), (7, None));
        // vmovaps xmm0, [rip+0x10] (VEX)
        let v = decode(&[0xc5, 0xf8, 0x28, 0x05, 0x10, 0, 0, 0]).unwrap();
        assert_eq!((v.len, v.rel32), (8, Some((4, RelKind::Memory))));
        // jmp rel8 and call [rip+x] (indirect through memory: a Memory operand, not a Call)
        assert_eq!(decode(&[0xeb, 0x10]).unwrap().rel32, None);
        let ind = decode(&[0xff, 0x15, 0, 0, 0, 0]).unwrap();
        assert_eq!(ind.rel32, Some((2, RelKind::Memory)));
    }

    #[test]
    fn truncated_invalid_and_overlong_are_none() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xe8, 1, 0, 0]), None);
        assert_eq!(decode(&[0x48, 0x8d, 0x05, 0x10]), None);
        assert_eq!(decode(&[0x06]), None);
        assert_eq!(decode(&[0x0f, 0x04]), None);
        assert_eq!(decode(&[0x66; 20]), None);
        assert_eq!(decode(&[0x66, 0xe8, 0, 0]), None);
        // 15 prefixes then an opcode: too long.
        let mut long = vec![0x2e; 14];
        long.extend_from_slice(&[0x90]);
        assert_eq!(
            decode(&long),
            Some(Insn {
                len: 15,
                rel32: None
            })
        );
        long.insert(0, 0x2e);
        assert_eq!(decode(&long), None);
    }
}
