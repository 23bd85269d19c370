//! Training the noisy classifier p_phi(y | x_t, t) on MNIST digits noised by the closed form
//! q(x_t | x_0) at a uniform t (Ho et al. 2020, Eq. 4; the schedule of the diffusion run it
//! guides), its folder (weights and a JSON description), and its accuracy against t.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::classifier::{NoisyClassifier, NoisyClassifierConfig, NoisyClassify};
use crate::data::Mnist;
use crate::diffusion::q_sample;
use crate::eval::argmax;
use crate::nn::seeded_var_builder;
use crate::rng::seeded;
use crate::run::ScheduleSpec;
use crate::sample::normal_tensor;
use crate::{Error, NoiseSchedule, Result};

/// The description in a noisy classifier's folder.
pub const INFO_FILE: &str = "noisy_classifier.json";
/// The weights in a noisy classifier's folder.
pub const WEIGHTS_FILE: &str = "noisy_classifier.safetensors";

/// How to train: Adam steps of `batch` digits, each at its own t uniform in 1..=T.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainNoisy {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for TrainNoisy {
    /// 1500 steps of 64 digits at learning rate 2e-3, seed 0.
    fn default() -> Self {
        Self { steps: 1500, batch: 64, lr: 2e-3, seed: 0 }
    }
}

/// A trained noisy classifier's folder, as [`NoisyClassifierRun::train`] writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyClassifierRun {
    pub config: NoisyClassifierConfig,
    /// The schedule of the noise it was trained on (the diffusion run's).
    pub schedule: ScheduleSpec,
    pub train: TrainNoisy,
    /// Accuracy on test digits noised to each t, (t, accuracy), from [`accuracy_by_t`].
    pub accuracy_by_t: Vec<(usize, f64)>,
}

impl NoisyClassifierRun {
    /// Trains a fresh classifier on `data` (digits in [-1, 1]) under `schedule`, writes it to
    /// `dir` with its accuracy at `eval_ts` on `test`, and returns it with its description.
    /// `on_step(step, loss)` reports progress. The folder is locked while it trains (another
    /// process training into it gets [`Error::Busy`]); an existing classifier there is replaced.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        dir: impl AsRef<Path>,
        data: &Mnist,
        test: &Mnist,
        schedule: &ScheduleSpec,
        how: &TrainNoisy,
        eval_ts: &[usize],
        device: &Device,
        mut on_step: impl FnMut(usize, f64),
    ) -> Result<(NoisyClassifier, NoisyClassifierRun)> {
        if how.steps == 0 || how.batch == 0 || !(how.lr > 0.0 && how.lr.is_finite()) {
            return Err(invalid!("training needs steps and batch >= 1 and a learning rate > 0, got {how:?}"));
        }
        let noise = schedule.build()?;
        // One process at a time per folder, as for a diffusion run (train.lock; Error::Busy).
        let _lock = crate::run::lock::lock(dir.as_ref())?;
        let config = NoisyClassifierConfig::default();
        let varmap = VarMap::new();
        let net = NoisyClassifier::new(&config, seeded_var_builder(&varmap, how.seed, device))?;
        let params = ParamsAdamW { lr: how.lr, weight_decay: 0.0, ..Default::default() };
        let mut opt = AdamW::new(varmap.all_vars(), params)?;
        let mut rng = seeded(how.seed);
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut next = order.len();
        for step in 1..=how.steps {
            if next + how.batch > order.len() {
                order.shuffle(&mut rng);
                next = 0;
            }
            let idx = &order[next..next + how.batch.min(order.len())];
            next += idx.len();
            let ts: Vec<usize> = idx.iter().map(|_| rng.random_range(1..=noise.steps())).collect();
            let x0 = data.batch_tensor(idx, device)?;
            let xt = q_sample(&noise, &x0, &ts, &normal_tensor(&mut rng, x0.dims(), device)?)?;
            let t = Tensor::from_vec(ts.iter().map(|&t| t as u32).collect::<Vec<_>>(), idx.len(), device)?;
            let y = Tensor::from_vec(data.labels_u32(idx), idx.len(), device)?;
            let loss = candle_nn::loss::cross_entropy(&net.logits(&xt, &t)?, &y)?;
            opt.backward_step(&loss)?;
            on_step(step, loss.to_dtype(DType::F64)?.to_scalar()?);
        }
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::checkpoint::write_varmap(&dir.join(WEIGHTS_FILE), &varmap)?;
        let accuracy = accuracy_by_t(&net, &noise, test, eval_ts, 1000, how.seed, device)?;
        let run =
            NoisyClassifierRun { config, schedule: schedule.clone(), train: how.clone(), accuracy_by_t: accuracy };
        let json = serde_json::to_string_pretty(&run).map_err(|e| Error::Internal(e.to_string()))?;
        crate::atomic::write(&dir.join(INFO_FILE), json.as_bytes())?;
        Ok((net, run))
    }

    /// The classifier in `dir` on `device`, with its description.
    pub fn open(dir: impl AsRef<Path>, device: &Device) -> Result<(NoisyClassifier, NoisyClassifierRun)> {
        let dir = dir.as_ref();
        let info: PathBuf = dir.join(INFO_FILE);
        let text = std::fs::read_to_string(&info).map_err(|e| Error::io(&info, e))?;
        let run: NoisyClassifierRun = serde_json::from_str(&text).map_err(|e| Error::format(&info, e.to_string()))?;
        let weights = candle_core::safetensors::load(dir.join(WEIGHTS_FILE), device)
            .map_err(|e| Error::format(dir.join(WEIGHTS_FILE), e.to_string()))?;
        let net =
            NoisyClassifier::new(&run.config, VarBuilder::from_tensors(weights, DType::F32, device)).map_err(|e| {
                Error::format(dir.join(WEIGHTS_FILE), format!("the weights do not fit the classifier: {e}"))
            })?;
        Ok((net, run))
    }
}

/// The accuracy of `classifier` on the first `n` test digits noised to each step of `ts` (one
/// noise draw, seeded by `seed`, shared by every t): near chance at t = T, where x_t is almost
/// pure noise, near a clean classifier's at small t.
pub fn accuracy_by_t<C: NoisyClassify>(
    classifier: &C,
    schedule: &NoiseSchedule,
    test: &Mnist,
    ts: &[usize],
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<(usize, f64)>> {
    let n = n.min(test.len());
    if n == 0 {
        return Err(invalid!("the accuracy needs at least one test digit, got 0"));
    }
    let idx: Vec<usize> = (0..n).collect();
    let x0 = test.batch_tensor(&idx, device)?;
    let labels = test.labels_u32(&idx);
    let eps = normal_tensor(&mut seeded(seed), x0.dims(), device)?;
    ts.iter()
        .map(|&t| {
            schedule.check_t(t)?;
            let xt = q_sample(schedule, &x0, t, &eps)?;
            let mut hits = 0;
            for start in (0..n).step_by(250) {
                let len = 250.min(n - start);
                let tb = Tensor::full(t as u32, len, device)?;
                let logits: Vec<Vec<f32>> = classifier.logits(&xt.narrow(0, start, len)?, &tb)?.to_vec2()?;
                hits += logits
                    .iter()
                    .zip(&labels[start..start + len])
                    .filter(|(row, &y)| argmax(&row.iter().map(|&v| v as f64).collect::<Vec<_>>()) == y as usize)
                    .count();
            }
            Ok((t, hits as f64 / n as f64))
        })
        .collect()
}
