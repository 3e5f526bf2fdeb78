//! JSON codec.
