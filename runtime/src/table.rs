//! The text tables of the CLI (`status`, `stats`, `test`) and of the plan (its
//! programs), all through `comfy-table` in one style: no borders, a header row (none
//! in the plan, which names its section above), columns as wide as their widest cell
//! and two spaces apart, numbers right-aligned where asked. Invariants: every line a
//! caller gets from `lines` starts with its indent and never ends in a blank, however
//! short the last column of that row is; every cell is escaped as it goes in
//! (`sockc_compiler::diag::escaped`: a rule text's `\x1b`, a name's `\u{202e}`), so a
//! table holds no invisible character and its columns line up with the escapes in them.

use comfy_table::{presets, CellAlignment};
use sockc_compiler::diag::escaped;

/// A table whose cells are escaped as they are added.
pub struct Table(comfy_table::Table);

impl Table {
    /// Adds a row of cells, each escaped.
    pub fn add_row<S: AsRef<str>>(&mut self, row: impl IntoIterator<Item = S>) -> &mut Self {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| escaped(c.as_ref()).into_owned())
            .collect();
        self.0.add_row(cells);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A borderless table under `header`; the columns at `right` (by index) right-aligned,
/// the others left-aligned. No wrapping: a long rule text stays on its line.
pub fn new<const N: usize>(header: [&str; N], right: &[usize]) -> Table {
    let mut table = comfy_table::Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    // No padding before the first column (the caller indents), two spaces between.
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    Table(table)
}

/// A borderless table of `rows` without a header row, every column left-aligned.
pub fn headless<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> Table {
    let mut table = comfy_table::Table::new();
    table.load_style(presets::NOTHING);
    let mut table = Table(table);
    for row in rows {
        table.add_row(row);
    }
    // The columns exist once the rows do.
    for column in table.0.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// The table's lines, each after `indent`, the padding after the last cell trimmed.
pub fn lines<'t>(table: &'t Table, indent: &'t str) -> impl Iterator<Item = String> + 't {
    table
        .0
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

    /// A cell's invisible characters are escaped before the columns are measured, so
    /// the escapes line up like any other text.
    #[test]
    fn cells_are_escaped_and_still_line_up() {
        let mut t = new(["line", "rule"], &[0]);
        t.add_row(["3", "drop udp # \u{1b}[31mred\u{7}"]);
        t.add_row(["12", "allow tcp # \u{202e}gnp"]);
        t.add_row(["1", "x"]);
        let got: Vec<String> = lines(&t, "").collect();
        assert_eq!(
            got,
            [
                "line  rule",
                "   3  drop udp # \\x1b[31mred\\x07",
                "  12  allow tcp # \\u{202e}gnp",
                "   1  x",
            ]
        );
    }
}
