#!/usr/bin/env python3
"""Print MANIFEST.json for a fixture directory: what the third-party tools (not our code) report.

For every WIM/ESD/SWM: `wimlib-imagex info` header fields and per-image fields, and the raw XML from
`wimlib-imagex info --xml`. For every ISO: the 7zz listing (UDF when present) and the plain ISO 9660
listing from `isoinfo -f`. For every CAB: the `gcab -l` listing if gcab exists. For every .msu: as a WIM
(`wimlib-imagex info` + `dir`) or as a CAB (`gcab -l`). The generator's own
intent (which version each WinRE signal carries) is kept apart under "spec".

usage: manifest.py DIR > MANIFEST.json
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def kv_block(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z0-9 /.()-]*?):\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def wim_info(path):
    text = run("wimlib-imagex", "info", path).decode("utf-8", "replace")
    head, _, rest = text.partition("Available Images:")
    header = kv_block(head)
    header.pop("WIM Information", None)
    images = [kv_block(b) for b in re.split(r"\n\s*\n", rest) if "Index:" in b]
    xml = run("wimlib-imagex", "info", path, "--xml").decode("utf-16")
    return {
        "header": header,
        "image_count": int(header.get("Image Count", "0")),
        "boot_index": int(header.get("Boot Index", "0")),
        "compression": header.get("Compression"),
        "part": header.get("Part Number"),
        "images": images,
        "names": [i.get("Name") for i in images],
        "xml": xml.lstrip("\ufeff"),
    }


def sevenzip_list(path):
    text = run("7zz", "l", "-slt", "-ba", path).decode("utf-8", "replace")
    entries = []
    for block in re.split(r"\n\s*\n", text):
        kv = kv_block(block)
        if "Path" in kv:
            entries.append({"path": kv["Path"].replace("\\", "/"), "size": int(kv.get("Size") or 0),
                            "dir": kv.get("Folder") == "+"})
    return entries


def main():
    os.chdir(sys.argv[1])  # tools then report bare file names, not the build directory
    d = "."
    m = {"generator": "scripts/fixtures", "tools": {}, "wims": {}, "isos": {}, "cabs": {}, "spec": {}}
    m["tools"]["wimlib-imagex"] = run("wimlib-imagex", "--version").decode().splitlines()[0]
    m["tools"]["7zz"] = [l for l in run("7zz").decode("utf-8", "replace").splitlines() if l.strip()][0]
    for p in sorted(glob.glob(os.path.join(d, "*.wim")) + glob.glob(os.path.join(d, "*.esd"))
                    + glob.glob(os.path.join(d, "*.swm"))):
        name = os.path.basename(p)
        if re.match(r".*\d+\.swm$", name):
            continue  # later split parts are described by the first part
        info = wim_info(p)
        if name.endswith(".swm"):
            info["parts"] = sorted(os.path.basename(x) for x in glob.glob(os.path.join(d, "install*.swm")))
        m["wims"][name] = info
    for p in sorted(glob.glob(os.path.join(d, "*.iso"))):
        name = os.path.basename(p)
        iso9660 = [l for l in run("isoinfo", "-f", "-i", p).decode("utf-8", "replace").splitlines() if l]
        pvd = kv_block(run("isoinfo", "-d", "-i", p).decode("utf-8", "replace"))
        m["isos"][name] = {"volume_id": pvd.get("Volume id"), "iso9660_paths": iso9660,
                           "7zz": sevenzip_list(p)}
    if shutil.which("gcab"):
        for p in sorted(glob.glob(os.path.join(d, "*.cab"))):
            try:
                m["cabs"][os.path.basename(p)] = run("gcab", "-l", p).decode("utf-8", "replace").splitlines()
            except subprocess.CalledProcessError as e:
                m["cabs"][os.path.basename(p)] = {"gcab_error": e.stderr.decode("utf-8", "replace")}
    # .msu files: a WIM (24H2+) as wimlib sees it, with its member listing; a CAB as gcab lists it.
    m["msus"] = {}
    for p in sorted(glob.glob(os.path.join(d, "*.msu"))):
        with open(p, "rb") as f:
            is_wim = f.read(8) == b"MSWIM\0\0\0"
        if is_wim:
            info = wim_info(p)
            info["dir"] = run("wimlib-imagex", "dir", p, "1").decode("utf-8", "replace").splitlines()
            m["msus"][os.path.basename(p)] = {"container": "wim", "wim": info}
        elif shutil.which("gcab"):
            m["msus"][os.path.basename(p)] = {"container": "cab",
                                             "gcab": run("gcab", "-l", p).decode("utf-8", "replace").splitlines()}
    for p in sorted(glob.glob(os.path.join(d, "spec", "*.json"))):
        with open(p) as f:
            m["spec"][os.path.basename(p)[:-5]] = json.load(f)
    json.dump(m, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
