//! Checkpoints: round trips are bitwise, a crash at any step of a save leaves one complete
//! checkpoint, and every damaged or mismatched file is an error that names the file.

use ddpm::candle_core::{DType, Device, Tensor, Var};
use ddpm::candle_nn::VarMap;
use ddpm::checkpoint::{self, Checkpoint, NamedTensors, TensorMap};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The tensor names and shapes of a tiny U-Net-like model.
const SHAPES: [(&str, &[usize]); 3] =
    [("down.0.conv1.weight", &[4, 1, 3, 3]), ("down.0.conv1.bias", &[4]), ("mid.attn.qkv.weight", &[12, 4])];

/// f32 values that a lossy round trip would change: NaN with a payload, -0.0, infinities,
/// a subnormal, and values from a small linear congruential generator seeded by `seed`.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let special = [f32::from_bits(0x7fc0_1234), -0.0, f32::INFINITY, f32::NEG_INFINITY, 1e-40];
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            special.get(i).copied().unwrap_or((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect()
}

/// A VarMap holding the model's variables, filled from `seed`.
fn varmap(seed: u32) -> VarMap {
    let map = VarMap::new();
    for (i, (name, shape)) in SHAPES.iter().enumerate() {
        let n = shape.iter().product();
        let t = Tensor::from_vec(values(n, seed + i as u32), *shape, &Device::Cpu).unwrap();
        let var = Var::from_tensor(&t).unwrap();
        map.data().lock().unwrap().insert(name.to_string(), var);
    }
    map
}

fn meta(step: u64) -> Checkpoint {
    let model = serde_json::json!({"channels": 32, "channel_mult": [1, 2], "attention": [false, true]});
    let training = serde_json::json!({"lr": 2e-4, "batch": 64, "ema_decay": 0.9999, "data": "mnist"});
    Checkpoint { step, seed: u64::MAX - step, model, training }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

/// Every tensor of `got` has the name, shape and bits of one of `want`, and no name is left over.
fn assert_same(got: &TensorMap, want: &dyn NamedTensors) {
    let want = want.named_tensors();
    assert_eq!(got.keys().collect::<BTreeSet<_>>(), want.keys().collect::<BTreeSet<_>>());
    for (name, w) in &want {
        assert_eq!(got[name].dims(), w.dims(), "{name}");
        assert_eq!(bits(&got[name]), bits(w), "{name}");
    }
}

/// The error message of `result`, which must be an error.
fn message<T: std::fmt::Debug>(result: ddpm::Result<T>) -> String {
    result.expect_err("expected an error").to_string()
}

fn assert_mentions(message: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(message.contains(fragment), "{fragment:?} is not in the message: {message}");
    }
}

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

#[test]
fn save_then_load_gives_identical_tensors_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/toy");
    let (weights, ema) = (varmap(1), varmap(2));
    checkpoint::save(&run, &meta(1200), &weights, Some(&ema)).unwrap();
    assert_eq!(listing(&run), ["checkpoint.json", "ema.safetensors", "weights.safetensors"]);

    let (loaded, w, e) = checkpoint::load(&run, &Device::Cpu).unwrap();
    assert_eq!(loaded, meta(1200));
    assert_same(&w, &weights);
    assert_same(&e.expect("saved with an EMA"), &ema);
    assert_eq!(checkpoint::latest_step(&run).unwrap(), Some(1200));
}

#[test]
fn other_dtypes_and_maps_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::Cpu;
    let f32s = Tensor::from_vec(values(6, 9), (2, 3), &dev).unwrap();
    let weights: BTreeMap<String, Tensor> = [
        ("a.f64", f32s.to_dtype(DType::F64).unwrap()),
        ("b.bf16", f32s.to_dtype(DType::BF16).unwrap()),
        ("c.f16", f32s.to_dtype(DType::F16).unwrap()),
        ("d.u8", Tensor::new(&[0u8, 7, 255], &dev).unwrap()),
        ("e.i64", Tensor::new(&[i64::MIN, -1, i64::MAX], &dev).unwrap()),
        ("f.scalar", Tensor::new(3.5f32, &dev).unwrap()),
        ("g.transposed", f32s.t().unwrap()),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    checkpoint::save(dir.path(), &meta(1), &weights, None).unwrap();
    let (_, got, ema) = checkpoint::load(dir.path(), &dev).unwrap();
    assert!(ema.is_none());
    for (name, want) in &weights {
        let got = &got[name];
        assert_eq!((got.dtype(), got.dims()), (want.dtype(), want.dims()), "{name}");
        // Every element compared through its bits (as i64, which holds all these types).
        let as_bits = |t: &Tensor| -> Vec<String> {
            let flat = t.flatten_all().unwrap();
            match t.dtype() {
                DType::U8 => flat.to_vec1::<u8>().unwrap().iter().map(|x| x.to_string()).collect(),
                DType::I64 => flat.to_vec1::<i64>().unwrap().iter().map(|x| x.to_string()).collect(),
                _ => flat
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
                    .iter()
                    .map(|x| format!("{:x}", x.to_bits()))
                    .collect(),
            }
        };
        assert_eq!(as_bits(got), as_bits(want), "{name}");
    }
}

#[test]
fn load_into_sets_the_models_variables() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, saved_ema) = (varmap(1), varmap(2));
    checkpoint::save(dir.path(), &meta(5), &saved, Some(&saved_ema)).unwrap();

    // The model holds its own handles to the variables; they must see the loaded values.
    let model = varmap(3);
    let handle: Var = model.data().lock().unwrap()["mid.attn.qkv.weight"].clone();
    assert_ne!(bits(handle.as_tensor()), bits(&saved.named_tensors()["mid.attn.qkv.weight"]));
    assert_eq!(checkpoint::load_into(dir.path(), &model).unwrap(), meta(5));
    assert_eq!(bits(handle.as_tensor()), bits(&saved.named_tensors()["mid.attn.qkv.weight"]));
    for (name, t) in model.named_tensors() {
        assert_eq!(bits(&t), bits(&saved.named_tensors()[&name]), "{name}");
    }

    checkpoint::load_ema_into(dir.path(), &model).unwrap();
    for (name, t) in model.named_tensors() {
        assert_eq!(bits(&t), bits(&saved_ema.named_tensors()[&name]), "{name}");
    }
}

#[test]
fn a_new_save_replaces_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &meta(10), &varmap(1), Some(&varmap(2))).unwrap();
    assert_eq!(checkpoint::latest_step(dir.path()).unwrap(), Some(10));

    // Without an EMA this time: the old ema.safetensors must not come back.
    checkpoint::save(dir.path(), &meta(20), &varmap(3), None).unwrap();
    let (m, w, e) = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!((m, e.is_none()), (meta(20), true));
    assert_same(&w, &varmap(3));
    assert_eq!(listing(dir.path()), ["checkpoint.json", "weights.safetensors"]);
    assert_eq!(checkpoint::latest_step(dir.path()).unwrap(), Some(20));

    checkpoint::save(dir.path(), &meta(30), &varmap(4), Some(&varmap(5))).unwrap();
    let (m, w, e) = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(m, meta(30));
    assert_same(&w, &varmap(4));
    assert_same(&e.unwrap(), &varmap(5));
    assert_eq!(listing(dir.path()), ["checkpoint.json", "ema.safetensors", "weights.safetensors"]);
}

/// One save: its step, weights seed and EMA seed (None: no EMA).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Save(u64, u32, Option<u32>);

impl Save {
    fn run(self, dir: &Path, stop_before: Option<usize>) -> bool {
        let (w, e) = (varmap(self.1), self.2.map(varmap));
        let e = e.as_ref().map(|e| e as &dyn NamedTensors);
        match stop_before {
            None => checkpoint::save(dir, &meta(self.0), &w, e).map(|_| true).unwrap(),
            Some(k) => checkpoint::save_interrupted(dir, &meta(self.0), &w, e, k).unwrap(),
        }
    }

    /// Which of `saves` the folder holds, checking that every file of it is that save's.
    fn loaded(dir: &Path, saves: &[Save]) -> Save {
        let (m, w, e) = checkpoint::load(dir, &Device::Cpu).expect("a complete checkpoint");
        let save = *saves.iter().find(|s| s.0 == m.step).expect("one of the saves");
        assert_eq!(m, meta(save.0));
        assert_same(&w, &varmap(save.1));
        match (e, save.2) {
            (Some(e), Some(seed)) => assert_same(&e, &varmap(seed)),
            (None, None) => {}
            (e, seed) => panic!("EMA {:?} loaded for a save with EMA seed {seed:?}", e.is_some()),
        }
        assert_eq!(checkpoint::latest_step(dir).unwrap(), Some(save.0));
        save
    }
}

/// Simulates a crash before every step of a save in turn: what loads is always exactly the
/// previous checkpoint (before the commit) or exactly the new one (after), never a mixture;
/// and the next save, crashing too or not, still leaves one complete checkpoint.
#[test]
fn a_crash_at_any_step_leaves_one_complete_checkpoint() {
    for (old_ema, new_ema) in [(None, None), (None, Some(4)), (Some(2), None), (Some(2), Some(4))] {
        let (a, b, c) = (Save(100, 1, old_ema), Save(200, 3, new_ema), Save(300, 5, Some(6)));
        let (mut seen_new, mut seen_set_aside) = (false, false);
        for k in 0.. {
            let dir = scratch();
            a.run(dir.path(), None);
            let done = b.run(dir.path(), Some(k));
            let now = Save::loaded(dir.path(), &[a, b]);
            assert!(!(seen_new && now == a), "crash before step {k}: back to the old checkpoint");
            seen_new |= now == b;
            if done {
                assert_eq!(now, b);
                assert!(k > 3, "a save has more than {k} steps");
                break;
            }
            // A second crash, at every step of the next save, on top of a first one that left
            // old files set aside (a crash that left only temporary files is the case above).
            let set_aside = listing(dir.path()).iter().any(|name| name.ends_with(".prev"));
            seen_set_aside |= set_aside;
            for k2 in (0..).take_while(|_| set_aside && old_ema.is_some()) {
                let again = scratch();
                copy_dir(dir.path(), again.path());
                let done2 = c.run(again.path(), Some(k2));
                let after = Save::loaded(again.path(), &[a, b, c]);
                assert!(after == now || after == c, "crash at {k} then {k2}: {after:?}");
                if done2 {
                    assert_eq!(after, c);
                    break;
                }
            }
            // A full save after the crash: its files and nothing else.
            c.run(dir.path(), None);
            assert_eq!(Save::loaded(dir.path(), &[c]), c);
            assert_eq!(listing(dir.path()), ["checkpoint.json", "ema.safetensors", "weights.safetensors"]);
        }
        assert!(seen_new && seen_set_aside);
    }
}

/// A temporary folder, in memory where there is a tmpfs: the crash tests run hundreds of saves,
/// and they count the steps of a save, not the time a disk takes to flush.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    shm.is_dir().then(|| tempfile::tempdir_in(shm).ok()).flatten().unwrap_or_else(|| tempfile::tempdir().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A saved checkpoint with an EMA, in a fresh folder.
fn saved() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &meta(7), &varmap(1), Some(&varmap(2))).unwrap();
    dir
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no/such/run");
    assert_eq!(checkpoint::latest_step(&nowhere).unwrap(), None);
    assert_eq!(checkpoint::latest_step(dir.path()).unwrap(), None);
    let m = message(checkpoint::load(&nowhere, &Device::Cpu));
    assert_mentions(&m, &["checkpoint.json", "missing", "no checkpoint"]);

    for file in ["weights.safetensors", "ema.safetensors"] {
        let dir = saved();
        fs::remove_file(dir.path().join(file)).unwrap();
        let m = message(checkpoint::load(dir.path(), &Device::Cpu));
        assert_mentions(&m, &[file, "missing", "step 7"]);
    }
}

#[test]
fn damaged_checkpoint_json_is_an_error() {
    let cases: [(&str, &[&str]); 5] = [
        ("{\"format_version\": 1, \"step\": ", &["not valid JSON"]),
        ("\u{0}\u{1}garbage", &["not valid JSON"]),
        ("{\"step\": 3}", &["no format_version", "not a ddpm checkpoint"]),
        ("{\"format_version\": 1, \"step\": 3}", &["not a ddpm checkpoint", "missing field"]),
        ("[1, 2]", &["no format_version"]),
    ];
    for (json, fragments) in cases {
        let dir = saved();
        fs::write(dir.path().join("checkpoint.json"), json).unwrap();
        let m = message(checkpoint::load(dir.path(), &Device::Cpu));
        assert_mentions(&m, &["checkpoint.json"]);
        assert_mentions(&m, fragments);
        assert_mentions(&message(checkpoint::latest_step(dir.path())), fragments);
    }
    // Every truncation of a real checkpoint.json.
    let dir = saved();
    let json = fs::read(dir.path().join("checkpoint.json")).unwrap();
    for len in 0..json.len() - 1 {
        fs::write(dir.path().join("checkpoint.json"), &json[..len]).unwrap();
        assert_mentions(&message(checkpoint::load(dir.path(), &Device::Cpu)), &["checkpoint.json"]);
    }
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = saved();
    let path = dir.path().join("checkpoint.json");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    json["format_version"] = (checkpoint::FORMAT_VERSION + 1).into();
    fs::write(&path, json.to_string()).unwrap();
    let m = message(checkpoint::load(dir.path(), &Device::Cpu));
    assert_mentions(&m, &["checkpoint.json", "format version 2 is newer", "upgrade ddpm"]);
    assert_mentions(&message(checkpoint::latest_step(dir.path())), &["format version 2"]);
}

#[test]
fn truncated_or_garbled_tensor_files_are_errors_not_panics() {
    for file in ["weights.safetensors", "ema.safetensors"] {
        // A small checkpoint: one short tensor, so that every byte can be tried.
        let dir = scratch();
        let tiny: BTreeMap<String, Tensor> =
            [("w".to_string(), Tensor::new(&[1f32, -2.0, 3.5], &Device::Cpu).unwrap())].into();
        checkpoint::save(dir.path(), &meta(7), &tiny, Some(&tiny)).unwrap();
        let path = dir.path().join(file);
        let bytes = fs::read(&path).unwrap();
        // Every truncation point: inside the length, the header and the data.
        for len in 0..bytes.len() {
            fs::write(&path, &bytes[..len]).unwrap();
            let m = message(checkpoint::load(dir.path(), &Device::Cpu));
            assert_mentions(&m, &[file]);
            if len >= 8 {
                assert_mentions(&m, &["truncated"]);
            }
        }
        // Trailing bytes.
        fs::write(&path, [&bytes[..], b"xyz"].concat()).unwrap();
        assert_mentions(&message(checkpoint::load(dir.path(), &Device::Cpu)), &[file, "3 bytes after"]);
        // Every byte garbled: an error or, where the
        // byte was only a value, a successful load; never a panic.
        for i in 0..bytes.len() {
            for garbage in [0x00, 0x22, 0x7b, 0xff] {
                let mut bad = bytes.clone();
                bad[i] = garbage;
                fs::write(&path, &bad).unwrap();
                if let Err(e) = checkpoint::load(dir.path(), &Device::Cpu) {
                    assert_mentions(&e.to_string(), &[file]);
                }
            }
        }
        // Not a safetensors file at all.
        fs::write(&path, b"PK\x03\x04 this is a zip file, or anything else entirely").unwrap();
        assert_mentions(&message(checkpoint::load(dir.path(), &Device::Cpu)), &[file, "not a safetensors file"]);
    }
}

#[test]
fn tensor_files_of_another_save_are_refused() {
    let (one, two) = (saved(), saved());
    fs::copy(two.path().join("weights.safetensors"), one.path().join("weights.safetensors")).unwrap();
    let m = message(checkpoint::load(one.path(), &Device::Cpu));
    assert_mentions(&m, &["weights.safetensors", "comes from another save", "step 7"]);

    // A plain safetensors file, as candle or Python would write it, has no save id.
    let plain = varmap(1).named_tensors().into_iter().collect();
    ddpm::candle_core::safetensors::save(&plain, one.path().join("weights.safetensors")).unwrap();
    let m = message(checkpoint::load(one.path(), &Device::Cpu));
    assert_mentions(&m, &["weights.safetensors", "no ddpm_save_id"]);
}

#[test]
fn shapes_that_differ_from_checkpoint_json_are_named() {
    let dir = saved();
    let path = dir.path().join("checkpoint.json");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    json["shapes"]["down.0.conv1.bias"] = serde_json::json!([5]);
    fs::write(&path, json.to_string()).unwrap();
    let m = message(checkpoint::load(dir.path(), &Device::Cpu));
    assert_mentions(
        &m,
        &[
            "weights.safetensors",
            "differs from checkpoint.json",
            "`down.0.conv1.bias` has shape [4] but checkpoint.json expects [5]",
        ],
    );
}

/// A VarMap like the model's, with `edit` applied to its variables.
fn model_with(edit: impl FnOnce(&mut std::collections::HashMap<String, Var>)) -> VarMap {
    let map = varmap(3);
    edit(&mut map.data().lock().unwrap());
    map
}

fn var(shape: &[usize], dtype: DType) -> Var {
    Var::zeros(shape, dtype, &Device::Cpu).unwrap()
}

#[test]
fn load_into_names_every_mismatch_and_changes_nothing() {
    let dir = saved();
    let cases: Vec<(VarMap, &[&str])> = vec![
        (
            model_with(|m| drop(m.insert("up.0.conv.weight".into(), var(&[2, 2], DType::F32)))),
            &["missing tensor `up.0.conv.weight` (the model expects shape [2, 2])"],
        ),
        (
            model_with(|m| drop(m.remove("down.0.conv1.bias"))),
            &["extra tensor `down.0.conv1.bias` (shape [4]) that the model does not have"],
        ),
        (
            model_with(|m| drop(m.insert("mid.attn.qkv.weight".into(), var(&[4, 12], DType::F32)))),
            &["tensor `mid.attn.qkv.weight` has shape [12, 4] but the model expects [4, 12]"],
        ),
        (
            model_with(|m| drop(m.insert("down.0.conv1.bias".into(), var(&[4], DType::F64)))),
            &["tensor `down.0.conv1.bias` is f32 but the model expects f64"],
        ),
        (
            model_with(|m| {
                m.remove("down.0.conv1.bias");
                m.insert("mid.attn.qkv.weight".into(), var(&[4, 12], DType::F32));
            }),
            &["2 problems", "extra tensor `down.0.conv1.bias`", "has shape [12, 4]"],
        ),
        (VarMap::new(), &["3 problems", "the VarMap is empty"]),
    ];
    for (model, fragments) in cases {
        let before: BTreeMap<String, Vec<u32>> = model
            .named_tensors()
            .iter()
            .filter(|(_, t)| t.dtype() == DType::F32)
            .map(|(n, t)| (n.clone(), bits(t)))
            .collect();
        let m = message(checkpoint::load_into(dir.path(), &model));
        assert_mentions(&m, &["weights.safetensors", "does not fit the model"]);
        assert_mentions(&m, fragments);
        let m = message(checkpoint::load_ema_into(dir.path(), &model));
        assert_mentions(&m, &["ema.safetensors", "does not fit the model"]);
        let after: BTreeMap<String, Vec<u32>> = model
            .named_tensors()
            .iter()
            .filter(|(_, t)| t.dtype() == DType::F32)
            .map(|(n, t)| (n.clone(), bits(t)))
            .collect();
        assert_eq!(before, after, "a failed load_into changed the model");
    }
}

#[test]
fn load_ema_into_without_an_ema_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &meta(9), &varmap(1), None).unwrap();
    let m = message(checkpoint::load_ema_into(dir.path(), &varmap(2)));
    assert_mentions(&m, &["step 9", "without EMA weights"]);
}

#[test]
fn bad_saves_are_refused_before_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let m = message(checkpoint::save(&run, &meta(1), &VarMap::new(), None));
    assert_mentions(&m, &["no tensor", "nothing to save"]);

    let short_ema = model_with(|m| drop(m.remove("down.0.conv1.bias")));
    let m = message(checkpoint::save(&run, &meta(1), &varmap(1), Some(&short_ema)));
    assert_mentions(&m, &["EMA", "missing tensor `down.0.conv1.bias`"]);

    let odd: BTreeMap<String, Tensor> =
        [("x".to_string(), Tensor::zeros(3, DType::F8E4M3, &Device::Cpu).unwrap())].into();
    assert_mentions(&message(checkpoint::save(&run, &meta(1), &odd, None)), &["tensor `x` is f8e4m3"]);

    let reserved: BTreeMap<String, Tensor> =
        [("__metadata__".to_string(), Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap())].into();
    assert_mentions(&message(checkpoint::save(&run, &meta(1), &reserved, None)), &["__metadata__"]);
    assert!(!run.exists(), "a refused save created the folder");
}

#[test]
fn configs_round_trip_through_their_types() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct ModelConfig {
        channels: usize,
        channel_mult: Vec<usize>,
        dropout: f64,
    }
    let config = ModelConfig { channels: 64, channel_mult: vec![1, 2, 2], dropout: 0.1 };
    let meta = Checkpoint::new(3, 4, &config, &serde_json::json!({"lr": 1e-4})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &meta, &varmap(1), None).unwrap();
    let loaded = checkpoint::load_into(dir.path(), &varmap(2)).unwrap();
    assert_eq!(loaded.model_config::<ModelConfig>().unwrap(), config);
    assert_eq!(loaded.training["lr"].as_f64(), Some(1e-4));
    let m = message(loaded.training_config::<ModelConfig>());
    assert_mentions(&m, &["training config does not fit", "missing field"]);
}

/// Floats that a parser which is not correctly rounded gets one ULP off (serde_json's default
/// parser does so for about a third of random f64 values) come back bit for bit.
#[test]
fn floats_in_the_configs_come_back_bit_for_bit() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut floats = vec![0.1 + 0.2, 1.0 / 3.0, 2e-4, 0.9999, f64::MIN_POSITIVE, 5e-324, -1.5e300, -0.0, 1e23];
    for _ in 0..200 {
        // xorshift64, then bits that make a finite f64 between about 1e-77 and 1e77.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        floats.push(f64::from_bits((state >> 2) | 0x3000_0000_0000_0000));
    }
    let training = serde_json::json!({"lr": floats[0], "nested": {"all": floats, "text": "a \"quoted\" 1.5e3"}});
    let meta = Checkpoint { step: 1, seed: 2, model: serde_json::json!([1, -2, 3.25, null, true]), training };
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &meta, &varmap(1), None).unwrap();
    let (loaded, _, _) = checkpoint::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(loaded, meta);
    let all = |m: &Checkpoint| -> Vec<u64> {
        m.training["nested"]["all"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap().to_bits()).collect()
    };
    assert_eq!(all(&loaded), all(&meta));
}

#[test]
fn weights_holding_nan_or_infinity_are_refused_in_every_float_dtype_but_load_keeps_every_bit() {
    let dev = Device::Cpu;
    for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let dir = scratch();
            let tensor = |v: &[f32]| Tensor::new(v, &dev).unwrap().to_dtype(dtype).unwrap();
            // Zeros, a value subnormal in f16, and the largest magnitudes f16 holds are finite;
            // an integer tensor with every bit set is not a float at all.
            let mut map: BTreeMap<String, Tensor> = [
                ("a".to_string(), tensor(&[0.0, -0.0, 1e-6, -6.5e4, 6.5e4])),
                ("c".to_string(), Tensor::new(&[u32::MAX, 0], &dev).unwrap()),
            ]
            .into();
            let manifest = checkpoint::save(dir.path(), &meta(7), &map, None).unwrap();
            assert_eq!(checkpoint::read_weights(dir.path(), &manifest, &dev).unwrap().len(), 2);
            map.insert("b".to_string(), tensor(&[0.5, bad, 3.0, bad]));
            let manifest = checkpoint::save(dir.path(), &meta(8), &map, None).unwrap();
            let e = checkpoint::read_weights(dir.path(), &manifest, &dev).unwrap_err();
            match &e {
                ddpm::Error::NotFinite { path, tensor, count } => {
                    assert!(path.ends_with("weights.safetensors"), "{e}");
                    assert_eq!((tensor.as_str(), *count), ("b", 2), "{dtype:?} {bad}");
                }
                other => panic!("{dtype:?} {bad}: expected Error::NotFinite, got {other:?}"),
            }
            assert_mentions(&e.to_string(), &["weights.safetensors", "tensor `b`", "NaN or infinite"]);
            // The same through checkpoint.json read anew.
            let again = checkpoint::Manifest::read(dir.path()).unwrap().expect("a checkpoint");
            assert!(matches!(checkpoint::read_weights(dir.path(), &again, &dev), Err(ddpm::Error::NotFinite { .. })));
            // `load` is a storage round trip: every bit comes back, the bad values included.
            let (_, loaded, _) = checkpoint::load(dir.path(), &dev).unwrap();
            let back = loaded["b"].to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(back[1].is_nan(), bad.is_nan());
            assert_eq!(back[1].is_infinite(), bad.is_infinite());
        }
    }
}

/// `write_varmap` writes a safetensors file that candle reads back bit for bit, and leaves no
/// temporary file behind.
#[test]
fn write_varmap_round_trips_through_candles_reader() {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu);
    vb.get_with_hints((2, 3), "a.weight", candle_nn::Init::Const(0.25)).unwrap();
    vb.get_with_hints(4, "b", candle_nn::Init::Const(-1.5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    ddpm::checkpoint::write_varmap(&path, &varmap).unwrap();
    let back = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back["a.weight"].flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![0.25f32; 6]);
    assert_eq!(back["b"].to_vec1::<f32>().unwrap(), vec![-1.5f32; 4]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the file itself is left");
}
