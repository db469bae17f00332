//! The CLI's text tables are the runtime's ([`sockc_runtime::table`]): one style for
//! `status`, `stats`, `test` and the plan. Invariant: nothing here but the re-export.

pub use sockc_runtime::table::{lines, new, Table};
