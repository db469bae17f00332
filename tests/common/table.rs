//! Checks on the CLI's text tables (`status`, `stats`, `test`): every row's cells
//! start under their column's name (or, in a right-aligned column, end under it), and
//! no line ends in a blank. Cells are told apart by two or more spaces between them.

/// The cells of a table line as byte spans `(start, end)`: runs of text separated by
/// two or more spaces (a single space belongs to the cell, e.g. `xdp on eth0`).
pub fn cells(line: &str) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut spaces = 0;
    for (i, c) in line.char_indices() {
        if c == ' ' {
            spaces += 1;
            continue;
        }
        match spans.last_mut() {
            Some(last) if spaces < 2 => last.1 = i + c.len_utf8(),
            _ => spans.push((i, i + c.len_utf8())),
        }
        spaces = 0;
    }
    spans
}

/// Asserts that `lines[0]` is a header naming `columns` and that every later line's
/// cells sit under those columns, left-aligned ones by their start and those whose
/// index is in `right` by their end; empty cells may be skipped. No line may end in
/// a blank. Panics with the whole table on the first misplaced cell.
pub fn assert_lines_up(lines: &[&str], columns: &[&str], right: &[usize]) {
    let table = lines.join("\n");
    let header = cells(lines[0]);
    let names: Vec<&str> = header.iter().map(|&(s, e)| &lines[0][s..e]).collect();
    assert_eq!(names, columns, "header:\n{table}");
    for line in lines {
        assert!(!line.ends_with(' '), "trailing blanks:\n{table}");
        let mut next = 0;
        for (s, e) in cells(line) {
            let column = (next..header.len()).find(|&i| {
                if right.contains(&i) {
                    e == header[i].1
                } else {
                    s == header[i].0
                }
            });
            let column = column
                .unwrap_or_else(|| panic!("cell {:?} under no column:\n{table}", &line[s..e]));
            next = column + 1;
        }
    }
}
