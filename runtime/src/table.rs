//! The text tables of the CLI (`status`, `stats`, `test`) and of the plan (its
//! programs), all through `comfy-table` in one style: no borders, a header row (none
//! in the plan, which names its section above), columns as wide as their widest cell
//! and two spaces apart, numbers right-aligned where asked. Invariant: every line a
//! caller gets from `lines` starts with its indent and never ends in a blank, however
//! short the last column of that row is.

use comfy_table::{presets, CellAlignment, Table};

/// A borderless table under `header`; the columns at `right` (by index) right-aligned,
/// the others left-aligned. No wrapping: a long rule text stays on its line.
pub fn new<const N: usize>(header: [&str; N], right: &[usize]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    // No padding before the first column (the caller indents), two spaces between.
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// A borderless table of `rows` without a header row, every column left-aligned.
pub fn headless<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    for row in rows {
        table.add_row(row);
    }
    // The columns exist once the rows do.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// The table's lines, each after `indent`, the padding after the last cell trimmed.
pub fn lines<'t>(table: &'t Table, indent: &'t str) -> impl Iterator<Item = String> + 't {
    table
        .lines()
        .map(move |line| format!("{indent}{}", line.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_no_line_ends_in_a_blank() {
        let mut t = new(["packets", "line", "rule"], &[0, 1]);
        t.add_row(["20", "3", "drop udp to *:9001"]);
        t.add_row(["1234567", "12", "x"]);
        let got: Vec<String> = lines(&t, "  ").collect();
        assert_eq!(
            got,
            [
                "  packets  line  rule",
                "       20     3  drop udp to *:9001",
                "  1234567    12  x",
            ]
        );
    }

    #[test]
    fn a_headless_table_pads_like_the_others() {
        let t = headless([
            ["xdp on eth0".to_string(), "reloads".to_string()],
            ["sk_lookup".to_string(), "".to_string()],
        ]);
        let got: Vec<String> = lines(&t, "  ").collect();
        assert_eq!(got, ["  xdp on eth0  reloads", "  sk_lookup"]);
    }
}
