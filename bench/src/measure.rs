//! What every table measures with: a source compiled at a level, the kernel's ns per
//! run of a loaded program (`BPF_PROG_TEST_RUN`), and the median of several figures.
//! A leaf: the tables use it, it uses none of them.

use sockc_compiler::{
    opt::{Lints, OptLevel},
    Compiled, Options,
};
use sockc_runtime::LoadedObject;

/// How each kernel figure is taken: `repeat` runs inside one `BPF_PROG_TEST_RUN` (the
/// kernel's average), the median of `runs` such measurements.
#[derive(Clone, Copy)]
pub struct TestRuns {
    pub repeat: u32,
    pub runs: usize,
}

/// `src` compiled at `level`, or the first error's message.
pub fn compile(src: &str, level: OptLevel) -> Result<Compiled, String> {
    compile_with(
        src,
        &Options {
            opt: level,
            ..Default::default()
        },
    )
}

/// `src` compiled as `apply` compiles it: at `-O2`, without the optimizer's lints
/// (which `check` shows).
pub fn compile_as_apply(src: &str) -> Result<Compiled, String> {
    compile_with(
        src,
        &Options {
            opt: OptLevel::O2,
            lints: Lints::Skip,
            ..Default::default()
        },
    )
}

fn compile_with(src: &str, opts: &Options) -> Result<Compiled, String> {
    let (c, diags) = sockc_compiler::compile(src, opts);
    c.ok_or_else(|| {
        diags
            .iter()
            .find(|d| d.is_error())
            .or(diags.first())
            .map(|d| d.message.clone())
            .unwrap_or_else(|| "does not compile".into())
    })
}

/// The kernel's ns per run of `symbol` on `frame`, the median over `t` (NaN for a
/// failed run).
pub fn kernel_ns(obj: &LoadedObject, symbol: &str, frame: &[u8], t: TestRuns) -> f64 {
    median(
        (0..t.runs)
            .map(|_| {
                obj.test_run(symbol, frame, t.repeat)
                    .map(|r| r.duration.as_nanos() as f64)
                    .unwrap_or(f64::NAN)
            })
            .collect(),
    )
}

/// The middle figure (the upper one of an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
