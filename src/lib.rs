pub use cheap_core::*;
