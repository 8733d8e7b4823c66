//! Servicing: applying a package to an image tree and writing the new image.
