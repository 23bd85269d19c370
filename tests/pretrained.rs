//! The networks that ship under data/pretrained/: their files are the ones SHA256SUMS lists,
//! the two diffusion runs are today's defaults (so a change of default that is not retrained
//! fails here), and each opens and works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use ddpm::data::{Mnist, Pretrained, Split};
use ddpm::guidance::NoisyClassifierRun;
use ddpm::run::{DataSpec, Run, RunSpec};
use ddpm::sample::SampleConfig;
use sha2::{Digest, Sha256};

fn pretrained_root() -> PathBuf {
    Pretrained::Mnist.path().unwrap().parent().unwrap().to_path_buf()
}

/// Every file under `dir` (recursively), by its path relative to `root`, with '/' separators.
fn files_under(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            found.push(
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"),
            );
        }
    }
}

#[test]
fn the_shipped_files_are_those_sha256sums_lists_with_those_sums() {
    let root = pretrained_root();
    let sums: BTreeMap<String, String> = std::fs::read_to_string(root.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|line| {
            // `sha256sum`'s format: 64 hex digits, two spaces, the path.
            let (hash, name) = line.split_once("  ").unwrap_or_else(|| panic!("not a sha256sum line: {line:?}"));
            assert_eq!(hash.len(), 64, "{line:?}");
            (name.to_string(), hash.to_string())
        })
        .collect();
    let mut found = Vec::new();
    files_under(&root, &root, &mut found);
    found.retain(|f| f != "SHA256SUMS" && f != "README.md");
    found.sort();
    assert_eq!(found, sums.keys().cloned().collect::<Vec<_>>(), "files in data/pretrained/ against SHA256SUMS");
    let mut total = 0;
    for (name, hash) in &sums {
        let bytes = std::fs::read(root.join(name)).unwrap();
        total += bytes.len();
        let seen: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&seen, hash, "SHA-256 of data/pretrained/{name}");
    }
    // What ships is only what sampling needs (no optimizer state, no raw weights beside the
    // EMA): a few MB in all, in plain git.
    assert!(total < 10_000_000, "data/pretrained/ holds {total} bytes");
    for p in Pretrained::ALL {
        assert!(sums.keys().any(|k| k.starts_with(&format!("{}/", p.name()))), "{p} is not shipped");
    }
}

#[test]
fn the_shipped_runs_are_the_current_defaults_and_sample() {
    let device = Device::Cpu;
    for (which, class_conditional) in [(Pretrained::Mnist, false), (Pretrained::MnistCond, true)] {
        let run = Run::open(which.dir().unwrap()).unwrap();
        let (spec, model): (RunSpec, _) = RunSpec::default_for(DataSpec::Mnist, class_conditional).unwrap();
        assert_eq!(run.spec(), &spec, "{which} was trained with other settings than today's default: retrain it");
        assert_eq!(run.model_spec(), &model, "{which}'s network is not today's default: retrain it");
        assert_eq!(run.step(), spec.train.steps as u64, "{which} is not trained to the end");
        // Only the EMA ships: sampling works without the raw weights or the train state, and
        // asking for the raw weights (as resuming does) says why they are missing.
        assert!(run.train_state(&device).unwrap().is_none());
        let why = run.weights(&device).unwrap_err().to_string();
        assert!(why.contains("only the EMA weights") && why.contains("not resumed"), "{why}");
        let x = run.sample_with(&SampleConfig::ddim(4).with_seed(3), 2, &device).unwrap();
        assert_eq!(x.dims(), &[2, 1, 28, 28]);
        let values: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(values.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)), "{which}: samples out of [-1, 1]");
    }
}

#[test]
fn the_shipped_classifiers_open_and_recognise_clean_test_digits() {
    let device = Device::Cpu;
    let test = Mnist::load(ddpm::data::default_data_dir().unwrap().join("mnist"), Split::Test).unwrap();
    let idx: Vec<usize> = (0..200).collect();
    let x0: Tensor = test.batch_tensor(&idx, &device).unwrap();
    let labels: Vec<u32> = test.labels_u32(&idx);

    // The judge, with the current recipe (else `cached` says None and eval would retrain it).
    let (judge, _) = ddpm::eval::Classifier::cached(&Pretrained::Classifier.dir().unwrap(), &device)
        .unwrap()
        .expect("the shipped judge has the current recipe");
    let share = ddpm::eval::classified_as(&judge, &x0, &labels).unwrap();
    // Its recorded test accuracy is above 99 %; at 200 digits, one standard error at p = 0.99 is
    // 0.7 %, so 95 % is more than five below.
    assert!(share.fraction() > 0.95, "the judge recognises {share} of 200 clean test digits");

    // The noisy classifier at t = 1 (almost clean digits), and under the default run's schedule.
    let (noisy, run) = NoisyClassifierRun::open(Pretrained::NoisyClassifier.dir().unwrap(), &device).unwrap();
    let mnist = Run::open(Pretrained::Mnist.dir().unwrap()).unwrap();
    assert_eq!(run.schedule, mnist.spec().schedule, "the noisy classifier was trained under another schedule");
    let schedule = mnist.spec().schedule.build().unwrap();
    let accuracy = ddpm::guidance::accuracy_by_t(&noisy, &schedule, &test, &[1], 200, 0, &device).unwrap()[0].1;
    assert!(accuracy > 0.75, "the noisy classifier gets {accuracy} of 200 at t = 1");
}

#[test]
fn shipped_or_trained_opens_the_shipped_run_or_trains_the_same_recipe() {
    let device = Device::Cpu;
    let shipped = Run::shipped_or_trained(Pretrained::Mnist, None, None, &device).unwrap();
    assert_eq!(shipped.dir(), Pretrained::Mnist.dir().unwrap());
    let why = Run::shipped_or_trained(Pretrained::Classifier, None, None, &device).unwrap_err().to_string();
    assert!(why.contains("not a diffusion run"), "{why}");

    let dir = tempfile::tempdir().unwrap();
    let trained = Run::shipped_or_trained(Pretrained::MnistCond, Some(dir.path()), Some(2), &device).unwrap();
    assert_eq!(trained.step(), 2);
    let shipped_cond = Run::open(Pretrained::MnistCond.dir().unwrap()).unwrap();
    assert_eq!(trained.model_spec(), shipped_cond.model_spec(), "not the shipped class-conditional network");
    // A finished run is only opened, not trained again: still two rows of loss.
    let again = Run::shipped_or_trained(Pretrained::MnistCond, Some(dir.path()), Some(2), &device).unwrap();
    assert_eq!((again.step(), again.loss_history().unwrap().len()), (2, 2));
}
