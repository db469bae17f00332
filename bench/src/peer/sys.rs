//! The system calls the head-to-head needs and std does not wrap: entering a network
//! namespace (a thread, or a child before it runs), a child started placed (namespace,
//! CPUs, scheduler) without a `fork` and run to its end, CPU affinity, switching GRO on
//! (which gives a veth its NAPI instance), a thread's CPU time, and two BPF commands
//! (`BPF_PROG_LOAD` of a hand-assembled program, `BPF_PROG_TEST_RUN` with live
//! frames). A leaf: no other module of the bench is used here.

use std::{
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_type, BPF_F_TEST_XDP_LIVE_FRAMES};

/// The descriptor of the named namespace (`/run/netns/NAME`).
pub fn netns_file(name: &str) -> io::Result<File> {
    File::open(Path::new("/run/netns").join(name))
}

/// Moves the calling thread into the namespace `fd` refers to.
pub fn setns(fd: RawFd) -> io::Result<()> {
    // SAFETY: setns on a descriptor; failure is reported through errno.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside the namespace `name` (the caller's own thread
/// stays where it is).
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let ns = netns_file(name)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.as_raw_fd())?;
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Starts `cmd` inside the namespace `ns_fd` (`None`: this one), on every CPU and under
/// the normal scheduler, and when it started. From a thread of its own that is put
/// there first, which the child inherits: the child is then made by `posix_spawn`
/// (the standard library's choice without a `pre_exec`), sharing this process's
/// memory until its `exec`, where a `fork` copied the page tables of this process —
/// which holds the benches' rule and set files — and the child's `exec` tore them
/// down again: a few milliseconds on both sides of every timed step (the control
/// table's acl1_1000 steps took 9-13 ms in a whole run, 5-8 ms since).
pub fn spawn_placed(mut cmd: Command, ns_fd: Option<i32>) -> io::Result<(Child, Instant)> {
    let cpus = all_cpus();
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(fd) = ns_fd {
                setns(fd)?;
            }
            set_fifo(0, None)?;
            set_affinity(0, &cpus)?;
            let start = Instant::now();
            // Reaped by the caller's `wait4`, which also gives the child's CPU time.
            #[allow(clippy::zombie_processes)]
            let child = cmd.spawn()?;
            Ok((child, start))
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// How a child [`run_placed`] ran ended: its wall time from spawn to exit, its wait
/// status, its resource use and its standard error.
pub struct Ran {
    pub wall: Duration,
    pub status: i32,
    pub usage: libc::rusage,
    pub stderr: String,
}

impl Ran {
    /// Its exit code, or -1 when a signal ended it.
    pub fn exit_code(&self) -> i32 {
        match libc::WIFEXITED(self.status) {
            true => libc::WEXITSTATUS(self.status),
            false => -1,
        }
    }
}

/// Runs `cmd` to completion inside the namespace `ns` (`None`: this one), started as
/// [`spawn_placed`] starts it, with standard input and output null and standard error
/// in a file, read after the exit (a pipe could fill and stall the child while this
/// thread waits in `wait4`).
pub fn run_placed(mut cmd: Command, ns: Option<&str>) -> io::Result<Ran> {
    let netns = ns.map(netns_file).transpose()?;
    let err_path = std::env::temp_dir().join(format!("sockc-bench-{}.err", std::process::id()));
    let err = File::create(&err_path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", err_path.display())))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    let (child, start) = spawn_placed(cmd, netns.as_ref().map(|f| f.as_raw_fd()))?;
    let (status, usage) = wait4(child.id() as i32)?;
    let wall = start.elapsed();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    Ok(Ran {
        wall,
        status,
        usage,
        stderr,
    })
}

/// Waits for child `pid`: its status and resource use.
pub fn wait4(pid: i32) -> io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for this process's own child, with valid out-pointers.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Binds task `pid` (0: the calling thread) to the CPUs in `cpus`.
pub fn set_affinity(pid: i32, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts task `pid` (0: the calling thread) under `SCHED_FIFO` at `priority`, or back
/// under `SCHED_OTHER` with `None`.
pub fn set_fifo(pid: i32, priority: Option<i32>) -> io::Result<()> {
    let (policy, prio) = match priority {
        Some(p) => (libc::SCHED_FIFO, p),
        None => (libc::SCHED_OTHER, 0),
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: a plain parameter struct, read by the call.
    if unsafe { libc::sched_setscheduler(pid, policy, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs this machine has online, as indexes.
pub fn all_cpus() -> Vec<usize> {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    (0..n).collect()
}

/// `ETHTOOL_SGRO`: GRO on for `dev` in the calling thread's namespace. On a veth it
/// also creates the NAPI instance that receives XDP frames from the peer and that
/// threaded NAPI needs.
pub fn gro_on(dev: &str) -> io::Result<()> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_SGRO: u32 = 0x2c;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        data: *mut EthtoolValue,
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_SGRO,
        data: 1,
    };
    let mut req = IfReq {
        name: [0; 16],
        data: &mut value,
    };
    let bytes = dev.as_bytes();
    if bytes.len() >= req.name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
    }
    req.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: a datagram socket we own; the ioctl reads the request and the value it
    // points to, both alive for the call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(fd);
        if libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPU time task `pid` has run, in ns (`/proc/PID/schedstat`, first field: the
/// scheduler's own sum, the same figure `utime + stime` is scaled from, unrounded).
pub fn cpu_ns(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "schedstat"))
}

fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: the attribute union is fully initialised and outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Loads an XDP program made of `insns` (8-byte encoded instructions).
pub fn load_xdp(insns: &[[u8; 8]]) -> io::Result<OwnedFd> {
    let license = c"GPL";
    // SAFETY: all-zero is a valid bpf_attr.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the members of the union's BPF_PROG_LOAD view.
    unsafe {
        let load = &mut attr.__bindgen_anon_3;
        load.prog_type = bpf_prog_type::BPF_PROG_TYPE_XDP as u32;
        load.insn_cnt = insns.len() as u32;
        load.insns = insns.as_ptr() as u64;
        load.license = license.as_ptr() as u64;
    }
    let fd = sys_bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`: `repeat` copies of `frame`
/// through the program as if received on `ifindex` (of the calling thread's
/// namespace), what it returns carried out for real (XDP_TX transmits).
pub fn xdp_live_frames(prog: &OwnedFd, frame: &[u8], ifindex: u32, repeat: u32) -> io::Result<()> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
    // egress_ifindex.
    let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    // SAFETY: all-zero is a valid bpf_attr.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the members of the union's BPF_PROG_TEST_RUN view.
    unsafe {
        let t = &mut attr.test;
        t.prog_fd = prog.as_raw_fd() as u32;
        t.data_in = frame.as_ptr() as u64;
        t.data_size_in = frame.len() as u32;
        t.ctx_in = ctx.as_ptr() as u64;
        t.ctx_size_in = std::mem::size_of_val(&ctx) as u32;
        t.repeat = repeat;
        t.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    }
    sys_bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr).map(|_| ())
}
