//! What makes a resumed run exact: our AdamW (the same numbers as candle's, with its moments
//! open), the generator's position, and the train state file beside a checkpoint.

use std::collections::BTreeMap;

use ddpm::candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use ddpm::candle_nn::{Optimizer, ParamsAdamW};
use ddpm::checkpoint::{self, Checkpoint, TrainState, TRAIN_STATE_FILE};
use ddpm::rng::seeded;
use ddpm::train::AdamW;
use rand::{Rng as _, RngCore as _, SeedableRng as _};

fn var(values: &[f32]) -> Var {
    Var::from_tensor(&Tensor::new(values, &Device::Cpu).unwrap()).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

/// The gradients of sum(w^3) for each variable: 3 w^2, a different one at every step.
fn grads_of(vars: &[&Var]) -> GradStore {
    let loss = vars.iter().map(|v| v.as_tensor().powf(3.0).unwrap().sum_all().unwrap()).reduce(|a, b| (a + b).unwrap());
    loss.unwrap().backward().unwrap()
}

#[test]
fn our_adamw_takes_the_same_steps_as_candles_bit_for_bit() {
    // The reference: candle-nn 0.11.1's AdamW, whose arithmetic ours repeats.
    let (ours_w, theirs_w) = (var(&[0.5, -1.25, 2.0]), var(&[0.5, -1.25, 2.0]));
    let mut ours = AdamW::new(vec![("w".into(), ours_w.clone())], 0.05, 0.01).unwrap();
    let params = ParamsAdamW { lr: 0.05, weight_decay: 0.01, ..Default::default() };
    let mut theirs = ddpm::candle_nn::AdamW::new(vec![theirs_w.clone()], params).unwrap();
    for step in 1..=6 {
        let lr = 0.05 / step as f64;
        ours.set_learning_rate(lr);
        theirs.set_learning_rate(lr);
        ours.step(&grads_of(&[&ours_w])).unwrap();
        theirs.step(&grads_of(&[&theirs_w])).unwrap();
        assert_eq!(bits(ours_w.as_tensor()), bits(theirs_w.as_tensor()), "step {step}");
    }
    assert_ne!(bits(ours_w.as_tensor()), bits(&Tensor::new(&[0.5f32, -1.25, 2.0], &Device::Cpu).unwrap()));
    assert_eq!(ours.updates(), 6);
}

#[test]
fn restored_moments_continue_the_same_steps() {
    let w = var(&[0.5, -1.25, 2.0]);
    let mut a = AdamW::new(vec![("w".into(), w.clone())], 0.05, 0.0).unwrap();
    for _ in 0..3 {
        a.step(&grads_of(&[&w])).unwrap();
    }
    let (saved_w, saved_moments) = (w.as_tensor().copy().unwrap(), a.moments());
    assert_eq!(saved_moments.keys().collect::<Vec<_>>(), ["adam_m.w", "adam_v.w"]);
    for _ in 0..3 {
        a.step(&grads_of(&[&w])).unwrap();
    }
    // A new optimizer over the weights of step 3, with the moments of step 3.
    let w2 = Var::from_tensor(&saved_w).unwrap();
    let mut b = AdamW::new(vec![("w".into(), w2.clone())], 0.05, 0.0).unwrap();
    b.restore(&saved_moments, 3).unwrap();
    for _ in 0..3 {
        b.step(&grads_of(&[&w2])).unwrap();
    }
    assert_eq!(bits(w2.as_tensor()), bits(w.as_tensor()));
}

#[test]
fn moments_that_do_not_fit_are_refused_and_change_nothing() {
    let w = var(&[1.0, 2.0]);
    let mut opt = AdamW::new(vec![("w".into(), w.clone())], 0.1, 0.0).unwrap();
    let zeros = |n: usize| Tensor::zeros(n, DType::F32, &Device::Cpu).unwrap();
    let missing = BTreeMap::from([("adam_m.w".to_string(), zeros(2))]);
    let m = opt.restore(&missing, 4).unwrap_err().to_string();
    assert!(m.contains("adam_v.w is missing"), "{m}");
    let wrong = BTreeMap::from([("adam_m.w".to_string(), zeros(3)), ("adam_v.w".to_string(), zeros(2))]);
    let m = opt.restore(&wrong, 4).unwrap_err().to_string();
    assert!(m.contains("adam_m.w has shape [3]"), "{m}");
    let extra = BTreeMap::from([
        ("adam_m.w".to_string(), zeros(2)),
        ("adam_v.w".to_string(), zeros(2)),
        ("adam_m.b".to_string(), zeros(2)),
    ]);
    let m = opt.restore(&extra, 4).unwrap_err().to_string();
    assert!(m.contains("3 moment tensors for 1 variables"), "{m}");
    assert_eq!(opt.updates(), 0);
}

#[test]
fn the_generator_is_rand_stdrngs_stream_and_its_position_can_be_set() {
    // rand 0.9's StdRng wraps ChaCha12: the crate's numbers are the same as before it named it.
    let (mut ours, mut std) = (seeded(7), rand::rngs::StdRng::seed_from_u64(7));
    let a: Vec<u64> = (0..5).map(|_| ours.next_u64()).collect();
    let b: Vec<u64> = (0..5).map(|_| std.next_u64()).collect();
    assert_eq!(a, b);
    // Setting the position of a fresh generator continues the stream where the first one is.
    let mut later = seeded(7);
    later.set_word_pos(ours.get_word_pos());
    assert_eq!(later.random::<f64>(), ours.random::<f64>());
}

fn state(step: u64) -> TrainState {
    let tensors = BTreeMap::from([("adam_m.w".to_string(), Tensor::new(&[1.5f32, -2.0], &Device::Cpu).unwrap())]);
    let counters = BTreeMap::from([("rng_word_pos".to_string(), u128::MAX.to_string())]);
    TrainState { step, counters, tensors }
}

fn checkpoint_at(dir: &std::path::Path, step: u64) {
    let weights = BTreeMap::from([("w".to_string(), Tensor::new(&[0.0f32, 1.0], &Device::Cpu).unwrap())]);
    let meta = Checkpoint::new(step, 0, &"model", &"training").unwrap();
    checkpoint::save(dir, &meta, &weights, None).unwrap();
}

#[test]
fn the_train_state_reads_back_only_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save_train_state(dir.path(), &state(10)).unwrap();
    // No checkpoint yet: nothing to resume.
    assert!(checkpoint::load_train_state(dir.path(), &Device::Cpu).unwrap().is_none());
    checkpoint_at(dir.path(), 10);
    let back = checkpoint::load_train_state(dir.path(), &Device::Cpu).unwrap().expect("the state of step 10");
    assert_eq!((back.step, &back.counters), (10, &state(10).counters));
    assert_eq!(bits(&back.tensors["adam_m.w"]), bits(&state(10).tensors["adam_m.w"]));
    // A state of another step (a crash between the two writes) is not used.
    checkpoint_at(dir.path(), 20);
    assert!(checkpoint::load_train_state(dir.path(), &Device::Cpu).unwrap().is_none());
}

#[test]
fn a_damaged_train_state_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint_at(dir.path(), 10);
    checkpoint::save_train_state(dir.path(), &state(10)).unwrap();
    let path = dir.path().join(TRAIN_STATE_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let m = checkpoint::load_train_state(dir.path(), &Device::Cpu).unwrap_err().to_string();
    assert!(m.contains(TRAIN_STATE_FILE) && m.contains("truncated"), "{m}");
    let mut reserved = state(10);
    reserved.counters.insert("ddpm_step".into(), "3".into());
    let m = checkpoint::save_train_state(dir.path(), &reserved).unwrap_err().to_string();
    assert!(m.contains("cannot be named \"ddpm_step\""), "{m}");
}
