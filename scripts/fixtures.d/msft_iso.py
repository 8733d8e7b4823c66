#!/usr/bin/env python3
"""Write an ISO laid out the way Microsoft's CDIMAGE/OSCDIMG (-u2) does it: the ISO 9660 tree holds only
README.TXT, the real tree exists only in UDF.

Why pycdlib: genisoimage's -hide also hides files from its UDF tree, and mkudffs cannot add an
ISO 9660 side. pycdlib (PyPI) can add a file to the UDF tree alone (udf_path without iso_path).
Limitation: pycdlib writes UDF 2.60 where Microsoft writes UDF 1.02; readers must handle both.

usage: msft_iso.py TREE OUT.iso VOLUME_ID
"""
import io
import os
import sys

import pycdlib

README = (b"This disc contains a \"UDF\" file system and requires an operating system\r\n"
          b"that supports the ISO-13346 \"UDF\" file system specification.\r\n")


def main():
    tree, out, vol = sys.argv[1:4]
    when = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=vol, app_ident_str="CDIMAGE 2.56 (01/01/2005 TM)", udf="2.60")
    iso.add_fp(io.BytesIO(README), len(README), iso_path="/README.TXT;1")
    handles = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel = os.path.relpath(dirpath, tree)
        base = "" if rel == "." else "/" + rel.replace(os.sep, "/")
        for d in dirnames:
            iso.add_directory(udf_path=f"{base}/{d}")
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            fh = open(p, "rb")
            handles.append(fh)
            iso.add_fp(fh, os.path.getsize(p), udf_path=f"{base}/{f}", creation_time=when)
    iso.write(out)
    iso.close()
    for fh in handles:
        fh.close()


if __name__ == "__main__":
    main()
