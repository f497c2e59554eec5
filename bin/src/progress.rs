//! Progress of an apply on the terminal: a spinner with what is in flight and the elapsed time,
//! and a line per finished operation. Without a terminal, only the lines.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use platform::apply::{ApplyEvent, OpKind, Outcome};

pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<(BTreeSet<String>, usize)>,
    total: usize,
}

fn done_verb(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Create => "created",
        OpKind::Update => "updated",
        OpKind::Delete => "deleted",
        OpKind::Await => "available:",
    }
}

fn doing_verb(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Create => "creating",
        OpKind::Update => "updating",
        OpKind::Delete => "deleting",
        OpKind::Await => "waiting for",
    }
}

impl Progress {
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} {wide_msg}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar, state: Mutex::new((BTreeSet::new(), 0)), total }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn event(&self, event: &ApplyEvent) {
        let mut state = self.state.lock().expect("progress lock");
        match event {
            ApplyEvent::Started { address, kind } => {
                state.0.insert(address.to_string());
                if self.bar.is_none() {
                    self.line(format!("  {} {address}...", doing_verb(*kind)));
                }
            }
            ApplyEvent::Progress { address, kind, message } => {
                let line = format!("  {} {address}: {message}", doing_verb(*kind));
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            ApplyEvent::Finished { address, kind, outcome, elapsed, physical_id } => {
                state.0.remove(&address.to_string());
                state.1 += 1;
                let id = physical_id.as_deref().map(|id| format!(" [{id}]")).unwrap_or_default();
                let secs = elapsed.as_secs_f32();
                match outcome {
                    Outcome::Done => self.line(format!("  {} {address}{id} in {secs:.1}s", done_verb(*kind))),
                    Outcome::Failed { error } => {
                        self.line(format!("  failed to {} {address}{id} after {secs:.1}s: {error}", kind.as_str()))
                    }
                    Outcome::Skipped { because } => {
                        self.line(format!("  skipped {} of {address}: {because} failed", kind.as_str()))
                    }
                    Outcome::NotStarted => self.line(format!("  not started: {} of {address}", kind.as_str())),
                }
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_position(state.1 as u64);
            let in_flight: Vec<&str> = state.0.iter().map(String::as_str).collect();
            bar.set_message(format!("in flight: {}", in_flight.join(", ")));
        }
        let _ = self.total;
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
