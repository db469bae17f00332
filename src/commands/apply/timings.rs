//! `apply --timings`: the stages kept by [`sockc_runtime::stages`], printed on stderr
//! when the apply is done, the compile split into its front end and the rest with the
//! passes each ran.

use sockc_compiler::{driver::Checked, Compiled};
use sockc_runtime::stages;

use crate::shared::stderr::errln;
use crate::shared::time::stages_ms;

/// `apply --timings`' stage of the front end: read, parse, sema.
pub fn front_end_stage(c: &Checked) -> String {
    format!("read and compile: front end ({})", stages_ms(c.timings()))
}

/// `apply --timings`' stage of the rest of the compile, with its passes: those after
/// the first `front_end`, which [`front_end_stage`] showed.
pub fn back_end_stage(c: &Compiled, front_end: usize) -> String {
    let rest = c.timings.get(front_end..).unwrap_or_default();
    format!("read and compile: the rest ({})", stages_ms(rest))
}

/// The stages kept, on stderr.
pub fn print() {
    let (stages, total) = stages::take();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    errln!("timings (ms from the start of the command; a stage on another thread overlaps the others):");
    errln!("  {:>8} {:>8}  stage", "start", "took");
    for t in &stages {
        errln!("  {:>8.1} {:>8.1}  {}", ms(t.start), ms(t.took), t.name);
    }
    errln!("  total {:.1} until output", ms(total));
}
