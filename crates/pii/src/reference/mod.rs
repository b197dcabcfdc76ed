//! The scanner before the single-read speed work, kept as the oracle of the
//! differential tests in `tests.rs`: the current scanner must report exactly
//! what this one reports.

#![allow(dead_code)]

pub(crate) mod context;
pub(crate) mod scan;
