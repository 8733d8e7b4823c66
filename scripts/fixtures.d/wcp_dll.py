#!/usr/bin/env python3
"""Write a small synthetic servicing-stack `wcp.dll`: a valid PE32+ (AMD64) DLL whose resource type
614, id 1 holds a base manifest, with a VS_VERSIONINFO resource carrying the stack's version.

Why: real component manifests in update packages are DCM deltas against a base that Windows keeps in
the servicing stack's wcp.dll (resource 614/1). Microsoft's wcp.dll and base cannot be redistributed,
so the fixtures carry this DLL with a base we make up (`synthetic_base`), and a test wraps the genuine
base from ../shared (never copied into the repository) the same way at test time. The bytes are written
here from the PE/COFF specification (headers, section table, .rsrc directory tree), not by a linker, so
the result is fully determined by the arguments; pefile (the tests' oracle) reads it back.

Layout: headers (0x400 bytes), .text (a DllMain that returns TRUE), .rsrc (directory tree, data
entries, then the data, each 8-aligned). Type 614 also holds a decoy id 2 in another language, so a
lookup must choose name id 1, not the first leaf it meets.

usage: wcp_dll.py OUT.dll --version a.b.c.d (--revision N | --base FILE) [--base-out FILE]
       [--lang 0x409]
"""
import argparse
import struct

BASE_TYPE, BASE_ID = 614, 1
RT_VERSION = 16
SECTION_ALIGN, FILE_ALIGN = 0x1000, 0x200
HEADERS = 0x400
TEXT_RVA = 0x1000


def synthetic_base(revision):
    """A made-up, XML-ish base manifest of a few KiB: the vocabulary component manifests repeat
    (assembly identity, file hashes, registry keys, dependencies), so deltas against it are small.
    Different revisions differ, so a test can tell which stack a base came from."""
    nl = "\r\n"
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f"<!-- mediaprep synthetic DCM base manifest, revision {revision}: made up for tests, "
        "not Microsoft's -->",
        '<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" '
        'copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">',
        '  <assemblyIdentity name="microsoft-windows-" version="10.0.26100." '
        'processorArchitecture="amd64" language="neutral" buildType="release" '
        'publicKeyToken="31bf3856ad364e35" versionScope="nonSxS" />',
    ]
    for i in range(6 + revision):
        out += [
            f'  <file name="component{i}.dll" destinationPath="$(runtime.system32)\\" '
            f'sourceName="component{i}.dll" importPath="$(build.nttree)\\">',
            '    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL" />',
            '    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2">',
            '      <dsig:Transforms xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">',
            '        <dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity" />',
            "      </dsig:Transforms>",
            '      <dsig:DigestMethod xmlns:dsig="http://www.w3.org/2000/09/xmldsig#" '
            'Algorithm="http://www.w3.org/2000/09/xmldsig#sha256" />',
            '      <dsig:DigestValue xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">'
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</dsig:DigestValue>",
            "    </asmv2:hash>",
            "  </file>",
        ]
    out += [
        "  <registryKeys>",
        '    <registryKey keyName="HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\">',
        '      <registryValue name="Start" valueType="REG_DWORD" value="0x00000003" />',
        '      <registryValue name="Type" valueType="REG_DWORD" value="0x00000001" />',
        '      <registryValue name="ImagePath" valueType="REG_EXPAND_SZ" '
        'value="\\SystemRoot\\System32\\drivers\\" />',
        "    </registryKey>",
        "  </registryKeys>",
        "  <dependency discoverable=\"no\" resourceType=\"Resources\">",
        "    <dependentAssembly dependencyType=\"prerequisite\">",
        '      <assemblyIdentity name="microsoft-windows-" version="10.0.26100." '
        'processorArchitecture="amd64" language="*" buildType="release" '
        'publicKeyToken="31bf3856ad364e35" />',
        "    </dependentAssembly>",
        "  </dependency>",
        '  <trustInfo><security><accessControl><securityDescriptorDefinitions>'
        '<securityDescriptorDefinition name="WRP_FILE_DEFAULT_SDDL" sddl="O:S-1-5-80-956008885-'
        'G:S-1-5-80-956008885-D:P(A;;FA;;;S-1-5-80-956008885-)(A;;GRGX;;;BA)(A;;GRGX;;;SY)" />'
        "</securityDescriptorDefinitions></accessControl></security></trustInfo>",
        "</assembly>",
    ]
    return (nl.join(out) + nl).encode()


def align(x, a):
    return (x + a - 1) // a * a


def version_info(ver):
    """VS_VERSIONINFO with VS_FIXEDFILEINFO and a StringFileInfo FileVersion/ProductVersion."""
    parts = [int(x) for x in ver.split(".")]
    ms, ls = (parts[0] << 16) | parts[1], (parts[2] << 16) | parts[3]

    def block(key, wtype, value, vlen, children=()):
        b = bytearray(6) + (key + "\0").encode("utf-16-le")
        b += bytes(align(len(b), 4) - len(b))
        b += value
        for c in children:
            b += bytes(align(len(b), 4) - len(b))
            b += c
        struct.pack_into("<HHH", b, 0, len(b), vlen, wtype)
        return bytes(b)

    def string(key, val):
        v = (val + "\0").encode("utf-16-le")
        return block(key, 1, v, len(v) // 2)

    fixed = struct.pack("<13I", 0xFEEF04BD, 0x10000, ms, ls, ms, ls, 0x3F, 0, 0x40004, 2, 0, 0, 0)
    table = block("040904B0", 1, b"", 0, [
        string("CompanyName", "mediaprep test fixture"),
        string("FileDescription", "synthetic servicing stack (not Microsoft's wcp.dll)"),
        string("FileVersion", ver),
        string("ProductVersion", ver),
    ])
    sfi = block("StringFileInfo", 1, b"", 0, [table])
    return block("VS_VERSION_INFO", 0, fixed, len(fixed), [sfi])


def rsrc_section(resources, rva):
    """The .rsrc bytes for {(type, name, lang): data}: the three-level tree of
    IMAGE_RESOURCE_DIRECTORY (16 bytes) + IMAGE_RESOURCE_DIRECTORY_ENTRY (8 bytes each, ids in
    ascending order), then IMAGE_RESOURCE_DATA_ENTRY (16 bytes each), then the data."""
    tree = {}
    for (t, n, l), data in resources.items():
        tree.setdefault(t, {}).setdefault(n, {})[l] = data

    # Pass 1: offsets of every directory, in breadth-first order (root, types' name dirs, lang dirs).
    def dir_size(n):
        return 16 + 8 * n

    off = dir_size(len(tree))
    name_dir, lang_dir = {}, {}
    for t in sorted(tree):
        name_dir[t] = off
        off += dir_size(len(tree[t]))
    for t in sorted(tree):
        for n in sorted(tree[t]):
            lang_dir[t, n] = off
            off += dir_size(len(tree[t][n]))
    data_entry = {}
    for t in sorted(tree):
        for n in sorted(tree[t]):
            for l in sorted(tree[t][n]):
                data_entry[t, n, l] = off
                off += 16
    data_at = {}
    for key in sorted(data_entry):
        off = align(off, 8)
        data_at[key] = off
        off += len(resources[key])
    out = bytearray(off)

    def directory(at, entries):  # entries: [(id, target)]
        struct.pack_into("<IIHHHH", out, at, 0, 0, 0, 0, 0, len(entries))
        for i, (ident, target) in enumerate(entries):
            struct.pack_into("<II", out, at + 16 + 8 * i, ident, target)

    directory(0, [(t, 0x80000000 | name_dir[t]) for t in sorted(tree)])
    for t in sorted(tree):
        directory(name_dir[t], [(n, 0x80000000 | lang_dir[t, n]) for n in sorted(tree[t])])
        for n in sorted(tree[t]):
            directory(lang_dir[t, n], [(l, data_entry[t, n, l]) for l in sorted(tree[t][n])])
    for key, at in data_entry.items():
        struct.pack_into("<IIII", out, at, rva + data_at[key], len(resources[key]), 0, 0)
        out[data_at[key]:data_at[key] + len(resources[key])] = resources[key]
    return bytes(out)


def build_dll(resources):
    """A PE32+ AMD64 DLL with .text and .rsrc."""
    text = bytes([0xB8, 1, 0, 0, 0, 0xC3])  # DllMain: mov eax, 1; ret
    rsrc_rva = TEXT_RVA + align(len(text), SECTION_ALIGN)
    rsrc = rsrc_section(resources, rsrc_rva)
    sections = [  # (name, rva, data, characteristics)
        (b".text", TEXT_RVA, text, 0x60000020),  # code, execute, read
        (b".rsrc", rsrc_rva, rsrc, 0x40000040),  # initialized data, read
    ]
    image_size = rsrc_rva + align(len(rsrc), SECTION_ALIGN)

    h = bytearray(HEADERS)
    h[0:2] = b"MZ"
    struct.pack_into("<I", h, 0x3C, 0x80)
    pe = 0x80
    h[pe:pe + 4] = b"PE\0\0"
    # COFF: AMD64, 2 sections, time stamp 0 (deterministic), optional header 240 bytes,
    # characteristics EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL.
    struct.pack_into("<HHIIIHH", h, pe + 4, 0x8664, len(sections), 0, 0, 0, 240, 0x2022)
    o = pe + 24
    struct.pack_into("<HBBIIIII", h, o, 0x20B, 14, 0, align(len(text), FILE_ALIGN),
                     align(len(rsrc), FILE_ALIGN), 0, TEXT_RVA, TEXT_RVA)
    struct.pack_into("<QII", h, o + 24, 0x180000000, SECTION_ALIGN, FILE_ALIGN)
    struct.pack_into("<HHHHHH", h, o + 40, 10, 0, 10, 0, 10, 0)  # OS, image, subsystem versions
    struct.pack_into("<IIII", h, o + 56, image_size, HEADERS, 0, 0)  # size, headers, checksum
    # GUI subsystem; NX_COMPAT only: without a .reloc section the image must not claim DYNAMIC_BASE.
    struct.pack_into("<HH", h, o + 68, 2, 0x0100)
    struct.pack_into("<QQQQII", h, o + 72, 0x40000, 0x1000, 0x100000, 0x1000, 0, 16)
    struct.pack_into("<II", h, o + 112 + 2 * 8, rsrc_rva, len(rsrc))  # data directory 2: resources
    body = bytearray()
    raw = HEADERS
    st = o + 240
    for i, (name, rva, data, ch) in enumerate(sections):
        size = align(len(data), FILE_ALIGN)
        struct.pack_into("<8sIIIIIIHHI", h, st + 40 * i, name, len(data), rva, size, raw, 0, 0, 0, 0, ch)
        body += data + bytes(size - len(data))
        raw += size
    image = bytearray(h + body)
    struct.pack_into("<I", image, o + 64, checksum(image, o + 64))
    return bytes(image)


def checksum(data, at):
    """The PE image checksum (16-bit one's-complement sum of the file with the field zeroed, plus
    the file length), as Windows' CheckSumMappedFile computes it."""
    d = bytearray(data)
    d[at:at + 4] = b"\0\0\0\0"
    if len(d) % 2:
        d += b"\0"
    s = 0
    for (w,) in struct.iter_unpack("<H", d):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return (s + len(data)) & 0xFFFFFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--version", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--revision", type=int, help="write synthetic_base(REVISION)")
    src.add_argument("--base", help="a file holding the base to wrap")
    ap.add_argument("--base-out", help="also write the base bytes here")
    ap.add_argument("--lang", type=lambda s: int(s, 0), default=0x409)
    a = ap.parse_args()
    if a.base:
        with open(a.base, "rb") as f:
            base = f.read()
    else:
        base = synthetic_base(a.revision)
    decoy = b"<!-- resource 614/2: not the base -->\r\n"
    dll = build_dll({
        (RT_VERSION, 1, 0x409): version_info(a.version),
        (BASE_TYPE, BASE_ID, a.lang): base,
        (BASE_TYPE, 2, 0): decoy,
    })
    with open(a.out, "wb") as f:
        f.write(dll)
    if a.base_out:
        with open(a.base_out, "wb") as f:
            f.write(base)


if __name__ == "__main__":
    main()
