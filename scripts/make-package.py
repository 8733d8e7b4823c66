#!/usr/bin/env python3
"""make-package.py: build synthetic CBS-shaped update packages (CAB or MSU) for tests and fixtures.

Usage:  make-package.py SPEC.json OUT.cab [--mediaprep CMD] [--dcm-base FILE]   ("-": spec from stdin)

--mediaprep CMD (or env MEDIAPREP_CMD): the `mediaprep` command line; needed for real DCM manifests
and PA30 payload deltas, which are made with mediaprep's own encoder (`mediaprep delta create`;
`--pe` when both files are PE images, so .dll/.exe/.sys deltas are PE-typed as Microsoft's are).
--dcm-base FILE: the base for "dcm": true manifests when the spec gives no "dcm_base".

Needs python3 (stdlib only) and the `gcab` binary. Output is deterministic: staged files get a fixed
time (2026-03-10 00:00:00 UTC, override with "time") and gcab writes set ID 0, so the same spec gives
the same bytes.

The packages are *shaped* like Microsoft's (update.mum, component manifests with real SHA-256 digests,
payloads in WinSxS-style component folders); they are not signed and their 16-hex identity hashes are
our own (first 16 hex of SHA-256 over the identity string, since Microsoft's algorithm is undisclosed).

SPEC (CAB mode, "mode": "cab" or absent)
{
  "kb": "KB5079471",                     # <package identifier>
  "identity": {"name": "Package_for_SafeOSDU", "version": "26100.8037.1.0", "arch": "amd64",
               "language": "neutral", "token": "31bf3856ad364e35"},   # language/token optional
  "release_type": "Update", "restart": "possible",                    # optional
  "psfx": false,                          # add <customInformation PackageFormat="PSFX">; or an object of
                                          # attributes written on it, e.g. {"PSFXVersion": "2",
                                          # "PSFXDeltaFormat": "ForwardOnly"} (PackageFormat="PSFX" added)
  "dcm_base": "path",                     # base for "dcm": true manifests (relative to the spec)
  "parents": [{"name": "WinPE-Package", "version": "10.0.26100.1", "arch": "amd64"}],
  "components": [{"name": "Microsoft-Windows-Foo", "version": "10.0.26100.8037", "arch": "amd64",
                  "language": "neutral",                # optional
                  "dcm": false,                         # a real DCM manifest: the XML PA30-encoded
                                                        # against "dcm_base" (mediaprep delta create --dcm)
                  "dcm_junk": false,                    # write the manifest as DCM\x01 + junk instead
                  "utf16": false,                       # write the manifest as UTF-16LE with BOM
                  "sha1": false,                        # old-style SHA-1 digests
                  "flat": false,                        # payloads at the CAB root instead of the folder
                  "files": [{"name": "foo.dll", "destinationPath": "$(runtime.system32)\\",
                             "source": "path/on/disk"  |  "text": "inline contents"  |  "base64": "...",
                             "form": "full",   # full: <folder>\<name>; "n": <folder>\n\<name>, a PA30 from
                                               # an empty reference; "f": <folder>\f\<name>, a PA30 from
                                               # "rtm" (a file) to the new file; "r": only
                                               # <folder>\r\<name>, new -> "rtm" (refusal tests)
                             "rtm": "path",    # the RTM file "f" deltas are made against
                             "crc32": true,    # n/f: prefix the delta with CRC32 (zlib) of the delta, LE
                             "bad_crc": false, "truncate_delta": false,   # tamper: damage the delta
                             "wrong_rtm": false,                           # f delta made against other bytes
                             "file_type": 4}]}],   # tamper: rewrite the header's file type (1..15; 4 = IA64, a
                                                   # type the engine refuses: the unsupported-type refusal)
  "no_mum": false,                        # omit update.mum (Setup DU shape)
  "extra": [{"name": "sources\\setup.exe", "text": "..."}],   # more members, any path
  "catalog": false,                       # add an update.cat placeholder
  "compress": true,                       # gcab -z (MSZIP); false = stored
  "time": "2026-03-10 00:00:00",
  "tamper": {
    "wrong_digest": ["foo.dll"],          # manifest digest of these files is made wrong
    "payload": {"foo.dll": "other bytes"},# payload replaced after digests were computed
    "dotdot_destination": ["foo.dll"],    # destinationPath becomes $(runtime.system32)\..\..\evil\
    "kb": "KB0000001",                    # update.mum says this KB instead
    "rename_member": [["aa\\evil.txt", "..\\evil.txt"]]  # patch member names in the finished CAB
                                          # (equal length; e.g. to create traversal names gcab refuses)
  }
}

SPEC (MSU mode, "mode": "msu")
{
  "mode": "msu",
  "kb": "KB5079473",
  "container": "cab",                    # "wim": the .msu itself is a WIM (24H2+), built by
                                         # wimlib-imagex capture (LZX) from the staged members
  "package": {CAB spec},                 # becomes Windows11.0-<kb>-<arch>.cab ("package_name" overrides)
  "ssu": {CAB spec},                     # becomes SSU-<build>-<arch>.cab ("ssu_name" overrides)
  "ssu_spec": "ssu.json",                # or: the SSU's CAB spec read from this file (next to the spec)
  "wim": false,                          # the package as Windows11.0-<kb>-x64.wim instead of .cab (always
                                         # so with "container": "wim"): a one-image WIM holding update.mum
                                         # (PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly"),
                                         # the component manifests and an express.psf.cix.xml
  "psf": true,                           # add Windows11.0-<kb>-x64.psf: a PLACEHOLDER shaped like a PSTREAM
                                         # (magic, u16 2, u16 2, zero header to 0x80, then the files' bytes
                                         # RAW at the offsets the cix.xml names; no embedded CIX)
  "properties": {"KB Article Number": "5079473", ...},   # written UTF-16LE as Key="Value" lines
                                         # (default with "container": "cab"; none with "wim" unless given)
  "desktop_deployment": false,           # add DesktopDeployment.cab (a plain placeholder CAB)
  "aggregated_metadata": false,          # add Windows11.0-<kb>-x64.AggregatedMetadata.cab (placeholder)
  "extra": [...], "compress": false       # MSUs are stored (inner CABs are already compressed)
}
Needs wimlib-imagex for "wim" and "container": "wim".
"""

import base64
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

TOKEN = "31bf3856ad364e35"
ASM_V3 = "urn:schemas-microsoft-com:asm.v3"


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def ident_attrs(d, version_scope=False, build_type=False):
    parts = [
        ("name", d["name"]),
        ("version", d.get("version", "10.0.0.0")),
        ("processorArchitecture", d.get("arch", "amd64")),
        ("language", d.get("language", "neutral")),
    ]
    if build_type:
        parts.append(("buildType", "release"))
    parts.append(("publicKeyToken", d.get("token", TOKEN)))
    if version_scope:
        parts.append(("versionScope", "nonSxS"))
    return " ".join('%s="%s"' % (k, xml_escape(v)) for k, v in parts)


def sxs_folder(c):
    """WinSxS-style folder name; the last field is our own deterministic hash (see module doc)."""
    arch = c.get("arch", "amd64").lower()
    name = c["name"].lower()
    token = c.get("token", TOKEN)
    version = c.get("version", "10.0.0.0")
    lang = c.get("language", "neutral").lower()
    culture = "none" if lang in ("neutral", "", "*") else lang
    key = "|".join([arch, name, token, version, culture])
    h = hashlib.sha256(key.encode()).hexdigest()[:16]
    return "%s_%s_%s_%s_%s_%s" % (arch, name, token, version, culture, h)


def file_bytes(f, base_dir):
    if "text" in f:
        return f["text"].encode("utf-8")
    if "base64" in f:
        return base64.b64decode(f["base64"])
    if "source" in f:
        p = f["source"]
        if not os.path.isabs(p):
            p = os.path.join(base_dir, p)
        if os.path.exists(p):
            with open(p, "rb") as fh:
                return fh.read()
        return f["source"].encode("utf-8")  # "path on disk or inline text"
    return b""


def component_manifest(c, payloads, tamper, enc=None):
    use_sha1 = c.get("sha1", False)
    lines = ['<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
             '<assembly xmlns="%s" manifestVersion="1.0">' % ASM_V3,
             '  <assemblyIdentity %s />' % ident_attrs(c, version_scope=True, build_type=True)]
    for f in c.get("files", []):
        data = payloads[f["name"]]
        digest = (hashlib.sha1 if use_sha1 else hashlib.sha256)(data).digest()
        if f["name"] in tamper.get("wrong_digest", []):
            digest = bytes([digest[0] ^ 0xFF]) + digest[1:]
        dest = f.get("destinationPath", "$(runtime.system32)\\")
        if f["name"] in tamper.get("dotdot_destination", []):
            dest = "$(runtime.system32)\\..\\..\\evil\\"
        alg = "sha1" if use_sha1 else "sha256"
        lines += [
            '  <file name="%s" destinationPath="%s" sourceName="%s" sourcePath=".\\" importPath="$(build.nttree)\\">'
            % (xml_escape(f["name"]), xml_escape(dest), xml_escape(f.get("sourceName", f["name"]))),
            '    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL" />',
            '    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">',
            '      <dsig:Transforms>',
            '        <dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity" />',
            '      </dsig:Transforms>',
            '      <dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#%s" />' % alg,
            '      <dsig:DigestValue>%s</dsig:DigestValue>' % base64.b64encode(digest).decode(),
            '    </asmv2:hash>',
            '  </file>',
        ]
    lines.append('</assembly>')
    text = "\r\n".join(lines) + "\r\n"
    if c.get("dcm_junk"):
        return b"DCM\x01" + hashlib.sha256(text.encode()).digest() * 4
    if c.get("dcm"):
        return enc.dcm(b"\xef\xbb\xbf" + text.encode("utf-8"))
    if c.get("utf16"):
        return b"\xff\xfe" + text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16-le")
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def update_mum(spec, tamper):
    ident = spec["identity"]
    kb = tamper.get("kb", spec.get("kb", "KB0000000"))
    lines = ['<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
             '<assembly xmlns="%s" manifestVersion="1.0" description="Fix for %s" displayName="default" '
             'company="Microsoft Corporation" copyright="Microsoft Corporation" '
             'supportInformation="https://support.microsoft.com/help/%s">'
             % (ASM_V3, xml_escape(kb), xml_escape(kb[2:] if kb.upper().startswith("KB") else kb)),
             '  <assemblyIdentity %s />' % ident_attrs(ident),
             '  <package identifier="%s" releaseType="%s" restart="%s">'
             % (xml_escape(kb), xml_escape(spec.get("release_type", "Update")),
                xml_escape(spec.get("restart", "possible")))]
    psfx = spec.get("psfx")
    if psfx is True:
        lines.append('    <mum2:customInformation xmlns:mum2="urn:schemas-microsoft-com:asm.v3" '
                     'Version="%s" PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly" />'
                     % xml_escape(ident.get("version", "")))
    elif isinstance(psfx, dict):
        attrs = {"PackageFormat": "PSFX"}
        attrs.update(psfx)
        lines.append('    <mum2:customInformation xmlns:mum2="urn:schemas-microsoft-com:asm.v3" '
                     'Version="%s" %s />' % (xml_escape(ident.get("version", "")), " ".join(
                         '%s="%s"' % (k, xml_escape(str(v))) for k, v in attrs.items())))
    if spec.get("parents"):
        lines.append('    <parent revisionCompare="GE" integrate="standalone" disposition="detect">')
        for p in spec["parents"]:
            lines.append('      <assemblyIdentity %s />' % ident_attrs(p))
        lines.append('    </parent>')
    for c in spec.get("components", []):
        h = hashlib.sha256(sxs_folder(c).encode()).hexdigest()[:40]
        lines += ['    <update name="%s">' % h,
                  '      <component>',
                  '        <assemblyIdentity %s />' % ident_attrs(c, version_scope=True),
                  '      </component>',
                  '    </update>']
    lines += ['  </package>', '</assembly>']
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def run_gcab(stage, members, out, compress, when):
    """members: list of (cab name with '\\', bytes). Staged under `stage`, fixed times, then gcab."""
    rels = stage_files(stage, members, when)
    cmd = ["gcab", "-c"] + (["-z"] if compress else []) + [os.path.abspath(out)] + rels
    subprocess.run(cmd, check=True, cwd=stage)


def patch_names(path, renames):
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    for old, new in renames:
        o, n = old.encode("latin-1") + b"\0", new.encode("latin-1") + b"\0"
        if len(o) != len(n):
            raise SystemExit("rename_member needs equal lengths: %r -> %r" % (old, new))
        at = data.find(o)
        if at < 0:
            raise SystemExit("rename_member: %r not in the CAB" % old)
        data[at:at + len(o)] = n
    with open(path, "wb") as fh:
        fh.write(bytes(data))


class Encoder:
    """PA30 deltas and DCM manifests made by mediaprep's own encoder (`mediaprep delta create`)."""

    def __init__(self, cmd, work, dcm_base):
        self.cmd, self.work, self.dcm_base = cmd, work, dcm_base
        self.n = 0

    def _create(self, reference, target, dcm=False, pe=False):
        if not self.cmd:
            raise SystemExit("make-package.py: deltas and DCM manifests need --mediaprep CMD (or MEDIAPREP_CMD)")
        self.n += 1
        ref = os.path.join(self.work, "enc-%d.ref" % self.n)
        tgt = os.path.join(self.work, "enc-%d.tgt" % self.n)
        out = os.path.join(self.work, "enc-%d.pa30" % self.n)
        for path, data in ((ref, reference), (tgt, target)):
            with open(path, "wb") as fh:
                fh.write(data)
        # `delta create` writes the target file's time into the header: a fixed one keeps the
        # output the same from run to run (2026-03-10 00:00:00 UTC).
        os.utime(tgt, (1773100800, 1773100800))
        subprocess.run(shlex.split(self.cmd) + ["delta", "create", ref, tgt, "-o", out]
                       + (["--dcm"] if dcm else []) + (["--pe"] if pe else []),
                       check=True, stdout=subprocess.DEVNULL)
        with open(out, "rb") as fh:
            return fh.read()

    def dcm(self, xml):
        if self.dcm_base is None:
            raise SystemExit("make-package.py: a \"dcm\": true manifest needs \"dcm_base\" or --dcm-base")
        with open(self.dcm_base, "rb") as fh:
            base = fh.read()
        out = self._create(base, xml, dcm=True)
        if not out.startswith(b"DCM\x01"):
            raise SystemExit("mediaprep did not write a DCM manifest")
        return out

    def delta(self, reference, target):
        # Two PE images (an f\ or r\ delta of a .dll/.exe/.sys): a PE-typed delta, as Microsoft's
        # payload deltas are (`delta create --pe`: AMD64/I386 flags, preprocess buffer, hash).
        pe = reference[:2] == b"MZ" and target[:2] == b"MZ"
        out = self._create(reference, target, pe=pe)
        if not out.startswith(b"PA30"):
            raise SystemExit("mediaprep did not write a PA30 delta")
        return out


def set_file_type(delta, value):
    """Rewrite a PA30 header's FileType (a one-nibble value, as our encoder's RAW 1 is): the header
    bitstream (LSB first, from byte 12) holds 3 padding-count bits, FileTypeSet as a 1-bit nibble count
    + 4 bits, then FileType the same way, so its value bits are 9..12. Lengths stay the same."""
    if delta[:4] != b"PA30" or not 1 <= value <= 15:
        raise SystemExit("file_type: a PA30 delta and a value 1..15 are needed")
    a = bytearray(delta)
    for i in range(4):
        pos = 12 * 8 + 9 + i
        a[pos // 8] = (a[pos // 8] & ~(1 << (pos % 8))) | (((value >> i) & 1) << (pos % 8))
    return bytes(a)


def payload_member(f, data, base_dir, enc):
    """The (subfolder, bytes) a file is stored as: full, or an n\\ / f\\ PA30 delta."""
    form = f.get("form", "full")
    if form == "full":
        return "", data
    if form == "r":  # only the reverse delta (new -> "rtm"): a package CBS could not rebuild from
        rtm = file_bytes({"source": f["rtm"]}, base_dir)
        delta = enc.delta(data, rtm)
        return "r\\", (struct.pack("<I", zlib.crc32(delta) & 0xFFFFFFFF) + delta
                        if f.get("crc32", True) else delta)
    if form == "n":
        reference = b""
    elif form == "f":
        if "rtm" not in f:
            raise SystemExit("%s: form f needs \"rtm\"" % f["name"])
        reference = file_bytes({"source": f["rtm"]}, base_dir)
        if f.get("wrong_rtm"):
            reference = reference[:len(reference) // 2] + b"not the RTM file" + reference[len(reference) // 2:]
    else:
        raise SystemExit("%s: unknown form %r" % (f["name"], form))
    delta = enc.delta(reference, data)
    if f.get("file_type"):
        delta = set_file_type(delta, f["file_type"])
    if f.get("truncate_delta"):
        delta = delta[:len(delta) * 2 // 3]
    if f.get("crc32", True):
        crc = zlib.crc32(delta) & 0xFFFFFFFF
        if f.get("bad_crc"):
            crc ^= 0x00010000
        delta = struct.pack("<I", crc) + delta
    return form + "\\", delta


def build_cab(spec, out, base_dir, work, enc=None):
    if enc is None:
        enc = Encoder(None, work, None)
    if spec.get("dcm_base"):
        p = spec["dcm_base"]
        enc = Encoder(enc.cmd, work, p if os.path.isabs(p) else os.path.join(base_dir, p))
    tamper = spec.get("tamper", {})
    when = spec.get("time", "2026-03-10 00:00:00") + " UTC"
    members = []
    if not spec.get("no_mum"):
        members.append(("update.mum", update_mum(spec, tamper)))
    for c in spec.get("components", []):
        folder = sxs_folder(c)
        payloads = {f["name"]: file_bytes(f, base_dir) for f in c.get("files", [])}
        members.append((folder + ".manifest", component_manifest(c, payloads, tamper, enc)))
        for f in c.get("files", []):
            data = payloads[f["name"]]
            if f["name"] in tamper.get("payload", {}):
                data = tamper["payload"][f["name"]].encode("utf-8")
            sub, data = payload_member(f, data, base_dir, enc)
            member = f["name"] if c.get("flat") else folder + "\\" + sub + f["name"]
            members.append((member, data))
    for e in spec.get("extra", []):
        members.append((e["name"], file_bytes(e, base_dir)))
    if spec.get("catalog"):
        members.append(("update.cat", b"0\x82placeholder catalog (unsigned)\n"))
    stage = tempfile.mkdtemp(dir=work)
    run_gcab(stage, members, out, spec.get("compress", True), when)
    if tamper.get("rename_member"):
        patch_names(out, tamper["rename_member"])


def stage_files(stage, members, when):
    """Write members (name with '\\', bytes) under `stage` with a fixed time."""
    rels = []
    for name, data in members:
        rel = name.replace("\\", "/")
        path = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(path) or stage, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        rels.append(rel)
    for rel in rels:
        subprocess.run(["touch", "-d", when, os.path.join(stage, rel)], check=True)
    return rels


def run_wimlib(stage, members, out, when, name):
    """A one-image LZX WIM of `members`, written by wimlib-imagex (not deterministic: wimlib puts a
    random GUID and the current time in the WIM)."""
    stage_files(stage, members, when)
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["wimlib-imagex", "capture", stage, os.path.abspath(out), name, "--compress=LZX",
                    "--no-acls"], check=True, stdout=subprocess.DEVNULL)


def psf_and_cix(pkg, kb, base_dir):
    """The .psf placeholder (PSTREAM-shaped header, then each payload RAW) and the
    express.psf.cix.xml indexing it in the documented shape (Container/Files/File/Hash/Delta/Source)."""
    body = bytearray(b"PSTREAM\0" + (2).to_bytes(2, "little") + (2).to_bytes(2, "little"))
    body += bytes(0x80 - len(body))
    filetime = 134175744000000000  # 2026-03-10 00:00:00 UTC, as a FILETIME
    files = []
    n = 0
    for c in pkg.get("components", []):
        for f in c.get("files", []):
            data = file_bytes(f, base_dir)
            n += 1
            sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
            files.append(
                '  <File id="%d" name="%s\\f\\%s" length="%d" time="%d" attr="128">\r\n'
                '   <Hash alg="SHA256" value="%s" />\r\n'
                '   <Delta><Source type="RAW" offset="%d" length="%d"><Hash alg="SHA256" value="%s" />'
                '</Source></Delta>\r\n'
                '  </File>\r\n'
                % (n, xml_escape(sxs_folder(c)), xml_escape(f["name"]), len(data), filetime, sha,
                   len(body), len(data), sha))
            body += data
    cix = ('<?xml version="1.0" encoding="utf-8"?>\r\n'
           '<Container xmlns="urn:ContainerIndex" name="Windows11.0-%s-x64.psf" type="PSF" length="%d" '
           'version="2">\r\n <Files>\r\n%s </Files>\r\n</Container>\r\n'
           % (xml_escape(kb), len(body), "".join(files)))
    return bytes(body), cix.encode("utf-8")


def build_package_wim(pkg, kb, out, base_dir, work, when):
    """The LCU as a WIM: update.mum (PSFX attributes), manifests, express.psf.cix.xml."""
    pkg = dict(pkg, psfx=True)
    members = [("update.mum", update_mum(pkg, {}))]
    for c in pkg.get("components", []):
        payloads = {f["name"]: file_bytes(f, base_dir) for f in c.get("files", [])}
        members.append((sxs_folder(c) + ".manifest", component_manifest(c, payloads, {})))
    psf, cix = psf_and_cix(pkg, kb, base_dir)
    members.append(("express.psf.cix.xml", cix))
    if pkg.get("catalog"):
        members.append(("update.cat", b"0\x82placeholder catalog (unsigned)\n"))
    run_wimlib(tempfile.mkdtemp(dir=work), members, out, when, "Windows11.0-%s-x64" % kb)
    return psf


def placeholder_cab(files, out, work, when):
    stage = tempfile.mkdtemp(dir=work)
    run_gcab(stage, files, out, True, when)
    with open(out, "rb") as fh:
        return fh.read()


def build_msu(spec, out, base_dir, work, enc=None):
    kb = spec.get("kb", "KB0000000")
    when = spec.get("time", "2026-03-10 00:00:00") + " UTC"
    members = []
    pkg = spec.get("package")
    arch_tag = {"amd64": "x64", "x86": "x86", "arm64": "arm64"}
    as_wim = spec.get("container", "cab") == "wim"
    psf = b"PSTREAM placeholder"
    if (spec.get("wim") or as_wim) and pkg is not None:
        p = os.path.join(work, "inner-package.wim")
        psf = build_package_wim(pkg, kb, p, base_dir, work, when)
        with open(p, "rb") as fh:
            members.append(("Windows11.0-%s-x64.wim" % kb, fh.read()))
    elif pkg is not None:
        arch = arch_tag.get(pkg.get("identity", {}).get("arch", "amd64"), "x64")
        name = spec.get("package_name", "Windows11.0-%s-%s.cab" % (kb, arch))
        p = os.path.join(work, "inner-package.cab")
        build_cab(pkg, p, base_dir, work, enc)
        with open(p, "rb") as fh:
            members.append((name, fh.read()))
    if spec.get("psf", True):
        members.append(("Windows11.0-%s-x64.psf" % kb, psf))
    ssu = spec.get("ssu")
    if spec.get("ssu_spec"):
        with open(os.path.join(base_dir, spec["ssu_spec"]), "r", encoding="utf-8") as fh:
            ssu = json.load(fh)
    if ssu is not None:
        ver = ssu.get("identity", {}).get("version", "26100.1.1.0").split(".")
        arch = arch_tag.get(ssu.get("identity", {}).get("arch", "amd64"), "x64")
        name = spec.get("ssu_name", "SSU-%s.%s-%s.cab" % (ver[0], ver[1] if len(ver) > 1 else "0", arch))
        p = os.path.join(work, "inner-ssu.cab")
        build_cab(ssu, p, base_dir, work, enc)
        with open(p, "rb") as fh:
            members.append((name, fh.read()))
    if spec.get("desktop_deployment"):
        members.append(("DesktopDeployment.cab", placeholder_cab(
            [("DesktopDeployment.txt", b"desktop deployment placeholder\r\n")],
            os.path.join(work, "dd.cab"), work, when)))
    if spec.get("aggregated_metadata"):
        members.append(("Windows11.0-%s-x64.AggregatedMetadata.cab" % kb, placeholder_cab(
            [("LCUCompDB_%s.xml" % kb, b"<CompDB>placeholder</CompDB>\r\n")],
            os.path.join(work, "am.cab"), work, when)))
    default_props = None if as_wim else {"KB Article Number": kb[2:] if kb.upper().startswith("KB") else kb}
    props = spec.get("properties", default_props)
    if props is not None:
        text = "".join('%s="%s"\r\n' % (k, v) for k, v in props.items())
        members.append(("Windows11.0-%s-x64-pkgProperties.txt" % kb, b"\xff\xfe" + text.encode("utf-16-le")))
    for e in spec.get("extra", []):
        members.append((e["name"], file_bytes(e, base_dir)))
    stage = tempfile.mkdtemp(dir=work)
    if as_wim:
        run_wimlib(stage, members, out, when, "Windows11.0-%s-x64" % kb)
    else:
        run_gcab(stage, members, out, spec.get("compress", False), when)


def main():
    args, opts = [], {"--mediaprep": os.environ.get("MEDIAPREP_CMD"), "--dcm-base": None}
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a in opts and argv:
            opts[a] = argv.pop(0)
        else:
            args.append(a)
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    sys.argv = [sys.argv[0]] + args
    if shutil.which("gcab") is None:
        sys.stderr.write("gcab not found\n")
        return 1
    if sys.argv[1] == "-":
        spec, base_dir = json.load(sys.stdin), os.getcwd()
    else:
        with open(sys.argv[1], "r", encoding="utf-8") as fh:
            spec = json.load(fh)
        base_dir = os.path.dirname(os.path.abspath(sys.argv[1]))
    out = sys.argv[2]
    work = tempfile.mkdtemp(prefix="make-package-")
    try:
        base = opts["--dcm-base"]
        enc = Encoder(opts["--mediaprep"], work, os.path.abspath(base) if base else None)
        if spec.get("mode", "cab") == "msu":
            build_msu(spec, out, base_dir, work, enc)
        else:
            build_cab(spec, out, base_dir, work, enc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
