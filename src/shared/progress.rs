//! A spinner on stderr for work that may take more than a second (applying a large
//! file, importing a big one): it appears after a second, only when stderr is a
//! terminal and the command was asked for neither `-q` nor `--json`, and it is gone
//! before the command prints its result. Invariant: where it is not shown, not one
//! byte reaches stderr (pipes, files and tests see exactly what they saw without it).

use std::{
    io::IsTerminal,
    sync::mpsc::{self, RecvTimeoutError},
    thread::JoinHandle,
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};

/// How long work runs in silence before the spinner shows.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Whether a spinner may be drawn at all.
fn shown(json: bool, quiet: bool, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && !json && !quiet
}

/// A spinner that shows `message` once the work has run for [`QUIET_FOR`]; dropping
/// it (the work ended) clears it.
pub struct Spinner {
    done: Option<mpsc::Sender<()>>,
    drawer: Option<JoinHandle<()>>,
}

impl Spinner {
    pub fn start(message: String, json: bool) -> Spinner {
        let idle = Spinner {
            done: None,
            drawer: None,
        };
        if !shown(
            json,
            super::settings::quiet(),
            std::io::stderr().is_terminal(),
        ) {
            return idle;
        }
        let (done, wait) = mpsc::channel::<()>();
        let drawer = std::thread::spawn(move || {
            if wait.recv_timeout(QUIET_FOR) != Err(RecvTimeoutError::Timeout) {
                return; // finished (or dropped) within the second: nothing drawn
            }
            let bar = ProgressBar::new_spinner()
                .with_message(message)
                .with_elapsed(QUIET_FOR);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            let _ = wait.recv();
            bar.finish_and_clear();
        });
        Spinner {
            done: Some(done),
            drawer: Some(drawer),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(d) = self.drawer.take() {
            let _ = d.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_terminal_without_quiet_or_json_gets_a_spinner() {
        assert!(shown(false, false, true));
        assert!(!shown(false, false, false), "piped stderr");
        assert!(!shown(true, false, true), "--json");
        assert!(!shown(false, true, true), "-q");
    }

    /// Where it is not shown, no thread is started and dropping it returns at once.
    #[test]
    fn a_spinner_off_a_terminal_is_idle() {
        let s = Spinner::start("work".into(), true);
        assert!(s.done.is_none() && s.drawer.is_none());
    }
}
