//! The semantic diff in the words `sockc diff` and `sockc apply --dry-run` lead with:
//! which packets change their verdict ([`sockc_compiler::semdiff`]), as a table of
//! regions in the CLI's table style, or as counts with `--summary`.
//!
//! Invariant: both commands print it through [`semantic_text`] (and its JSON through
//! [`options`]), so their answers read the same.

use sockc_compiler::semdiff::{self, RenderOptions, SemDiff};

use super::table;

/// Regions listed before "N more".
pub const MAX_LISTED: usize = 20;

/// The semantic diff in the words `diff` and `apply --dry-run` lead with.
pub fn semantic_text(d: &SemDiff, old: &str, new: &str, summary: bool) -> String {
    if summary {
        let (regions, counting) = (d.verdict_regions(), d.counting_changes());
        let cut = d.stopped() || (d.changes_verdicts() && regions == 0);
        return format!(
            "{}{regions} regions change verdict{}; {}{counting} counting changes\n",
            semdiff::at_least(d, regions),
            if cut { " (comparison cut short)" } else { "" },
            semdiff::at_least(d, counting),
        );
    }
    semdiff::render_text(d, &options(old, new))
}

pub fn options(old: &str, new: &str) -> RenderOptions {
    RenderOptions {
        old: old.to_string(),
        new: new.to_string(),
        max_listed: MAX_LISTED,
        table: region_table,
    }
}

/// The semantic diff's region table in the CLI's table style, indented two spaces.
fn region_table(header: [&str; 5], rows: Vec<[String; 5]>) -> Vec<String> {
    let mut t = table::new(header, &[]);
    for r in rows {
        t.add_row(r);
    }
    table::lines(&t, "  ").collect()
}
