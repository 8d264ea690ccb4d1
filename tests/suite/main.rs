//! The integration tests, one test binary with a module per area (faster to build and run than
//! a binary per file). `common` holds what several areas share.

mod architecture;
mod bad_input;
mod cli_data;
mod cli_fit;
mod cli_grad;
mod cli_predict;
mod common;
mod conformance;
mod conv;
mod data_init;
mod data_loaders;
mod engine;
mod ensemble;
mod estimator_bias;
mod estimator_lab;
mod fit;
mod intervals;
mod metrics;
mod packed;
mod packed_conv;
mod plots;
mod posthoc;
mod pretrained;
mod psa_matrix_form;
mod readme;
mod report;
mod shift;
