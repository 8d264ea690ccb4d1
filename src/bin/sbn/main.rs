//! The `sbn` command line: parses arguments, calls the library, prints results. Errors become a
//! message on stderr and a non-zero exit code.

/// `println!` that returns the write's error instead of panicking (a closed pipe is an error the
/// caller passes up, and `main` ends quietly on it).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` that returns the write's error instead of panicking.
macro_rules! out_str {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod common;
mod demo;
mod evaluate;
mod fit;
mod grad;
mod gradcheck;
mod predict;
mod progress;
mod report;
mod shift;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, told never to return freed memory to the kernel: every training chunk allocates
/// gradient and patch matrices of several MB, which glibc (and mimalloc's default purge) hand
/// back and fault in again, zeroed. Together with chunk 32 instead of 16, conv-fc epochs fell
/// from ≈ 141 to 120 s.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (libmimalloc-sys has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[derive(Parser)]
#[command(
    name = "sbn",
    version,
    about = "Bayesian stochastic binary neural networks: PSA training, packed-bit Monte Carlo inference, calibration and uncertainty"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gradient estimates for the real-weight cases of a JSON file (the PSA reference-vector schema).
    Grad(grad::Args),
    /// Bias, variance and cosine to the exact gradient of every estimator on the PSA paper's toy.
    Gradcheck(gradcheck::Args),
    /// Fit a Bayesian SBN from a model spec on training data.
    Fit(fit::Args),
    /// Accuracy, NLL, Brier and ECE of a fitted model's MC predictive on labelled data.
    Evaluate(evaluate::Args),
    /// Paired comparison of two models on the same data and draws: differences with bootstrap intervals.
    Compare(evaluate::CompareArgs),
    /// Train on the embedded digits and write a report: the quick start.
    Demo(demo::Args),
    /// Calibration metrics and the per-bin table (and optionally the reliability diagram).
    Calibrate(report::CalibrateArgs),
    /// The model/data split of uncertainty, by class and correctness, and OOD detection.
    Uncertainty(report::UncertaintyArgs),
    /// Metrics JSON, plots and a Markdown summary in one folder.
    Report(report::ReportArgs),
    /// Accuracy, calibration and uncertainty on rotated, translated, noisy, blurred, faded and inverted test images.
    Shift(shift::Args),
    /// Per-example class probabilities and uncertainties (CSV or JSON), packed-bit Monte Carlo.
    Predict(predict::PredictArgs),
    /// Per-layer parameters, memory and multiply-accumulates, binary against float (larq style).
    Summary(predict::SummaryArgs),
    /// Write the most likely (or one sampled) network as a packed file, 1 bit per binary weight.
    Export(predict::ExportArgs),
    /// Benchmark: MC predictive throughput, packed engine against the float path on the same draws.
    BenchPredict(predict::BenchArgs),
}

fn main() -> ExitCode {
    // SAFETY: set once, before any other thread exists; -1 means "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Grad(args) => grad::run(args),
        Command::Gradcheck(args) => gradcheck::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Compare(args) => evaluate::compare(args),
        Command::Demo(args) => demo::run(args),
        Command::Calibrate(args) => report::calibrate(args),
        Command::Uncertainty(args) => report::uncertainty(args),
        Command::Report(args) => report::report(args),
        Command::Shift(args) => shift::run(args),
        Command::Predict(args) => predict::predict(args),
        Command::Summary(args) => predict::show_summary(args),
        Command::Export(args) => predict::export(args),
        Command::BenchPredict(args) => predict::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`sbn calibrate … | head`): not a failure, as in ripgrep.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // Ctrl-C: the run said how to continue; 130 = 128 + SIGINT, as shells report it.
        Err(e) if e.is::<fit::Interrupted>() => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// Whether an error comes from writing into a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The error and its causes, `: `-separated, each said once: a cause whose text its parent already
/// ends with (an I/O error quoted by the library's message) is left out.
fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
