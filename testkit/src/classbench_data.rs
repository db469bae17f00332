//! Where the ClassBench files are and how they are read. The repository carries every
//! set the benchmarks and tests use (`bench/classbench/`: the 1k sets as text, the 10k
//! and 100k sets gzip-compressed), so `sockc bench` and the tests run the same from a
//! fresh clone as anywhere else. The invariant it keeps: a file reads the same whether
//! it is stored as `NAME` or as `NAME.gz` (the plain one wins when both are there), and
//! no read returns more than [`MAX_TEXT`] bytes, whatever a compressed file expands to.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// The vendored sets, relative to the repository's root.
pub const VENDORED: &str = "bench/classbench";

/// The largest text a read returns: the biggest published file is about 8 MB.
pub const MAX_TEXT: u64 = 64 << 20;

/// The ClassBench directory: `arg`, else `$SOCKC_CLASSBENCH_DIR`, else the vendored
/// sets under `root` (the repository's root; empty for the working directory).
pub fn dir(arg: Option<&Path>, root: &Path) -> PathBuf {
    arg.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SOCKC_CLASSBENCH_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join(VENDORED))
}

/// The file name of one set's part: `acl1_10000.rules` plus `suffix` (`""`, `"_trace"`
/// or `"_trace.expected"`).
pub fn file_name(set: &str, size: usize, suffix: &str) -> String {
    format!("{set}_{size}.rules{suffix}")
}

/// Reads `dir/name`, or else `dir/name.gz` decompressed. The error names the path
/// tried last; `NotFound` when neither exists.
pub fn read(dir: &Path, name: &str) -> io::Result<String> {
    let plain = dir.join(name);
    match read_path(&plain) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => read_path(&dir.join(format!("{name}.gz"))),
        other => other,
    }
}

/// Reads one file, decompressing it when its name ends in `.gz`.
pub fn read_path(path: &Path) -> io::Result<String> {
    read_capped(path, MAX_TEXT)
}

fn read_capped(path: &Path, cap: u64) -> io::Result<String> {
    let file = File::open(path).map_err(|e| named(path, e))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = String::new();
    reader
        .take(cap + 1)
        .read_to_string(&mut text)
        .map_err(|e| named(path, e))?;
    if text.len() as u64 > cap {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        );
        return Err(named(path, e));
    }
    Ok(text)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Every set and size the benchmarks name is in the repository, each part readable
    /// and parsed, with one expected index per trace header.
    #[test]
    fn every_vendored_set_reads_and_parses() {
        use crate::classbench::{parse_expected, parse_filters, parse_trace};
        let dir = repo().join(VENDORED);
        for set in ["acl1", "fw1", "ipc1"] {
            for size in [1000, 10000, 100000] {
                let part = |s| read(&dir, &file_name(set, size, s)).unwrap();
                let filters = parse_filters(&part("")).unwrap();
                let trace = parse_trace(&part("_trace")).unwrap();
                let expected = parse_expected(&part("_trace.expected")).unwrap();
                assert!(filters.len() > size * 3 / 4, "{set}_{size}");
                assert_eq!(trace.len(), expected.len(), "{set}_{size}");
            }
        }
    }

    /// A compressed file reads as its text; one that expands past the cap is refused.
    #[test]
    fn a_gzip_file_reads_as_its_text_and_a_bomb_is_refused() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let tmp = std::env::temp_dir().join(format!("cbdata-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let write_gz = |name: &str, bytes: &[u8]| {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(bytes).unwrap();
            std::fs::write(tmp.join(name), enc.finish().unwrap()).unwrap();
        };
        write_gz("small.rules.gz", b"@1.2.3.4/32\n");
        assert_eq!(read(&tmp, "small.rules").unwrap(), "@1.2.3.4/32\n");
        write_gz("bomb.rules.gz", &[b'a'; 4097]);
        let e = read_capped(&tmp.join("bomb.rules.gz"), 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let e = read(&tmp, "missing.rules").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("missing.rules.gz"), "{e}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
