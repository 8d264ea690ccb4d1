//! The command line's view of a training run: a progress bar (epochs, batches, loss, time left),
//! a line per epoch, and a stop after the current batch when Ctrl-C sets the flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use sbn::Result;
use sbn::train::{Flow, Observer, Trainer};

/// Shows a run on stderr and stops it when `stop` is set.
pub struct Progress {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    started: bool,
}

impl Progress {
    /// A progress display that stops the run once `stop` is set (by the Ctrl-C handler).
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches, {elapsed} elapsed, {eta} left  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Progress { bar, stop, started: false }
    }

    fn flow(&self) -> Flow {
        if self.stop.load(Ordering::SeqCst) { Flow::Stop } else { Flow::Continue }
    }

    /// Ends the display: cleared after a complete run, kept with a note after a stop.
    pub fn finish(&self, completed: bool) {
        if completed {
            self.bar.finish_and_clear();
        } else {
            self.bar.abandon_with_message("interrupted; checkpoint saved");
        }
    }
}

impl Observer for Progress {
    fn batch(&mut self, trainer: &Trainer) -> Result<Flow> {
        let (done, total) = trainer.progress();
        if !self.started {
            // A resumed run starts where it stopped: the bar's rate and time left count from here.
            self.bar.set_length(total as u64);
            self.bar.set_position(done.saturating_sub(1) as u64);
            self.bar.reset_eta();
            self.started = true;
        }
        self.bar.set_position(done as u64);
        self.bar.set_prefix(format!("epoch {}/{}", trainer.epoch() + 1, trainer.config().epochs));
        if (trainer.batch() - 1) % 25 == 0 {
            let objective = trainer.objective();
            let kl_term = objective.beta * objective.kl(trainer.network()) / objective.n_train as f64;
            let last = trainer
                .history()
                .last()
                .map_or(String::new(), |r| format!("  last epoch: valid acc {:.2}%, valid nll {:.4}", 100.0 * r.valid_accuracy, r.valid_nll));
            self.bar.set_message(format!("nll {:.4}  β·KL/N {kl_term:.4}{last}", trainer.running_nll()));
        }
        Ok(self.flow())
    }

    fn epoch_end(&mut self, trainer: &Trainer) -> Result<Flow> {
        if let Some(r) = trainer.history().last() {
            let n_train = trainer.objective().n_train;
            self.bar.suspend(|| {
                eprintln!(
                    "epoch {:>3}: nll {:.4}  kl {:.1}  F {:.4}  ELBO {:.0} nats  valid acc {:.2}%  valid nll {:.4}  uncertain weights {:.1}%  {:.1}s",
                    r.epoch,
                    r.train_nll,
                    r.kl,
                    r.objective,
                    r.elbo(n_train),
                    100.0 * r.valid_accuracy,
                    r.valid_nll,
                    100.0 * r.uncertain_share,
                    r.seconds
                )
            });
        }
        Ok(self.flow())
    }
}

/// A flag that Ctrl-C sets (the run stops after its batch and saves); a second Ctrl-C ends the
/// process at once with status 130.
pub fn ctrl_c_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\nstopping after this batch (Ctrl-C again to abort without saving)");
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(stop)
}
