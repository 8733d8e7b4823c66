#!/usr/bin/env python3
"""Build a WinRE-shaped directory tree for `scripts/fixtures` (which then captures it with wimlib).

Why a generator instead of a real WinRE: Microsoft's images cannot be redistributed. This tree has the
*shape* the mediaprep core must handle: WinSxS component folders hard-linked into System32, XML
component manifests with base64 SHA-256 digests of their payloads, CBS package records under
Windows/servicing/Packages, unicode names, empty files and a very deep path. Payloads are Debian
libwine's real PE files (whose VS_VERSIONINFO is rewritten to the version we claim, see pe_version.py).

Every variant but "fileonly" also holds two servicing stacks in WinSxS, each with a synthetic wcp.dll
(wcp_dll.py) whose resource 614/1 is a made-up DCM base manifest: an older one (10.0.26100.863, base
revision 1) and the image's own (revision 2). 863 sorts after 1000 and 8037 as text, so only a numeric
version comparison picks the newer stack.

With --mediaprep CMD (the `mediaprep` command line, e.g. `cargo run ... --`), WinSxS\Manifests also
gets DCM-compressed manifests made by mediaprep's own encoder (`mediaprep delta create --dcm`): one
sample component manifest against the image's own (newest) base, and the same XML against the older
stack's base, so a test can tell which base a decoder used.

Real in-image layout (with --mediaprep): the component store as Windows leaves it after servicing.
ntdll's folder (a serviced component, version file_version) holds the full current file plus
`r\ntdll.dll`, a PE-typed PA30 delta (mediaprep's encoder, `delta create --pe`, CRC32-prefixed) from
the current file back to the RTM file (the same libwine source stamped 10.0.26100.1); the command
prompt is still at RTM (folder version 10.0.26100.1, no `r\`: its file is the base). The Safe OS DU fixtures in the real layout
(safeos-du-real*.json) carry `f\` deltas against those RTM files.

usage: winre_tree.py OUT --wine DIR|'' --variant base|stale|norecords|fileonly --spec-out FILE.json
       [--wcp-out DIR] [--mediaprep CMD]
The spec JSON records what was put in (the version each signal carries) for tests to compare with;
--wcp-out also keeps each stack's wcp.dll and base as files (wcp-VERSION.dll, base-VERSION.bin) and
the DCM samples' XML as plain text (dcm-sample.xml).
"""
import argparse
import base64
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "31bf3856ad364e35"
EPOCH = 1700000000
# (version, synthetic base revision) of the older servicing stack; the image's own stack is
# file_version with revision 2.
OLD_STACK = ("10.0.26100.863", 1)

# (component name, language, wine source file, destination under Windows/System32, file name in WinSxS)
COMPONENTS = [
    ("microsoft-windows-kernel32", "none", "kernel32.dll", "kernel32.dll"),
    ("microsoft-windows-ntdll", "none", "ntdll.dll", "ntdll.dll"),
    ("microsoft-windows-os-kernel", "none", "ntoskrnl.exe", "ntoskrnl.exe"),
    ("microsoft-windows-winpe-tools", "none", "winver.exe", "winpeshl.exe"),
    ("microsoft-windows-commandprompt", "none", "cmd.exe", "cmd.exe"),
    ("microsoft-windows-mountmgr", "none", "mountmgr.sys", "drivers/mountmgr.sys"),
    ("microsoft-windows-scsiport", "none", "scsiport.sys", "drivers/scsiport.sys"),
]
# Non-PE payloads: (component, language, content, destination under System32)
TEXT_COMPONENTS = [
    ("microsoft-windows-kernel32.resources", "en-us", b"MUI\0kernel32 resources en-US\n", "en-US/kernel32.dll.mui"),
    ("microsoft-windows-winpe-startnet", "none", b"wpeinit\r\n", "startnet.cmd"),
]


def folder_name(comp, lang, version):
    base = f"amd64_{comp}_{TOKEN}_{version}_{lang}"
    # The real suffix is a hash of the full identity; any stable 16 hex digits have the same shape.
    return f"{base}_{hashlib.sha256(base.encode()).hexdigest()[:16]}"


def manifest_xml(comp, lang, version, files):
    lang_attr = "neutral" if lang == "none" else lang
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        '<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" '
        'copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">',
        f'  <assemblyIdentity name="{comp}" version="{version}" processorArchitecture="amd64" '
        f'language="{lang_attr}" buildType="release" publicKeyToken="{TOKEN}" versionScope="nonSxS" />',
    ]
    for dest, data in files:
        d, _, name = ("$(runtime.system32)\\" + dest.replace("/", "\\")).rpartition("\\")
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        out += [
            f'  <file name="{name}" destinationPath="{d}\\" sourceName="{name}" importPath="$(build.nttree)\\">',
            '    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2">',
            '      <dsig:Transforms xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">',
            '        <dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity" />',
            "      </dsig:Transforms>",
            '      <dsig:DigestMethod xmlns:dsig="http://www.w3.org/2000/09/xmldsig#" '
            'Algorithm="http://www.w3.org/2000/09/xmldsig#sha256" />',
            f'      <dsig:DigestValue xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">{digest}</dsig:DigestValue>',
            "    </asmv2:hash>",
            "  </file>",
        ]
    out.append("</assembly>")
    return ("\r\n".join(out) + "\r\n").encode()


def mum_xml(name, version, lang, kb, release_type, components):
    lang_attr = "neutral" if not lang else lang
    comps = "\r\n".join(
        f'      <component><assemblyIdentity name="{c}" version="{v}" processorArchitecture="amd64" '
        f'language="neutral" buildType="release" publicKeyToken="{TOKEN}" /></component>'
        for c, v in components
    )
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
        '<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" '
        f'description="Fix for {kb}" displayName="default" company="Microsoft Corporation" '
        'copyright="Microsoft Corporation" supportInformation="https://support.microsoft.com/help/'
        f'{kb[2:]}" creationTimeStamp="2025-01-01T00:00:00Z" lastUpdateTimeStamp="2025-01-01T00:00:00Z">\r\n'
        f'  <assemblyIdentity name="{name}" version="{version}" processorArchitecture="amd64" '
        f'language="{lang_attr}" buildType="release" publicKeyToken="{TOKEN}" />\r\n'
        f'  <package identifier="{kb}" releaseType="{release_type}" restart="possible" '
        'targetPartition="MainOS" binaryPartition="false">\r\n'
        f'    <update name="{kb}-1">\r\n{comps}\r\n    </update>\r\n'
        "  </package>\r\n</assembly>\r\n"
    ).encode()


def stack_manifest(version, wcp):
    """The servicing stack component's manifest: its files stay in WinSxS (no projection)."""
    digest = base64.b64encode(hashlib.sha256(wcp).digest()).decode()
    return "\r\n".join([
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        '<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">',
        f'  <assemblyIdentity name="Microsoft-Windows-ServicingStack" version="{version}" '
        f'processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="{TOKEN}" '
        'versionScope="nonSxS" />',
        '  <file name="wcp.dll" sourceName="wcp.dll" importPath="$(build.nttree)\\">',
        '    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2">',
        '      <dsig:DigestMethod xmlns:dsig="http://www.w3.org/2000/09/xmldsig#" '
        'Algorithm="http://www.w3.org/2000/09/xmldsig#sha256" />',
        f'      <dsig:DigestValue xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">{digest}</dsig:DigestValue>',
        "    </asmv2:hash>",
        "  </file>",
        "</assembly>",
        "",
    ]).encode()


def add_servicing_stacks(win, stacks, keep_dir, bases=None):
    """One WinSxS servicing stack folder per (version, base revision), each with a synthetic wcp.dll.
    `bases`, when given, collects each stack's base bytes."""
    out = []
    for version, revision in stacks:
        folder = folder_name("microsoft-windows-servicingstack", "none", version)
        tmp = os.path.join(win, ".wcp.tmp")
        base_tmp = tmp + ".base"
        subprocess.run([sys.executable, os.path.join(HERE, "wcp_dll.py"), tmp, "--version", version,
                        "--revision", str(revision), "--base-out", base_tmp,
                        # the older stack's leaf is language-neutral: "first language" must not assume 0x409
                        "--lang", "0" if revision == 1 else "0x409"], check=True)
        with open(tmp, "rb") as f:
            wcp = f.read()
        with open(base_tmp, "rb") as f:
            base = f.read()
        os.remove(tmp)
        os.remove(base_tmp)
        if bases is not None:
            bases.append(base)
        write(os.path.join(win, "WinSxS", folder, "wcp.dll"), wcp)
        write(os.path.join(win, "WinSxS", "Manifests", folder + ".manifest"), stack_manifest(version, wcp))
        if keep_dir:
            write(os.path.join(keep_dir, f"wcp-{version}.dll"), wcp)
            write(os.path.join(keep_dir, f"base-{version}.bin"), base)
        out.append({"folder": folder, "version": version, "revision": revision,
                    "wcp": f"Windows/WinSxS/{folder}/wcp.dll",
                    "wcp_sha256": hashlib.sha256(wcp).hexdigest(),
                    "base_sha256": hashlib.sha256(base).hexdigest(), "base_size": len(base)})
    return out


# The real layout (see the module doc): components serviced with an r\ delta back to RTM, and
# components still at RTM.
RTM_VERSION = "10.0.26100.1"
WITH_REVERSE = {"microsoft-windows-ntdll"}
AT_RTM = {"microsoft-windows-commandprompt"}


def reverse_delta(mediaprep, work, current, rtm):
    """`r\<file>`: a PA30 from the current file back to RTM, made by mediaprep, CRC32-prefixed."""
    import struct
    import zlib
    os.makedirs(work, exist_ok=True)
    cur, tgt, out = (os.path.join(work, n) for n in ("cur", "rtm", "r.pa30"))
    write(cur, current)
    write(tgt, rtm)
    os.utime(tgt, (EPOCH, EPOCH))  # the header's target time: the same on every run
    # PE files get a PE-typed delta, as Windows keeps them (`delta create --pe`).
    pe = ["--pe"] if current[:2] == b"MZ" and rtm[:2] == b"MZ" else []
    subprocess.run(shlex.split(mediaprep) + ["delta", "create", cur, tgt, "-o", out] + pe,
                   check=True, stdout=subprocess.DEVNULL)
    with open(out, "rb") as f:
        delta = f.read()
    shutil.rmtree(work)
    if not delta.startswith(b"PA30"):
        raise SystemExit("mediaprep did not write a PA30 delta")
    return struct.pack("<I", zlib.crc32(delta) & 0xFFFFFFFF) + delta


DCM_COMPONENT = "microsoft-windows-mediaprep-dcmsample"


def dcm_sample_xml(version):
    """A component manifest with the vocabulary real ones repeat (identity, registry keys,
    dependencies), with no <file> so nothing in the image is expected to back it."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        '<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" '
        'copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">',
        f'  <assemblyIdentity name="{DCM_COMPONENT}" version="{version}" processorArchitecture="amd64" '
        f'language="neutral" buildType="release" publicKeyToken="{TOKEN}" versionScope="nonSxS" />',
        "  <dependency discoverable=\"no\" resourceType=\"Resources\">",
        "    <dependentAssembly>",
        f'      <assemblyIdentity name="{DCM_COMPONENT}.resources" version="{version}" '
        f'processorArchitecture="amd64" language="*" buildType="release" publicKeyToken="{TOKEN}" />',
        "    </dependentAssembly>",
        "  </dependency>",
        "  <registryKeys>",
    ]
    for i in range(12):
        lines += [
            f'    <registryKey keyName="HKEY_LOCAL_MACHINE\\SOFTWARE\\mediaprep\\DcmSample\\Key{i:02d}">',
            f'      <registryValue name="Value{i:02d}" valueType="REG_DWORD" value="0x{i * 37:08x}" />',
            f'      <registryValue name="Path{i:02d}" valueType="REG_EXPAND_SZ" '
            f'value="%SystemRoot%\\System32\\sample{i:02d}.dll" />',
            "    </registryKey>",
        ]
    lines += ["  </registryKeys>", "</assembly>", ""]
    return "\r\n".join(lines).encode()


def add_dcm_manifests(win, version, bases, keep_dir, mediaprep, stack_versions):
    """The sample manifest DCM-compressed by mediaprep's encoder against the image's own base
    (bases[-1], the newest stack) and, as `...-oldbase`, against the older stack's (bases[0])."""
    cmd = shlex.split(mediaprep)
    xml = dcm_sample_xml(version)
    tmp = os.path.join(win, ".dcm.tmp")
    os.makedirs(tmp, exist_ok=True)
    out = []
    for comp, base, base_version in ((DCM_COMPONENT, bases[-1], stack_versions[-1]),
                                     (DCM_COMPONENT + "-oldbase", bases[0], stack_versions[0])):
        folder = folder_name(comp, "none", version)
        write(os.path.join(tmp, "base.bin"), base)
        write(os.path.join(tmp, "target.xml"), xml)
        dst = os.path.join(win, "WinSxS", "Manifests", folder + ".manifest")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run(cmd + ["delta", "create", "--dcm", os.path.join(tmp, "base.bin"),
                              os.path.join(tmp, "target.xml"), "-o", dst], check=True,
                       stdout=subprocess.DEVNULL)
        with open(dst, "rb") as f:
            dcm = f.read()
        if not dcm.startswith(b"DCM\x01"):
            raise SystemExit(f"{dst}: mediaprep did not write a DCM manifest")
        out.append({"path": f"Windows/WinSxS/Manifests/{folder}.manifest", "base_version": base_version,
                    "xml": "dcm-sample.xml", "size": len(dcm), "xml_size": len(xml)})
    shutil.rmtree(tmp)
    if keep_dir:
        write(os.path.join(keep_dir, "dcm-sample.xml"), xml)
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--wine", default="")
    ap.add_argument("--variant", default="base", choices=["base", "stale", "norecords", "fileonly"])
    ap.add_argument("--spec-out", required=True)
    ap.add_argument("--wcp-out", default="")
    ap.add_argument("--mediaprep", default="")
    a = ap.parse_args()

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    root = a.out
    win = os.path.join(root, "Windows")
    s32 = os.path.join(win, "System32")
    # "stale": files and records were serviced to 8037 but the WIM XML still says 1000.
    ubr = 8037 if a.variant == "stale" else 1000
    file_version = f"10.0.26100.{ubr}"
    spec = {"variant": a.variant, "file_version": file_version, "components": [], "records": [], "pe_files": []}

    real = bool(a.mediaprep)

    def stamp(src, version):
        tmp = os.path.join(root, ".pe.tmp")
        os.makedirs(root, exist_ok=True)
        got = subprocess.run(
            [sys.executable, os.path.join(HERE, "pe_version.py"), os.path.join(a.wine, src), tmp, version],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        with open(tmp, "rb") as f:
            data = f.read()
        os.remove(tmp)
        return data, got

    payloads = []  # (component, lang, dest, bytes, version, rtm bytes or None)
    if a.wine:
        for comp, lang, src, dest in COMPONENTS:
            version = RTM_VERSION if real and comp in AT_RTM else file_version
            data, got = stamp(src, version)
            rtm = stamp(src, RTM_VERSION)[0] if real and comp in WITH_REVERSE else None
            payloads.append((comp, lang, dest, data, version, rtm))
            spec["pe_files"].append({"path": "Windows/System32/" + dest, "source": src,
                                     "version": None if got == "none" else got})
    for comp, lang, data, dest in TEXT_COMPONENTS:
        payloads.append((comp, lang, dest, data, file_version, None))

    for comp, lang, dest, data, version, rtm in payloads:
        folder = folder_name(comp, lang, version)
        name = dest.rsplit("/", 1)[-1]
        sxs = os.path.join(win, "WinSxS", folder, name)
        write(sxs, data)
        live = os.path.join(s32, dest)
        os.makedirs(os.path.dirname(live), exist_ok=True)
        os.link(sxs, live)  # the component store and System32 share one inode, as on Windows
        write(os.path.join(win, "WinSxS", "Manifests", folder + ".manifest"),
              manifest_xml(comp, lang, version, [(dest, data)]))
        entry = {"folder": folder, "file": name, "system32": dest, "version": version,
                 "sha256": hashlib.sha256(data).hexdigest()}
        if rtm is not None:
            r = reverse_delta(a.mediaprep, os.path.join(root, ".r.tmp"), data, rtm)
            write(os.path.join(win, "WinSxS", folder, "r", name), r)
            entry["r"] = f"Windows/WinSxS/{folder}/r/{name}"
            entry["rtm_sha256"] = hashlib.sha256(rtm).hexdigest()
        elif version == RTM_VERSION:
            entry["rtm_sha256"] = entry["sha256"]
        spec["components"].append(entry)

    if a.variant != "fileonly":
        bases = []
        spec["servicing_stacks"] = add_servicing_stacks(win, [OLD_STACK, (file_version, 2)], a.wcp_out, bases)
        if a.mediaprep:
            spec["dcm_manifests"] = add_dcm_manifests(win, file_version, bases, a.wcp_out, a.mediaprep,
                                                      [OLD_STACK[0], file_version])

    if a.variant in ("base", "stale"):
        pk = os.path.join(win, "servicing", "Packages")
        recs = [
            ("Microsoft-Windows-WinPE-Package", "", "10.0.26100.1", "KB0000000", "Product"),
            ("Microsoft-Windows-WinPE-LanguagePack-Package", "en-US", "10.0.26100.1", "KB0000000", "Language Pack"),
            ("WinPE-Rejuv-Package", "", "10.0.26100.1", "KB0000000", "Feature Pack"),
            ("Package_for_ServicingStack_1000", "", "26100.1000.1.0", "KB5040529", "Update"),
            ("Package_for_SafeOSDU", "", "26100.1000.1.0", "KB5040530", "Update"),
            ("Package_for_RollupFix", "", "26100.1000.1.0", "KB5040527", "Security Update"),
        ]
        if a.variant == "stale":
            # Servicing leaves the superseded records in place; the newest one tells the truth.
            recs += [
                ("Package_for_ServicingStack_8037", "", "26100.8037.1.0", "KB5079473", "Update"),
                ("Package_for_SafeOSDU", "", "26100.8037.1.0", "KB5079500", "Update"),
            ]
        for name, lang, ver, kb, rt in recs:
            fname = f"{name}~{TOKEN}~amd64~{lang}~{ver}"
            comps = [(c[0], file_version) for c in COMPONENTS[:2]]
            write(os.path.join(pk, fname + ".mum"), mum_xml(name, ver, lang, kb, rt, comps))
            write(os.path.join(pk, fname + ".cat"), b"0\x82\x00\x00 catalog placeholder " + fname.encode())
            spec["records"].append(fname + ".mum")

    # Registry hives present but empty (zero-length files are an edge case the reader must keep).
    for hive in ("DEFAULT", "SAM", "SECURITY", "SOFTWARE", "SYSTEM"):
        write(os.path.join(s32, "config", hive), b"")
    write(os.path.join(s32, "winpeshl.ini"), b"[LaunchApps]\r\n%SYSTEMDRIVE%\\sources\\recovery\\recenv.exe\r\n")
    write(os.path.join(s32, "Recovery", "ReAgent.xml"), b"")
    lic = b"{\\rtf1 placeholder license}\r\n"
    write(os.path.join(s32, "license.rtf"), lic)
    write(os.path.join(s32, "en-US", "license.rtf"), lic)  # same content, not a hard link: one blob, two inodes
    write(os.path.join(win, "Fonts", "Ärger-日本語.txt"), "unicode name\n".encode())
    write(os.path.join(win, "Temp", "🚀 rocket.log"), b"astral-plane name (surrogate pair)\n")
    write(os.path.join(s32, "Ελληνικά.txt"), b"")
    write(os.path.join(root, "sources", "recovery", "recenv.txt"), b"recovery environment placeholder\n")
    deep = os.path.join(win, "deep", *[f"l{i:02d}" for i in range(1, 25)])
    write(os.path.join(deep, "leaf.txt"), b"26 levels down\n")
    spec["deep_path"] = os.path.relpath(os.path.join(deep, "leaf.txt"), root)

    # Fixed times everywhere so the captured metadata does not depend on the build time.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))
    with open(a.spec_out, "w") as f:
        json.dump(spec, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
