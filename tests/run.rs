//! Training runs on disk (`ddpm::run`, what `ddpm train` does): checkpoints, resume, Ctrl-C,
//! the NaN guard, one process per folder, a run folder read once, and clear errors, on the toy
//! data with the MLP (seconds).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use ddpm::data::ToyData;
use ddpm::nn::EpsModel;
use ddpm::run::{DataSpec, ModelSpec, Run, RunEnd, RunOptions, RunSpec, LOCK_FILE, LOSS_FILE};
use ddpm::Error;

/// The network of the run in `dir`, with its EMA weights.
fn model_of(dir: &Path) -> ddpm::Result<ddpm::run::Model> {
    Run::open(dir)?.model(&Device::Cpu)
}

fn toy_spec(steps: usize) -> (RunSpec, ModelSpec) {
    let (mut spec, model) = RunSpec::default_for(DataSpec::Toy(ToyData::Ring), false).unwrap();
    spec.train.steps = steps;
    spec.train.batch_size = 32;
    spec.train.log_every = 0;
    spec.checkpoint_every = 10;
    (spec, model)
}

fn csv_steps(dir: &Path) -> Vec<usize> {
    ddpm::train::read_loss_csv(&dir.join(LOSS_FILE)).unwrap().into_iter().map(|(step, _)| step).collect()
}

/// A fresh folder holding a finished toy run of `steps` steps, and its settings.
fn trained(steps: usize) -> (tempfile::TempDir, RunSpec, ModelSpec) {
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(steps);
    Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    (dir, spec, model)
}

fn resume() -> RunOptions {
    RunOptions { resume: true, ..Default::default() }
}

/// The loaded run's eps on a fixed input: comparing two runs' outputs compares their weights.
fn output_of(dir: &Path) -> Vec<f32> {
    let model = model_of(dir).unwrap();
    let x = Tensor::new(&[[0.3f32, -0.2], [0.9, 0.1]], &Device::Cpu).unwrap();
    let t = Tensor::new(&[10u32, 700], &Device::Cpu).unwrap();
    model.eps_theta(&x, &t, None, false).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn a_run_writes_a_checkpoint_and_the_loss_history() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(25);
    let report = Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    assert_eq!((report.first_step, report.last_step, report.end), (1, 25, RunEnd::Finished));
    assert_eq!(report.losses.len(), 25);
    assert_eq!(ddpm::checkpoint::latest_step(dir.path()).unwrap(), Some(25));
    assert_eq!(csv_steps(dir.path()), (1..=25).collect::<Vec<_>>());
    // The spec and network come back from the checkpoint, for `ddpm sample` and `--resume`.
    let run = Run::open(dir.path()).unwrap();
    assert_eq!((run.step(), run.spec(), run.model_spec()), (25, &spec, &model));
}

#[test]
fn resume_continues_the_step_count_and_the_history() {
    let (dir, _, model) = trained(20);
    let (longer, _) = toy_spec(35);
    let report = Run::train(dir.path(), &longer, &model, &Device::Cpu, &resume()).unwrap();
    assert_eq!((report.first_step, report.last_step), (21, 35));
    assert_eq!(report.losses.len(), 15);
    assert_eq!(ddpm::checkpoint::latest_step(dir.path()).unwrap(), Some(35));
    assert_eq!(csv_steps(dir.path()), (1..=35).collect::<Vec<_>>());
    // Resuming a finished run does nothing and keeps the weights.
    let before = output_of(dir.path());
    let again = Run::train(dir.path(), &longer, &model, &Device::Cpu, &resume()).unwrap();
    assert_eq!((again.losses.len(), again.last_step), (0, 35));
    assert_eq!(output_of(dir.path()), before);
}

#[test]
fn the_same_seed_gives_the_same_loss_curve_and_weights() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (spec, model) = toy_spec(15);
    let ra = Run::train(a.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    let rb = Run::train(b.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    assert_eq!(ra.losses, rb.losses);
    assert_eq!(output_of(a.path()), output_of(b.path()));
}

#[test]
fn an_existing_run_is_never_overwritten_without_resume() {
    let (dir, spec, model) = trained(10);
    let before = output_of(dir.path());
    let m = Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap_err().to_string();
    assert!(m.contains("already holds a checkpoint (step 10): pass --resume"), "{m}");
    assert_eq!(output_of(dir.path()), before);
}

#[test]
fn resuming_with_another_network_is_refused() {
    let (dir, spec, model) = trained(10);
    let ModelSpec::Mlp(mut mlp) = model else { panic!("the toy default is the MLP") };
    mlp.hidden = 64;
    let m = Run::train(dir.path(), &spec, &ModelSpec::Mlp(mlp), &Device::Cpu, &resume()).unwrap_err().to_string();
    assert!(m.contains("has a different network"), "{m}");
}

#[test]
fn a_stop_request_saves_a_checkpoint_and_ends_the_run() {
    // What Ctrl-C does in `ddpm train`: the flag is set, the run stops after the current step.
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(1000);
    let options = RunOptions { stop: Some(Arc::new(AtomicBool::new(true))), ..Default::default() };
    let report = Run::train(dir.path(), &spec, &model, &Device::Cpu, &options).unwrap();
    assert_eq!((report.last_step, report.end), (1, RunEnd::Interrupted));
    assert_eq!(ddpm::checkpoint::latest_step(dir.path()).unwrap(), Some(1));
}

#[test]
fn a_diverging_run_keeps_its_last_good_checkpoint() {
    let (dir, _, model) = trained(10);
    let before = output_of(dir.path());
    // An absurd learning rate makes the loss infinite within a few steps.
    let (mut bad, _) = toy_spec(200);
    bad.train.lr = 1e30;
    bad.train.grad_clip = None;
    bad.checkpoint_every = 0;
    let e = Run::train(dir.path(), &bad, &model, &Device::Cpu, &resume()).unwrap_err();
    assert!(matches!(&e, Error::Diverged { step, kept: Some((_, 10)), .. } if *step > 10), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("NaN/inf") && m.contains("the last checkpoint (step 10)"), "{m}");
    assert_eq!(ddpm::checkpoint::latest_step(dir.path()).unwrap(), Some(10));
    assert_eq!(output_of(dir.path()), before);
}

#[test]
fn a_corrupt_checkpoint_is_a_clear_error() {
    let (dir, _, _) = trained(10);
    let ema = dir.path().join(ddpm::checkpoint::EMA_FILE);
    let bytes = std::fs::read(&ema).unwrap();
    std::fs::write(&ema, &bytes[..bytes.len() / 2]).unwrap();
    let m = model_of(dir.path()).unwrap_err().to_string();
    println!("{m}");
    assert!(m.contains("ema.safetensors"), "{m}");
    let missing = model_of(&dir.path().join("nothing-here")).unwrap_err().to_string();
    assert!(missing.contains("nothing-here"), "{missing}");
}

#[test]
fn bad_data_names_are_refused_with_the_allowed_ones() {
    let m = "toy-cube".parse::<DataSpec>().unwrap_err().to_string();
    assert!(m.contains("allowed: mnist, toy-ring, toy-moons, toy-swiss-roll"), "{m}");
    let m = RunSpec::default_for(DataSpec::Toy(ToyData::Moons), true).unwrap_err().to_string();
    assert!(m.contains("needs labelled data"), "{m}");
}

#[test]
fn the_loss_history_reads_back_as_written_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(12);
    let report = Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    let history = ddpm::train::read_loss_csv(&dir.path().join(LOSS_FILE)).unwrap();
    let losses: Vec<f32> = history.iter().map(|&(_, l)| l as f32).collect();
    assert_eq!(losses, report.losses);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "step,loss,lr\n1,0.5,0.001\n2,oops,0.001\n").unwrap();
    let e = ddpm::train::read_loss_csv(&bad).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("oops"), "{e}");
    std::fs::write(&bad, "a,b\n").unwrap();
    assert!(ddpm::train::read_loss_csv(&bad).unwrap_err().to_string().contains("header"));
    assert!(ddpm::train::read_loss_csv(&dir.path().join("missing.csv")).is_err());
}

#[test]
fn the_moving_average_is_the_mean_of_the_trailing_window() {
    let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
    // By hand: [1], [1,2], [1,2,3], [2,3,4], [3,4,10].
    assert_eq!(ddpm::stats::moving_average(&xs, 3), vec![1.0, 1.5, 2.0, 3.0, 17.0 / 3.0]);
    assert_eq!(ddpm::stats::moving_average(&xs, 1), xs.to_vec());
    assert_eq!(ddpm::stats::moving_average(&xs, 0), xs.to_vec());
    assert!(ddpm::stats::moving_average(&[], 5).is_empty());
}

#[test]
fn ensure_trained_trains_a_missing_run_resumes_a_short_one_and_only_loads_a_finished_one() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(20);
    let short = RunSpec { train: ddpm::train::TrainConfig { steps: 10, ..spec.train.clone() }, ..spec.clone() };
    let silent = ddpm::train::ProgressStyle::Silent;
    let run = Run::ensure_trained(dir.path(), &short, &model, &Device::Cpu, silent).unwrap();
    assert_eq!(run.step(), 10);
    let run = Run::ensure_trained(dir.path(), &spec, &model, &Device::Cpu, silent).unwrap();
    assert_eq!(run.step(), 20);
    assert_eq!(csv_steps(dir.path()), (1..=20).collect::<Vec<_>>());
    // Finished: asking again (even for fewer steps) trains nothing and changes nothing.
    let before = std::fs::read(dir.path().join(LOSS_FILE)).unwrap();
    let run = Run::ensure_trained(dir.path(), &short, &model, &Device::Cpu, silent).unwrap();
    assert_eq!(run.step(), 20);
    assert_eq!(std::fs::read(dir.path().join(LOSS_FILE)).unwrap(), before);
}

#[test]
fn a_shortened_run_keeps_the_network_data_and_schedule() {
    let (spec, _) = RunSpec::default_for(DataSpec::Mnist, true).unwrap();
    let short = spec.clone().shortened(30);
    assert_eq!(
        (short.train.steps, short.train.batch_size, short.train.warmup_steps, short.checkpoint_every),
        (30, 16, 10, 0)
    );
    assert_eq!((&short.data, &short.schedule, short.class_conditional), (&spec.data, &spec.schedule, true));
    assert_eq!(short.train.label_dropout, spec.train.label_dropout);
}

#[test]
fn a_resumed_run_continues_exactly_as_if_it_had_not_stopped() {
    let (straight, _, model) = trained(35);
    let (stopped, _, _) = trained(20);
    let (longer, _) = toy_spec(35);
    let report = Run::train(stopped.path(), &longer, &model, &Device::Cpu, &resume()).unwrap();
    assert_eq!(report.resumed_exactly, Some(true));
    // AdamW's moments and the generator's position came back: the same losses and weights, bit for bit.
    let history = |dir: &Path| ddpm::train::read_loss_csv(&dir.join(LOSS_FILE)).unwrap();
    assert_eq!(history(stopped.path()), history(straight.path()));
    assert_eq!(output_of(stopped.path()), output_of(straight.path()));
}

#[test]
fn without_its_train_state_a_resumed_run_restarts_adamw_and_says_so() {
    let (straight, _, model) = trained(35);
    let (stopped, _, _) = trained(20);
    std::fs::remove_file(stopped.path().join(ddpm::checkpoint::TRAIN_STATE_FILE)).unwrap();
    let (longer, _) = toy_spec(35);
    let report = Run::train(stopped.path(), &longer, &model, &Device::Cpu, &resume()).unwrap();
    assert_eq!((report.resumed_exactly, report.last_step), (Some(false), 35));
    // Fresh moments and a re-seeded generator: the run goes on, but not as the straight one.
    assert_ne!(output_of(stopped.path()), output_of(straight.path()));
}

#[test]
fn an_open_run_reads_checkpoint_json_once() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, model) = toy_spec(20);
    let report = Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    let run = Run::open(dir.path()).unwrap();
    let before = output_of(dir.path());
    // Every method reads the files of the save that checkpoint.json named when the run was
    // opened (or that the training wrote), and never checkpoint.json again: without it they
    // all still work.
    std::fs::remove_file(dir.path().join(ddpm::checkpoint::META_FILE)).unwrap();
    for run in [&run, &report.run] {
        assert_eq!((run.step(), run.spec(), run.model_spec()), (20, &spec, &model));
        assert_eq!(run.weights(&Device::Cpu).unwrap().len(), run.ema(&Device::Cpu).unwrap().len());
        assert_eq!(run.train_state(&Device::Cpu).unwrap().expect("the state of step 20").step, 20);
        let steps: Vec<usize> = run.loss_history().unwrap().iter().map(|&(s, _)| s).collect();
        assert_eq!(steps, (1..=20).collect::<Vec<_>>());
        let x = Tensor::new(&[[0.3f32, -0.2], [0.9, 0.1]], &Device::Cpu).unwrap();
        let t = Tensor::new(&[10u32, 700], &Device::Cpu).unwrap();
        let eps = run.model(&Device::Cpu).unwrap().eps_theta(&x, &t, None, false).unwrap();
        assert_eq!(eps.flatten_all().unwrap().to_vec1::<f32>().unwrap(), before);
    }
    // Opening it again now finds no checkpoint, and says so.
    let m = Run::open(dir.path()).unwrap_err().to_string();
    assert!(m.contains("checkpoint.json") && m.contains("no checkpoint"), "{m}");
}

/// Takes the lock of `dir` as a training process does, with `pid` written inside.
fn hold_lock(dir: &Path, pid: &str) -> std::fs::File {
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(dir.join(LOCK_FILE)).unwrap();
    file.try_lock().unwrap();
    file.write_all(pid.as_bytes()).unwrap();
    file
}

#[test]
fn a_folder_being_trained_refuses_a_second_training_at_once() {
    let (dir, _, model) = trained(10);
    let before = output_of(dir.path());
    let held = hold_lock(dir.path(), &std::process::id().to_string());
    let (longer, _) = toy_spec(20);
    let e = Run::train(dir.path(), &longer, &model, &Device::Cpu, &resume()).unwrap_err();
    assert!(matches!(&e, Error::Busy { pid: Some(pid), .. } if *pid == std::process::id()), "{e:?}");
    let m = e.to_string();
    let expected = format!("{} is being trained by process {}", dir.path().display(), std::process::id());
    assert!(m.contains(&expected), "{m}");
    // Nothing was touched; a fresh folder is refused the same way, before anything is written.
    assert_eq!(ddpm::checkpoint::latest_step(dir.path()).unwrap(), Some(10));
    assert_eq!(output_of(dir.path()), before);
    let fresh = tempfile::tempdir().unwrap();
    let _held_too = hold_lock(fresh.path(), "");
    let e = Run::train(fresh.path(), &longer, &model, &Device::Cpu, &RunOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Busy { pid: None, .. }), "{e:?}");
    assert_eq!(ddpm::checkpoint::latest_step(fresh.path()).unwrap(), None);
    // Once the holder is gone, training goes on.
    drop(held);
    let report = Run::train(dir.path(), &longer, &model, &Device::Cpu, &resume()).unwrap();
    assert_eq!(report.last_step, 20);
}

#[test]
fn a_lock_file_left_by_a_killed_process_does_not_block() {
    // A killed process leaves its lock file, with its pid, but the OS lock went with it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LOCK_FILE), "4194304").unwrap();
    let (spec, model) = toy_spec(10);
    let report = Run::train(dir.path(), &spec, &model, &Device::Cpu, &RunOptions::default()).unwrap();
    assert_eq!(report.last_step, 10);
    // The lock file now names this process, and is released at the end of the training.
    assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), std::process::id().to_string());
    let (longer, _) = toy_spec(15);
    assert_eq!(Run::train(dir.path(), &longer, &model, &Device::Cpu, &resume()).unwrap().last_step, 15);
}

#[test]
fn weights_holding_nan_or_infinity_are_refused_naming_the_tensor_and_file() {
    let (dir, _, _) = trained(10);
    let (meta, weights, ema) = ddpm::checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    let mut ema = ema.expect("the run has an EMA");
    let name = ema.keys().min().unwrap().clone();
    let poisoned = (ema[&name].ones_like().unwrap() * f64::INFINITY).unwrap();
    ema.insert(name.clone(), poisoned);
    ddpm::checkpoint::save(dir.path(), &meta, &weights, Some(&ema)).unwrap();
    let run = Run::open(dir.path()).unwrap();
    let e = run.model(&Device::Cpu).unwrap_err();
    match &e {
        Error::NotFinite { path, tensor, count } => {
            assert!(path.ends_with(ddpm::checkpoint::EMA_FILE), "{e}");
            assert_eq!(tensor, &name);
            assert_eq!(*count, ema[&name].elem_count());
        }
        other => panic!("expected Error::NotFinite, got {other:?}"),
    }
    let m = e.to_string();
    assert!(
        m.contains("ema.safetensors") && m.contains(&format!("tensor `{name}`")) && m.contains("NaN or infinite"),
        "{m}"
    );
    // The weights themselves are finite; a NaN in them is refused as well, and resuming stops there.
    assert!(run.weights(&Device::Cpu).is_ok());
    let mut nan = weights.clone();
    let bad = nan[&name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let bad: Vec<f32> = bad.iter().enumerate().map(|(i, &x)| if i == 0 { f32::NAN } else { x }).collect();
    nan.insert(name.clone(), Tensor::from_vec(bad, weights[&name].dims(), &Device::Cpu).unwrap());
    ddpm::checkpoint::save(dir.path(), &meta, &nan, None).unwrap();
    let e = Run::open(dir.path()).unwrap().weights(&Device::Cpu).unwrap_err();
    assert!(matches!(&e, Error::NotFinite { tensor, count: 1, .. } if tensor == &name), "{e:?}");
    assert!(e.to_string().contains("weights.safetensors"), "{e}");
}
