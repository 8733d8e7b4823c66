//! ISO 9660 (+ Joliet) and UDF readers.
