//! The `sbn` command line: parses arguments, calls the library, prints results. Errors become a
//! message on stderr and a non-zero exit code.

mod common;
mod demo;
mod evaluate;
mod fit;
mod grad;
mod gradcheck;
mod predict;
mod report;

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
#[command(name = "sbn", version, about = "Bayesian stochastic binary neural networks: PSA training, packed-bit Monte Carlo inference, calibration and uncertainty")]
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
    /// Train on the embedded digits and write a report: the quick start.
    Demo(demo::Args),
    /// Calibration metrics and the per-bin table (and optionally the reliability diagram).
    Calibrate(report::CalibrateArgs),
    /// The model/data split of uncertainty, by class and correctness, and OOD detection.
    Uncertainty(report::UncertaintyArgs),
    /// Metrics JSON, plots and a Markdown summary in one folder.
    Report(report::ReportArgs),
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
        Command::Demo(args) => demo::run(args),
        Command::Calibrate(args) => report::calibrate(args),
        Command::Uncertainty(args) => report::uncertainty(args),
        Command::Report(args) => report::report(args),
        Command::Predict(args) => predict::predict(args),
        Command::Summary(args) => predict::show_summary(args),
        Command::Export(args) => predict::export(args),
        Command::BenchPredict(args) => predict::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Ctrl-C: the run said how to continue; 130 = 128 + SIGINT, as shells report it.
        Err(e) if e.is::<fit::Interrupted>() => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
