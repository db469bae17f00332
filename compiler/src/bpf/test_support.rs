//! Test support for the lowering's unit tests: the example rule files compiled (their
//! `file` sets read from each file's directory).

/// Every rule file under `rules/` that compiles, compiled.
pub(crate) fn example_modules() -> Vec<(std::path::PathBuf, crate::Compiled)> {
    let files = sockc_testkit::rule_files::paths();
    files
        .into_iter()
        .filter_map(|f| {
            let src = std::fs::read_to_string(&f).unwrap();
            // `file` sets are read from the rule file's own directory, so files that
            // use them are among the examples too.
            let mut opts = crate::Options::default();
            opts.sema.base_dir = f.parent().map(|d| d.to_path_buf());
            crate::compile(&src, &opts).0.map(|c| (f, c))
        })
        .collect()
}
