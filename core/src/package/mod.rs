//! Update packages: CAB and MSU containers and the CBS manifests inside them.
