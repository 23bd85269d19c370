//! The noisy classifier p_phi(y | x_t, t) of classifier guidance, trained: a resumed training
//! gives the weights of an uninterrupted one bit for bit, the optimizer is candle's AdamW in
//! its arithmetic, a resume refuses changed settings, and its folder refuses NaN weights.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer as _;
use ddpm::checkpoint::TrainState;
use ddpm::data::{Mnist, Split};
use ddpm::guidance::folder::{INFO_FILE, STATE_FILE, WEIGHTS_FILE};
use ddpm::guidance::{
    NoisyClassifier, NoisyClassifierConfig, NoisyClassifierRun, NoisyClassify, NoisyOptions, TrainNoisy,
};
use ddpm::nn::seeded_var_builder;
use ddpm::run::ScheduleSpec;
use rand::seq::SliceRandom as _;
use rand::Rng as _;

/// Every value's bits, of any float tensor (the digits' order is u32).
fn bits(x: &Tensor) -> Vec<u32> {
    let x = x.flatten_all().unwrap();
    match x.dtype() {
        DType::U32 => x.to_vec1().unwrap(),
        _ => x.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect(),
    }
}

fn values(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1().unwrap()
}

/// Small enough for a test: 20 digits to learn from (a batch of 8 reshuffles them every third
/// step), 10 to measure the accuracy on, T = 100.
struct Noisy {
    train: Mnist,
    test: Mnist,
    schedule: ScheduleSpec,
}

impl Noisy {
    fn new() -> Self {
        let digits = Mnist::load_default(Split::Test).unwrap();
        Noisy {
            train: digits.take(20),
            test: digits.take(10),
            schedule: ScheduleSpec { steps: 100, ..Default::default() },
        }
    }

    fn how(steps: usize) -> TrainNoisy {
        TrainNoisy { steps, batch: 8, seed: 3, checkpoint_every: 2, ..Default::default() }
    }

    /// Trains into `dir`; the steps taken, and the result.
    fn train(
        &self,
        dir: &Path,
        how: &TrainNoisy,
        options: &NoisyOptions,
    ) -> (Vec<usize>, ddpm::Result<(NoisyClassifier, NoisyClassifierRun)>) {
        let mut steps = Vec::new();
        let out = NoisyClassifierRun::train(
            dir,
            &self.train,
            &self.test,
            &self.schedule,
            how,
            &[1, 100],
            &Device::Cpu,
            options,
            |step, _| steps.push(step),
        );
        (steps, out)
    }
}

fn file(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn a_resumed_noisy_classifier_has_the_weights_of_an_uninterrupted_one_bit_for_bit() {
    let noisy = Noisy::new();
    let (whole, split, extended) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (steps, out) = noisy.train(whole.path(), &Noisy::how(6), &NoisyOptions::default());
    let info = out.unwrap().1;
    assert_eq!((steps, info.step, info.is_finished()), ((1..=6).collect(), 6, true));
    // Stopped (as by Ctrl-C) after step 3, between the checkpoints of steps 2 and 4.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let interrupted = NoisyOptions { stop: Some(stop), ..Default::default() };
    let mut taken = Vec::new();
    let (_, first) = NoisyClassifierRun::train(
        split.path(),
        &noisy.train,
        &noisy.test,
        &noisy.schedule,
        &Noisy::how(6),
        &[1, 100],
        &Device::Cpu,
        &interrupted,
        |step, _| {
            taken.push(step);
            flag.store(step == 3, Ordering::SeqCst)
        },
    )
    .unwrap();
    assert_eq!((taken, first.step, first.is_finished()), (vec![1, 2, 3], 3, false));
    assert_ne!(file(split.path(), WEIGHTS_FILE), file(whole.path(), WEIGHTS_FILE));
    let resume = NoisyOptions { resume: true, ..Default::default() };
    let (steps, out) = noisy.train(split.path(), &Noisy::how(6), &resume);
    assert_eq!(steps, [4, 5, 6], "the resume continues at step 4");
    assert_eq!(out.unwrap().1, info);
    // Trained to step 3, then extended to step 6 by a larger `steps`.
    assert_eq!(noisy.train(extended.path(), &Noisy::how(3), &NoisyOptions::default()).0, [1, 2, 3]);
    assert_eq!(noisy.train(extended.path(), &Noisy::how(6), &resume).0, [4, 5, 6]);
    let state = |dir: &Path| {
        let state = TrainState::read(&dir.join(STATE_FILE), 6, &Device::Cpu).unwrap().expect("the state of step 6");
        let bits: BTreeMap<String, Vec<u32>> = state.tensors.iter().map(|(k, v)| (k.clone(), bits(v))).collect();
        (state.counters, bits)
    };
    for dir in [split.path(), extended.path()] {
        // The weights file holds one metadata string (the step): its bytes are fixed.
        assert!(file(dir, WEIGHTS_FILE) == file(whole.path(), WEIGHTS_FILE), "{}: other weights", dir.display());
        assert!(state(dir) == state(whole.path()), "{}: another AdamW or generator state", dir.display());
    }
    // A finished classifier asked for no more steps is only opened.
    assert_eq!(noisy.train(whole.path(), &Noisy::how(6), &resume).0, Vec::<usize>::new());
}

#[test]
fn the_noisy_classifier_trains_as_with_candles_adamw() {
    // The oracle: the training loop with candle-nn 0.11.1's AdamW (lr 2e-3, no weight decay),
    // as the classifier was trained before its optimizer's moments could be saved.
    let noisy = Noisy::new();
    let how = TrainNoisy { checkpoint_every: 0, ..Noisy::how(4) };
    let dir = tempfile::tempdir().unwrap();
    let (ours, _) = noisy.train(dir.path(), &how, &NoisyOptions::default()).1.unwrap();
    let varmap = candle_nn::VarMap::new();
    let theirs =
        NoisyClassifier::new(&NoisyClassifierConfig::default(), seeded_var_builder(&varmap, how.seed, &Device::Cpu))
            .unwrap();
    let params = candle_nn::ParamsAdamW { lr: how.lr, weight_decay: 0.0, ..Default::default() };
    let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params).unwrap();
    let schedule = noisy.schedule.build().unwrap();
    let mut rng = ddpm::rng::seeded(how.seed);
    let mut order: Vec<usize> = (0..noisy.train.len()).collect();
    let mut next = order.len();
    for _ in 0..how.steps {
        if next + how.batch > order.len() {
            order.shuffle(&mut rng);
            next = 0;
        }
        let idx = &order[next..next + how.batch];
        next += how.batch;
        let ts: Vec<usize> = idx.iter().map(|_| rng.random_range(1..=100)).collect();
        let x0 = noisy.train.batch_tensor(idx, &Device::Cpu).unwrap();
        let eps = ddpm::sample::normal_tensor(&mut rng, x0.dims(), &Device::Cpu).unwrap();
        let xt = ddpm::diffusion::q_sample(&schedule, &x0, &ts, &eps).unwrap();
        let t = Tensor::new(ts.iter().map(|&t| t as u32).collect::<Vec<_>>(), &Device::Cpu).unwrap();
        let y = Tensor::new(noisy.train.labels_u32(idx), &Device::Cpu).unwrap();
        opt.backward_step(&candle_nn::loss::cross_entropy(&theirs.logits(&xt, &t).unwrap(), &y).unwrap()).unwrap();
    }
    let x = Tensor::randn(0f32, 1f32, (3, 1, 28, 28), &Device::Cpu).unwrap();
    let t = Tensor::new(&[1u32, 50, 100], &Device::Cpu).unwrap();
    assert_eq!(values(&ours.logits(&x, &t).unwrap()), values(&theirs.logits(&x, &t).unwrap()));
}

#[test]
fn a_resume_with_other_settings_is_refused_naming_them() {
    let noisy = Noisy::new();
    let dir = tempfile::tempdir().unwrap();
    noisy.train(dir.path(), &Noisy::how(2), &NoisyOptions::default()).1.unwrap();
    let msg = |how: &TrainNoisy, resume: bool| {
        let options = NoisyOptions { resume, ..Default::default() };
        noisy.train(dir.path(), how, &options).1.unwrap_err().to_string()
    };
    let m = msg(&Noisy::how(4), false);
    assert!(m.contains("already holds a noisy classifier (step 2)"), "{m}");
    let m = msg(&TrainNoisy { batch: 4, seed: 9, ..Noisy::how(4) }, true);
    assert!(m.contains("seed 9 (the classifier's: 3), batch 4 (the classifier's: 8)"), "{m}");
    let m = msg(&Noisy::how(1), true);
    assert!(m.contains("steps 1 (it has reached step 2 already)"), "{m}");
}

/// A classifier of 2 steps in `dir` as an older ddpm left it (or a shipped copy): the
/// description without `checkpoint_every`, the weights without their step, no train state.
fn old_folder(noisy: &Noisy, dir: &Path) {
    noisy.train(dir, &Noisy::how(2), &NoisyOptions::default()).1.unwrap();
    let path = dir.join(WEIGHTS_FILE);
    let weights = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&weights, &path).unwrap();
    std::fs::remove_file(dir.join(STATE_FILE)).unwrap();
    let info_path = dir.join(INFO_FILE);
    let mut info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info["train"].as_object_mut().unwrap().remove("checkpoint_every").unwrap();
    std::fs::write(&info_path, info.to_string()).unwrap();
}

#[test]
fn a_folder_of_an_older_ddpm_opens_as_finished_and_extends() {
    let noisy = Noisy::new();
    let dir = tempfile::tempdir().unwrap();
    old_folder(&noisy, dir.path());
    let (_, info) = NoisyClassifierRun::open(dir.path(), &Device::Cpu).unwrap();
    assert_eq!((info.step, info.is_finished(), info.train.checkpoint_every), (2, true, 500));
    // Without a train state, AdamW starts again from zero moments: a resume, not an exact one.
    let (steps, out) = noisy.train(dir.path(), &Noisy::how(4), &NoisyOptions { resume: true, ..Default::default() });
    assert_eq!((steps, out.unwrap().1.step), (vec![3, 4], 4));
}

#[test]
fn a_noisy_classifier_with_a_nan_weight_is_refused_naming_the_tensor_and_the_file() {
    let noisy = Noisy::new();
    let dir = tempfile::tempdir().unwrap();
    old_folder(&noisy, dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    let mut weights = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let name = weights.keys().min().unwrap().clone();
    let poisoned = weights[&name].affine(0.0, f64::NAN).unwrap();
    weights.insert(name.clone(), poisoned);
    candle_core::safetensors::save(&weights, &path).unwrap();
    match NoisyClassifierRun::open(dir.path(), &Device::Cpu) {
        Err(ddpm::Error::NotFinite { path: p, tensor, count }) => {
            assert_eq!((p, &tensor), (path, &name));
            assert_eq!(count, weights[&name].elem_count());
        }
        other => panic!("expected Error::NotFinite, got {:?}", other.map(|(_, info)| info)),
    }
}
