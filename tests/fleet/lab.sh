#!/usr/bin/env bash
# The fleet lab of issue 46: three simulated hosts and a controller on this machine,
# real OpenSSH and real ansible-core, and the rollout test that runs the
# sockc.firewall collection against them. tests/fleet/lab.rs runs it (root).
#
#   tests/fleet/lab.sh run [--confirm-steps]   build the lab, run every step, tear down
#   tests/fleet/lab.sh down ID                 tear down what run ID left (by PID and name)
#
# Environment: SOCKC_DEB (the .deb the role installs; required for run),
# SOCKC_TEST_VENV (the venv with ansible-core, default /opt/sockc-test-venv),
# SOCKC_FLEET_DIR (where lab directories go, default target/fleet-lab),
# SOCKC_FLEET_ID (the run's name, default sfl<PID>; every namespace, interface and
# directory carries it), SOCKC_FLEET_LOGS (a directory that keeps every step's
# ansible-playbook output after teardown).
#
# Each host is a network namespace (eth0, 10.250.0.1N/24, on a bridge in the
# controller's namespace) in which `unshare` makes a PID namespace with sshd as PID 1
# (so sockc's check that init shares the host's bpffs holds, as on a real machine), a
# mount namespace with its own bpffs, cgroup2, /run (with /run/sshd), /tmp, and
# overlays on /etc, /usr, /var and /root (the package, dpkg's database, Ansible's
# files), and a UTS namespace; its own host key. A listener on 8080 and 8081 gives
# the rules something to pass or drop. The controller probes SSH and both ports of
# every host after every step.
#
# --confirm-steps adds the steps that need sockc's commit-confirmed apply (`apply
# --confirm`, `--label`, `sockc confirm`, status's `confirmation`/`last_rollback`):
# a rolling update whose rules cut SSH on the first host, which rolls itself back
# while the play stops, the good change applied with confirm and a label, and a
# reboot of a host before a change applied by hand was confirmed (the package's boot
# command puts the confirmed rules back).
#
# Teardown (an EXIT trap, and `down ID` for a caller whose lab script was killed):
# SIGKILL to each host's `unshare` (--kill-child ends its PID namespace, sshd and
# everything in it), SIGKILL to the controller's SSH masters (by the PID each reports),
# then the namespaces by name, then the lab directory. A host's mounts and bpffs pins
# live in its own mount namespace and end with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${SOCKC_TEST_VENV:-/opt/sockc-test-venv}
hosts=(1 2 3)
ports=(22 8080 8081)
started=$EPOCHREALTIME

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

lab_names() {
    id=$1
    dir=${SOCKC_FLEET_DIR:-$repo/target/fleet-lab}/$id
    # SSH's control sockets need a short path (a socket's path is at most 107 bytes).
    cpdir=/tmp/sockc-$id-cp
    ctl=$id-ctl
}

log() { printf '[lab %6.1fs] %s\n' "$(awk "BEGIN { print $EPOCHREALTIME - $started }")" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

# ---- teardown ---------------------------------------------------------------------

# Kills PID with SIGKILL if it is still the process the lab started (its command line
# names the lab directory).
kill_lab_pid() {
    local pid=$1
    [ -r "/proc/$pid/cmdline" ] || return 0
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$dir" || return 0
    kill -KILL "$pid" 2>/dev/null || true
}

teardown() {
    local pid sock master
    [ -d "$dir" ] || { ip netns del "$ctl" 2>/dev/null || true; rm -rf "$cpdir"; return 0; }
    if [ -n "${SOCKC_FLEET_LOGS:-}" ] && [ -d "$dir/out" ]; then
        mkdir -p "$SOCKC_FLEET_LOGS" && cp "$dir"/out/*.log "$SOCKC_FLEET_LOGS"/ 2>/dev/null || true
    fi
    for sock in "$cpdir"/*; do
        [ -S "$sock" ] || continue
        master=$(ssh -O check -o ControlPath="$sock" lab 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
        [ -n "$master" ] && kill -KILL "$master" 2>/dev/null || true
    done
    if [ -f "$dir/pids" ]; then
        while read -r pid; do kill_lab_pid "$pid"; done <"$dir/pids"
        while read -r pid; do
            while { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$dir"; do
                sleep 0.05
            done
        done <"$dir/pids"
    fi
    for i in "${hosts[@]}"; do ip netns del "$id-h$i" 2>/dev/null || true; done
    ip netns del "$ctl" 2>/dev/null || true
    rm -rf "$dir" "$cpdir"
}

leftovers() {
    local left=""
    left+=$(ip netns list | grep -F "$id-" || true)
    local f
    for f in /proc/[0-9]*/cmdline; do
        { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -e "$dir" -e "$cpdir" && left+=" process ${f//[^0-9]/}"
    done
    [ -e "$dir" ] && left+=" $dir"
    [ -e "$cpdir" ] && left+=" $cpdir"
    printf '%s' "$left"
}

# ---- the lab ----------------------------------------------------------------------

host_ip() { echo "10.250.0.1$1"; }

# The host's PID 1 (sshd), as the root namespace sees it: the child of its unshare.
host_pid() { cat "/proc/$(sed -n "${1}p" "$dir/pids")/task/$(sed -n "${1}p" "$dir/pids")/children" | awk '{print $1}'; }

# Runs a command inside host N (all of its namespaces).
on_host() { local n=$1; shift; nsenter --target "$(host_pid "$n")" --all -- "$@"; }

write_sshd_config() {
    local n=$1 h=$dir/h$1
    ssh-keygen -q -t ed25519 -N '' -C "lab host $n" -f "$h/host_key"
    cat >"$h/sshd_config" <<EOF
ListenAddress $(host_ip "$n")
HostKey $h/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
MaxStartups 50
Subsystem sftp internal-sftp
EOF
}

# What runs as the host's first process: its mounts, then sshd in its place.
host_init() {
    local n=$1 h=$dir/h$1 d
    printf 'set -e\nhostname %s\n' "$id-h$n"
    printf 'mount -t bpf bpf /sys/fs/bpf\nmount -t cgroup2 none /sys/fs/cgroup\n'
    printf 'mount -t tmpfs -o mode=755 tmpfs /run\nmkdir -p /run/sshd\n'
    # The host's own /tmp would hide the repository and the lab directory when they
    # live under /tmp (a clone there): both are kept aside and put back at their paths.
    printf 'mkdir -p /run/lab-repo /run/lab-dir\n'
    printf 'mount --bind %s /run/lab-repo\nmount --bind %s /run/lab-dir\n' "$repo" "$dir"
    printf 'mount -t tmpfs -o mode=1777 tmpfs /tmp\n'
    printf 'mkdir -p %s\nmount --bind /run/lab-repo %s\n' "$repo" "$repo"
    printf 'mkdir -p %s\nmount --bind /run/lab-dir %s\n' "$dir" "$dir"
    for d in etc usr var root; do
        printf 'mount -t overlay overlay -o lowerdir=/%s,upperdir=%s/%s-upper,workdir=%s/%s-work /%s\n' \
            "$d" "$h" "$d" "$h" "$d" "$d"
    done
    printf 'exec /usr/sbin/sshd -D -e -f %s/sshd_config\n' "$h"
}

start_host() {
    local n=$1 h=$dir/h$1 ns=$id-h$1 d
    mkdir -p "$h"
    for d in etc usr var root; do mkdir -p "$h/$d-upper" "$h/$d-work"; done
    write_sshd_config "$n"
    ip netns add "$ns"
    ip link add "${id}h$n" netns "$ctl" type veth peer name eth0 netns "$ns"
    ip -n "$ctl" link set "${id}h$n" master br0 up
    ip -n "$ns" addr add "$(host_ip "$n")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    boot_host "$n"
    echo "$booted" >>"$dir/pids"
}

# Starts host N's PID namespace (its mounts, sshd as its init); the PID of its
# unshare in $booted.
boot_host() {
    local n=$1 h=$dir/h$1
    ip netns exec "$id-h$n" unshare --uts --mount --pid --fork --kill-child --mount-proc \
        --propagation private sh -c "$(host_init "$n")" >>"$h/sshd.log" 2>&1 &
    booted=$!
    disown $!  # teardown kills it by PID; bash need not report its death
}

# A reboot of host N: its PID namespace killed (its bpffs, /run and /tmp go with it,
# so every hook pinned there comes off, as at a real reboot), then started again on
# the same overlays (/etc, /usr, /var and /root keep what was written) and network
# namespace (the NIC stays).
reboot_host() {
    local n=$1 old
    old=$(sed -n "${n}p" "$dir/pids")
    kill_lab_pid "$old"
    while { tr '\0' ' ' <"/proc/$old/cmdline"; } 2>/dev/null | grep -qF "$dir"; do sleep 0.05; done
    boot_host "$n"
    sed -i "${n}s/.*/$booted/" "$dir/pids"
    wait_for "sshd of h$n after its reboot" probe_one "$(host_ip "$n")" 22 open
    on_host "$n" /usr/bin/python3 "$dir/listen.py" >>"$dir/h$n/listen.log" 2>&1 &
    disown $!
    wait_for "listener of h$n after its reboot" probe_one "$(host_ip "$n")" 8081 open
}

write_controller_files() {
    ssh-keygen -q -t ed25519 -N '' -C "lab controller" -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    mkdir -p "$cpdir" "$dir/home" "$dir/out"
    {
        echo "[fleet]"
        for i in "${hosts[@]}"; do echo "h$i ansible_host=$(host_ip "$i")"; done
        echo "[fleet:vars]"
        echo "ansible_user=root"
        echo "ansible_python_interpreter=/usr/bin/python3"
        echo "ansible_ssh_private_key_file=$dir/id_ed25519"
    } >"$dir/inventory.ini"
    cat >"$dir/ansible.cfg" <<EOF
[defaults]
inventory = $dir/inventory.ini
collections_path = $repo/contrib/ansible
remote_tmp = /run/ansible-tmp
local_tmp = $dir/home/tmp
host_key_checking = True
timeout = 3
forks = 3
gathering = explicit
retry_files_enabled = False
nocows = True

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=2 -o ServerAliveCountMax=3 -o IdentitiesOnly=yes
control_path = $cpdir/%%C
EOF
    cat >"$dir/listen.py" <<'EOF'
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in (8080, 8081):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.close()
EOF
}

up() {
    mkdir -p "$dir"
    : >"$dir/pids"
    write_controller_files
    ip netns add "$ctl"
    ip -n "$ctl" link add br0 type bridge
    ip -n "$ctl" addr add 10.250.0.1/24 dev br0
    ip -n "$ctl" link set br0 up
    ip -n "$ctl" link set lo up
    for i in "${hosts[@]}"; do start_host "$i"; done
    for i in "${hosts[@]}"; do
        wait_for "sshd of h$i" probe_one "$(host_ip "$i")" 22 open
        on_host "$i" /usr/bin/python3 "$dir/listen.py" >>"$dir/h$i/listen.log" 2>&1 &
        disown $!  # ends with the host's PID namespace
        wait_for "listener of h$i" probe_one "$(host_ip "$i")" 8081 open
    done
}

# ---- probes from the controller ---------------------------------------------------

# open, dropped (no answer within a second) or refused.
probe_state() {
    local rc=0
    ip netns exec "$ctl" timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null || rc=$?
    case $rc in 0) echo open ;; 124) echo dropped ;; *) echo refused ;; esac
}
probe_one() { [ "$(probe_state "$1" "$2")" = "$3" ]; }

wait_for() {
    local what=$1 i
    shift
    for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done
    fail "$what: not ready after 10 s"
}

# expect_traffic STEP DEFAULTS [hN:PORT=STATE...]: every host's SSH, 8080 and 8081
# from the controller, all probed at once.
expect_traffic() {
    local step=$1 defaults=$2 i p want got bad=""
    shift 2
    declare -A expect
    for i in "${hosts[@]}"; do
        for p in "${ports[@]}"; do
            expect[h$i:$p]=$(tr ' ' '\n' <<<"$defaults" | sed -n "s/^$p=//p")
        done
    done
    for o in "$@"; do expect[${o%%=*}]=${o#*=}; done
    local probes=()
    for i in "${hosts[@]}"; do
        for p in "${ports[@]}"; do
            (probe_state "$(host_ip "$i")" "$p" >"$dir/out/probe-h$i-$p") &
            probes+=($!)
        done
    done
    wait "${probes[@]}"
    for i in "${hosts[@]}"; do
        for p in "${ports[@]}"; do
            want=${expect[h$i:$p]}
            got=$(cat "$dir/out/probe-h$i-$p")
            [ "$want" = "$got" ] || bad+=" h$i:$p $got (want $want)"
        done
    done
    [ -z "$bad" ] || fail "$step: traffic from the controller:$bad"
    log "  traffic ok: $defaults $*"
}

# ---- ansible and checks on hosts --------------------------------------------------

step=0
# play NAME [ansible-playbook arguments]: the output goes to OUT/NAME.log; returns
# ansible-playbook's exit code.
play() {
    local name=$1 rc=0
    shift
    ip netns exec "$ctl" env -i PATH="$venv/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$dir/home" \
        LC_ALL=C.UTF-8 ANSIBLE_CONFIG="$dir/ansible.cfg" ANSIBLE_FORCE_COLOR=0 \
        "$venv/bin/ansible-playbook" "$@" >"$dir/out/$name.log" 2>&1 || rc=$?
    return $rc
}

show_log() { sed 's/^/    | /' "$dir/out/$1.log"; }

# recap NAME HOST FIELD: a number from the play's recap (empty when the host is absent).
recap() { sed -n "s/^$2 *: .*$3=\([0-9]*\).*/\1/p" "$dir/out/$1.log"; }

expect_recap() {
    local name=$1 field=$2 want=$3 i got
    for i in "${hosts[@]}"; do
        got=$(recap "$name" "h$i" "$field")
        [ "$got" = "$want" ] || { show_log "$name"; fail "$name: h$i $field=$got, want $want"; }
    done
}

must_play() {
    local name=$1
    play "$@" || { show_log "$name"; fail "$name: ansible-playbook exited non-zero"; }
}

# py N EXPR: EXPR over `sockc status --json` of host N (d is the document).
status_py() {
    on_host "$1" sockc status --json 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

generation() { status_py "$1" "[i['generation'] for i in d.get('installs', []) if i['name']=='fw'] or ['none']"; }

expect_generations() {
    local what=$1 i got
    shift
    for i in "${hosts[@]}"; do
        got=$(generation "$i")
        [ "$got" = "[$1]" ] || [ "$got" = "['$1']" ] || fail "$what: h$i runs generation $got, want $1"
        shift
    done
}

expect_file() {
    local what=$1 n=$2 want=$3
    on_host "$n" cmp -s "/etc/sockc/fw.sk" "$want" || fail "$what: h$n /etc/sockc/fw.sk is not $(basename "$want")"
}

no_staging() {
    local n=$1
    [ -z "$(on_host "$n" sh -c 'ls -A /etc/sockc/.staged 2>/dev/null')" ] ||
        fail "h$n: a staged change was left in /etc/sockc/.staged"
}

begin() { step=$((step + 1)); log "STEP $step: $*"; }

# ---- the rollout test -------------------------------------------------------------

v1=$here/rules/v1.sk
v2=$here/rules/v2-cuts-ssh.sk
v3=$here/rules/v3.sk

step_install() {
    begin "the role installs the package on every host; nothing filters"
    must_play install "$here/playbooks/install.yml" -e "deb=$SOCKC_DEB"
    expect_recap install failed 0
    for i in "${hosts[@]}"; do
        on_host "$i" dpkg-query -W -f '${Status}\n' sockc | grep -q 'install ok installed' || fail "h$i: sockc not installed"
        [ "$(on_host "$i" stat -c %a /etc/sockc)" = 700 ] || fail "h$i: /etc/sockc is not 0700"
        on_host "$i" test -L /etc/systemd/system/sysinit.target.wants/sockc.service || fail "h$i: sockc.service not enabled"
        on_host "$i" test -L /etc/systemd/system/timers.target.wants/sockc-repair.timer || fail "h$i: sockc-repair.timer not enabled"
    done
    # The packaged units, with the binary and script where the package put them.
    on_host 1 systemd-analyze verify --man=no /usr/lib/systemd/system/sockc.service \
        /usr/lib/systemd/system/sockc-reapply.service /usr/lib/systemd/system/sockc-repair.service \
        /usr/lib/systemd/system/sockc-repair.timer >"$dir/out/verify.log" 2>&1 ||
        { cat "$dir/out/verify.log"; fail "systemd-analyze verify failed on the packaged units"; }
    ! grep -i sockc "$dir/out/verify.log" || fail "systemd-analyze verify warns about the packaged units"
    expect_generations "after the package" none none none
    expect_traffic "package installed" "22=open 8080=open 8081=open"
    must_play install-again "$here/playbooks/install.yml" -e "deb=$SOCKC_DEB"
    expect_recap install-again changed 0
    expect_traffic "package installed again" "22=open 8080=open 8081=open"
}

step_first_rollout() {
    begin "first rollout of v1 (8081 dropped)"
    must_play first "$here/playbooks/rollout.yml" -e "rules=$v1"
    expect_recap first changed 1
    expect_generations "first rollout" 1 1 1
    for i in "${hosts[@]}"; do expect_file "first rollout" "$i" "$v1"; no_staging "$i"; done
    expect_traffic "v1" "22=open 8080=open 8081=dropped"

    begin "the same rollout again changes nothing"
    must_play rerun "$here/playbooks/rollout.yml" -e "rules=$v1"
    expect_recap rerun changed 0
    expect_generations "rerun" 1 1 1
    expect_traffic "v1 again" "22=open 8080=open 8081=dropped"
}

step_check_and_diff() {
    begin "check and diff mode with v3: right answer, nothing changed"
    must_play check "$here/playbooks/rollout.yml" -e "rules=$v3" --check --diff
    expect_recap check changed 1
    local out=$dir/out/check.log
    [ "$(grep -c 'installed fw (generation 1)' "$out")" = 3 ] || { show_log check; fail "check: the installed rules are not the diff's before side"; }
    [ "$(grep -c '^+    drop tcp to \*:8080' "$out")" = 3 ] || { show_log check; fail "check: the new rule is not in the diff"; }
    [ "$(grep -c "packets whose verdict changes" "$out")" = 3 ] || { show_log check; fail "check: no verdict diff"; }
    grep -q ':8080' "$out" && grep -q ':8081' "$out" || { show_log check; fail "check: the verdict diff names neither port"; }
    expect_generations "check mode" 1 1 1
    for i in "${hosts[@]}"; do expect_file "check mode" "$i" "$v1"; no_staging "$i"; done
    expect_traffic "after check mode" "22=open 8080=open 8081=dropped"
    must_play check-same "$here/playbooks/rollout.yml" -e "rules=$v1" --check --diff
    expect_recap check-same changed 0
}

step_bad_change() {
    begin "rolling update whose rules cut SSH: h1 rolls back, the play stops"
    local rc=0
    play bad "$here/playbooks/rollout.yml" -e "rules=$v2" -e batch=1 -e confirm=8 -e label=lab:v2 || rc=$?
    [ "$rc" != 0 ] || { show_log bad; fail "bad change: the play succeeded"; }
    grep -q 'the host rolled the change back' "$dir/out/bad.log" || { show_log bad; fail "bad change: no rollback reported"; }
    [ -z "$(recap bad h2 ok)$(recap bad h3 ok)" ] || { show_log bad; fail "bad change: the play went on to h2 or h3"; }
    status_py 1 "d['installs'][0]['confirmation'] is None and d['installs'][0]['last_rollback']['reason']" |
        grep -q 'deadline passed' || fail "bad change: h1 does not report the rollback"
    for i in 2 3; do
        [ "$(generation "$i")" = "[1]" ] || fail "bad change: h$i was touched"
        [ "$(status_py "$i" "d['installs'][0]['last_rollback']")" = None ] || fail "bad change: h$i rolled back"
        no_staging "$i"
    done
    for i in "${hosts[@]}"; do expect_file "bad change" "$i" "$v1"; done
    no_staging 1
    expect_traffic "after the rollback" "22=open 8080=open 8081=dropped"
}

step_good_change() {
    begin "the good change (v3) reaches every host, one at a time"
    local extra=()
    [ "$confirm_steps" = yes ] && extra=(-e confirm=8 -e label=lab:v3)
    must_play good "$here/playbooks/rollout.yml" -e "rules=$v3" -e batch=1 "${extra[@]}"
    expect_recap good changed 1
    for i in "${hosts[@]}"; do expect_file "good change" "$i" "$v3"; no_staging "$i"; done
    if [ "$confirm_steps" = yes ]; then
        local got
        for i in "${hosts[@]}"; do
            got=$(status_py "$i" "d['installs'][0]['label'], d['installs'][0]['confirmation']")
            [ "$got" = "lab:v3 None" ] ||
                fail "good change: h$i has no confirmed change labelled lab:v3 (label, confirmation: $got)"
        done
    fi
    expect_traffic "v3" "22=open 8080=dropped 8081=open"
}

# Detaches h2's XDP link behind sockc's back (what another tool or a mistake does).
make_drift() {
    local link
    # Links are global objects: the one to detach is the one h2's install pinned.
    link=$(on_host 2 bpftool -j link show pinned /sys/fs/bpf/sockc/fw/link_xdp_eth0 |
        python3 -c "import json, sys; print(json.load(sys.stdin)['id'])")
    on_host 2 bpftool link detach id "$link"
}

step_drift() {
    begin "drift made by hand on h2 is reported and repaired"
    make_drift
    expect_traffic "drift" "22=open 8080=dropped 8081=open" h2:8080=open
    must_play info "$here/playbooks/info.yml" -e "out=$dir/out"
    local drifted
    for i in "${hosts[@]}"; do
        drifted=$(python3 -c "import json; print(json.load(open('$dir/out/info-h$i.json'))['drifted'])")
        case $i in
            2) [ "$drifted" = "['fw']" ] || fail "info: h2 drifted=$drifted, want ['fw']" ;;
            *) [ "$drifted" = "[]" ] || fail "info: h$i drifted=$drifted, want []" ;;
        esac
    done
    python3 -c "import json; c=json.load(open('$dir/out/info-h1.json'))['counters']; assert c[0]['rules'], c" ||
        fail "info: no counters"
    must_play repair "$here/playbooks/repair.yml"
    [ "$(recap repair h2 changed)$(recap repair h1 changed)$(recap repair h3 changed)" = 100 ] ||
        { show_log repair; fail "repair: only h2 should change"; }
    expect_traffic "repaired" "22=open 8080=dropped 8081=open"
    must_play info-after "$here/playbooks/info.yml" -e "out=$dir/out"
    python3 -c "import json; assert json.load(open('$dir/out/info-h2.json'))['drifted'] == []" ||
        fail "info: h2 still drifts after the repair"
}

# A change applied by hand on h1 with a long confirm window: a rollout without
# confirm does not join it (joined, its rules would be rolled back with it while the
# task said changed): it fails on h1 and says why, leaving h1 as it is.
step_pending_by_hand() {
    begin "a change pending confirmation by hand: a rollout without confirm leaves it alone"
    local before rc=0
    on_host 1 sh -c "sockc -q apply '$v1' --name fw --confirm 10m" ||
        fail "pending by hand: the apply failed"
    before=$(generation 1)
    play pending "$here/playbooks/rollout.yml" -e "rules=$v3" --limit h1 || rc=$?
    [ "$rc" != 0 ] || { show_log pending; fail "pending by hand: the rollout succeeded"; }
    grep -q 'is pending confirmation' "$dir/out/pending.log" ||
        { show_log pending; fail "pending by hand: the task did not say a change is pending"; }
    [ "$(generation 1)" = "$before" ] || fail "pending by hand: h1 was applied to"
    expect_file "pending by hand" 1 "$v3"
    on_host 1 sockc -q confirm fw >/dev/null || fail "pending by hand: sockc confirm failed"
    on_host 1 sh -c "sockc -q apply /etc/sockc/fw.sk --name fw" || fail "pending by hand: v3 again"
    no_staging 1
}

# A change applied by hand on h1 from /etc/sockc/fw.sk with a long confirm window,
# then a reboot before anyone confirms: the boot unit's command (the package's
# sockc-apply-all, unattended) installs the rules before the change, not the file's.
step_reboot() {
    begin "a reboot before the confirmation: the boot unit puts back the confirmed rules"
    on_host 1 sh -c "cp '$v2' /etc/sockc/fw.sk && sockc -q apply /etc/sockc/fw.sk --name fw --confirm 10m" ||
        fail "reboot: the unconfirmed apply failed"
    expect_traffic "unconfirmed v2 on h1" "22=open 8080=dropped 8081=open" h1:22=dropped h1:8080=open h1:8081=dropped
    reboot_host 1
    expect_traffic "h1 rebooted, before its boot unit" "22=open 8080=dropped 8081=open" h1:8080=open
    on_host 1 /usr/lib/sockc/sockc-apply-all apply >"$dir/out/boot-h1.log" 2>&1 ||
        { cat "$dir/out/boot-h1.log"; fail "reboot: sockc-apply-all failed"; }
    grep -q "rolled back unconfirmed" "$dir/out/boot-h1.log" ||
        { cat "$dir/out/boot-h1.log"; fail "reboot: the boot unit did not say why it kept the old rules"; }
    expect_traffic "h1 booted" "22=open 8080=dropped 8081=open"
    local confirmed
    confirmed=$(on_host 1 sockc confirm fw --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['state'])" || true)
    [ "$confirmed" = rolled-back ] || fail "reboot: sockc confirm says $confirmed, want rolled-back"
    # Back to the confirmed rules in the file too, applied by hand.
    on_host 1 sh -c "cp '$v3' /etc/sockc/fw.sk && sockc -q apply /etc/sockc/fw.sk --name fw" ||
        fail "reboot: v3 by hand"
    expect_traffic "h1 on v3 again" "22=open 8080=dropped 8081=open"
}

step_flush() {
    begin "flush: the rules come off every host, the file goes"
    must_play flush "$here/playbooks/flush.yml"
    expect_recap flush changed 2
    expect_generations "flush" none none none
    for i in "${hosts[@]}"; do on_host "$i" test ! -e /etc/sockc/fw.sk || fail "flush: h$i kept /etc/sockc/fw.sk"; done
    expect_traffic "flushed" "22=open 8080=open 8081=open"
    must_play flush-again "$here/playbooks/flush.yml"
    expect_recap flush-again changed 0
    expect_traffic "flushed again" "22=open 8080=open 8081=open"
}

run() {
    [ -f "${SOCKC_DEB:-}" ] || { echo "lab.sh: SOCKC_DEB names no .deb (${SOCKC_DEB:-unset})" >&2; exit 2; }
    [ -x "$venv/bin/ansible-playbook" ] || { echo "lab.sh: no ansible-core in $venv (scripts/test --install)" >&2; exit 2; }
    trap teardown EXIT
    trap 'exit 130' INT TERM
    log "lab $id in $dir (confirm steps: $confirm_steps)"
    up
    log "up: 3 hosts, sshd and listeners ready"
    expect_traffic "lab up" "22=open 8080=open 8081=open"
    step_install
    step_first_rollout
    step_check_and_diff
    [ "$confirm_steps" = yes ] && step_bad_change
    step_good_change
    [ "$confirm_steps" = yes ] && step_pending_by_hand
    [ "$confirm_steps" = yes ] && step_reboot
    step_drift
    step_flush
    trap - EXIT
    teardown
    local left
    left=$(leftovers)
    [ -z "$left" ] || fail "teardown left: $left"
    log "PASSED: $step steps, nothing left behind"
}

cmd=${1:-}
shift || true
confirm_steps=no
case $cmd in
    run)
        [ "${1:-}" = --confirm-steps ] && confirm_steps=yes
        lab_names "${SOCKC_FLEET_ID:-sfl$$}"
        run
        ;;
    down)
        [ -n "${1:-}" ] || usage
        lab_names "$1"
        teardown
        left=$(leftovers)
        [ -z "$left" ] || { echo "lab.sh down: left: $left" >&2; exit 1; }
        ;;
    *) usage ;;
esac
