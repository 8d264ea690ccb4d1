//! The bad-input table of issue #18: every kind of bad input the `sbn` commands meet, with the
//! exit status it must give and fragments its message must contain (the file, the line or field,
//! and what was expected). For every row the binary must exit with exactly that status (1 for an
//! error reported by sbn, 2 for a command-line usage error; never a panic, an abort or a signal),
//! print no panic message, and leave nothing behind: no output named by `--out` (nor a fit's
//! checkpoint or lock) that was not there before, an existing one unchanged, and no `.*.tmp`
//! temporary.
//!
//! The rows run in a fresh temporary folder holding a tiny fitted model (`m.sbn`), its packed
//! export (`m.packed`) and the bad files made by [`make_files`]; the command lines name those
//! files relative to it (the binary runs with that folder as its working directory), so the
//! names appear in the messages as written here. All rows run; the failures are reported
//! together at the end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One kind of bad input.
struct Bad {
    /// What is wrong, in a few words (unique).
    name: &'static str,
    /// The `sbn` command line, split at spaces, run in the test folder.
    cmd: &'static str,
    /// The exit status: 1 for errors reported by sbn, 2 for usage errors (clap).
    status: i32,
    /// Fragments that must all appear in stderr.
    expect: &'static [&'static str],
}

const fn bad(name: &'static str, cmd: &'static str, status: i32, expect: &'static [&'static str]) -> Bad {
    Bad { name, cmd, status, expect }
}

#[rustfmt::skip]
const TABLE: &[Bad] = &[
    // ---- data sets: paths and kinds ----
    bad("data file missing", "evaluate m.sbn --data missing.csv", 1, &["missing.csv", "No such file or directory"]),
    bad("OOD data file missing", "uncertainty m.sbn --data good.csv --ood missing.csv --weight-samples 2 --noise-samples 2", 1, &["missing.csv", "No such file or directory"]),
    bad("bench data file missing", "bench-predict m.sbn --data missing.csv", 1, &["missing.csv", "No such file or directory"]),
    bad("folder without the standard files", "evaluate m.sbn --data emptydir", 1, &["emptydir", "t10k-images-idx3-ubyte", "found in this directory"]),
    bad("training folder without train- files", "fit spec.toml --train onlyimg --out f_onlyimg.sbn", 1, &["onlyimg", "train-images-idx3-ubyte", "found in this directory"]),
    bad("folder with images but no labels", "evaluate m.sbn --data onlyimg", 1, &["onlyimg", "t10k-labels-idx1-ubyte", "found in this directory"]),
    bad("not a data set (wrong extension)", "calibrate m.sbn --data data.txt", 1, &["data.txt", "not a recognized data set", ".csv[.gz]", "idx3-ubyte"]),
    // ---- CSV ----
    bad("CSV ragged row", "evaluate m.sbn --data ragged.csv", 1, &["ragged.csv:4", "ragged row", "62 fields, expected 65"]),
    bad("CSV non-numeric feature", "uncertainty m.sbn --data nonnum.csv", 1, &["nonnum.csv:5, column 6", "non-numeric value `abc`"]),
    bad("CSV NaN feature", "report m.sbn --data nan.csv --out r_nan", 1, &["nan.csv:7, column 8", "non-finite value `NaN`"]),
    bad("CSV inf feature in training data", "fit spec.toml --train inf.csv --out f_inf.sbn", 1, &["inf.csv:7, column 8", "non-finite value `inf`"]),
    bad("CSV empty file", "predict m.sbn --data empty.csv --out p_empty.csv", 1, &["empty.csv:1", "empty file", "no data rows"]),
    bad("CSV header only", "evaluate m.sbn --data headeronly.csv", 1, &["headeronly.csv:2", "no data rows after the header"]),
    bad("CSV label column name not in header", "evaluate m.sbn --data header.csv --label nosuch", 1, &["header.csv:1", "label column `nosuch` not found in the header", "f63, digit"]),
    bad("CSV label column name but no header", "predict m.sbn --data good.csv --label digit --out p_noheader.csv", 1, &["good.csv:1", "label column `digit`", "no header"]),
    bad("CSV label column index out of range", "fit spec.toml --train good.csv --label 99 --out f_label99.sbn", 1, &["good.csv:1", "label column index 99", "the file has 65 columns"]),
    bad("CSV negative integer label", "evaluate m.sbn --data neglabel.csv", 1, &["neglabel.csv:3, column 65", "label `-1`", "non-negative integer"]),
    bad("CSV fractional label", "calibrate m.sbn --data fraclabel.csv", 1, &["fraclabel.csv:3, column 65", "label `2.5`", "not a class number"]),
    bad("CSV invalid UTF-8", "evaluate m.sbn --data utf8.csv", 1, &["utf8.csv:3", "not valid UTF-8"]),
    bad("CSV label unknown to the model", "evaluate m.sbn --data ten.csv", 1, &["ten.csv:4, column 65", "label `ten`", "not one of the model's 10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"]),
    bad("CSV label unknown to a packed model", "predict m.packed --data ten.csv --out p_ten.csv", 1, &["ten.csv:4, column 65", "label `ten`", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"]),
    bad("CSV label unknown in validation data", "fit spec.toml --train embedded:digits --valid ten.csv --out f_validten.sbn", 1, &["ten.csv:4, column 65", "label `ten`", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"]),
    // ---- gzip ----
    bad("gzip CSV truncated", "evaluate m.sbn --data trunc.csv.gz", 1, &["trunc.csv.gz", "truncated gzip stream"]),
    bad("gzip CSV corrupt", "predict m.sbn --data corrupt.csv.gz --out p_corrupt.json", 1, &["corrupt.csv.gz", "corrupt gzip stream"]),
    bad("gzip IDX truncated", "evaluate m.sbn --data gz-images-idx3-ubyte.gz", 1, &["gz-images-idx3-ubyte.gz", "truncated gzip stream"]),
    // ---- IDX ----
    bad("IDX images wrong magic", "evaluate m.sbn --data magic-images-idx3-ubyte", 1, &["magic-images-idx3-ubyte", "IDX magic number 0x00000804, expected 0x00000803"]),
    bad("IDX labels wrong magic", "evaluate m.sbn --data lmagic-images-idx3-ubyte", 1, &["lmagic-labels-idx1-ubyte", "IDX magic number 0x00000803, expected 0x00000801"]),
    bad("IDX header truncated", "evaluate m.sbn --data hdr-images-idx3-ubyte", 1, &["hdr-images-idx3-ubyte", "IDX header truncated: 8 bytes, expected 16"]),
    bad("IDX empty file", "predict m.sbn --data zero-images-idx3-ubyte --out p_zero.csv", 1, &["zero-images-idx3-ubyte", "IDX header truncated: 0 bytes, expected at least 4"]),
    bad("IDX payload too short", "evaluate m.sbn --data short-images-idx3-ubyte", 1, &["short-images-idx3-ubyte", "IDX payload truncated", "needs 1280 bytes, found 1273"]),
    bad("IDX payload too long", "fit spec.toml --train long-images-idx3-ubyte --out f_long.sbn", 1, &["long-images-idx3-ubyte", "IDX payload too long", "needs 1280 bytes, found 1283"]),
    bad("IDX dimensions overflow", "predict m.sbn --data big-images-idx3-ubyte --out p_big.csv", 1, &["big-images-idx3-ubyte", "IDX dimensions", "overflow"]),
    bad("IDX images of zero pixels", "evaluate m.sbn --data zd-images-idx3-ubyte", 1, &["zd-images-idx3-ubyte", "IDX image size 0×8", "at least one pixel"]),
    bad("IDX images without labels file (fit)", "fit spec.toml --train nolab-images-idx3-ubyte --out f_nolab.sbn", 1, &["nolab-images-idx3-ubyte", "label file not found", "nolab-labels-idx1-ubyte"]),
    bad("IDX images without labels file (evaluate)", "evaluate m.sbn --data nolab-images-idx3-ubyte", 1, &["nolab-images-idx3-ubyte", "label file not found", "nolab-labels-idx1-ubyte"]),
    bad("IDX images and labels count mismatch", "calibrate m.sbn --data count-images-idx3-ubyte", 1, &["count-images-idx3-ubyte and count-labels-idx1-ubyte", "20 images but 18 labels"]),
    // ---- data of another input size ----
    bad("CSV with another input size", "evaluate m.sbn --data small.csv", 1, &["small.csv", "examples have 10 features but the model takes 64"]),
    bad("CSV with another input size (packed)", "predict m.packed --data small.csv --out p_small.json", 1, &["small.csv", "examples have 10 features but the model takes 64"]),
    bad("IDX with another image size (unlabelled)", "predict m.sbn --data size-images-idx3-ubyte --no-label --out p_size.csv", 1, &["size-images-idx3-ubyte", "examples have 25 features but the model takes 64"]),
    bad("OOD data with another input size", "uncertainty m.sbn --data good.csv --ood small.csv --weight-samples 2 --noise-samples 2", 1, &["small.csv", "examples have 10 features but the model takes 64"]),
    bad("validation data with another input size", "fit spec.toml --train embedded:digits --valid small.csv --out f_valid.sbn", 1, &["small.csv", "validation data has 10 features, training data 64"]),
    bad("--no-label on a labelled CSV", "predict m.sbn --data good.csv --no-label --out p_nolabel.csv", 1, &["good.csv", "examples have 65 features but the model takes 64"]),
    // ---- training data that cannot train a classifier ----
    bad("training data with one class", "fit spec.toml --train oneclass.csv --out f_oneclass.sbn", 1, &["oneclass.csv", "only one class (`3`)", "at least two"]),
    bad("training labels 0, 50000, 100000", "fit spec.toml --train manyclass.csv --out f_manyclass.sbn", 1, &["manyclass.csv", "100001 classes", "more than one class per two examples", "--label"]),
    // ---- model spec ----
    bad("spec file missing", "fit missing.toml --train embedded:digits --out f_nospec.sbn", 1, &["missing.toml", "No such file or directory"]),
    bad("spec unknown key", "fit s_unknown.toml --train embedded:digits --out f_unknown.sbn", 1, &["s_unknown.toml:4:1", "4 | colour = 3", "unknown field `colour`", "`hidden`"]),
    bad("spec TOML syntax error", "fit s_syntax.toml --train embedded:digits --out f_syntax.sbn", 1, &["s_syntax.toml:5:10", "extra `=`"]),
    bad("spec value of the wrong type", "fit s_type.toml --train embedded:digits --out f_type.sbn", 1, &["s_type.toml:5:10", "invalid type: string \"one\", expected usize"]),
    bad("spec without [network]", "fit s_nonet.toml --train embedded:digits --out f_nonet.sbn", 1, &["s_nonet.toml", "missing field `network`"]),
    bad("spec zero layer width", "fit s_zerow.toml --train embedded:digits --out f_zerow.sbn", 1, &["s_zerow.toml", "network.hidden[0]", "at least 1"]),
    bad("spec weight kind list of wrong length", "fit s_kinds.toml --train embedded:digits --out f_kinds.sbn", 1, &["s_kinds.toml", "network.weights", "lists 1 kinds but the network has 2 layers"]),
    bad("spec unknown estimator", "fit s_est.toml --train embedded:digits --out f_est.sbn", 1, &["s_est.toml:8:13", "unknown variant `magic`", "`psa`"]),
    bad("spec negative beta", "fit s_beta.toml --train embedded:digits --out f_beta.sbn", 1, &["s_beta.toml", "objective.beta", "finite number ≥ 0"]),
    bad("spec prior_pi outside (0, 1)", "fit s_pi.toml --train embedded:digits --out f_pi.sbn", 1, &["s_pi.toml", "objective.prior_pi", "strictly between 0 and 1"]),
    bad("spec lr zero", "fit s_lr.toml --train embedded:digits --out f_lr.sbn", 1, &["s_lr.toml", "training.lr", "positive number"]),
    bad("spec batch_size zero", "fit s_batch.toml --train embedded:digits --out f_batch.sbn", 1, &["s_batch.toml", "training.batch_size", "at least 1"]),
    bad("spec epochs zero", "fit s_epochs.toml --train embedded:digits --out f_epochs.sbn", 1, &["s_epochs.toml", "training.epochs", "at least 1"]),
    bad("spec chunk zero", "fit s_chunk.toml --train embedded:digits --out f_chunk.sbn", 1, &["s_chunk.toml", "training.chunk", "at least 1"]),
    bad("spec validation fraction 1", "fit s_vfrac.toml --train embedded:digits --out f_vfrac.sbn", 1, &["s_vfrac.toml", "validation.fraction", "[0, 1)"]),
    // ---- model files ----
    bad("model file missing", "summary missing.sbn", 1, &["missing.sbn", "No such file or directory"]),
    bad("model file junk", "summary junk.sbn", 1, &["junk.sbn", "not an sbn model file", "magic"]),
    bad("model file truncated", "evaluate trunc.sbn --data good.csv", 1, &["trunc.sbn", "truncated: ends at byte"]),
    bad("model file with a flipped byte", "export flip.sbn --out e_flip.packed", 1, &["flip.sbn", "checksum mismatch"]),
    bad("packed export to summary", "summary m.packed", 1, &["m.packed", "is a packed export", "needs the model file written by `sbn fit`"]),
    bad("packed export to calibrate", "calibrate m.packed --data good.csv", 1, &["m.packed", "is a packed export", "needs the model file written by `sbn fit`"]),
    bad("packed export to export", "export m.packed --out e_packed.packed", 1, &["m.packed", "is a packed export", "needs the model file written by `sbn fit`"]),
    bad("packed export to bench-predict", "bench-predict m.packed --data good.csv", 1, &["m.packed", "is a packed export", "needs the model file written by `sbn fit`"]),
    bad("packed file with a flipped byte", "predict flip.packed --data good.csv --out p_flip.csv", 1, &["flip.packed", "checksum mismatch"]),
    bad("packed file truncated", "predict trunc.packed --data good.csv --out p_trunc.csv", 1, &["trunc.packed", "corrupted or truncated"]),
    bad("packed file with a posterior temperature", "predict m.packed --data good.csv --posterior-temperature 2 --out p_temp.csv", 1, &["--posterior-temperature", "m.packed is a packed network"]),
    // ---- Monte Carlo options ----
    bad("zero --weight-samples", "evaluate m.sbn --data good.csv --weight-samples 0", 1, &["--weight-samples", "at least 1"]),
    bad("zero --noise-samples", "calibrate m.sbn --data good.csv --noise-samples 0", 1, &["--noise-samples", "at least 1"]),
    bad("zero --weight-samples (report)", "report m.sbn --data good.csv --weight-samples 0 --out r_zero", 1, &["--weight-samples", "at least 1"]),
    bad("zero --weight-samples (bench-predict)", "bench-predict m.sbn --data good.csv --weight-samples 0", 1, &["--weight-samples", "at least 1"]),
    bad("--posterior-temperature 0", "uncertainty m.sbn --data good.csv --posterior-temperature 0", 1, &["--posterior-temperature", "positive number, got 0"]),
    bad("--posterior-temperature NaN", "evaluate m.sbn --data good.csv --posterior-temperature nan", 1, &["--posterior-temperature", "positive number, got NaN"]),
    bad("unknown --engine", "report m.sbn --data good.csv --engine turbo --out r_engine", 1, &["--engine", "'turbo'", "auto, packed or float"]),
    bad("--bins 0", "calibrate m.sbn --data good.csv --bins 0 --out c_bins", 1, &["--bins", "at least 1"]),
    bad("predict --out not .csv or .json", "predict m.sbn --data good.csv --out p_out.txt", 1, &["--out p_out.txt", "expected a .csv or .json file name"]),
    // ---- fit options ----
    bad("fit --resume without a checkpoint", "fit spec.toml --train embedded:digits --resume --out f_resume.sbn", 1, &["--resume", "no checkpoint f_resume.sbn.ckpt"]),
    bad("fit over an existing model without --force", "fit spec.toml --train embedded:digits --out m.sbn", 1, &["m.sbn and m.sbn.ckpt already exist", "--force", "--resume"]),
    bad("fit --init with another architecture", "fit other.toml --train embedded:digits --init m.sbn --out f_init.sbn", 1, &["m.sbn", "another architecture", "[network]"]),
    bad("fit --init from a junk file", "fit spec.toml --train embedded:digits --init junk.sbn --out f_initjunk.sbn", 1, &["junk.sbn", "not an sbn model file"]),
    bad("fit --init-temperature 0", "fit spec.toml --train embedded:digits --init m.sbn --init-temperature 0 --out f_inittemp.sbn", 1, &["--init-temperature", "positive number, got 0"]),
    bad("fit unknown --estimator", "fit spec.toml --train embedded:digits --estimator magic --out f_estimator.sbn", 1, &["estimator", "unknown estimator 'magic'", "psa, st"]),
    bad("fit unknown --engine", "fit spec.toml --train embedded:digits --engine quick --out f_engine.sbn", 1, &["--engine", "unknown training engine 'quick'", "fast or reference"]),
    // ---- grad and gradcheck ----
    bad("grad case file missing", "grad --case missing.json", 1, &["missing.json", "No such file or directory"]),
    bad("grad JSON syntax error", "grad --case g_syntax.json", 1, &["g_syntax.json", "not valid JSON (line 2"]),
    bad("grad JSON without cases", "grad --case g_nocases.json", 1, &["g_nocases.json", "missing field 'cases'"]),
    bad("grad empty cases array", "grad --case g_empty.json", 1, &["g_empty.json: cases", "the array is empty"]),
    bad("grad label out of range", "grad --case g_y.json", 1, &["g_y.json: case 0 ('t'): y[0]", "class index in 0..2, got 5"]),
    bad("grad W and b layer counts differ", "grad --case g_wb.json", 1, &["g_wb.json: case 0 ('t'): params", "W has 2 layers but b has 1"]),
    bad("grad input width mismatch", "grad --case g_x.json", 1, &["g_x.json: case 0 ('t'): x0", "rows have 3 inputs but W[0] takes 2"]),
    bad("grad unknown estimator", "grad --case g_ok.json --estimator magic", 1, &["unknown estimator 'magic'", "psa"]),
    bad("gradcheck junk model", "gradcheck --model junk.sbn --out gc_junk", 1, &["junk.sbn", "not an sbn model file"]),
    bad("gradcheck unknown estimator", "gradcheck --estimator magic --out gc_est", 1, &["unknown estimator 'magic'", "psa"]),
    bad("gradcheck zero draws", "gradcheck --epochs 0 --draws 0 --out gc_draws", 1, &["draws", "at least 1"]),
    // ---- sizes beyond the machine ----
    bad("--weight-samples beyond memory", "evaluate m.sbn --data good.csv --weight-samples 1000000000000", 1, &["--weight-samples 1000000000000", "Monte Carlo predictive of 40 examples", "more than the", "of memory available"]),
    bad("--weight-samples beyond memory (predict)", "predict m.sbn --data good.csv --weight-samples 1000000000000 --out p_huge.csv", 1, &["--weight-samples 1000000000000", "of memory available"]),
    bad("--weight-samples beyond memory (report)", "report m.sbn --data good.csv --weight-samples 1000000000000 --out r_huge", 1, &["--weight-samples 1000000000000", "of memory available"]),
    bad("--weight-samples beyond memory (bench-predict)", "bench-predict m.sbn --data good.csv --weight-samples 1000000000000", 1, &["--weight-samples 1000000000000", "of memory available"]),
    bad("--bins beyond memory", "calibrate m.sbn --data good.csv --bins 1000000000000000", 1, &["--bins 1000000000000000", "reliability table", "of memory available"]),
    bad("spec widths beyond memory", "fit s_wide.toml --train embedded:digits --out f_wide.sbn", 1, &["network (64 → 100000000000 → 100000000000 → 10)", "parameters", "of memory available"]),
    bad("spec validation samples beyond memory", "fit s_vsamples.toml --train embedded:digits --out f_vsamples.sbn", 1, &["validation.weight_samples = 1000000000000", "of memory available"]),
    bad("spec image beyond the data", "fit s_image.toml --train embedded:digits --out f_image.sbn", 1, &["network.image", "18446744073709551615", "64 features"]),
    bad("spec convolution channels too large", "fit s_channels.toml --train embedded:digits --out f_channels.sbn", 1, &["network.conv[0]", "larger than the largest supported"]),
    bad("gradcheck --draws beyond memory", "gradcheck --epochs 0 --draws 100000000000000 --m 1 --out gc_huge", 1, &["100000000000000 draws", "of memory available"]),
    // ---- flags named, outputs that would replace inputs ----
    bad("fit --epochs 0 names the flag", "fit spec.toml --train embedded:digits --epochs 0 --out f_e0.sbn", 1, &["--epochs 0", "at least 1"]),
    bad("fit --beta NaN names the flag", "fit spec.toml --train embedded:digits --beta nan --out f_bnan.sbn", 1, &["--beta NaN", "finite number"]),
    bad("gradcheck --m 0", "gradcheck --epochs 0 --draws 10 --m 0 --out gc_m0", 1, &["--m 0", "between 1 and --draws"]),
    bad("gradcheck --tau 0", "gradcheck --epochs 0 --draws 10 --m 1 --tau 0 --out gc_tau", 1, &["--tau 0", "positive number"]),
    bad("gradcheck --model of another shape", "gradcheck --model m.sbn --epochs 0 --draws 10 --m 1 --out gc_shape", 1, &["--model m.sbn", "takes 64 inputs and gives 10 classes"]),
    bad("export over its own model", "export m.sbn --out m.sbn", 1, &["--out m.sbn", "also an input"]),
    bad("predict over its own data", "predict m.sbn --data good.csv --out good.csv", 1, &["--out good.csv", "also an input"]),
    bad("report --out is a file", "report m.sbn --data good.csv --out good.csv --weight-samples 2 --noise-samples 2", 1, &["good.csv", "is a file", "needs a folder"]),
    bad("report OOD data of another size", "report m.sbn --data good.csv --ood small.csv --out r_ood --weight-samples 2 --noise-samples 2", 1, &["small.csv", "examples have 10 features but the model takes 64"]),
    bad("CSV unterminated quote", "evaluate m.sbn --data quote.csv", 1, &["quote.csv:3", "unterminated quote"]),
    bad("IDX with no images (evaluate)", "evaluate m.sbn --data zp-images-idx3-ubyte", 1, &["zp-images-idx3-ubyte", "empty"]),
    bad("IDX with no images (fit)", "fit spec.toml --train zp-images-idx3-ubyte --out f_zp.sbn", 1, &["zp-images-idx3-ubyte", "empty"]),
    // ---- command-line usage (clap) ----
    bad("unknown subcommand", "frobnicate", 2, &["unrecognized subcommand 'frobnicate'"]),
    bad("required option missing", "evaluate m.sbn", 2, &["required arguments were not provided", "--data <DATA>"]),
    bad("non-numeric option value", "evaluate m.sbn --data good.csv --weight-samples abc", 2, &["invalid value 'abc'", "--weight-samples"]),
    bad("negative option value", "evaluate m.sbn --data good.csv --seed -3", 2, &["unexpected argument '-3'"]),
    bad("unknown option", "summary m.sbn --bogus", 2, &["unexpected argument '--bogus'"]),
    bad("fit --resume with --init", "fit spec.toml --train embedded:digits --resume --init m.sbn --out f_conflict.sbn", 2, &["'--resume' cannot be used with '--init <INIT>'"]),
    bad("fit --init-temperature without --init", "fit spec.toml --train embedded:digits --init-temperature 2 --out f_inittemp2.sbn", 2, &["required arguments were not provided", "--init <INIT>"]),
    bad("grad without --case", "grad", 2, &["required arguments were not provided", "--case <CASE>"]),
    // ---- post-hoc calibration, intervals, comparison ----
    bad("post-hoc method unknown", "calibrate m.sbn --data good.csv --fit platt", 1, &["--fit", "platt", "temperature, vector or histogram"]),
    bad("calibrate --save without --fit", "calibrate m.sbn --data good.csv --save", 2, &["--fit <FIT>"]),
    bad("calibrate --fit with --posthoc", "calibrate m.sbn --data good.csv --fit temperature --posthoc", 2, &["cannot be used with"]),
    bad("calibrate --save of a tempered posterior", "calibrate m.sbn --data good.csv --fit temperature --save --posterior-temperature 2", 1, &["--save", "--posterior-temperature"]),
    bad("--posthoc on a packed export", "predict m.packed --data good.csv --posthoc --out p_posthoc.csv", 1, &["--posthoc", "m.packed", "packed network"]),
    bad("confidence level out of range", "evaluate m.sbn --data good.csv --intervals --confidence 2", 1, &["--confidence 2", "strictly between 0 and 1"]),
    bad("one bootstrap resample", "report m.sbn --data good.csv --intervals --bootstrap 1 --out r_boot", 1, &["--bootstrap 1", "at least 2"]),
    bad("compare data file missing", "compare m.sbn m.sbn --data missing.csv", 1, &["missing.csv", "No such file or directory"]),
];

/// The commands the table must cover.
const COMMANDS: &[&str] =
    &["fit", "evaluate", "compare", "calibrate", "uncertainty", "report", "predict", "summary", "export", "bench-predict", "grad", "gradcheck"];

const SPEC: &str = "[network]\nhidden = [16]\nweights = \"bernoulli\"\n[training]\nepochs = 1\nbatch_size = 64\nchunk = 32\n";
const NETWORK: &str = "[network]\nhidden = [16]\nweights = \"bernoulli\"\n";
const TRAINING: &str = "[training]\nepochs = 1\nbatch_size = 64\nchunk = 32\n";

/// A fresh, empty folder for this test run.
fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbn-bad-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `sbn` in `dir` (killed after a minute: a hang is a failure too); exit code (None: killed
/// by a signal), stdout, stderr.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_sbn")).args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// An IDX file: magic, sizes, payload.
fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// A gzip member whose one stored block announces all of `data` but holds only its first `keep`
/// bytes: a truncated stream.
fn truncated_gzip(data: &[u8], keep: usize) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("fits one stored block");
    let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&(!len).to_le_bytes());
    v.extend_from_slice(&data[..keep]);
    v
}

/// `lines` with field `col` (0-based) of line `line` (0-based) replaced by `value`.
fn with_field(lines: &[String], line: usize, col: usize, value: &str) -> String {
    let mut out = lines.to_vec();
    let mut fields: Vec<&str> = lines[line].split(',').collect();
    let col = if col == usize::MAX { fields.len() - 1 } else { col };
    fields[col] = value;
    out[line] = fields.join(",");
    out.join("\n") + "\n"
}

/// The bad (and the few good) files the rows name, next to `m.sbn` and `m.packed`.
fn make_files(dir: &Path) {
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();

    // Model files: junk, truncated, one flipped byte; the packed export likewise.
    let model = std::fs::read(dir.join("m.sbn")).unwrap();
    let packed = std::fs::read(dir.join("m.packed")).unwrap();
    w("junk.sbn", b"hello, I am not a model\n");
    w("trunc.sbn", &model[..model.len() / 2]);
    let mut flip = model.clone();
    let mid = flip.len() / 2;
    flip[mid] ^= 1;
    w("flip.sbn", &flip);
    w("trunc.packed", &packed[..packed.len() / 2]);
    let mut flip = packed.clone();
    let mid = flip.len() / 2;
    flip[mid] ^= 1;
    w("flip.packed", &flip);

    // CSV: the first 40 rows of the digits (64 pixels, label last, no header).
    let gz = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz")).unwrap();
    let text = String::from_utf8(sbn::data::idx::gunzip_if_gz(gz, "digits.csv.gz").unwrap()).unwrap();
    let lines: Vec<String> = text.lines().take(40).map(str::to_string).collect();
    assert!(lines.iter().all(|l| l.split(',').count() == 65));
    let good = lines.join("\n") + "\n";
    w("good.csv", good.as_bytes());
    w("data.txt", good.as_bytes());
    let header = (0..64).map(|j| format!("f{j}")).collect::<Vec<_>>().join(",") + ",digit";
    w("header.csv", format!("{header}\n{good}").as_bytes());
    w("headeronly.csv", format!("{header}\n").as_bytes());
    w("empty.csv", b"");
    let mut ragged = lines.clone();
    let short: Vec<&str> = lines[3].split(',').take(62).collect();
    ragged[3] = short.join(",");
    w("ragged.csv", (ragged.join("\n") + "\n").as_bytes());
    w("nonnum.csv", with_field(&lines, 4, 5, "abc").as_bytes());
    w("nan.csv", with_field(&lines, 6, 7, "NaN").as_bytes());
    w("inf.csv", with_field(&lines, 6, 7, "inf").as_bytes());
    w("neglabel.csv", with_field(&lines, 2, usize::MAX, "-1").as_bytes());
    w("fraclabel.csv", with_field(&lines, 2, usize::MAX, "2.5").as_bytes());
    w("ten.csv", with_field(&lines, 3, usize::MAX, "ten").as_bytes());
    w("quote.csv", with_field(&lines, 2, 3, "\"12").as_bytes());
    let mut utf8 = lines[..2].join("\n").into_bytes();
    utf8.extend_from_slice(b"\n0,0,\xff\xfe");
    utf8.extend_from_slice(lines[2].as_bytes());
    utf8.extend_from_slice(("\n".to_string() + &lines[3..].join("\n") + "\n").as_bytes());
    w("utf8.csv", &utf8);
    let relabel = |labels: &dyn Fn(usize) -> String| -> String {
        lines.iter().enumerate().map(|(n, l)| format!("{},{}\n", l.rsplit_once(',').unwrap().0, labels(n))).collect()
    };
    w("oneclass.csv", relabel(&|_| "3".into()).as_bytes());
    w("manyclass.csv", relabel(&|n| ["0", "50000", "100000"][n % 3].into()).as_bytes());
    let small: String = (0..30).map(|n| format!("{},{}\n", (0..10).map(|j| ((n * 7 + j * 3) % 17).to_string()).collect::<Vec<_>>().join(","), n % 3)).collect();
    w("small.csv", small.as_bytes());

    // gzip: a stored block cut short, and a block of the reserved type 3.
    w("trunc.csv.gz", &truncated_gzip(good.as_bytes(), 100));
    w("corrupt.csv.gz", &[&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x07][..], b"garbage garbage garbage"].concat());

    // IDX: 20 images of 8×8 and their labels, in good and bad variants.
    let n = 20u32;
    let images: Vec<u8> = (0..n * 64).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let good_images = idx(0x803, &[n, 8, 8], &images);
    let good_labels = idx(0x801, &[n], &labels);
    let pair = |stem: &str, images: &[u8], labels: Option<&[u8]>| {
        w(&format!("{stem}-images-idx3-ubyte"), images);
        if let Some(l) = labels {
            w(&format!("{stem}-labels-idx1-ubyte"), l);
        }
    };
    pair("magic", &idx(0x804, &[n, 8, 8], &images), Some(&good_labels));
    pair("lmagic", &good_images, Some(&idx(0x803, &[n], &labels)));
    pair("hdr", &idx(0x803, &[n], &[]), Some(&good_labels));
    pair("zero", &[], None);
    pair("short", &idx(0x803, &[n, 8, 8], &images[..images.len() - 7]), Some(&good_labels));
    pair("long", &[&good_images[..], b"xyz"].concat(), Some(&good_labels));
    pair("big", &idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[]), None);
    pair("zd", &idx(0x803, &[5, 0, 8], &[]), Some(&idx(0x801, &[5], &[0; 5])));
    pair("nolab", &good_images, None);
    pair("count", &good_images, Some(&idx(0x801, &[n - 2], &labels[..n as usize - 2])));
    pair("size", &idx(0x803, &[n, 5, 5], &images[..n as usize * 25]), Some(&good_labels));
    pair("zp", &idx(0x803, &[0, 8, 8], &[]), Some(&idx(0x801, &[0], &[])));
    w("gz-images-idx3-ubyte.gz", &truncated_gzip(&good_images, 1000));
    w("gz-labels-idx1-ubyte", &good_labels);
    std::fs::create_dir_all(dir.join("emptydir")).unwrap();
    std::fs::create_dir_all(dir.join("onlyimg")).unwrap();
    w("onlyimg/t10k-images-idx3-ubyte", &good_images);

    // Model specs.
    w("other.toml", SPEC.replace("[16]", "[8]").as_bytes());
    w("s_unknown.toml", format!("{NETWORK}colour = 3\n{TRAINING}").as_bytes());
    w("s_syntax.toml", format!("{NETWORK}[training]\nepochs = = 1\n").as_bytes());
    w("s_type.toml", format!("{NETWORK}[training]\nepochs = \"one\"\n").as_bytes());
    w("s_nonet.toml", TRAINING.as_bytes());
    w("s_zerow.toml", SPEC.replace("[16]", "[0]").as_bytes());
    w("s_kinds.toml", SPEC.replace("\"bernoulli\"", "[\"bernoulli\"]").as_bytes());
    w("s_est.toml", format!("{SPEC}estimator = \"magic\"\n").as_bytes());
    w("s_beta.toml", format!("{NETWORK}[objective]\nbeta = -1\n{TRAINING}").as_bytes());
    w("s_pi.toml", format!("{NETWORK}[objective]\nprior_pi = 1.0\n{TRAINING}").as_bytes());
    w("s_lr.toml", format!("{SPEC}lr = 0\n").as_bytes());
    w("s_batch.toml", SPEC.replace("batch_size = 64", "batch_size = 0").as_bytes());
    w("s_epochs.toml", SPEC.replace("epochs = 1", "epochs = 0").as_bytes());
    w("s_chunk.toml", SPEC.replace("chunk = 32", "chunk = 0").as_bytes());
    w("s_vfrac.toml", format!("{SPEC}[validation]\nfraction = 1.0\n").as_bytes());
    w("s_wide.toml", SPEC.replace("[16]", "[100000000000, 100000000000]").as_bytes());
    w("s_vsamples.toml", format!("{SPEC}[validation]\nweight_samples = 1000000000000\n").as_bytes());
    w(
        "s_image.toml",
        SPEC.replace("[network]\n", "[network]\nimage = [18446744073709551615, 18446744073709551615, 2]\nconv = [{ channels = 2, kernel = 3 }]\n").as_bytes(),
    );
    w("s_channels.toml", SPEC.replace("[network]\n", "[network]\nconv = [{ channels = 18446744073709551615, kernel = 3 }]\n").as_bytes());

    // Gradient cases (the PSA reference-vector schema): a 2-2-2 net, one example.
    let case = |w_json: &str, b_json: &str, x0: &str, y: &str| {
        format!("{{\"cases\": [{{\"name\": \"t\", \"params\": {{\"W\": {w_json}, \"b\": {b_json}}}, \"x0\": {x0}, \"y\": {y}}}]}}\n")
    };
    let (w2, b2) = ("[[[0.5, 0.1], [0.2, -0.3]], [[1.0, 0.0], [0.0, 1.0]]]", "[[0.0, 0.0], [0.0, 0.0]]");
    w("g_ok.json", case(w2, b2, "[[1.0, -1.0]]", "[1]").as_bytes());
    w("g_y.json", case(w2, b2, "[[1.0, -1.0]]", "[5]").as_bytes());
    w("g_wb.json", case(w2, "[[0.0, 0.0]]", "[[1.0, -1.0]]", "[1]").as_bytes());
    w("g_x.json", case(w2, b2, "[[1.0, -1.0, 3.0]]", "[1]").as_bytes());
    w("g_syntax.json", b"{\"cases\": [\n");
    w("g_nocases.json", b"{\"foo\": 1}\n");
    w("g_empty.json", b"{\"cases\": []}\n");
}

/// Every path under `dir` (recursively) whose name is a temporary `.*.tmp`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            found.extend(temporaries(&path));
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            found.push(path);
        }
    }
    found
}

/// What is at `path`: None (nothing), or a file's bytes / a folder's sorted entry names.
fn snapshot(path: &Path) -> Option<Vec<u8>> {
    if path.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        Some(names.join("\n").into_bytes())
    } else {
        std::fs::read(path).ok()
    }
}

/// The outputs a command line names: `--out` (default `gradcheck` for gradcheck), and for fit
/// also the checkpoint and lock next to the model.
fn outputs(dir: &Path, args: &[&str]) -> Vec<PathBuf> {
    let out = args.windows(2).find(|p| p[0] == "--out").map(|p| p[1]);
    let out = match (args.first().copied(), out) {
        (_, Some(o)) => o,
        (Some("gradcheck"), None) => "gradcheck",
        (Some("fit"), None) => "model.sbn",
        _ => return Vec::new(),
    };
    let mut paths = vec![dir.join(out)];
    if args[0] == "fit" {
        paths.push(dir.join(format!("{out}.ckpt")));
        paths.push(dir.join(format!("{out}.lock")));
    }
    paths
}

#[test]
fn bad_input_table() {
    // The table itself: enough kinds, unique names, every command covered, sane statuses.
    assert!(TABLE.len() >= 40, "{} rows", TABLE.len());
    let names: BTreeSet<&str> = TABLE.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), TABLE.len(), "row names must be unique");
    let commands: BTreeSet<&str> = TABLE.iter().filter_map(|r| r.cmd.split_whitespace().next()).collect();
    for c in COMMANDS {
        assert!(commands.contains(c), "no row for `sbn {c}`");
    }
    for r in TABLE {
        assert!(r.status == 1 || r.status == 2, "{}: status {} (1: sbn error, 2: usage error)", r.name, r.status);
        assert!(!r.expect.is_empty(), "{}: no message fragment", r.name);
    }

    // The folder: a tiny fitted model, its packed export, the bad files.
    let dir = temp_dir();
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let (code, _, err) = run(&dir, &["fit", "spec.toml", "--train", "embedded:digits", "--out", "m.sbn"]);
    assert_eq!(code, Some(0), "fit: {err}");
    let (code, _, err) = run(&dir, &["export", "m.sbn", "--out", "m.packed"]);
    assert_eq!(code, Some(0), "export: {err}");
    make_files(&dir);

    let mut failures = Vec::new();
    for r in TABLE {
        let args: Vec<&str> = r.cmd.split_whitespace().collect();
        let outs = outputs(&dir, &args);
        let before: Vec<Option<Vec<u8>>> = outs.iter().map(|p| snapshot(p)).collect();
        let (code, _, err) = run(&dir, &args);
        let mut wrong = Vec::new();
        match code {
            Some(c) if c == r.status => {}
            Some(101) => wrong.push("exit status 101: a Rust panic".to_string()),
            Some(134) => wrong.push("exit status 134: an abort".to_string()),
            Some(c) => wrong.push(format!("exit status {c}, expected {}", r.status)),
            None => wrong.push("killed by a signal (or hung and was killed)".to_string()),
        }
        if err.contains("panicked") {
            wrong.push("stderr has a panic message".into());
        }
        for f in r.expect {
            if !err.contains(f) {
                wrong.push(format!("stderr lacks `{f}`"));
            }
        }
        for (p, b) in outs.iter().zip(&before) {
            let after = snapshot(p);
            match (b, &after) {
                (None, Some(_)) => wrong.push(format!("left {} behind", p.strip_prefix(&dir).unwrap().display())),
                (Some(b), Some(a)) if a != b => wrong.push(format!("changed the existing {}", p.strip_prefix(&dir).unwrap().display())),
                (Some(_), None) => wrong.push(format!("removed the existing {}", p.strip_prefix(&dir).unwrap().display())),
                _ => {}
            }
        }
        for t in temporaries(&dir) {
            wrong.push(format!("left the temporary {}", t.strip_prefix(&dir).unwrap().display()));
            let _ = std::fs::remove_file(&t);
        }
        if !wrong.is_empty() {
            failures.push(format!("[{}] sbn {}\n    {}\n    stderr: {}", r.name, r.cmd, wrong.join("; "), err.trim_end().replace('\n', "\n            ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} bad-input rows failed:\n\n{}", failures.len(), TABLE.len(), failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
