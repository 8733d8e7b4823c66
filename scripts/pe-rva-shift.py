#!/usr/bin/env python3
"""Independent checks of the PE-typed delta address transforms (issue #14), with Python pefile
and objdump as the parsers.

  pe-rva-shift.py shift TARGET REFERENCE AT BY
      Write REFERENCE: TARGET with every RVA >= AT moved up by BY (section table, SizeOfImage,
      entry point, data directories, import descriptors and thunks, export directory and tables,
      resource data entries, .pdata entries, base relocation pages and the addresses stored at
      each fixup). File offsets do not change. Fields are located by pefile, not by mediaprep.
      The RVA map of the pair (reference RVA -> target RVA) is then {AT+BY -> AT}.

  pe-rva-shift.py insert TARGET REFERENCE AT BY
      As shift, but AT may lie inside a section: BY zero bytes are inserted at AT (in RVAs and
      in the file), the section holding AT grows by BY, and the resource tree's own relative
      offsets (subdirectories, names) that point at or past AT move too. Used for a map
      breakpoint inside `.rsrc`.

  pe-rva-shift.py compare TARGET REFERENCE TRANSFORMED AT BY [RULE]
      TRANSFORMED is REFERENCE after mediaprep's address transforms with that map. The target's
      headers are spliced over it (the transforms leave headers to the patch) and pefile reads
      both: every table entry the transforms cover must hold the target's value. A resource
      data entry's OffsetToData is checked by RULE: "tree" (default; jlevere's description:
      relative to the tree's start) or "rva" (the PE/COFF specification: an RVA, so the
      target's value). Prints JSON {table: {"checked": n, "mismatches": [...]}}.

  pe-rva-shift.py rebase IN OUT NEWBASE
      Write OUT: IN rebased by pefile (relocate_image: every base relocation applied with the
      new base; the relocated bytes, ImageBase set). An independent rebaser for the relocation
      transform's rebase.

  pe-rva-shift.py x86pair DIR
      Write DIR/target.exe and DIR/reference.exe, a synthetic I386 pair: `.text` holds E8 calls,
      E9 and 0F 8x near jumps into a second code section `.text2`, which sits 0x1000 higher in
      the reference, plus one near jump that the transform collapses to the short form, and a
      non-executable `.data` holding E8/E9 bytes that must not change. DIR/sites.json lists the
      branch sites (target RVAs). Map {0x3000 -> 0x2000}.

  pe-rva-shift.py x64pair TARGET DIR
      Write DIR/reference.dll from a PE32+ x86-64 TARGET: 0x3000 zero bytes inserted (as insert)
      at the start of the middle `.pdata` function of the code section, and, in the code,
      every rel32 branch (E8, E9, 0F 8x) and RIP-relative operand that objdump -d finds given
      the displacement that reaches the moved target from the moved site. DIR/sites.json lists
      each site (file offsets of its 4 displacement bytes in TARGET and REFERENCE), those found
      outside every `.pdata` function separately, the code section's place in both files, the
      pair's map {AT+0x3000 -> AT}, and "consistent": objdump -d of REFERENCE read back at every
      site (each must reach the moved destination).

  pe-rva-shift.py branches TARGET TRANSFORMED SITES
      objdump -d both (target headers spliced over TRANSFORMED) and compare the destination of
      every branch at SITES. Prints JSON as compare.
"""
import json
import struct
import subprocess
import sys
import tempfile

import pefile


def load(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return pefile.PE(data=bytes(path_or_bytes))
    return pefile.PE(path_or_bytes)


def u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def u64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def field_at(st, name):
    return st.get_field_absolute_offset(name)


# ---------------------------------------------------------------- shift


def shift(target, out, at, by, insert=False):
    pe = load(target)
    b = bytearray(pe.__data__)
    s = lambda r: r + by if r >= at else r  # noqa: E731
    base = pe.OPTIONAL_HEADER.ImageBase
    wide = pe.OPTIONAL_HEADER.Magic == 0x20B

    def put32(off, v):
        struct.pack_into("<I", b, off, v & 0xFFFFFFFF)

    def shift32(off):
        v = u32(b, off)
        if v:
            put32(off, s(v))

    for sec in pe.sections:
        if insert and sec.VirtualAddress < at < sec.VirtualAddress + sec.Misc_VirtualSize:
            put32(field_at(sec, "Misc_VirtualSize"), sec.Misc_VirtualSize + by)
            put32(field_at(sec, "SizeOfRawData"), sec.SizeOfRawData + by)
        elif insert and sec.PointerToRawData and sec.VirtualAddress >= at:
            put32(field_at(sec, "PointerToRawData"), sec.PointerToRawData + by)
        shift32(field_at(sec, "VirtualAddress"))
    oh = pe.OPTIONAL_HEADER
    put32(field_at(oh, "SizeOfImage"), oh.SizeOfImage + by)
    shift32(field_at(oh, "AddressOfEntryPoint"))
    for i, d in enumerate(oh.DATA_DIRECTORY):
        if i != 4:  # the security directory holds a file offset
            shift32(field_at(d, "VirtualAddress"))

    width = 8 if wide else 4
    ordinal = 1 << (63 if wide else 31)
    for imp in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        st = imp.struct
        for name in ("OriginalFirstThunk", "FirstThunk"):
            rva = getattr(st, name)
            if not rva:
                continue
            off = pe.get_offset_from_rva(rva)
            while True:
                v = u64(b, off) if wide else u32(b, off)
                if v == 0:
                    break
                if not v & ordinal:
                    put32(off, s(v & 0x7FFFFFFF))
                off += width
        for name in ("OriginalFirstThunk", "Name", "FirstThunk"):
            shift32(field_at(st, name))

    exp = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if exp is not None:
        st = exp.struct
        for table, n in (
            (st.AddressOfFunctions, st.NumberOfFunctions),
            (st.AddressOfNames, st.NumberOfNames),
        ):
            off = pe.get_offset_from_rva(table)
            for i in range(n):
                shift32(off + 4 * i)
        for name in ("Name", "AddressOfFunctions", "AddressOfNames", "AddressOfNameOrdinals"):
            shift32(field_at(st, name))

    for leaf in resource_leaves(pe):
        shift32(field_at(leaf[1], "OffsetToData"))
    if insert:
        rsrc = pe.OPTIONAL_HEADER.DATA_DIRECTORY[2].VirtualAddress
        for st in resource_entry_structs(pe):
            for name in ("Name", "OffsetToData"):
                off = field_at(st, name)
                v = u32(b, off)
                if at > rsrc and (name == "OffsetToData" or v & 0x80000000) and rsrc + (v & 0x7FFFFFFF) >= at:
                    put32(off, v + by)

    for rf in getattr(pe, "DIRECTORY_ENTRY_EXCEPTION", []):
        for name in ("BeginAddress", "EndAddress", "UnwindData"):
            shift32(field_at(rf.struct, name))

    for blk in getattr(pe, "DIRECTORY_ENTRY_BASERELOC", []):
        shift32(field_at(blk.struct, "VirtualAddress"))
        for e in blk.entries:
            off = pe.get_offset_from_rva(e.rva)
            if e.type == 10:
                v = u64(b, off)
                if base <= v:
                    struct.pack_into("<Q", b, off, base + s(v - base))
            elif e.type == 3:
                v = u32(b, off)
                if base <= v:
                    put32(off, base + s(v - base))
    if insert:
        gap = pe.get_offset_from_rva(at)
        b[gap:gap] = bytes(by)
    open(out, "wb").write(b)


def resource_entry_structs(pe):
    """The IMAGE_RESOURCE_DIRECTORY_ENTRY structs of the whole tree."""
    out = []

    def walk(d):
        for e in d.entries:
            out.append(e.struct)
            if hasattr(e, "directory"):
                walk(e.directory)

    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is not None:
        walk(root)
    return out


def resource_entries(pe):
    """{path: (IMAGE_RESOURCE_DIRECTORY_ENTRY struct, IMAGE_RESOURCE_DATA_ENTRY struct or None)}."""
    out = {}

    def walk(d, path):
        for e in d.entries:
            p = tuple(path + [str(e.name) if e.name is not None else e.id])
            out[p] = (e.struct, e.data.struct if hasattr(e, "data") else None)
            if hasattr(e, "directory"):
                walk(e.directory, list(p))

    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is not None:
        walk(root, [])
    return out


def resource_leaves(pe):
    """(path, IMAGE_RESOURCE_DATA_ENTRY struct) of every leaf, in tree order."""
    out = []

    def walk(d, path):
        for e in d.entries:
            key = str(e.name) if e.name is not None else e.id
            if hasattr(e, "directory"):
                walk(e.directory, path + [key])
            elif hasattr(e, "data"):
                out.append((tuple(path + [key]), e.data.struct))

    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is not None:
        walk(root, [])
    return out


# ---------------------------------------------------------------- compare


def splice(target_pe, transformed):
    b = bytearray(transformed)
    n = target_pe.OPTIONAL_HEADER.SizeOfHeaders
    b[:n] = target_pe.__data__[:n]
    return bytes(b)


class Report:
    def __init__(self):
        self.tables = {}

    def check(self, table, what, got, want):
        t = self.tables.setdefault(table, {"checked": 0, "mismatches": []})
        t["checked"] += 1
        if got != want and len(t["mismatches"]) < 20:
            t["mismatches"].append({"what": what, "got": got, "want": want})


def compare(target, reference, transformed, at, by, rule="tree"):
    tp = load(target)
    rp = load(reference)
    xp = load(splice(tp, open(transformed, "rb").read()))
    rep = Report()
    wide = tp.OPTIONAL_HEADER.Magic == 0x20B

    # Imports: descriptors and every thunk of both tables, as pefile walks the target.
    timps = getattr(tp, "DIRECTORY_ENTRY_IMPORT", [])
    ximps = getattr(xp, "DIRECTORY_ENTRY_IMPORT", [])
    rep.check("imports", "descriptor count", len(ximps), len(timps))
    for ti, xi in zip(timps, ximps):
        dll = ti.dll.decode(errors="replace")
        for name in ("OriginalFirstThunk", "Name", "FirstThunk"):
            rep.check("imports", f"{dll}.{name}", getattr(xi.struct, name), getattr(ti.struct, name))
        rep.check("imports", f"{dll} dll name", xi.dll, ti.dll)
        for tt, xt in zip(ti.imports, xi.imports):
            rep.check(
                "imports",
                f"{dll} thunk {tt.name or tt.ordinal}",
                (xt.name, xt.ordinal, xt.struct_table.AddressOfData),
                (tt.name, tt.ordinal, tt.struct_table.AddressOfData),
            )
            # The address table entry at the same position (pefile keeps only the lookup one).
            off = tt.struct_table.get_file_offset()
            iat = tp.get_offset_from_rva(ti.struct.FirstThunk) + (
                off - tp.get_offset_from_rva(ti.struct.OriginalFirstThunk)
            )
            rd = u64 if wide else u32
            rep.check(
                "imports",
                f"{dll} IAT {tt.name or tt.ordinal}",
                rd(xp.__data__, iat),
                rd(tp.__data__, iat),
            )

    # Exports: directory RVAs, then (ordinal, function RVA, name) of every export.
    te = getattr(tp, "DIRECTORY_ENTRY_EXPORT", None)
    xe = getattr(xp, "DIRECTORY_ENTRY_EXPORT", None)
    if te is not None:
        for name in ("Name", "AddressOfFunctions", "AddressOfNames", "AddressOfNameOrdinals"):
            rep.check("exports", name, getattr(xe.struct, name), getattr(te.struct, name))
        rep.check("exports", "count", len(xe.symbols), len(te.symbols))
        for ts, xs in zip(te.symbols, xe.symbols):
            rep.check(
                "exports",
                f"ordinal {ts.ordinal}",
                (xs.ordinal, xs.address, xs.name),
                (ts.ordinal, ts.address, ts.name),
            )

    # Resources: every directory entry's Name and OffsetToData fields, read from TRANSFORMED at
    # the file offsets pefile gives for the reference's entry, against the target's entry with
    # the same path; and each data entry. OffsetToData of a data entry follows the described
    # native rule: relative to the tree's start b, giving M(b_ref + v_ref) - M(b_ref).
    xb = open(transformed, "rb").read()
    tents, rents = resource_entries(tp), resource_entries(rp)
    rep.check("resources", "entry paths", sorted(rents), sorted(tents))
    for path, (rst, rdata) in rents.items():
        if path not in tents:
            continue
        tst, tdata = tents[path]
        rep.check("resources", f"{path} Name", u32(xb, field_at(rst, "Name")), tst.Name)
        if rdata is None:
            rep.check("resources", f"{path} subdirectory", u32(xb, field_at(rst, "OffsetToData")), tst.OffsetToData)
        else:
            # Described rule: a leaf's offset of its data entry is not moved.
            rep.check(
                "resources-data-entry (described rule)",
                f"{path} leaf offset",
                u32(xb, field_at(rst, "OffsetToData")),
                rst.OffsetToData,
            )
        if rdata is not None and tdata is not None:
            rep.check("resources", f"{path} Size", u32(xb, field_at(rdata, "Size")), tdata.Size)
            if rule == "rva":
                rep.check(
                    "resources-data-entry (RVA rule)",
                    f"{path} OffsetToData",
                    u32(xb, field_at(rdata, "OffsetToData")),
                    tdata.OffsetToData,
                )
            else:
                m = lambda r: r - by if r >= at + by else r  # noqa: E731
                b_ref = rp.OPTIONAL_HEADER.DATA_DIRECTORY[2].VirtualAddress
                want = (m(b_ref + rdata.OffsetToData) - m(b_ref)) & 0xFFFFFFFF
                rep.check(
                    "resources-data-entry (described rule)",
                    f"{path} OffsetToData",
                    u32(xb, field_at(rdata, "OffsetToData")),
                    want,
                )

    # .pdata: every RUNTIME_FUNCTION.
    tx = getattr(tp, "DIRECTORY_ENTRY_EXCEPTION", [])
    xx = getattr(xp, "DIRECTORY_ENTRY_EXCEPTION", [])
    rep.check("pdata", "count", len(xx), len(tx))
    for t, x in zip(tx, xx):
        key = (t.struct.BeginAddress, t.struct.EndAddress, t.struct.UnwindData)
        rep.check("pdata", hex(key[0]), (x.struct.BeginAddress, x.struct.EndAddress, x.struct.UnwindData), key)

    # Relocations: blocks, entries and the address stored at each fixup.
    tr = getattr(tp, "DIRECTORY_ENTRY_BASERELOC", [])
    xr = getattr(xp, "DIRECTORY_ENTRY_BASERELOC", [])
    rep.check("relocations", "block count", len(xr), len(tr))
    for tb, xb in zip(tr, xr):
        rep.check("relocations", f"block {tb.struct.VirtualAddress:#x}", xb.struct.VirtualAddress, tb.struct.VirtualAddress)
        for te_, xe_ in zip(tb.entries, xb.entries):
            rep.check("relocations", f"entry {te_.rva:#x}", (xe_.type, xe_.rva), (te_.type, te_.rva))
            if te_.type in (3, 10):
                off = tp.get_offset_from_rva(te_.rva)
                rd = u64 if te_.type == 10 else u32
                rep.check("relocations", f"value at {te_.rva:#x}", rd(xp.__data__, off), rd(tp.__data__, off))
    print(json.dumps(rep.tables, indent=1, default=repr))


# ---------------------------------------------------------------- x86 pair

IMAGE_BASE = 0x400000


def build_pe32(sections, size_of_image):
    """A minimal PE32 (I386) image: sections = [(name, va, raw bytes, characteristics)], raw
    data at file offset va - 0x1000 + 0x400 (file alignment 0x200)."""
    hdr = bytearray(0x400)
    hdr[0:2] = b"MZ"
    struct.pack_into("<I", hdr, 0x3C, 0x80)
    hdr[0x80:0x84] = b"PE\0\0"
    coff = 0x84
    struct.pack_into("<HHIIIHH", hdr, coff, 0x14C, len(sections), 0x5F5E100, 0, 0, 0xE0, 0x0102)
    opt = coff + 20
    struct.pack_into("<HBB", hdr, opt, 0x10B, 14, 0)
    struct.pack_into("<I", hdr, opt + 16, sections[0][1])  # entry point
    struct.pack_into("<I", hdr, opt + 28, IMAGE_BASE)
    struct.pack_into("<II", hdr, opt + 32, 0x1000, 0x200)
    struct.pack_into("<HH", hdr, opt + 40, 6, 0)
    struct.pack_into("<HH", hdr, opt + 48, 6, 0)
    struct.pack_into("<II", hdr, opt + 56, size_of_image, 0x400)
    struct.pack_into("<H", hdr, opt + 68, 3)
    struct.pack_into("<IIII", hdr, opt + 72, 0x100000, 0x1000, 0x100000, 0x1000)
    struct.pack_into("<I", hdr, opt + 92, 16)
    sec = opt + 0xE0
    body = bytearray()
    raw = 0x400
    for i, (name, va, data, ch) in enumerate(sections):
        size = (len(data) + 0x1FF) & ~0x1FF
        struct.pack_into(
            "<8sIIIIIIHHI", hdr, sec + 40 * i, name, len(data), va, size, raw, 0, 0, 0, 0, ch
        )
        body += data + bytes(size - len(data))
        raw += size
    return bytes(hdr) + bytes(body)


def x86pair(out_dir):
    code2_t, code2_r = 0x2000, 0x3000  # .text2 in the target / the reference
    funcs = [0x10, 0x80, 0x200, 0x7F0]  # offsets of "functions" in .text2
    sites = []

    def text(code2):
        t = bytearray(b"\x90" * 0x1000)
        p = 0x20
        for f in funcs:
            for op in (b"\xe8", b"\xe9", b"\x0f\x84"):
                end = 0x1000 + p + len(op) + 4
                t[p : p + len(op)] = op
                struct.pack_into("<i", t, p + len(op), code2 + f - end)
                sites.append(0x1000 + p)
                p += len(op) + 4 + 3
        # A local call inside .text: the same in both images.
        struct.pack_into("<Bi", t, p, 0xE8, 0x100 - (p + 5))
        sites.append(0x1000 + p)
        return t, p

    # The target's near jump at 0xff0 to .text2 + 0x5: in the target its displacement fits a
    # byte (short form EB, padded with the leftover bytes), in the reference it does not.
    t_text, _ = text(code2_t)
    r_text, _ = text(code2_r)
    site = 0xFF0
    struct.pack_into("<Bi", r_text, site, 0xE9, code2_r + 5 - (0x1000 + site + 5))
    disp = code2_t + 5 - (0x1000 + site + 5)
    t_text[site : site + 5] = bytes([0xEB, disp & 0xFF]) + r_text[site + 2 : site + 5]
    sites.append(0x1000 + site)
    sites = sorted(set(sites))
    code2 = bytearray(b"\xc3" * 0x800)
    # .data: bytes that look like branches but live in a non-executable section.
    data = bytearray(0x40)
    struct.pack_into("<Bi", data, 0, 0xE8, code2_r - 0x4005)
    struct.pack_into("<Bi", data, 8, 0xE9, code2_r - 0x400D)
    x, rw, r = 0x60000020, 0xC0000040, 0x40000040
    _ = r
    target = build_pe32(
        [(b".text", 0x1000, bytes(t_text), x), (b".text2", code2_t, bytes(code2), x),
         (b".data", 0x4000, bytes(data), rw)],
        0x5000,
    )
    reference = build_pe32(
        [(b".text", 0x1000, bytes(r_text), x), (b".text2", code2_r, bytes(code2), x),
         (b".data", 0x4000, bytes(data), rw)],
        0x5000,
    )
    open(f"{out_dir}/target.exe", "wb").write(target)
    open(f"{out_dir}/reference.exe", "wb").write(reference)
    json.dump({"sites": sites, "map": [[code2_r, code2_t], [0x4000, 0x4000]]}, open(f"{out_dir}/sites.json", "w"))


def disasm(path):
    """{address: (mnemonic, destination)} of every branch objdump decodes."""
    out = subprocess.run(["objdump", "-d", "-M", "intel", path], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or ":" not in parts[0]:
            continue
        addr = int(parts[0].strip().rstrip(":"), 16)
        ins = parts[2].split()
        if ins and (ins[0].startswith("j") or ins[0] == "call") and len(ins) > 1:
            try:
                res[addr] = (ins[0], int(ins[1], 16))
            except ValueError:
                pass
    return res


def branches(target, transformed, sites_json):
    tp = load(target)
    sites = json.load(open(sites_json))["sites"]
    with tempfile.NamedTemporaryFile(suffix=".exe") as f:
        f.write(splice(tp, open(transformed, "rb").read()))
        f.flush()
        got = disasm(f.name)
    want = disasm(target)
    rep = Report()
    for s in sites:
        a = IMAGE_BASE + s
        rep.check("x86 branches", hex(a), got.get(a), want.get(a))
    # The .data bytes that look like branches are data: untouched.
    data_t = tp.sections[2]
    xb = open(transformed, "rb").read()
    off = data_t.PointerToRawData
    rep.check("x86 non-executable", ".data", xb[off : off + 16].hex(), tp.__data__[off : off + 16].hex())
    print(json.dumps(rep.tables, indent=1, default=repr))


# ---------------------------------------------------------------- x64 pair

X64_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}


def objdump_insns(path):
    """[(va, raw bytes, instruction text)] of every instruction objdump -d decodes."""
    out = subprocess.run(
        ["objdump", "-d", "-M", "intel", "--insn-width=16", path],
        capture_output=True, text=True, check=True,
    ).stdout
    res = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        try:
            va = int(parts[0].strip().rstrip(":"), 16)
            raw = bytes.fromhex(parts[1].replace(" ", ""))
        except ValueError:
            continue
        res.append((va, raw, parts[2].strip()))
    return res


def rel32_site(va, raw, text):
    """(kind, destination VA, position of the disp32 in raw) of an instruction with a 32-bit
    relative operand, as objdump prints it, or None. Branches: the printed destination, the last
    4 bytes; RIP-relative operands: the `# destination` comment, the one place in the bytes that
    holds destination - next instruction (None when that is not unique)."""
    words = text.split()
    if not words:
        return None
    if "rip" in text and "#" in text:
        dest = int(text.split("#", 1)[1].split()[0], 16)
        disp = dest - (va + len(raw))
        if not -(1 << 31) <= disp < 1 << 31:
            return None
        pat = struct.pack("<i", disp)
        at = [i for i in range(len(raw) - 3) if raw[i : i + 4] == pat]
        return ("memory", dest, at[0]) if len(at) == 1 else ("ambiguous", dest, None)
    mnem = words[0]
    if len(words) < 2 or not (mnem == "call" or mnem.startswith("j")):
        return None
    i = 0
    while i < len(raw) and (raw[i] in X64_PREFIXES or 0x40 <= raw[i] <= 0x4F):
        i += 1
    op = raw[i:]
    if not (op[:1] in (b"\xe8", b"\xe9") and len(op) == 5 or op[:1] == b"\x0f" and len(op) == 6 and op[1] & 0xF0 == 0x80):
        return None
    try:
        dest = int(words[1], 16)
    except ValueError:
        return None
    return ("branch", dest, len(raw) - 4)


def x64pair(target, out_dir):
    pe = load(target)
    base = pe.OPTIONAL_HEADER.ImageBase
    code = [s for s in pe.sections if s.Characteristics & 0x20000000]
    assert len(code) == 1, "one executable section expected"
    text = code[0]
    funcs = sorted(
        (rf.struct.BeginAddress, rf.struct.EndAddress)
        for rf in pe.DIRECTORY_ENTRY_EXCEPTION
        if text.VirtualAddress <= rf.struct.BeginAddress < text.VirtualAddress + text.Misc_VirtualSize
    )
    at, by = funcs[len(funcs) // 2][0], 0x3000
    reference = f"{out_dir}/reference.dll"
    shift(target, reference, at, by, insert=True)
    b = bytearray(open(reference, "rb").read())
    gap = pe.get_offset_from_rva(at)
    # The COFF symbol table (mingw keeps one; objdump splits its disassembly at the symbols)
    # moves with the file, and the code symbols from AT on move with the code.
    sym, nsym = pe.FILE_HEADER.PointerToSymbolTable, pe.FILE_HEADER.NumberOfSymbols
    if sym >= gap:
        struct.pack_into("<I", b, field_at(pe.FILE_HEADER, "PointerToSymbolTable"), sym + by)
        text_no = pe.sections.index(text) + 1
        i = 0
        while i < nsym:
            rec = sym + by + 18 * i
            value, sec, aux = u32(b, rec + 8), struct.unpack_from("<h", b, rec + 12)[0], b[rec + 17]
            if sec == text_no and text.VirtualAddress + value >= at:
                struct.pack_into("<I", b, rec + 8, value + by)
            i += 1 + aux
    s = lambda r: r + by if r >= at else r  # noqa: E731
    starts = [f[0] for f in funcs]

    def inside(rva):
        import bisect

        i = bisect.bisect_right(starts, rva) - 1
        return i >= 0 and funcs[i][0] <= rva < funcs[i][1]

    sites, outside, ambiguous = [], [], 0
    for va, raw, txt in objdump_insns(target):
        site = rel32_site(va, raw, txt)
        if site is None:
            continue
        kind, dest, pos = site
        rva, d_rva = va - base, dest - base
        if kind == "ambiguous":
            ambiguous += 1
            continue
        t_off = pe.get_offset_from_rva(rva) + pos
        r_off = t_off + (by if t_off >= gap else 0)
        disp = d_rva - (rva + len(raw))
        new = s(d_rva) - (s(rva) + len(raw))
        entry = {"rva": rva, "dest": d_rva, "kind": kind, "target_off": t_off, "ref_off": r_off, "moved": new != disp}
        if inside(rva):
            struct.pack_into("<i", b, r_off, new)
            sites.append(entry)
        elif new != disp:
            # Outside every .pdata function: the reference's code stays consistent here too,
            # and the RIP-relative transform (as read: .pdata functions only) must leave it.
            struct.pack_into("<i", b, r_off, new)
            outside.append(entry)
    open(reference, "wb").write(b)
    # objdump on the reference itself: each site now reaches the moved destination.
    by_va = {va: (raw, txt) for va, raw, txt in objdump_insns(reference)}
    consistent = Report()
    for e in sites + outside:
        raw, txt = by_va.get(base + s(e["rva"]), (b"", ""))
        got = rel32_site(base + s(e["rva"]), raw, txt) if raw else None
        want = s(e["dest"])
        consistent.check("reference sites", hex(e["rva"]), got and got[1] - base, want)
    json.dump(
        {
            "consistent": consistent.tables["reference sites"],
            "at": at,
            "by": by,
            "map": [[at + by, at]],
            "code": {"target_off": text.PointerToRawData, "size": text.SizeOfRawData, "gap_off": gap},
            "sites": sites,
            "outside": outside,
            "ambiguous": ambiguous,
        },
        open(f"{out_dir}/sites.json", "w"),
    )


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "shift":
        shift(args[0], args[1], int(args[2], 0), int(args[3], 0))
    elif cmd == "insert":
        shift(args[0], args[1], int(args[2], 0), int(args[3], 0), insert=True)
    elif cmd == "compare":
        compare(args[0], args[1], args[2], int(args[3], 0), int(args[4], 0), *args[5:6])
    elif cmd == "rebase":
        pe = load(args[0])
        if not hasattr(pe, "DIRECTORY_ENTRY_BASERELOC"):
            sys.exit(f"{args[0]}: no base relocations")
        new_base = int(args[2], 0)
        pe.relocate_image(new_base)
        # The relocated bytes themselves: pe.write() would also serialise parsed structures
        # (it writes import thunk fields relocate_image updated), which is not a rebase.
        data = bytearray(pe.__data__)
        at = pe.OPTIONAL_HEADER.get_field_absolute_offset("ImageBase")
        wide = pe.OPTIONAL_HEADER.Magic == 0x20B
        struct.pack_into("<Q" if wide else "<I", data, at, new_base)
        open(args[1], "wb").write(bytes(data))
    elif cmd == "x86pair":
        x86pair(args[0])
    elif cmd == "x64pair":
        x64pair(args[0], args[1])
    elif cmd == "branches":
        branches(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
