//! The Dynamic Update catalog and the applicability engine.
