//! The packets `sockc test` runs: `--packet` texts and the lines of `--packets FILE`
//! (read within `--max-packets-file-bytes`), each parsed into a frame with the facts
//! its options give beyond it (`ct STATE`: [`super::ct`]; `over-limit`, `route`, `in`,
//! `out`: [`super::facts`]).
//!
//! Invariant: a packet that does not parse is refused with where it came from
//! (`--packet #N`, `FILE:LINE`), its text escaped: no raw control characters reach
//! the terminal.

use sockc_compiler::{
    diag::escaped,
    input::{read_bounded, utf8},
    limits::Limit,
    syntax::ct::CtState,
};
use sockc_testkit::packet::{parse_packet, PacketSpec};

use super::{ct, facts, TestArgs};
use crate::shared::{input::shown, settings::settings};

/// One packet to test, with where it came from (for messages).
pub struct Input {
    pub origin: String,
    pub spec: PacketSpec,
    pub frame: Vec<u8>,
    /// `ct STATE` in the packet: its conntrack state (`None`: no entry).
    pub ct: Option<CtState>,
    /// `over-limit`, `route CLASS` in the packet.
    pub extra: facts::ExtraFacts,
}

/// `line` without its comment: from a `#` that starts a word (the line's first, or
/// after a space) to the end. A `#` inside a word is the packet's: the bucket number of
/// `over-limit:10/second#2`, as `sockc diff` prints its examples.
fn uncommented(line: &str) -> &str {
    let bytes = line.as_bytes();
    let at = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()));
    at.map_or(line, |i| &line[..i])
}

/// Every packet given, in order: `--packet`s first, then the file's lines.
pub fn read_inputs(args: &TestArgs) -> Result<Vec<Input>, String> {
    let mut texts: Vec<(String, String)> = args
        .packets
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("--packet #{}", i + 1), t.clone()))
        .collect();
    if let Some(path) = &args.packets_file {
        let limit = Limit::PacketsFileBytes;
        let content = read_bounded(path, limit, settings().limits.get(limit))
            .map_err(|e| e.to_string())
            .and_then(|bytes| utf8(bytes).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
        for (n, line) in content.lines().enumerate() {
            let text = uncommented(line).trim();
            if !text.is_empty() {
                texts.push((format!("{}:{}", shown(path), n + 1), text.to_string()));
            }
        }
    }
    if texts.is_empty() {
        return Err(
            "no packets: give --packet \"tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn\" or \
                    --packets FILE"
                .into(),
        );
    }
    texts
        .into_iter()
        .map(|(origin, text)| {
            let (text, ct) =
                ct::split_ct(&text).map_err(|e| format!("{origin}: {}", escaped(&e)))?;
            let (text, extra) =
                facts::split_facts(&text).map_err(|e| format!("{origin}: {}", escaped(&e)))?;
            let spec = parse_packet(&text).map_err(|e| {
                // The line may hold anything: no raw control characters to the terminal.
                let (e, text) = (escaped(&e), escaped(&text));
                format!("{origin}: {e}\n  {text}")
            })?;
            let frame = spec.try_build().map_err(|e| format!("{origin}: {e}"))?;
            Ok(Input {
                origin,
                spec,
                frame,
                ct,
                extra,
            })
        })
        .collect()
}
