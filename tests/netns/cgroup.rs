//! cgroup v2 for the tests of sockmap blocks and sk_lookup registrars: where it is
//! mounted, and a directory made for one test that is removed, with nothing left in it,
//! when dropped, also on a panic.

/// Where cgroup v2 is mounted on this machine, from /proc/self/mountinfo.
pub fn cgroup2() -> String {
    let root = sockc_runtime::cgroup::cgroup2_root().expect("cgroup v2 is mounted");
    root.to_str()
        .expect("a UTF-8 cgroup v2 mount point")
        .to_string()
}

/// A cgroup v2 directory made for one test and removed (with nothing left in it) when
/// dropped, also on a panic.
pub struct Cgroup {
    pub path: String,
}

impl Cgroup {
    pub fn new(tag: &str) -> Cgroup {
        let path = format!("{}/sockc-{tag}-{}", cgroup2(), std::process::id());
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {path}: {e}"));
        Cgroup { path }
    }

    /// A child cgroup, removed with this one.
    pub fn child(&self, name: &str) -> Cgroup {
        let path = format!("{}/{name}", self.path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {path}: {e}"));
        Cgroup { path }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A cgroup goes once its processes are gone; killed peers may take a moment.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.path).is_ok() || !std::path::Path::new(&self.path).exists()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("warning: could not remove cgroup {}", self.path);
    }
}
