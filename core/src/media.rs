//! Opening what a user brings (ISO, WIM, ESD, SWM set, CAB, MSU) as a tree of layers.
