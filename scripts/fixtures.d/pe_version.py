#!/usr/bin/env python3
"""Copy a PE file, rewriting its VS_VERSIONINFO version to the one given (a.b.c.d).

Why: libwine's PE files carry Wine's version (10.0.18362.x); the WinRE fixture must claim 26100.x so
the version-truth code sees file versions that agree (or disagree) with the WIM XML on purpose.
pefile (a PyPI package) locates VS_FIXEDFILEINFO; the StringFileInfo FileVersion/ProductVersion strings
are replaced in place when the new text has the same length (it does for 10.0.NNNNN.NNNN), and the
PE checksum is recomputed.

usage: pe_version.py SRC DST a.b.c.d
"""
import sys

import pefile


def main():
    src, dst, ver = sys.argv[1:4]
    parts = [int(x) for x in ver.split(".")]
    ms, ls = (parts[0] << 16) | parts[1], (parts[2] << 16) | parts[3]
    pe = pefile.PE(src)
    if not hasattr(pe, "VS_FIXEDFILEINFO"):
        # No version resource (some Wine binaries): keep it as-is; "no version" is a case to cover too.
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        print("none")
        return
    old = None
    for ff in pe.VS_FIXEDFILEINFO:
        old = "%d.%d.%d.%d" % (ff.FileVersionMS >> 16, ff.FileVersionMS & 0xFFFF,
                               ff.FileVersionLS >> 16, ff.FileVersionLS & 0xFFFF)
        ff.FileVersionMS = ff.ProductVersionMS = ms
        ff.FileVersionLS = ff.ProductVersionLS = ls
    data = bytearray(pe.write())
    if old and len(old) == len(ver):
        a, b = old.encode("utf-16-le") + b"\0\0", ver.encode("utf-16-le") + b"\0\0"
        data = bytearray(bytes(data).replace(a, b))
    pe.close()
    pe = pefile.PE(data=bytes(data))
    pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
    with open(dst, "wb") as f:
        f.write(pe.write())
    print(ver)


if __name__ == "__main__":
    main()
