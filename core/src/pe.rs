//! PE (Portable Executable) version resources: the `VS_VERSIONINFO` file version of a binary.
