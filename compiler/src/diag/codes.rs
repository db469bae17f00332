//! The catalogue of sockc's codes: every diagnostic code (`sockc::...`) the compiler
//! and the import print at a place in a source, and every code of a command's failure
//! outside a source (the runtime's errors users act on), each defined once here with
//! its string, its level (error, warning, or a failure's exit code), the section of
//! `docs/errors.md` it belongs to and a one-line summary.
//!
//! Invariants: a code's string appears in the source only in this file — everything
//! else names the typed [`Code`] (a [`super::Diagnostic`] holds one, and takes its
//! severity from it, so a code cannot be raised at a severity the catalogue does not
//! give it); this file uses nothing of the crate, so every crate of the workspace
//! can name a code without depending on a stage.
//! `compiler/tests/compiler/error_catalogue.rs` ties the catalogue to
//! `docs/errors.md` both ways (every code has one `###` entry
//! in its group's section, whose `(warning)` / `(exit N)` mark agrees with the level;
//! every entry names a code), and fails on a code's string anywhere else in the
//! workspace's production code and on a code nothing raises.
//!
//! The documentation of a code is its entry in `docs/errors.md` (user documentation,
//! grouped as the [`Group`]s are); the catalogue keeps the one-line summary beside
//! the code, the way rustc's error-code registry and clippy's lint declarations keep
//! a code, its level and its description in one declaration.
//!
//! # Adding a code
//!
//! 1. One row below, in its group: a `///` line (the summary: one line, a sentence),
//!    then `Variant = "sockc::name", Group, Level;` — the level is `Error`, `Warning`,
//!    or `Failure(EXIT)` for a failure outside a source (printed as `sockc: MESSAGE`,
//!    the command exiting with EXIT).
//! 2. Raise it with `Diagnostic::new(Code::Variant, message)` (the severity comes from
//!    the row), with a label at the span it concerns (an import's:
//!    `sockc_import::Diagnostic::new(Code::Variant, message, span)`); a failure: the
//!    runtime error's
//!    variant maps to it in `runtime/src/install/error_code.rs` (or the command's own
//!    error type gets a `code()`), and the exit code comes from [`Code::exit_code`].
//! 3. Its entry in `docs/errors.md`, in the section of its group: `### `sockc::name``
//!    followed by ` (warning)` for a warning or ` (exit N)` for a failure, then what it
//!    means and what to do.
//!
//! A branch that raised a code as a string literal (`Diagnostic::error("sockc::x",
//! ..)`) converts by steps 1 to 3; `cargo test -p sockc-compiler --test compiler
//! error_catalogue::` says what is still missing.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// What a code is: the severity of a diagnostic, or a command's failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A diagnostic that fails the command (exit 1).
    Error,
    /// A diagnostic that never changes the exit code.
    Warning,
    /// An error when errors were left out, else a warning: the diagnostic that stands
    /// for those the diagnostics limit left out.
    ErrorOrWarning,
    /// A command's failure outside any source, printed as one line `sockc: MESSAGE`
    /// (its code is not printed: those lines' text is a contract of the command
    /// line); the command exits with this code.
    Failure(u8),
}

impl Level {
    /// The severity a diagnostic of this level gets unless it says otherwise.
    pub const fn severity(self) -> Severity {
        match self {
            Level::Warning => Severity::Warning,
            Level::Error | Level::ErrorOrWarning | Level::Failure(_) => Severity::Error,
        }
    }

    /// Whether a diagnostic of this level may be raised at `severity`.
    pub const fn allows(self, severity: Severity) -> bool {
        matches!(
            (self, severity),
            (Level::ErrorOrWarning, _)
                | (Level::Warning, Severity::Warning)
                | (Level::Error | Level::Failure(_), Severity::Error)
        )
    }
}

/// The sections of `docs/errors.md`, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Syntax,
    Names,
    Rules,
    Lints,
    Limits,
    Import,
    Installs,
}

impl Group {
    pub const ALL: &'static [Group] = &[
        Group::Syntax,
        Group::Names,
        Group::Rules,
        Group::Lints,
        Group::Limits,
        Group::Import,
        Group::Installs,
    ];

    /// The section's heading in `docs/errors.md`.
    pub const fn title(self) -> &'static str {
        match self {
            Group::Syntax => "Syntax",
            Group::Names => "Names and declarations",
            Group::Rules => "Rules and hooks",
            Group::Lints => "Lints from the optimizer",
            Group::Limits => "Limits and internal errors",
            Group::Import => "Importing netfilter rulesets",
            Group::Installs => "Installs and the kernel",
        }
    }
}

/// Declares [`Code`] from its rows: each a one-line `///` summary, then the variant,
/// its string, its group and its level.
macro_rules! catalogue {
    ($(
        #[doc = $summary:literal]
        $variant:ident = $code:literal, $group:ident, $level:ident $(($exit:literal))?;
    )*) => {
        /// A code of the catalogue: see the module's documentation.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $summary] $variant,)*
        }

        impl Code {
            /// Every code, in the catalogue's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed: `sockc::name`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The section of `docs/errors.md` it is documented in.
            pub const fn group(self) -> Group {
                match self {
                    $(Code::$variant => Group::$group,)*
                }
            }

            /// Error, warning, or a failure with its exit code.
            pub const fn level(self) -> Level {
                match self {
                    $(Code::$variant => Level::$level $(($exit))?,)*
                }
            }

            /// What the code means, in one line.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary.trim(),)*
                }
            }
        }
    };
}

catalogue! {
    // Syntax
    /// A line does not parse (a rule file's, or an imported ruleset's).
    Syntax = "sockc::syntax", Syntax, Error;
    /// A hook block's `{` has no `}`.
    UnclosedBlock = "sockc::unclosed-block", Syntax, Error;
    /// A `set` or `socket` declaration inside a hook block.
    DeclarationInBlock = "sockc::declaration-in-block", Syntax, Error;
    /// A rule outside any hook block.
    RuleOutsideHook = "sockc::rule-outside-hook", Syntax, Error;
    /// An address, or a line of a `file` set, that does not parse.
    BadAddress = "sockc::bad-address", Syntax, Error;
    /// A prefix length out of range for its family.
    BadPrefix = "sockc::bad-prefix", Syntax, Error;
    /// A prefix with bits set below its length.
    HostBits = "sockc::host-bits", Syntax, Error;
    /// A number out of its range (port, protocol, ICMP type, VLAN id, EtherType).
    OutOfRange = "sockc::out-of-range", Syntax, Error;
    /// A port range whose low end is above its high end.
    EmptyRange = "sockc::empty-range", Syntax, Error;

    // Names and declarations
    /// A set or socket declared twice.
    DuplicateName = "sockc::duplicate-name", Names, Error;
    /// `@name` names no declared set.
    UnknownSet = "sockc::unknown-set", Names, Error;
    /// `redirect ... to sock NAME` names no declared socket.
    UnknownSocket = "sockc::unknown-socket", Names, Error;
    /// A set of ports used as addresses, or of addresses as ports.
    SetKind = "sockc::set-kind", Names, Error;
    /// A set with no elements.
    EmptySet = "sockc::empty-set", Names, Error;
    /// A set holding both addresses and ports.
    MixedSet = "sockc::mixed-set", Names, Error;
    /// A `file` set that cannot be read.
    SetFile = "sockc::set-file", Names, Error;
    /// A set element repeated or inside another.
    SetOverlap = "sockc::set-overlap", Names, Warning;
    /// A rule file or its sets over their size limits.
    TooLarge = "sockc::too-large", Names, Error;
    /// An interface name the kernel does not accept.
    BadInterface = "sockc::bad-interface", Names, Error;
    /// A netfilter block's priority outside what the kernel takes.
    BadPriority = "sockc::bad-priority", Names, Error;
    /// A cgroup path that is not absolute, or has `.` or `..` components.
    BadCgroup = "sockc::bad-cgroup", Names, Error;
    /// A cgroup path holding a control or invisible character.
    BadPath = "sockc::bad-path", Names, Error;
    /// A cgroup block naming a systemd unit systemd would not accept, or one without a cgroup of its own.
    BadUnit = "sockc::bad-unit", Names, Error;
    /// A `comm` name no task can have (empty, longer than 15 bytes, or with a NUL).
    BadComm = "sockc::bad-comm", Names, Error;
    /// A socket declared on port 0.
    SocketPortZero = "sockc::socket-port-zero", Names, Error;
    /// A TCP socket declared on a broadcast or multicast address.
    SocketAddress = "sockc::socket-address", Names, Error;
    /// More socket declarations than the socket map has slots.
    TooManySockets = "sockc::too-many-sockets", Names, Error;
    /// More cgroups named in `cgroup` matches than their map has slots.
    TooManyCgroups = "sockc::too-many-cgroups", Names, Error;
    /// A UDP socket declared to register itself.
    RegisterUdp = "sockc::register-udp", Names, Error;
    /// A socket that registers itself declared without an address.
    RegisterAddress = "sockc::register-address", Names, Error;
    /// A socket declaration naming both a cgroup and an owner.
    OwnerWithCgroup = "sockc::owner-with-cgroup", Names, Error;
    /// `owner user "NAME"` names a user this host does not have.
    UnknownUser = "sockc::unknown-user", Names, Error;
    /// `owner group "NAME"` names a group this host does not have.
    UnknownGroup = "sockc::unknown-group", Names, Error;
    /// Two sockets of a sockmap block hashed to the same slot.
    SocketSlot = "sockc::socket-slot", Names, Error;
    /// A `residual` declaration or file that sockc cannot install.
    Residual = "sockc::residual", Names, Error;

    // Rules and hooks
    /// A hook block without a `default` line.
    MissingDefault = "sockc::missing-default", Rules, Error;
    /// A hook block with two `default` lines.
    DuplicateDefault = "sockc::duplicate-default", Rules, Error;
    /// A `default` verdict the hook does not have.
    BadVerdict = "sockc::bad-verdict", Rules, Error;
    /// Two blocks for the same hook and attach point.
    DuplicateHook = "sockc::duplicate-hook", Rules, Error;
    /// More hook blocks than one file may hold (`sema::MAX_BLOCKS`).
    TooManyBlocks = "sockc::too-many-blocks", Rules, Error;
    /// A hook that cannot be compiled yet.
    Unsupported = "sockc::unsupported", Rules, Error;
    /// An action the hook does not have.
    HookCannotAct = "sockc::hook-cannot-act", Rules, Error;
    /// A `with` clause that does not fit its rule.
    RejectWith = "sockc::reject-with", Rules, Error;
    /// A `reject answers` setting given twice, or `unlimited` beside a rate.
    RejectAnswers = "sockc::reject-answers", Rules, Error;
    /// A `reject answers` line in a file whose rules send no ICMP error.
    RejectAnswersUnused = "sockc::reject-answers-unused", Rules, Warning;
    /// A match the hook cannot test.
    HookCannotMatch = "sockc::hook-cannot-match", Rules, Error;
    /// A `mark` test that is not a 32-bit value under its mask, or not testable yet.
    Mark = "sockc::mark", Rules, Error;
    /// `route local|forward` that is always true at its netfilter hook.
    RouteByHook = "sockc::route-by-hook", Rules, Warning;
    /// `ct state` needs conntrack running in the namespace.
    CtNeedsConntrack = "sockc::ct-needs-conntrack", Rules, Warning;
    /// `log` on a `count` rule.
    LogNeedsVerdict = "sockc::log-needs-verdict", Rules, Error;
    /// A `limit` no bucket can count.
    Limit = "sockc::limit", Rules, Error;
    /// `log 0/s`.
    LogRate = "sockc::log-rate", Rules, Error;
    /// `log` in a hook that cannot trace yet.
    LogUnsupported = "sockc::log-unsupported", Rules, Error;
    /// A redirect without its target, or a target where it does not belong.
    RedirectTarget = "sockc::redirect-target", Rules, Error;
    /// An sk_lookup redirect of a protocol its socket does not have.
    RedirectProtocol = "sockc::redirect-protocol", Rules, Error;
    /// An sk_lookup redirect of an address family its socket cannot take.
    RedirectFamily = "sockc::redirect-family", Rules, Error;
    /// A socket-call redirect whose target is not one address (and port), or not of the rule's family.
    RedirectAddress = "sockc::redirect-address", Rules, Error;
    /// A rule that contradicts itself.
    Conflict = "sockc::conflict", Rules, Error;
    /// A rule mixing IPv4 and IPv6.
    FamilyConflict = "sockc::family-conflict", Rules, Error;
    /// A port match on a protocol without ports.
    PortWithoutPorts = "sockc::port-without-ports", Rules, Error;
    /// A TCP flag in a rule without `tcp`.
    FlagsNeedTcp = "sockc::flags-need-tcp", Rules, Error;
    /// An ICMP type or code in a rule without `icmp` or `icmpv6`.
    IcmpNeedsIcmp = "sockc::icmp-needs-icmp", Rules, Error;
    /// An ICMP type name sockc does not know.
    UnknownIcmpType = "sockc::unknown-icmp-type", Rules, Error;
    /// A socket condition in a rule without `tcp` or `udp`.
    ConditionNeedsProtocol = "sockc::condition-needs-protocol", Rules, Error;
    /// An IPv6 address that looks like an address and a port.
    Ipv6Port = "sockc::ipv6-port", Rules, Warning;
    /// A packet hook that drops by default and cuts the host off its neighbours.
    Lockout = "sockc::lockout", Rules, Warning;
    /// An IPv4-mapped IPv6 destination in a socket-call block's rule (never matches).
    MappedAddress = "sockc::mapped-address", Rules, Warning;

    // Lints from the optimizer
    /// A rule that never matches.
    Shadowed = "sockc::shadowed", Lints, Warning;
    /// A rule whose removal changes no verdict.
    Redundant = "sockc::redundant", Lints, Warning;
    /// The anomaly search ran out of its budget on some rules.
    AnomaliesPartial = "sockc::anomalies_partial", Lints, Warning;

    // Limits and internal errors
    /// Diagnostics past the limit, counted and not shown.
    TooManyDiagnostics = "sockc::too-many-diagnostics", Limits, ErrorOrWarning;
    /// A program over one of the kernel's limits on a program.
    KernelLimit = "sockc::kernel-limit", Limits, Error;
    /// A classified run's table over what its references can reach.
    TableLimit = "sockc::table-limit", Limits, Error;
    /// A compiler bug.
    Internal = "sockc::internal", Limits, Error;

    // Importing netfilter rulesets
    /// A ruleset too large to flatten within the import's bounds.
    ImportTooLarge = "sockc::import-too-large", Import, Error;
    /// Import options that do not fit the input.
    ImportUsage = "sockc::import-usage", Import, Failure(2);

    // Installs and the kernel
    /// Nothing is installed under the name.
    NotInstalled = "sockc::not-installed", Installs, Failure(1);
    /// A rule file without hook blocks would detach every hook of the install.
    EmptyRuleset = "sockc::empty-ruleset", Installs, Failure(2);
    /// Another install holds the hook.
    HookHeld = "sockc::hook-held", Installs, Failure(2);
    /// Another tool's program holds the hook.
    ForeignProgram = "sockc::foreign-program", Installs, Failure(3);
    /// A hook's interface or cgroup does not exist.
    MissingTarget = "sockc::missing-target", Installs, Failure(3);
    /// One cgroup named two ways.
    SameCgroup = "sockc::same-cgroup", Installs, Failure(3);
    /// The network namespace cannot be used, or is not the install's.
    Netns = "sockc::netns", Installs, Failure(3);
    /// An install whose records are missing or damaged.
    DamagedRecords = "sockc::damaged-records", Installs, Failure(3);
    /// Leftovers of an interrupted command that cannot be removed, beside which a command cannot change the install.
    Leftover = "sockc::leftover", Installs, Failure(3);
    /// A record written by a newer sockc.
    NewerSockc = "sockc::newer-sockc", Installs, Failure(3);
    /// A bpffs path that cannot hold installs.
    Bpffs = "sockc::bpffs", Installs, Failure(3);
    /// Another sockc holds the install's lock.
    LockBusy = "sockc::lock-busy", Installs, Failure(3);
    /// The process lacks the capabilities to load programs.
    Capabilities = "sockc::capabilities", Installs, Failure(3);
    /// The verifier refused a program.
    Verifier = "sockc::verifier", Installs, Failure(3);
    /// A socket `sockc register` or `unregister` names cannot be put in or taken out.
    RegisterSocket = "sockc::register-socket", Installs, Failure(1);
    /// The kernel or the system refused an operation.
    Kernel = "sockc::kernel", Installs, Failure(3);
}

impl Code {
    /// The default severity of a diagnostic of this code.
    pub const fn severity(self) -> Severity {
        self.level().severity()
    }

    /// The exit code of a command that stops for this code: 1 for a diagnostic error,
    /// 0 for a warning (which never stops one), a failure's own.
    pub const fn exit_code(self) -> u8 {
        match self.level() {
            Level::Error | Level::ErrorOrWarning => 1,
            Level::Warning => 0,
            Level::Failure(exit) => exit,
        }
    }

    /// The code printed as `text`, if there is one.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As the string it prints, quoted, like the `&str` codes were.
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            let name = s.strip_prefix("sockc::").expect(s);
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "-_".contains(x)),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(Code::parse(s), Some(*c));
            let summary = c.summary();
            assert!(
                !summary.is_empty() && summary.ends_with('.') && !summary.contains('\n'),
                "{s}: {summary:?}"
            );
        }
        assert_eq!(Code::parse("sockc::no-such-code"), None);
    }

    #[test]
    fn a_level_allows_only_its_severities() {
        use Severity::*;
        assert!(Level::Warning.allows(Warning) && !Level::Warning.allows(Error));
        assert!(Level::Error.allows(Error) && !Level::Error.allows(Warning));
        assert!(Level::ErrorOrWarning.allows(Error) && Level::ErrorOrWarning.allows(Warning));
        assert!(!Level::Failure(3).allows(Warning));
        for c in Code::ALL {
            assert!(c.level().allows(c.severity()), "{c}");
        }
    }

    #[test]
    fn a_code_compares_with_its_string() {
        assert_eq!(Code::SetOverlap, "sockc::set-overlap");
        assert_eq!("sockc::set-overlap", Code::SetOverlap);
        assert_ne!(Code::SetOverlap, "sockc::set-overla");
        assert_eq!(format!("{:?}", Code::Syntax), "\"sockc::syntax\"");
        assert_eq!(Code::NotInstalled.exit_code(), 1);
        assert_eq!(Code::Shadowed.exit_code(), 0);
    }
}
