//! Ensembles (docs/math.md §5.1): several fitted models of the same data as one predictive, the
//! mixture posterior `q(W) = (1/M) Σ_m q_m(W)`. Its weight samples are the members' weight samples,
//! `S_w` from each, pooled; so the model part of its uncertainty (the mutual information between
//! the class and the weight sample) includes the members' disagreement.
//!
//! Member `m` (0-based, in the order given) draws with the seed `member_seed(seed, m)`: member 0
//! with the seed itself (a one-member ensemble predicts exactly as its model), member `m ≥ 1`
//! from its own stream of the seed. The pooled predictive lists member 0's weight samples first.

use crate::data::{InputBatch, InputScaling, list_classes};
use crate::error::{Result, SbnError};
use crate::evaluate::Predictor;
use crate::montecarlo::McConfig;
use crate::predictive::Predictive;

/// The stream below the seed that members `m ≥ 1` draw from (`rng::stream_seed(seed, &[ENSEMBLE_STREAM, m])`).
pub const ENSEMBLE_STREAM: u64 = 0x656e_7365_6d62_6c65;

/// The seed of member `m`'s Monte Carlo draws in an ensemble predicting with `seed`.
pub fn member_seed(seed: u64, m: usize) -> u64 {
    if m == 0 { seed } else { crate::rng::stream_seed(seed, &[ENSEMBLE_STREAM, m as u64]) }
}

/// Several predictors of the same task as one: the pooled weight samples of its members.
///
/// Members must agree on the input size, the input scaling and the classes (names and order);
/// they may differ in architecture. Each member is named (by its file, say) for error messages.
///
/// ```
/// # use rand::SeedableRng;
/// # use sbn::data::{Dataset, Features, InputScaling};
/// use sbn::ensemble::Ensemble;
/// use sbn::evaluate::predict_dataset;
/// # use sbn::fitted::FittedModel;
/// # use sbn::model::init::{random_network, InitConfig};
/// use sbn::montecarlo::McConfig;
///
/// # fn main() -> sbn::Result<()> {
/// # let model = |seed| -> sbn::Result<FittedModel> {
/// #     let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
/// #     let net = random_network(&[2, 8, 3], &[sbn::WeightKind::Bernoulli; 2], InitConfig::default(), &mut rng)?;
/// #     FittedModel::new(net, InputScaling::Affine { alpha: 1.0, offset: 0.0 }, vec!["a".into(), "b".into(), "c".into()], Vec::new())
/// # };
/// # let data = Dataset::unlabelled("data", Features::Real(vec![0.5, -1.0, 2.0, 0.0]), 2)?;
/// let ensemble = Ensemble::new(vec![("a.sbn".to_string(), model(1)?), ("b.sbn".to_string(), model(2)?)])?;
/// let config = McConfig { weight_samples: 4, noise_samples: 2, ..McConfig::default() };
/// let p = predict_dataset(&ensemble, &data, &config)?;
/// assert_eq!(p.weight_samples, 8); // 4 from each member, pooled
/// # Ok(())
/// # }
/// ```
pub struct Ensemble<P> {
    members: Vec<(String, P)>,
}

impl<P: Predictor> Ensemble<P> {
    /// An ensemble of `members` (name, predictor), after checking that there is at least one and
    /// that every member agrees with the first on the input size, the input scaling and the
    /// classes; a disagreement is an error naming both members and what differs.
    pub fn new(members: Vec<(String, P)>) -> Result<Self> {
        let Some((first_name, first)) = members.first() else {
            return Err(SbnError::invalid("ensemble", "has no members; give at least one model"));
        };
        for (name, m) in &members[1..] {
            let differs = |what: String| SbnError::mismatch(name.clone(), format!("cannot join an ensemble with {first_name}: {what}"));
            if m.input_dim() != first.input_dim() {
                return Err(differs(format!("it has {} inputs, {first_name} has {}", m.input_dim(), first.input_dim())));
            }
            if m.input_scaling() != first.input_scaling() {
                return Err(differs("its input scaling differs (the two were fitted on other training data)".into()));
            }
            if m.classes() != first.classes() {
                return Err(differs(format!(
                    "its classes ({}) are not {first_name}'s ({}) in the same order",
                    list_classes(m.classes()),
                    list_classes(first.classes())
                )));
            }
        }
        Ok(Ensemble { members })
    }

    /// The members with their names, in order.
    pub fn members(&self) -> &[(String, P)] {
        &self.members
    }

    /// The Monte Carlo settings of member `m` for an ensemble predicting with `config`.
    pub fn member_config(config: &McConfig, m: usize) -> McConfig {
        McConfig { seed: member_seed(config.seed, m), ..*config }
    }
}

/// Pools the members' predictives of the same examples: example by example, member 0's weight
/// samples, then member 1's, and so on. They must have the same shape (a packed export gives one
/// weight sample, a fitted model `S_w`: the mixture weighs members equally only when they agree).
pub fn pool(parts: &[(String, Predictive)]) -> Result<Predictive> {
    let Some((first_name, first)) = parts.first() else {
        return Err(SbnError::invalid("ensemble", "no predictive to pool"));
    };
    for (name, p) in parts {
        if (p.n_examples, p.n_classes, p.weight_samples) != (first.n_examples, first.n_classes, first.weight_samples) {
            return Err(SbnError::mismatch(
                name.clone(),
                format!(
                    "gives {} weight samples of {} examples, {first_name} gives {} of {}: ensemble members of one kind only (model files or packed exports)",
                    p.weight_samples, p.n_examples, first.weight_samples, first.n_examples
                ),
            ));
        }
    }
    let mut out = Predictive::zeros(first.n_examples, first.n_classes, first.weight_samples * parts.len(), first.noise_samples);
    let row = first.weight_samples * first.n_classes;
    for n in 0..first.n_examples {
        for (m, (_, p)) in parts.iter().enumerate() {
            let start = (n * parts.len() + m) * row;
            out.per_weight_sample[start..start + row].copy_from_slice(p.example(n));
        }
    }
    Ok(out)
}

impl<P: Predictor> Predictor for Ensemble<P> {
    fn input_dim(&self) -> usize {
        self.members[0].1.input_dim()
    }

    fn classes(&self) -> &[String] {
        self.members[0].1.classes()
    }

    fn input_scaling(&self) -> &InputScaling {
        self.members[0].1.input_scaling()
    }

    /// Every member's predictive with its own seed ([`member_seed`]), pooled ([`pool`]).
    fn predictive(&self, inputs: InputBatch, config: &McConfig) -> Result<Predictive> {
        let parts = self
            .members
            .iter()
            .enumerate()
            .map(|(m, (name, p))| Ok((name.clone(), p.predictive(inputs, &Self::member_config(config, m))?)))
            .collect::<Result<Vec<_>>>()?;
        pool(&parts)
    }

    /// Each member's predictive, and the pooled one as large as all of them together.
    fn check_memory(&self, n_examples: usize, config: &McConfig, what: &str) -> Result<()> {
        for (_, p) in &self.members {
            p.check_memory(n_examples, config, what)?;
        }
        let pooled = crate::limits::product(&[3 * 8, self.members.len(), config.weight_samples, n_examples, self.classes().len()]);
        crate::limits::ensure_fits(what, &format!("the pooled predictive of {} ensemble members", self.members.len()), pooled)
    }
}
