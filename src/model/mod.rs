//! What an SBN is: layers, weight kinds, the logistic noise, the output loss, the prior and the
//! posterior's mode, tempering and spread.

pub mod conv;
pub(crate) mod conv_bits;
mod fast_sample;
pub mod init;
pub mod layer;
pub mod network;
pub mod noise;
pub mod posterior;
pub mod prior;
pub mod softmax;

pub use conv::{Conv2d, Unfolding};
pub use layer::{Layer, WeightKind, Weights};
pub use network::{Draws, ForwardSample, GivenDraws, HiddenSample, Network, Patches, RngDraws, WeightSample};
pub use prior::BernoulliPrior;
