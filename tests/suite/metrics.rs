//! Metrics and the uncertainty split against hand-computed cases, sampling checks and bad input.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use sbn::metrics::calibration::{self, Binning, ReliabilityTable};
use sbn::metrics::ood::{self, ood_detection};
use sbn::metrics::scores::{self, Scores};
use sbn::metrics::selective::RiskCoverage;
use sbn::predictive::Predictive;
use sbn::uncertainty::{self, ScoreKind, Uncertainty};

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tol {tol})");
}

// Four examples, three classes:
//   e0 [0.7, 0.2, 0.1] y=0  predicted 0, hit
//   e1 [0.1, 0.6, 0.3] y=2  predicted 1, miss
//   e2 [0.2, 0.2, 0.6] y=2  predicted 2, hit
//   e3 [0.5, 0.5, 0.0] y=1  predicted 0 (first on ties), miss
const P: [f64; 12] = [0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.2, 0.2, 0.6, 0.5, 0.5, 0.0];
const Y: [usize; 4] = [0, 2, 2, 1];

#[test]
fn accuracy_nll_brier_by_hand() {
    // accuracy = 2 hits / 4 = 0.5
    close(scores::accuracy(&P, 3, &Y).unwrap(), 0.5, 1e-15);
    // NLL = −(ln 0.7 + ln 0.3 + ln 0.6 + ln 0.5)/4
    //     = (0.356675 + 1.203973 + 0.510826 + 0.693147)/4 = 2.764621/4 = 0.691155
    close(scores::nll(&P, 3, &Y).unwrap(), 0.691155, 1e-6);
    // Brier, per example Σ_k (p_k − 1[k=y])²:
    //   e0 0.09 + 0.04 + 0.01 = 0.14;  e1 0.01 + 0.36 + 0.49 = 0.86
    //   e2 0.04 + 0.04 + 0.16 = 0.24;  e3 0.25 + 0.25 + 0    = 0.50
    //   mean = 1.74 / 4 = 0.435
    close(scores::brier(&P, 3, &Y).unwrap(), 0.435, 1e-12);
    let s = Scores::compute(&P, 3, &Y).unwrap();
    assert_eq!(s.n_examples, 4);
    close(s.accuracy, 0.5, 1e-15);
    close(s.brier, 0.435, 1e-12);
    // serde round trip
    let back: Scores = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn nll_floor_and_brier_extremes() {
    // A certain miss: −ln(1e-12) = 27.631021 nats; Brier (1−0)² + (0−1)² = 2.
    close(scores::nll(&[1.0, 0.0], 2, &[1]).unwrap(), -(1e-12f64).ln(), 1e-12);
    close(scores::brier(&[1.0, 0.0], 2, &[1]).unwrap(), 2.0, 1e-15);
    close(scores::brier(&[1.0, 0.0], 2, &[0]).unwrap(), 0.0, 1e-15);
}

#[test]
fn ece_mce_by_hand() {
    // Five equal-width bins [0,.2) [.2,.4) [.4,.6) [.6,.8) [.8,1]:
    //   bin 2: {.55 hit}                       acc 1,    conf .55,  gap .45
    //   bin 3: {.65 miss}                      acc 0,    conf .65,  gap .65
    //   bin 4: {.95 hit, .85 miss, .9 hit, 1.0 hit (1.0 goes to the last bin)}
    //                                          acc 3/4,  conf 3.7/4 = .925, gap .175
    //   ECE = (1·.45 + 1·.65 + 4·.175)/6 = 1.8/6 = 0.3;  MCE = .65
    let conf = [0.95, 0.85, 0.9, 0.55, 0.65, 1.0];
    let hit = [true, false, true, true, false, true];
    let t = ReliabilityTable::new(&conf, &hit, Binning::EqualWidth(5)).unwrap();
    assert_eq!(t.bins.iter().map(|b| b.count).collect::<Vec<_>>(), vec![0, 0, 1, 1, 4]);
    close(t.bins[4].accuracy, 0.75, 1e-15);
    close(t.bins[4].confidence, 0.925, 1e-15);
    close(t.bins[4].upper, 1.0, 1e-15);
    close(t.ece(), 0.3, 1e-12);
    close(t.mce(), 0.65, 1e-12);
    // Equal mass, 3 bins of 2 after sorting:
    //   {.55 hit, .65 miss} acc .5 conf .6 gap .1; {.85 miss, .9 hit} acc .5 conf .875 gap .375;
    //   {.95 hit, 1.0 hit} acc 1 conf .975 gap .025.  ECE = (2/6)(.1 + .375 + .025) = 1/6
    let m = ReliabilityTable::new(&conf, &hit, Binning::EqualMass(3)).unwrap();
    close(m.ece(), 1.0 / 6.0, 1e-12);
    assert_eq!((m.bins[1].lower, m.bins[1].upper), (0.85, 0.9));
    // Serializable table.
    let back: ReliabilityTable = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn classwise_ece_by_hand() {
    // Two bins [0,.5) [.5,1]; rows [.8,.2] y=0 and [.3,.7] y=0.
    //   class 0: (.3, 1) gap .7; (.8, 1) gap .2 → ECE₀ = (.7 + .2)/2 = .45
    //   class 1: (.2, 0) gap .2; (.7, 0) gap .7 → ECE₁ = .45;  mean .45
    let p = [0.8, 0.2, 0.3, 0.7];
    close(calibration::classwise_ece(&p, 2, &[0, 0], Binning::EqualWidth(2)).unwrap(), 0.45, 1e-12);
}

#[test]
fn ece_near_zero_when_labels_follow_the_probabilities() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2024);
    let (n, c) = (20_000, 4);
    let mut probs = Vec::with_capacity(n * c);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let logits: Vec<f64> = (0..c).map(|_| 3.0 * rng.random::<f64>()).collect();
        let p = sbn::model::softmax::softmax(&logits);
        let u: f64 = rng.random();
        let mut cum = 0.0;
        let y = p.iter().position(|&q| {
            cum += q;
            u < cum
        });
        labels.push(y.unwrap_or(c - 1));
        probs.extend(p);
    }
    let s = Scores::compute(&probs, c, &labels).unwrap();
    assert!(s.ece < 0.02, "ece {}", s.ece);
    assert!(s.ece_equal_mass < 0.02, "ece (equal mass) {}", s.ece_equal_mass);
    assert!(s.classwise_ece < 0.02, "classwise ece {}", s.classwise_ece);
}

#[test]
fn risk_coverage_by_hand() {
    // Sorted: .9 hit | .8 miss, .8 hit (tied, enter together) | .3 miss
    //   coverage .25 risk 0; .75 risk 1/3; 1 risk 2/4
    //   AURC = 0·.25 + (1/3)·.5 + .5·.25 = 1/6 + 1/8 = 7/24
    let rc = RiskCoverage::new(&[0.9, 0.8, 0.8, 0.3], &[true, false, true, false]).unwrap();
    assert_eq!(rc.coverage, vec![0.25, 0.75, 1.0]);
    close(rc.risk[1], 1.0 / 3.0, 1e-15);
    close(rc.aurc, 7.0 / 24.0, 1e-12);
    close(rc.risk_at(0.5), 1.0 / 3.0, 1e-15);
    // No ties: risks 0, 1/2, 1/3 → AURC = (0 + 1/2 + 1/3)/3 = 5/18
    let rc = RiskCoverage::new(&[0.5, 0.9, 0.7], &[true, true, false]).unwrap();
    close(rc.aurc, 5.0 / 18.0, 1e-12);
    // From probabilities: the hand case above has confidences .7 hit, .6 miss, .6 hit, .5 miss.
    let rc = RiskCoverage::from_probabilities(&P, 3, &Y).unwrap();
    close(rc.aurc, 7.0 / 24.0, 1e-12);
}

#[test]
fn ood_by_hand() {
    let inn = [0.1, 0.2, 0.3, 0.4];
    let out = [0.35, 0.5, 0.6];
    // AUROC: .35 beats 3 of 4, .5 and .6 beat all 4 → 11/12.
    // AP: ranking .6+ .5+ .4− .35+ ...: precision 1 at recall 1/3 and 2/3, then 3/4 at recall 1
    //     → (1 + 1 + .75)/3 = 11/12.
    // FPR95: TPR ≥ .95 needs all 3 OOD (threshold .35), flagging 0.4 only → FPR 1/4.
    let s = ood_detection(&inn, &out).unwrap();
    close(s.auroc, 11.0 / 12.0, 1e-12);
    close(s.aupr, 11.0 / 12.0, 1e-12);
    close(s.fpr_at_95_tpr, 0.25, 1e-12);
    // 20 OOD scores 1..=20: TPR ≥ .95 needs 19, threshold 2.0; in-distribution 2.5 and 100 are
    // flagged → FPR = 2/4.
    let out: Vec<f64> = (1..=20).map(f64::from).collect();
    close(ood::fpr_at_tpr(&[0.5, 1.5, 2.5, 100.0], &out, 0.95).unwrap(), 0.5, 1e-12);
    // All tied: AUROC ½, AP = precision ½ at recall 1, FPR 1.
    let s = ood_detection(&[0.5, 0.5], &[0.5, 0.5]).unwrap();
    assert_eq!((s.auroc, s.aupr, s.fpr_at_95_tpr), (0.5, 0.5, 1.0));
    // Perfect separation.
    let s = ood_detection(&[0.0, 0.1], &[0.9, 1.0, 2.0]).unwrap();
    assert_eq!((s.auroc, s.aupr, s.fpr_at_95_tpr), (1.0, 1.0, 0.0));
}

#[test]
fn auroc_matches_brute_force_pairs_with_ties() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..20 {
        let n_in = rng.random_range(1..60);
        let n_out = rng.random_range(1..60);
        let inn: Vec<f64> = (0..n_in).map(|_| rng.random_range(0..8) as f64).collect();
        let out: Vec<f64> = (0..n_out).map(|_| rng.random_range(0..8) as f64 + 0.5 * rng.random_range(0..2) as f64).collect();
        let mut pairs = 0.0;
        for &o in &out {
            for &i in &inn {
                pairs += if o > i {
                    1.0
                } else if o == i {
                    0.5
                } else {
                    0.0
                };
            }
        }
        close(ood::auroc(&inn, &out).unwrap(), pairs / (n_in * n_out) as f64, 1e-12);
    }
}

#[test]
fn bad_input_is_an_error() {
    // empty
    assert!(scores::accuracy(&[], 3, &[]).is_err());
    assert!(Scores::compute(&[], 2, &[]).is_err());
    // mismatched lengths
    assert!(scores::nll(&P[..9], 3, &Y).is_err());
    assert!(ReliabilityTable::new(&[0.5, 0.6], &[true], Binning::EqualWidth(15)).is_err());
    assert!(RiskCoverage::new(&[0.5, 0.6], &[true]).is_err());
    // rows not summing to 1 within 1e-6, NaN, label out of range, zero classes or bins
    assert!(scores::brier(&[0.5, 0.49], 2, &[0]).is_err());
    assert!(Scores::compute(&[0.5, 0.500_002], 2, &[0]).is_err());
    assert!(Scores::compute(&[0.5, 0.500_000_5], 2, &[0]).is_ok());
    assert!(scores::nll(&[f64::NAN, 1.0], 2, &[0]).is_err());
    assert!(scores::nll(&[1.2, -0.2], 2, &[0]).is_err());
    assert!(scores::accuracy(&[0.5, 0.5], 2, &[2]).is_err());
    assert!(scores::accuracy(&[], 0, &[]).is_err());
    assert!(ReliabilityTable::new(&[0.5], &[true], Binning::EqualMass(0)).is_err());
    assert!(ReliabilityTable::new(&[1.5], &[true], Binning::EqualWidth(3)).is_err());
    // OOD: empty on either side, NaN, impossible TPR
    assert!(ood_detection(&[0.1], &[]).is_err());
    assert!(ood_detection(&[], &[0.1]).is_err());
    assert!(ood_detection(&[0.1], &[f64::NAN]).is_err());
    assert!(ood::fpr_at_tpr(&[0.1], &[0.2], 1.5).is_err());
    assert!(RiskCoverage::new(&[], &[]).is_err());
    // predictive: empty, wrong length, rows not probabilities, labels mismatched
    assert!(Uncertainty::from_predictive(&Predictive::zeros(0, 2, 1, 1)).is_err());
    assert!(Uncertainty::from_predictive(&Predictive::zeros(1, 2, 1, 1)).is_err());
    let mut bad = Predictive::zeros(1, 2, 1, 1);
    bad.per_weight_sample = vec![1.0];
    assert!(Uncertainty::from_predictive(&bad).is_err());
    let u = Uncertainty::from_predictive(&two_sample_predictive()).unwrap();
    assert!(u.summarize(&[0.5, 0.5, 0.5, 0.5], 2, &[0, 1]).is_err());
    assert!(Scores::from_predictive(&two_sample_predictive(), &[0, 1]).is_err());
}

/// One example, two weight samples that disagree completely: p̄₁ = [1, 0], p̄₂ = [0, 1].
fn two_sample_predictive() -> Predictive {
    let mut p = Predictive::zeros(1, 2, 2, 1);
    p.per_weight_sample = vec![1.0, 0.0, 0.0, 1.0];
    p
}

#[test]
fn uncertainty_split_by_hand() {
    // p̄ = [½, ½]: total = ln 2; each sample is certain: data = 0; model = ln 2.
    let u = Uncertainty::from_predictive(&two_sample_predictive()).unwrap();
    close(u.total[0], 2f64.ln(), 1e-15);
    close(u.data[0], 0.0, 1e-15);
    close(u.model[0], 2f64.ln(), 1e-15);
    // Max-probability score: 1 − ½.
    close(uncertainty::scores(&two_sample_predictive(), ScoreKind::MaxProbability).unwrap()[0], 0.5, 1e-15);
}

fn random_predictive(rng: &mut Xoshiro256PlusPlus, n: usize, c: usize, s: usize, equal_samples: bool) -> Predictive {
    let mut p = Predictive::zeros(n, c, s, 4);
    p.per_weight_sample.clear();
    for _ in 0..n {
        let logits: Vec<f64> = (0..c).map(|_| 4.0 * rng.random::<f64>() - 2.0).collect();
        for _ in 0..s {
            if equal_samples {
                p.per_weight_sample.extend(sbn::model::softmax::softmax(&logits));
            } else {
                let l: Vec<f64> = logits.iter().map(|v| v + 3.0 * rng.random::<f64>()).collect();
                p.per_weight_sample.extend(sbn::model::softmax::softmax(&l));
            }
        }
    }
    p
}

#[test]
fn total_is_data_plus_model_and_model_is_nonnegative() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    for &(c, s) in &[(2, 1), (3, 5), (10, 16), (10, 64)] {
        let p = random_predictive(&mut rng, 200, c, s, false);
        let u = Uncertainty::from_predictive(&p).unwrap();
        for i in 0..u.len() {
            close(u.total[i], u.data[i] + u.model[i], 1e-12);
            assert!(u.model[i] >= -1e-12, "model {} < 0", u.model[i]);
            assert!(u.data[i] >= 0.0 && u.total[i] <= (c as f64).ln() + 1e-12);
        }
        let q = random_predictive(&mut rng, 200, c, s, true);
        let u = Uncertainty::from_predictive(&q).unwrap();
        assert!(u.model.iter().all(|m| m.abs() <= 1e-12));
    }
}

#[test]
fn uncertainty_summaries() {
    // Example 0: two disagreeing samples (total ln 2, data 0, model ln 2), label 0.
    // Example 1: both samples [.9, .1] (total = data = H(.9,.1), model 0), label 1.
    let mut p = Predictive::zeros(2, 2, 2, 1);
    p.per_weight_sample = vec![1.0, 0.0, 0.0, 1.0, 0.9, 0.1, 0.9, 0.1];
    let u = Uncertainty::from_predictive(&p).unwrap();
    let h = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
    // p̄ rows: [.5, .5] → predicted 0 = label 0, hit; [.9, .1] → predicted 0 ≠ 1, miss.
    let s = u.summarize(&p.means(), 2, &[0, 1]).unwrap();
    let scores = Scores::from_predictive(&p, &[0, 1]).unwrap();
    assert_eq!((scores.weight_samples, scores.noise_samples, scores.accuracy), (Some(2), Some(1), 0.5));
    assert_eq!((s.correct.count, s.incorrect.count), (1, 1));
    close(s.correct.model, 2f64.ln(), 1e-12);
    close(s.incorrect.data, h, 1e-12);
    close(s.by_class[1].total, h, 1e-12);
    close(s.overall.total, (2f64.ln() + h) / 2.0, 1e-12);
    close(s.overall.model, 2f64.ln() / 2.0, 1e-12);
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("by_class"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Rows of `c` probabilities from arbitrary non-negative weights (some exactly 0).
    fn rows(n: usize, c: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(prop_oneof![Just(0.0), 0.0..10.0f64], n * c).prop_map(move |w| {
            w.chunks(c)
                .flat_map(|r| {
                    let s: f64 = r.iter().sum();
                    if s > 0.0 { r.iter().map(|v| v / s).collect::<Vec<_>>() } else { vec![1.0 / c as f64; c] }
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn model_part_is_nonnegative(s in 1usize..6, c in 2usize..6, seed in any::<u64>()) {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let p = random_predictive(&mut rng, 5, c, s, false);
            let u = Uncertainty::from_predictive(&p).unwrap();
            for i in 0..u.len() {
                prop_assert!(u.model[i] >= -1e-12);
                prop_assert!((u.total[i] - u.data[i] - u.model[i]).abs() <= 1e-12);
            }
        }

        #[test]
        fn jensen_on_arbitrary_rows(p in rows(4, 3)) {
            // One example, four weight samples of three classes, with exact zeros allowed.
            let mut q = Predictive::zeros(1, 3, 4, 1);
            q.per_weight_sample = p;
            let u = Uncertainty::from_predictive(&q).unwrap();
            prop_assert!(u.model[0] >= -1e-12);
        }

        #[test]
        fn auroc_swaps_to_its_complement(a in proptest::collection::vec(0u8..5, 1..30), b in proptest::collection::vec(0u8..5, 1..30)) {
            let a: Vec<f64> = a.into_iter().map(f64::from).collect();
            let b: Vec<f64> = b.into_iter().map(f64::from).collect();
            let ab = ood::auroc(&a, &b).unwrap();
            let ba = ood::auroc(&b, &a).unwrap();
            prop_assert!((ab + ba - 1.0).abs() <= 1e-12);
            let ap = ood::aupr(&a, &b).unwrap();
            prop_assert!((0.0..=1.0 + 1e-12).contains(&ap));
        }

        #[test]
        fn scores_stay_in_range(p in rows(20, 4), y in proptest::collection::vec(0usize..4, 20)) {
            let s = Scores::compute(&p, 4, &y).unwrap();
            prop_assert!((0.0..=2.0 + 1e-12).contains(&s.brier));
            prop_assert!(s.nll >= 0.0 && s.nll <= -(1e-12f64).ln() + 1e-9);
            prop_assert!((0.0..=1.0).contains(&s.ece) && s.mce >= s.ece - 1e-12);
        }
    }
}

#[test]
fn energy_of_known_logits() {
    // −ln(e⁰ + e^{ln 2} + e^{ln 3}) = −ln(1 + 2 + 3); shifting every logit by c shifts it by −c.
    close(uncertainty::energy(&[0.0, 2f64.ln(), 3f64.ln()]), -(6f64.ln()), 1e-14);
    close(uncertainty::energy(&[1000.0, 1000.0]), -1000.0 - 2f64.ln(), 1e-9);
    // One weight sample: the mean log-probabilities are a log-probability vector, energy 0.
    let one = Predictive { n_examples: 1, n_classes: 3, weight_samples: 1, noise_samples: 1, per_weight_sample: vec![0.2, 0.3, 0.5] };
    close(uncertainty::scores(&one, ScoreKind::Energy).unwrap()[0], 0.0, 1e-14);
    // Two samples (0.5, 0.5) and (0.9, 0.1): z = (ln √0.45, ln √0.05), energy −ln(√0.45 + √0.05).
    let two = Predictive { n_examples: 1, n_classes: 2, weight_samples: 2, noise_samples: 1, per_weight_sample: vec![0.5, 0.5, 0.9, 0.1] };
    close(uncertainty::scores(&two, ScoreKind::Energy).unwrap()[0], -(0.45f64.sqrt() + 0.05f64.sqrt()).ln(), 1e-14);
}

#[test]
fn every_score_ranks_an_uncertain_example_above_a_certain_one() {
    // Example 0: four weight samples agree, sure of class 0. Example 1: they disagree, each flat.
    let sure = [0.97, 0.01, 0.01, 0.01];
    let unsure = [[0.4, 0.3, 0.2, 0.1], [0.1, 0.4, 0.3, 0.2], [0.2, 0.1, 0.4, 0.3], [0.3, 0.2, 0.1, 0.4]];
    let mut probs: Vec<f64> = sure.repeat(4);
    probs.extend(unsure.iter().flatten());
    let p = Predictive { n_examples: 2, n_classes: 4, weight_samples: 4, noise_samples: 1, per_weight_sample: probs };
    for kind in ScoreKind::ALL {
        let s = uncertainty::scores(&p, kind).unwrap();
        assert!(s[1] > s[0] + 0.05, "{}: uncertain {} vs certain {}", kind.name(), s[1], s[0]);
    }
    // The variation ratio by hand: the four samples vote 0, 1, 2, 3: 1 − 1/4; the sure one 0.
    assert_eq!(uncertainty::scores(&p, ScoreKind::VariationRatio).unwrap(), vec![0.0, 0.75]);
    // The per-class means: example 0 is class 0, example 1 class 2.
    let by_class = uncertainty::mean_scores_by_class(&p, &[ScoreKind::VariationRatio], &[0, 2]).unwrap();
    assert_eq!(by_class.iter().map(|(n, m)| (*n, m[0])).collect::<Vec<_>>(), vec![(1, 0.0), (0, 0.0), (1, 0.75), (0, 0.0)]);
    assert!(uncertainty::mean_scores_by_class(&p, &[ScoreKind::Total], &[0, 4]).is_err());
}
