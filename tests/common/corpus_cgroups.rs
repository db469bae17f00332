//! The cgroups the import corpus's `-m cgroup --path` and `socket cgroupv2` rules name
//! (manifest `cgroups`, paths below the cgroup v2 root), made while a test loads
//! those rulesets with their own tools (the kernel and nft refuse a path that does
//! not exist) and removed when the guard drops; and how nft is run so that it finds
//! them on a host that mounts cgroup v2 elsewhere than `/sys/fs/cgroup`.

use std::path::PathBuf;

use serde_json::Value;

/// The directories this guard made, parents first.
pub struct CorpusCgroups(Vec<PathBuf>);

impl CorpusCgroups {
    /// Makes the `cgroups` of every manifest entry that are not there.
    pub fn make(entries: &[Value]) -> CorpusCgroups {
        let root = sockc_runtime::cgroup::cgroup2_root().expect("cgroup v2 is mounted");
        let mut made = Vec::new();
        let paths = entries
            .iter()
            .flat_map(|e| e["cgroups"].as_array().into_iter().flatten())
            .filter_map(Value::as_str);
        for rel in paths {
            let mut dir = root.clone();
            for part in rel.split('/') {
                dir.push(part);
                if std::fs::create_dir(&dir).is_ok() {
                    made.push(dir.clone());
                }
            }
        }
        CorpusCgroups(made)
    }

    /// The manifest of the corpus.
    pub fn manifest() -> Vec<Value> {
        let path = super::root().join("tests/import-corpus/rulesets/manifest.json");
        let text = std::fs::read_to_string(path).expect("manifest.json");
        serde_json::from_str::<Value>(&text)
            .expect("manifest is JSON")
            .as_array()
            .expect("a list")
            .clone()
    }
}

impl Drop for CorpusCgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The shell words that run a command with cgroup v2 bound at `/sys/fs/cgroup` in a
/// mount namespace of its own (`sh -c ... sh ROOT CMD...`), as `sockc apply` retries
/// an nft residual; `None` where cgroup v2 is mounted there already.
pub fn bound_prefix() -> Option<Vec<String>> {
    let root = sockc_runtime::cgroup::cgroup2_root()?;
    if root == std::path::Path::new("/sys/fs/cgroup") {
        return None;
    }
    Some(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount --bind "$1" /sys/fs/cgroup && shift && exec "$@""#,
            "sh",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([root.display().to_string()])
        .collect(),
    )
}
