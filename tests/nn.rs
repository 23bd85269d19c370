//! The networks (E22, E23): shapes, the time embedding, the zero-initialised last layer, gradients
//! to every parameter, parameter counts against the closed form, bad input, seeded initialisation.

use ddpm::candle_core::{DType, Device, Tensor, Var};
use ddpm::candle_nn::{VarBuilder, VarMap};
use ddpm::nn::{
    parameter_count, timestep_embedding, AdaGroupNorm, AttentionBlock, EpsModel, Mlp, MlpConfig, UNet, UNetConfig,
};
use ddpm::rng::{normal_vec, seeded, Rng};
use ndarray::Array1;

const SEED: u64 = 20200619;

fn cpu() -> Device {
    Device::Cpu
}

/// N(0, 1) draws from a seeded generator, as an f32 tensor.
fn randn(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = normal_vec(rng, n).into_iter().map(|v| v as f32).collect();
    Tensor::from_vec(values, shape, &cpu()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Overwrites the named variable with N(0, scale^2) draws (e.g. the zero-initialised last layer).
fn randomise(varmap: &mut VarMap, name: &str, scale: f64, rng: &mut Rng) {
    let shape = varmap.data().lock().unwrap()[name].shape().clone();
    let value = (randn(rng, shape.dims()) * scale).unwrap();
    varmap.set_one(name, value).unwrap();
}

/// Sorted (name, var) pairs: a HashMap's order is not fixed.
fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let mut vars: Vec<(String, Var)> =
        varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// 16x16 grey images, channels 8 and 16, no attention: the smallest useful U-Net.
fn tiny() -> UNetConfig {
    UNetConfig::tiny(16)
}

/// 8x8 colour images with attention at 4x4 (and in the middle), 10 classes, AdaGN, dropout.
fn conditional() -> UNetConfig {
    UNetConfig {
        in_channels: 3,
        channel_mults: vec![1, 2],
        attention_resolutions: vec![4],
        num_classes: Some(10),
        image_size: 8,
        adaptive_norm: true,
        dropout: 0.1,
        ..tiny()
    }
}

/// Three levels 16 -> 8 -> 4, attention at 8x8 only, two blocks a level.
fn three_levels() -> UNetConfig {
    UNetConfig { channel_mults: vec![1, 2, 2], blocks_per_level: 2, attention_resolutions: vec![8], ..tiny() }
}

/// A batch: x (B, C, S, S), t (B,) u32 in 1..=1000, labels (B,) when the config has classes.
fn batch(cfg: &UNetConfig, b: usize, rng: &mut Rng) -> (Tensor, Tensor, Option<Tensor>) {
    let x = randn(rng, &[b, cfg.in_channels, cfg.image_size, cfg.image_size]);
    let t: Vec<u32> = (0..b).map(|i| 1 + (i as u32 * 397) % 1000).collect();
    let class = cfg
        .num_classes
        .map(|n| Tensor::from_vec((0..b).map(|i| (i % n) as u32).collect::<Vec<_>>(), b, &cpu()).unwrap());
    (x, Tensor::from_vec(t, b, &cpu()).unwrap(), class)
}

#[test]
fn sinusoidal_embedding_matches_the_formula() {
    // Oracle (numpy): h = 3; w = exp(-log(10000) * arange(h) / (h - 1)) = [1, 1e-2, 1e-4];
    // emb = concatenate([sin(t * w), cos(t * w)]) for t = 2 and t = 1000.
    for t in [2.0f64, 1000.0] {
        let w = [1.0, 1e-2, 1e-4];
        let expected: Vec<f64> = w.iter().map(|w| (t * w).sin()).chain(w.iter().map(|w| (t * w).cos())).collect();
        let from_u32 = timestep_embedding(&Tensor::new(&[t as u32], &cpu()).unwrap(), 6).unwrap();
        let from_f32 = timestep_embedding(&Tensor::new(&[t as f32], &cpu()).unwrap(), 6).unwrap();
        assert_eq!(from_u32.dims(), &[1, 6]);
        assert_eq!(values(&from_u32), values(&from_f32));
        for (seen, want) in values(&from_u32).iter().zip(&expected) {
            assert!((*seen as f64 - want).abs() < 1e-5, "t = {t}: {seen} vs {want}");
        }
    }
    let err = timestep_embedding(&Tensor::new(&[1u32], &cpu()).unwrap(), 5).unwrap_err().to_string();
    assert!(err.contains("must be even and at least 4, got 5"), "{err}");
}

#[test]
fn output_shape_equals_input_shape() {
    let mut rng = seeded(SEED);
    let with_attention_grey = UNetConfig { attention_resolutions: vec![16, 8], ..tiny() };
    let colour_classes_plain_norm = UNetConfig { adaptive_norm: false, ..conditional() };
    for cfg in [tiny(), with_attention_grey, three_levels(), conditional(), colour_classes_plain_norm] {
        let (model, _varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
        let (x, t, class) = batch(&cfg, 2, &mut rng);
        for train in [false, true] {
            let out = model.forward(&x, &t, class.as_ref(), train).unwrap();
            assert_eq!(out.dims(), x.dims(), "{cfg:?}");
        }
        assert_eq!(model.null_class(), cfg.num_classes.map(|n| n as u32));
        if cfg.num_classes.is_some() {
            // No labels: every element gets the "no class" row.
            assert_eq!(model.forward(&x, &t, None, false).unwrap().dims(), x.dims());
        }
    }
    let mlp = Mlp::new_seeded(&MlpConfig::default(), &cpu(), SEED).unwrap().0;
    let x = randn(&mut rng, &[5, 2]);
    let t = Tensor::new(&[1u32, 2, 3, 4, 5], &cpu()).unwrap();
    assert_eq!(mlp.forward(&x, &t).unwrap().dims(), &[5, 2]);
}

#[test]
fn untrained_model_predicts_zero_and_l_simple_is_one() {
    // E18: with the last layer at zero, eps_pred = 0 exactly, so L_simple = mean(eps^2), whose
    // expectation is 1 with standard error sqrt(Var(eps^2) / n) = sqrt(2 / n).
    let mut rng = seeded(SEED);
    let cfg = conditional();
    let (model, _varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
    let (x, t, class) = batch(&cfg, 16, &mut rng);
    let eps_pred = model.forward(&x, &t, class.as_ref(), true).unwrap();
    assert!(values(&eps_pred).iter().all(|&v| v == 0.0), "an untrained U-Net must output exactly 0");

    let eps = randn(&mut rng, x.dims());
    let to_array = |t: &Tensor| Array1::from_iter(values(t).into_iter().map(f64::from));
    let l_simple = ddpm::objective::l_simple(&to_array(&eps), &to_array(&eps_pred)).unwrap();
    let n = eps.elem_count() as f64;
    let se = (2.0 / n).sqrt();
    println!("L_simple = {l_simple:.4}, expected 1 +- 5 x {se:.4} (n = {n})");
    assert!((l_simple - 1.0).abs() < 5.0 * se, "L_simple = {l_simple}, expected 1 within {}", 5.0 * se);

    let mlp = Mlp::new_seeded(&MlpConfig::default(), &cpu(), SEED).unwrap().0;
    let out = mlp.forward(&randn(&mut rng, &[4, 2]), &Tensor::new(&[1u32, 10, 100, 1000], &cpu()).unwrap()).unwrap();
    assert!(values(&out).iter().all(|&v| v == 0.0), "an untrained MLP must output exactly 0");
}

#[test]
fn time_embedding_changes_the_output() {
    // With a non-zero last layer, the same x_t at t = 1 and t = 500 must give different eps_pred,
    // and the same t twice the same eps_pred (no dropout outside training).
    let mut rng = seeded(SEED);
    for cfg in [tiny(), conditional()] {
        let (model, mut varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
        randomise(&mut varmap, "conv_out.weight", 0.1, &mut rng);
        let (x, _, class) = batch(&cfg, 2, &mut rng);
        let at =
            |step: f32| model.forward(&x, &Tensor::new(&[step, step], &cpu()).unwrap(), class.as_ref(), false).unwrap();
        let (early, late) = (at(1.0), at(500.0));
        assert_eq!(max_abs_diff(&early, &at(1.0)), 0.0);
        let diff = max_abs_diff(&early, &late);
        println!("max |eps_pred(t=1) - eps_pred(t=500)| = {diff:.4}");
        assert!(diff > 1e-3, "the time embedding does not reach the output: difference {diff}");
    }
    let (mlp, mut varmap) = Mlp::new_seeded(&MlpConfig::default(), &cpu(), SEED).unwrap();
    randomise(&mut varmap, "out.weight", 0.1, &mut rng);
    let x = randn(&mut rng, &[1, 2]);
    let at = |step: u32| mlp.forward(&x, &Tensor::new(&[step], &cpu()).unwrap()).unwrap();
    assert!(max_abs_diff(&at(1), &at(500)) > 1e-3);
}

/// Every slice along the first axis of every variable (each output channel of a weight, each
/// element of a bias, each row of an embedding table) gets a non-zero, finite gradient. Checking
/// slices, not whole tensors, catches operations that cut the gradient of part of a variable:
/// candle 0.11.1's `softmax_last_dim` has no backward pass and passes gradients to the value rows
/// of `qkv` but none to the query and key rows.
///
/// One exception, by mathematics: the key bias of attention. Adding b to every key adds q . b to
/// every score of query q, and a softmax over the keys is blind to a shift shared by all keys, so
/// the gradient of the key bias is 0 up to rounding. That is checked too: it would not hold for a
/// softmax over the wrong axis.
fn assert_gradient_everywhere(varmap: &VarMap, loss: &Tensor) {
    let grads = loss.backward().unwrap();
    let mut missing = vec![];
    for (name, var) in sorted_vars(varmap) {
        let Some(grad) = grads.get(var.as_tensor()) else {
            missing.push(format!("{name} (no gradient)"));
            continue;
        };
        let g = values(grad);
        let rows = grad.dim(0).unwrap();
        let row = |r: usize| &g[r * g.len() / rows..(r + 1) * g.len() / rows];
        let live = |r: usize| row(r).iter().any(|&v| v != 0.0 && v.is_finite());
        let keys = if name.ends_with("attn.qkv.bias") { rows / 3..2 * rows / 3 } else { 0..0 };
        let dead: Vec<usize> = (0..rows).filter(|r| !keys.contains(r) && !live(*r)).collect();
        if !dead.is_empty() {
            missing.push(format!("{name} (rows {dead:?} of {rows})"));
        }
        if !keys.is_empty() {
            let largest = |rs: &mut dyn Iterator<Item = usize>| rs.flat_map(&row).fold(0f32, |m, v| m.max(v.abs()));
            let (key, other) = (largest(&mut keys.clone()), largest(&mut (0..rows).filter(|r| !keys.contains(r))));
            assert!(key <= 1e-4 * other, "{name}: key-bias gradient {key} is not ~0 (others up to {other})");
        }
    }
    assert!(missing.is_empty(), "zero gradient for {missing:?}");
}

#[test]
fn gradients_reach_every_parameter() {
    let mut rng = seeded(SEED);
    for cfg in [UNetConfig { attention_resolutions: vec![8], ..tiny() }, conditional()] {
        let (model, mut varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
        randomise(&mut varmap, "conv_out.weight", 0.1, &mut rng);
        // Batch 11 with labels 0..=10, so that every class row (and the "no class" row 10) is used.
        let (x, t, _) = batch(&cfg, 11, &mut rng);
        let class = cfg.num_classes.map(|_| Tensor::from_vec((0..11u32).collect::<Vec<_>>(), 11, &cpu()).unwrap());
        let eps = randn(&mut rng, x.dims());
        let eps_pred = model.eps_theta(&x, &t, class.as_ref(), true).unwrap();
        let loss = (eps - eps_pred).unwrap().sqr().unwrap().mean_all().unwrap();
        assert_gradient_everywhere(&varmap, &loss);
    }
    let (mlp, mut varmap) = Mlp::new_seeded(&MlpConfig::default(), &cpu(), SEED).unwrap();
    randomise(&mut varmap, "out.weight", 0.1, &mut rng);
    let x = randn(&mut rng, &[8, 2]);
    let t = Tensor::new(&[1u32, 5, 50, 100, 200, 400, 700, 1000], &cpu()).unwrap();
    let loss = mlp.forward(&x, &t).unwrap().sqr().unwrap().mean_all().unwrap();
    assert_gradient_everywhere(&varmap, &loss);
}

#[test]
fn parameter_count_matches_the_closed_form() {
    for cfg in [UNetConfig::default(), UNetConfig::mnist_fast(), tiny(), three_levels(), conditional()] {
        let (_model, varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
        let (seen, expected) = (parameter_count(&varmap), cfg.expected_parameter_count().unwrap());
        println!("U-Net {:?} x{}: {seen} parameters, expected {expected}", cfg.channel_mults, cfg.base_channels);
        assert_eq!(seen, expected, "{cfg:?}");
    }
    // Built from candle's own (unseeded) generator: the same variables.
    let varmap = VarMap::new();
    UNet::new(&conditional(), VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
    assert_eq!(parameter_count(&varmap), conditional().expected_parameter_count().unwrap());

    let default = UNetConfig::default().expected_parameter_count().unwrap();
    assert!((1_000_000..=2_000_000).contains(&default), "the default U-Net has {default} parameters");
    // benches/torch_reference.py builds the same architectures in PyTorch and counts
    // sum(p.numel() for p in model.parameters()) = 1,623,169 and 619,697.
    assert_eq!(default, 1_623_169);
    assert_eq!(UNetConfig::mnist_fast().expected_parameter_count().unwrap(), 619_697);

    for cfg in [MlpConfig::default(), MlpConfig { dim: 3, hidden: 16, layers: 1, time_dim: 8 }] {
        let (_mlp, varmap) = Mlp::new_seeded(&cfg, &cpu(), SEED).unwrap();
        assert_eq!(parameter_count(&varmap), cfg.expected_parameter_count().unwrap(), "{cfg:?}");
    }
}

#[test]
fn trace_lists_every_stage_and_matches_forward() {
    // The oracle is the U-Net's wiring (Ho et al. 2020, Appendix B): every up-path block takes h
    // concatenated with the feature map one down-path stage kept, last kept first, so its input
    // channels are h's channels plus that stage's; the output has the input's shape.
    let mut rng = seeded(SEED);
    for cfg in [three_levels(), conditional()] {
        let (model, _varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
        let (x, t, class) = batch(&cfg, 2, &mut rng);
        let (out, shapes) = model.trace(&x, &t, class.as_ref()).unwrap();
        assert_eq!(values(&out), values(&model.forward(&x, &t, class.as_ref(), false).unwrap()));
        assert_eq!(shapes[0], ("time_embed".to_string(), vec![2, cfg.emb_dim()]));
        assert_eq!(shapes.last().unwrap(), &("conv_out".to_string(), x.dims().to_vec()));
        let shape_of = |name: &str| shapes.iter().find(|(n, _)| n.trim_end_matches("+attn") == name).unwrap().1.clone();
        let (levels, blocks) = (cfg.levels(), cfg.blocks_per_level);
        let mut skips = 0;
        for (i, (name, shape)) in shapes.iter().enumerate() {
            if let Some((_, from)) = name.split_once(" <- ") {
                let (h, skip) = (&shapes[i - 1].1, shape_of(from));
                assert_eq!(shape[1], h[1] + skip[1], "{name}: channels of h {h:?} + skip {skip:?}");
                assert_eq!((shape[2], shape[3]), (skip[2], skip[3]), "{name}");
                skips += 1;
            }
        }
        // conv_in, every down block, every downsample: each kept once, each used once.
        assert_eq!(skips, 1 + levels * blocks + (levels - 1));
        assert_eq!(
            shapes.iter().filter(|(n, _)| n.ends_with("+attn")).count() > 0,
            !cfg.attention_resolutions.is_empty()
        );
        let smallest = cfg.image_size >> (levels - 1);
        assert_eq!(shape_of("mid.res2"), vec![2, *cfg.level_channels().last().unwrap(), smallest, smallest]);
    }
}

#[test]
fn variables_by_name_and_counts_by_prefix() {
    let cfg = UNetConfig::default();
    let (_model, varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
    // The time MLP's first layer maps the sinusoid (base_channels) to 4 base_channels.
    let w = ddpm::nn::variable(&varmap, "time_embed.lin1.weight").unwrap();
    assert_eq!(w.dims(), &[cfg.emb_dim(), cfg.base_channels]);
    let held = varmap.data().lock().unwrap()["time_embed.lin1.weight"].as_tensor().clone();
    assert_eq!(values(&w), values(&held));
    // The last layer starts at zero (E18).
    assert!(values(&ddpm::nn::variable(&varmap, "conv_out.weight").unwrap()).iter().all(|&v| v == 0.0));
    let message = ddpm::nn::variable(&varmap, "conv_out.wieght").unwrap_err().to_string();
    assert!(
        message.contains("no variable named \"conv_out.wieght\"") && message.contains("\"conv_out.weight\""),
        "{message}"
    );

    let top = ddpm::nn::parameter_count_by_prefix(&varmap, 1);
    let names: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["conv_in", "conv_out", "down", "mid", "norm_out", "time_embed", "up"]);
    for depth in [0, 1, 2, 10] {
        let total: usize = ddpm::nn::parameter_count_by_prefix(&varmap, depth).iter().map(|(_, n)| n).sum();
        assert_eq!(total, 1_623_169, "depth {depth}");
    }
    // conv_in: a 3x3 convolution 1 -> 32 channels, 1*32*9 weights + 32 biases; time MLP: 32*128+128 + 128*128+128.
    assert_eq!(top[0].1, 32 * 9 + 32);
    assert_eq!(top[5].1, 32 * 128 + 128 + 128 * 128 + 128);
    let levels: Vec<String> = ddpm::nn::parameter_count_by_prefix(&varmap, 2).into_iter().map(|(n, _)| n).collect();
    assert!(levels.contains(&"down.2".to_string()) && levels.contains(&"up.0".to_string()), "{levels:?}");
}

#[test]
fn invalid_configs_give_clear_errors() {
    let d = UNetConfig::default();
    let cases: Vec<(UNetConfig, &str)> = vec![
        (UNetConfig { in_channels: 0, ..d.clone() }, "in_channels must be at least 1, got 0"),
        (UNetConfig { base_channels: 12, ..d.clone() }, "base_channels must be divisible by groups = 8, got 12"),
        (
            UNetConfig { base_channels: 7, ..d.clone() },
            "base_channels (also the width of the sinusoidal time embedding) must be even and at least 4, got 7",
        ),
        (UNetConfig { channel_mults: vec![], ..d.clone() }, "channel_mults must have at least one level"),
        (UNetConfig { channel_mults: vec![1, 0], ..d.clone() }, "got channel_mults[1] = 0"),
        (UNetConfig { channel_mults: vec![1, usize::MAX], ..d.clone() }, "base_channels * mult must be at most 65536"),
        (UNetConfig { blocks_per_level: 0, ..d.clone() }, "blocks_per_level must be at least 1, got 0"),
        (UNetConfig { groups: 0, ..d.clone() }, "groups must be at least 1, got 0"),
        (UNetConfig { dropout: 1.0, ..d.clone() }, "dropout must be in [0, 1), got 1"),
        (UNetConfig { dropout: f64::NAN, ..d.clone() }, "dropout must be in [0, 1), got NaN"),
        (UNetConfig { num_classes: Some(0), ..d.clone() }, "num_classes must be at least 1"),
        (
            UNetConfig { image_size: 30, ..d.clone() },
            "image_size must be a positive multiple of 2^(levels - 1) = 4 (channel_mults has 3 levels), got 30",
        ),
        (UNetConfig { image_size: 0, ..d.clone() }, "image_size must be a positive multiple"),
        (
            UNetConfig { attention_resolutions: vec![5], ..d.clone() },
            "attention resolution 5 is not the size of any level; the levels are [28, 14, 7]",
        ),
        (UNetConfig { heads: 0, ..d.clone() }, "heads must be at least 1, got 0"),
        (
            UNetConfig { heads: 3, ..d.clone() },
            "channels at the 7x7 level with attention (64) must be divisible by heads = 3",
        ),
    ];
    for (cfg, fragment) in cases {
        let message = cfg.validate().unwrap_err().to_string();
        assert!(message.contains(fragment), "expected {fragment:?} in {message:?}");
        assert_eq!(cfg.expected_parameter_count().unwrap_err().to_string(), message);
        let built = UNet::new(&cfg, VarBuilder::from_varmap(&VarMap::new(), DType::F32, &cpu()));
        assert_eq!(built.unwrap_err().to_string(), message);
    }
    let mlp_cases = [
        (MlpConfig { dim: 0, ..MlpConfig::default() }, "dim must be in 1..=65536, got 0"),
        (MlpConfig { layers: 0, ..MlpConfig::default() }, "layers must be in 1..=1024, got 0"),
        (MlpConfig { time_dim: 7, ..MlpConfig::default() }, "time_dim must be even and in 4..=65536, got 7"),
    ];
    for (cfg, fragment) in mlp_cases {
        let message = Mlp::new_seeded(&cfg, &cpu(), SEED).err().expect("an invalid config").to_string();
        assert!(message.contains(fragment), "expected {fragment:?} in {message:?}");
    }
}

#[test]
fn configs_round_trip_through_json() {
    for cfg in [UNetConfig::default(), conditional()] {
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<UNetConfig>(&json).unwrap(), cfg);
    }
    // adaptive_norm may be left out (it defaults to false).
    let json = r#"{"in_channels":1,"base_channels":32,"channel_mults":[1,2,2],"blocks_per_level":2,
        "attention_resolutions":[7],"groups":8,"heads":4,"dropout":0.1,"num_classes":null,"image_size":28}"#;
    assert_eq!(serde_json::from_str::<UNetConfig>(json).unwrap(), UNetConfig::default());
    let mlp = MlpConfig::default();
    assert_eq!(serde_json::from_str::<MlpConfig>(&serde_json::to_string(&mlp).unwrap()).unwrap(), mlp);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let mut rng = seeded(SEED);
    let plain = UNet::new_seeded(&tiny(), &cpu(), SEED).unwrap().0;
    let cond = UNet::new_seeded(&conditional(), &cpu(), SEED).unwrap().0;
    let (x, t, _) = batch(&tiny(), 2, &mut rng);
    let (xc, tc, _) = batch(&conditional(), 2, &mut rng);
    let labels = |v: &[u32]| Tensor::new(v, &cpu()).unwrap();
    let err = |r: ddpm::Result<Tensor>| r.unwrap_err().to_string();
    let cases = [
        (
            err(plain.forward(&xc, &t, None, false)),
            "x must have shape (B, 1, H, W) with H and W positive multiples of 2",
        ),
        (
            err(plain.forward(&randn(&mut rng, &[2, 1, 15, 15]), &t, None, false)),
            "positive multiples of 2, got [2, 1, 15, 15]",
        ),
        (
            err(plain.forward(&randn(&mut rng, &[16, 16]), &t, None, false)),
            "x must have shape (B, C, H, W), got [16, 16]",
        ),
        (
            err(plain.forward(&x, &labels(&[1, 2, 3]), None, false)),
            "t must have shape (2,), one step per batch element, got [3]",
        ),
        (err(plain.forward(&x, &t, Some(&labels(&[0, 1])), false)), "this U-Net is unconditional"),
        (
            err(cond.forward(&xc, &tc, Some(&labels(&[0, 11])), false)),
            "class labels must be in 0..=10 (10 = no class), got 11",
        ),
        (err(cond.forward(&xc, &tc, Some(&labels(&[0])), false)), "class labels must have shape (2,)"),
        (
            err(cond.forward(&xc, &tc, Some(&Tensor::new(&[0f32, 1.0], &cpu()).unwrap()), false)),
            "class labels must be integers",
        ),
    ];
    for (message, fragment) in cases {
        assert!(message.contains(fragment), "expected {fragment:?} in {message:?}");
    }
    let mlp = Mlp::new_seeded(&MlpConfig::default(), &cpu(), SEED).unwrap().0;
    let message = err(mlp.forward(&randn(&mut rng, &[2, 3]), &labels(&[1, 2])));
    assert!(message.contains("x must have shape (B, 2), got [2, 3]"), "{message}");
    let message = err(mlp.eps_theta(&randn(&mut rng, &[2, 2]), &labels(&[1, 2]), Some(&labels(&[0, 1])), false));
    assert!(message.contains("the MLP is unconditional"), "{message}");
}

#[test]
fn same_seed_same_model() {
    let mut rng = seeded(SEED);
    let cfg = conditional();
    let (a, mut map_a) = UNet::new_seeded(&cfg, &cpu(), 7).unwrap();
    let (b, mut map_b) = UNet::new_seeded(&cfg, &cpu(), 7).unwrap();
    let (_, map_c) = UNet::new_seeded(&cfg, &cpu(), 8).unwrap();
    let (va, vb, vc) = (sorted_vars(&map_a), sorted_vars(&map_b), sorted_vars(&map_c));
    let names = |v: &[(String, Var)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&va), names(&vb));
    assert_eq!(names(&va), names(&vc));
    let mut differ = 0;
    for ((name, x), ((_, y), (_, z))) in va.iter().zip(vb.iter().zip(&vc)) {
        assert_eq!(values(x.as_tensor()), values(y.as_tensor()), "{name} differs under the same seed");
        differ += usize::from(values(x.as_tensor()) != values(z.as_tensor()));
    }
    // Everything random differs under another seed; group norms (1, 0) and conv_out (0) do not.
    println!("{differ} of {} variables differ between seeds 7 and 8", va.len());
    assert!(differ > va.len() / 2, "only {differ} of {} variables differ between seeds", va.len());

    // Same weights, same dropout masks: identical outputs in training mode too.
    let w = randn(&mut rng, &[cfg.in_channels, 8, 3, 3]);
    map_a.set_one("conv_out.weight", &w).unwrap();
    map_b.set_one("conv_out.weight", &w).unwrap();
    let (x, t, class) = batch(&cfg, 2, &mut rng);
    let out_a = a.forward(&x, &t, class.as_ref(), true).unwrap();
    let out_b = b.forward(&x, &t, class.as_ref(), true).unwrap();
    assert_eq!(values(&out_a), values(&out_b));
    // ... and a second training pass draws new masks.
    assert_ne!(values(&out_a), values(&a.forward(&x, &t, class.as_ref(), true).unwrap()));
}

#[test]
fn adaptive_group_norm_scales_and_shifts() {
    // E23: AdaGN(h, y) = (1 + y_s) GroupNorm(h) + y_b. With the projection weight at 0, (y_s, y_b)
    // is the bias; with bias 0 the output is GroupNorm(h): mean 0, variance 1 in each group.
    let mut rng = seeded(SEED);
    let mut varmap = VarMap::new();
    let ada = AdaGroupNorm::new(4, 2, 3, VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
    varmap.set_one("proj.weight", Tensor::zeros((8, 3), DType::F32, &cpu()).unwrap()).unwrap();
    varmap.set_one("proj.bias", Tensor::zeros(8, DType::F32, &cpu()).unwrap()).unwrap();
    let h = randn(&mut rng, &[1, 4, 3, 3]).affine(3.0, 1.0).unwrap();
    let emb = randn(&mut rng, &[1, 3]);
    let normed = values(&ada.forward(&h, &emb).unwrap());
    for group in normed.chunks(2 * 9) {
        let mean = group.iter().map(|&v| v as f64).sum::<f64>() / 18.0;
        let var = group.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 18.0;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3, "group mean {mean}, variance {var}");
    }
    let (y_s, y_b) = ([0.5f32, -1.0, 0.0, 2.0], [1.0f32, 0.0, -3.0, 0.25]);
    let bias: Vec<f32> = y_s.iter().chain(&y_b).copied().collect();
    varmap.set_one("proj.bias", Tensor::new(bias.as_slice(), &cpu()).unwrap()).unwrap();
    let out = values(&ada.forward(&h, &emb).unwrap());
    for (i, (seen, n)) in out.iter().zip(&normed).enumerate() {
        let c = i / 9;
        let want = (1.0 + y_s[c]) * n + y_b[c];
        assert!((seen - want).abs() < 1e-5, "channel {c}: {seen} vs {want}");
    }
}

#[test]
fn attention_matches_a_from_scratch_computation() {
    // Oracle: attention written out with loops in f64 on the normalised input, per head:
    // out[c, q] = x[c, q] + sum_c' Wo[c, c'] (sum_k softmax_k(q_q . k_k / sqrt(d)) v[c', k]) + bo[c].
    let (c, heads, side) = (4, 2, 3);
    let (n, d) = (side * side, c / heads);
    let mut rng = seeded(SEED);
    let varmap = VarMap::new();
    let vb = ddpm::nn::seeded_var_builder(&varmap, SEED, &cpu());
    let attn = AttentionBlock::new(c, heads, 1, vb).unwrap();
    let x = randn(&mut rng, &[1, c, side, side]);
    let seen = values(&attn.forward(&x).unwrap());

    let get = |name: &str| -> Vec<f64> {
        let vars = varmap.data().lock().unwrap();
        values(vars[name].as_tensor()).into_iter().map(f64::from).collect()
    };
    let (wqkv, bqkv, wo, bo) = (get("qkv.weight"), get("qkv.bias"), get("proj.weight"), get("proj.bias"));
    let xs: Vec<f64> = values(&x).into_iter().map(f64::from).collect();
    // One group over all channels, weight 1, bias 0, eps 1e-5.
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    let xn: Vec<f64> = xs.iter().map(|v| (v - mean) / (var + 1e-5).sqrt()).collect();
    let qkv = |o: usize, p: usize| bqkv[o] + (0..c).map(|i| wqkv[o * c + i] * xn[i * n + p]).sum::<f64>();
    let mut mixed = vec![0.0; c * n]; // (C, HW) before the output projection
    for head in 0..heads {
        let ch = |part: usize, j: usize| part * c + head * d + j; // row of qkv for q/k/v channel j
        for q in 0..n {
            let scores: Vec<f64> = (0..n)
                .map(|k| (0..d).map(|j| qkv(ch(0, j), q) * qkv(ch(1, j), k)).sum::<f64>() / (d as f64).sqrt())
                .collect();
            let max = scores.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            for j in 0..d {
                mixed[(head * d + j) * n + q] =
                    (0..n).map(|k| (scores[k] - max).exp() / z * qkv(ch(2, j), k)).sum::<f64>();
            }
        }
    }
    for o in 0..c {
        for p in 0..n {
            let want = xs[o * n + p] + bo[o] + (0..c).map(|i| wo[o * c + i] * mixed[i * n + p]).sum::<f64>();
            let got = seen[o * n + p] as f64;
            assert!((got - want).abs() < 1e-4, "channel {o}, pixel {p}: {got} vs {want}");
        }
    }
}

#[test]
fn pointwise_conv_and_upsampling_match_candle() {
    // Oracles: candle's conv2d with the same 1x1 kernel (PyTorch's nn.Conv2d(c, o, 1)), and
    // candle's upsample_nearest2d (PyTorch's F.interpolate(x, scale_factor=2, mode="nearest")).
    let mut rng = seeded(SEED);
    let varmap = VarMap::new();
    let conv = ddpm::nn::Conv1x1::new(6, 4, ddpm::nn::seeded_var_builder(&varmap, SEED, &cpu())).unwrap();
    let x = randn(&mut rng, &[2, 6, 3, 5]);
    let (weight, bias) = {
        let vars = varmap.data().lock().unwrap();
        (vars["weight"].as_tensor().clone(), vars["bias"].as_tensor().clone())
    };
    let expected = x.conv2d(&weight, 0, 1, 1, 1).unwrap().broadcast_add(&bias.reshape((1, 4, 1, 1)).unwrap()).unwrap();
    assert!(max_abs_diff(&conv.forward(&x).unwrap(), &expected) < 1e-5);
    let up = ddpm::nn::upsample_nearest(&x).unwrap();
    assert_eq!(up.dims(), &[2, 6, 6, 10]);
    assert_eq!(values(&up), values(&x.upsample_nearest2d(6, 10).unwrap()));
}

#[test]
fn cpu_kernels_match_candle() {
    // Oracle: candle's own composite operations (candle_nn::GroupNorm, Tensor::silu, Tensor::conv2d,
    // a broadcast), which the hand-written CPU kernels replace: the same values and gradients
    // (group norm followed by SiLU also as one fused operation).
    let mut rng = seeded(SEED);
    let mut varmap = VarMap::new();
    let vb = ddpm::nn::seeded_var_builder(&varmap, SEED, &cpu());
    let gn = ddpm::nn::GroupNorm::new(3, 6, vb.pp("gn")).unwrap();
    let gn_silu = ddpm::nn::NormAct::new(3, 6, vb.pp("gn")).unwrap(); // the same weights
    let conv = ddpm::nn::Conv::new(6, 5, 3, 1, vb.pp("conv")).unwrap();
    let pointwise = ddpm::nn::Conv1x1::new(6, 3, vb.pp("pointwise")).unwrap();
    randomise(&mut varmap, "gn.weight", 1.0, &mut rng);
    randomise(&mut varmap, "gn.bias", 1.0, &mut rng);
    let var = |name: &str| varmap.data().lock().unwrap()[name].as_tensor().clone();
    let x = Var::from_tensor(&randn(&mut rng, &[2, 6, 5, 4]).affine(2.0, 0.5).unwrap()).unwrap();
    let x = x.as_tensor();

    // Forward values, then the gradients of sum(out * r) for a random upstream gradient r.
    let compare = |what: &str, ours: Tensor, theirs: Tensor, wrt: &[&Tensor]| {
        assert!(max_abs_diff(&ours, &theirs) < 1e-5, "{what}: forward differs by {}", max_abs_diff(&ours, &theirs));
        let r = randn(&mut seeded(1), ours.dims());
        let g_ours = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = (theirs * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, t) in wrt.iter().enumerate() {
            let (a, b) = (g_ours.get(t).unwrap(), g_theirs.get(t).unwrap());
            let scale = values(b).iter().fold(1f32, |m, v| m.max(v.abs()));
            assert!(max_abs_diff(a, b) < 1e-4 * scale, "{what}: gradient {i} differs by {}", max_abs_diff(a, b));
        }
    };
    let (w, b) = (var("gn.weight"), var("gn.bias"));
    let theirs = ddpm::candle_nn::GroupNorm::new(w.clone(), b.clone(), 6, 3, 1e-5).unwrap();
    compare("group norm", gn.forward(x).unwrap(), ddpm::candle_nn::Module::forward(&theirs, x).unwrap(), &[x, &w, &b]);
    let theirs_then_silu = ddpm::candle_nn::Module::forward(&theirs, x).unwrap().silu().unwrap();
    compare("group norm then silu, fused", gn_silu.forward(x).unwrap(), theirs_then_silu, &[x, &w, &b]);
    compare("silu", ddpm::nn::silu(x).unwrap(), x.silu().unwrap(), &[x]);
    let (w, b) = (var("conv.weight"), var("conv.bias"));
    let theirs = x.conv2d(&w, 1, 1, 1, 1).unwrap().broadcast_add(&b.reshape((1, 5, 1, 1)).unwrap()).unwrap();
    compare("conv", conv.forward(x).unwrap(), theirs, &[x, &w, &b]);
    let (w, b) = (var("pointwise.weight"), var("pointwise.bias"));
    let theirs = x.conv2d(&w, 0, 1, 1, 1).unwrap().broadcast_add(&b.reshape((1, 3, 1, 1)).unwrap()).unwrap();
    compare("1x1 conv", pointwise.forward(x).unwrap(), theirs, &[x, &w, &b]);
    // The attention between the block's two 1x1 convolutions (its scaled softmax included),
    // against candle's batched products and softmax: 2 images, 2 heads of 2 channels, 3x4 pixels.
    let qkv = Var::from_tensor(&randn(&mut rng, &[2, 12, 3, 4])).unwrap();
    let qkv = qkv.as_tensor();
    let stacked = qkv.reshape((2, 3, 2, 2, 12)).unwrap(); // (B, q|k|v, heads, d, pixels)
    let part = |i: usize| stacked.narrow(1, i, 1).unwrap().reshape((4, 2, 12)).unwrap();
    let scores = part(0).transpose(1, 2).unwrap().contiguous().unwrap().matmul(&part(1)).unwrap();
    let p =
        ddpm::candle_nn::ops::softmax(&(scores * (1.0 / 2f64.sqrt())).unwrap(), ddpm::candle_core::D::Minus1).unwrap();
    let theirs = part(2).matmul(&p.transpose(1, 2).unwrap().contiguous().unwrap()).unwrap();
    compare("attention", ddpm::nn::cpu::attend(qkv, 2).unwrap(), theirs.reshape((2, 4, 3, 4)).unwrap(), &[qkv]);
    let err = ddpm::nn::cpu::attend(qkv, 3).unwrap_err().to_string();
    assert!(err.contains("3 heads") && err.contains("[2, 12, 3, 4]"), "{err}");
    let err = ddpm::nn::cpu::attend(&qkv.to_dtype(DType::F64).unwrap(), 2).unwrap_err().to_string();
    assert!(err.contains("f32") && err.contains("F64"), "{err}");
    // Up-sampling: each pixel repeated by a broadcast, whose gradient candle sums.
    let theirs = x.reshape((2, 6, 5, 1, 4, 1)).unwrap().broadcast_as((2, 6, 5, 2, 4, 2)).unwrap();
    compare("upsample", ddpm::nn::upsample_nearest(x).unwrap(), theirs.reshape((2, 6, 10, 8)).unwrap(), &[x]);
}

#[test]
fn portable_path_matches_the_cpu_kernels() {
    // The same weights in f64: group norm, SiLU and convolution then take candle's own operations
    // (the path used on a GPU) instead of the f32 CPU kernels; the outputs must agree.
    let mut rng = seeded(SEED);
    let cfg = conditional();
    let (model, mut varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
    randomise(&mut varmap, "conv_out.weight", 0.1, &mut rng);
    let tensors = sorted_vars(&varmap)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().to_dtype(DType::F64).unwrap()))
        .collect();
    let model64 = UNet::new(&cfg, VarBuilder::from_tensors(tensors, DType::F64, &cpu())).unwrap();
    let (x, t, class) = batch(&cfg, 3, &mut rng);
    let out = model.forward(&x, &t, class.as_ref(), false).unwrap();
    let out64 = model64.forward(&x.to_dtype(DType::F64).unwrap(), &t, class.as_ref(), false).unwrap();
    let diff = max_abs_diff(&out, &out64.to_dtype(DType::F32).unwrap());
    assert!(diff < 1e-4, "f32 kernels and f64 candle operations differ by {diff}");
}

/// Forward and backward time of the default U-Net at batch 64 (prints only; run with
/// `cargo test --release --test nn -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing_default_unet_batch_64() {
    let mut rng = seeded(SEED);
    let cfg = UNetConfig::default();
    let (model, mut varmap) = UNet::new_seeded(&cfg, &cpu(), SEED).unwrap();
    randomise(&mut varmap, "conv_out.weight", 0.1, &mut rng);
    let (x, t, _) = batch(&cfg, 64, &mut rng);
    model.forward(&x, &t, None, false).unwrap(); // warm-up
    let ms = |start: std::time::Instant| start.elapsed().as_secs_f64() * 1e3;
    for _ in 0..2 {
        let start = std::time::Instant::now();
        model.forward(&x, &t, None, false).unwrap();
        let forward = ms(start);
        let start = std::time::Instant::now();
        let out = model.forward(&x, &t, None, true).unwrap();
        let loss = (out - &x).unwrap().sqr().unwrap().mean_all().unwrap();
        let train_forward = ms(start);
        let start = std::time::Instant::now();
        loss.backward().unwrap();
        let backward = ms(start);
        println!(
            "default U-Net ({} parameters), batch 64, 28x28: forward {forward:.0} ms; training forward {train_forward:.0} ms + backward {backward:.0} ms",
            parameter_count(&varmap),
        );
    }
}
