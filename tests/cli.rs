//! The command line, run as a user would: output formats, files written, errors without panics.

use std::process::{Command, Output};

fn ddpm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddpm")).args(args).output().expect("the ddpm binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn schedule_csv_has_the_documented_columns_and_round_trips() {
    let o = ddpm(&["schedule", "--kind", "linear", "--steps", "1000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t,beta,alpha,alpha_bar,sqrt_alpha_bar,sqrt_one_minus_alpha_bar,beta_tilde,mu_tilde_coef_x0,mu_tilde_coef_xt,snr"
    );
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 1000);
    let s = ddpm::NoiseSchedule::linear(1000).unwrap();
    for row in &rows {
        assert_eq!(
            row.as_slice(),
            s.row(row[0] as usize).unwrap().as_slice(),
            "every number parses back to the same f64"
        );
    }
    // alpha_bar_1000 = 4.0358e-5 (4 significant digits; Ho et al.'s schedule, numpy cumprod).
    assert_eq!(format!("{:.4e}", rows[999][3]), "4.0358e-5");
}

#[test]
fn schedule_json_and_cosine_last_beta() {
    let o = ddpm(&["schedule", "--kind", "cosine", "--steps", "1000", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.len(), 1000);
    assert_eq!(rows[999]["t"], 1000);
    assert_eq!(rows[999]["beta"].as_f64().unwrap(), 0.999);
    let s = ddpm::NoiseSchedule::cosine(1000).unwrap();
    assert_eq!(rows[499]["alpha_bar"].as_f64().unwrap(), s.alpha_bar(500));
}

#[test]
fn custom_betas_on_the_command_line() {
    let o = ddpm(&["schedule", "--kind", "quadratic", "--steps", "10", "--beta-start", "0.001", "--beta-end", "0.1"]);
    assert!(o.status.success());
    let text = stdout(&o);
    let first: Vec<f64> = text.lines().nth(1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    let last: Vec<f64> = text.lines().last().unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    // sqrt then square: equal to 1e-3 and 0.1 up to rounding.
    assert!((first[1] - 0.001).abs() < 1e-17 && (last[1] - 0.1).abs() < 1e-16, "{first:?} {last:?}");
}

#[test]
fn invalid_parameters_are_clear_errors_without_panics() {
    for (args, message) in [
        (vec!["schedule", "--steps", "0"], "steps (T) must be in 1..=1000000, got 0"),
        (vec!["schedule", "--beta-end", "1.5"], "beta_end must be in (0, 1), got 1.5"),
        (vec!["schedule", "--beta-start", "0.1", "--beta-end", "0.01"], "beta_start must be <= beta_end"),
        (vec!["schedule", "--beta-start", "NaN"], "beta_start must be in (0, 1), got NaN"),
        (vec!["schedule", "--kind", "cosine", "--beta-end", "0.1"], "no beta_start or beta_end"),
        (
            vec!["schedule", "--kind", "exponential"],
            "invalid value 'exponential' for '--kind <KIND>'\n  [possible values: linear, cosine, quadratic, sigmoid]",
        ),
        (
            vec!["train", "--data", "toy-ring", "--ema-decay", "1.5", "--out", "target/never-written"],
            "ema_decay must be in [0, 1], got 1.5",
        ),
        (
            vec!["train", "--data", "toy-ring", "--lr-decay", "linear", "--out", "target/never-written"],
            "invalid value 'linear' for '--lr-decay <LR_DECAY>'\n  [possible values: constant, cosine]",
        ),
        (
            vec!["train", "--data", "toy-ring", "--loss-weighting", "p2", "--out", "target/never-written"],
            "unknown loss weighting \"p2\"; allowed: uniform, min-snr (gamma 5), min-snr-G (gamma G > 0)",
        ),
        (
            vec!["train", "--data", "toy-ring", "--loss-weighting", "min-snr--1", "--out", "target/never-written"],
            "the Min-SNR gamma must be a finite number > 0, got -1",
        ),
    ] {
        let o = ddpm(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn failures_while_running_exit_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let inside_a_file = dir.path().join("file");
    std::fs::write(&inside_a_file, "not a folder").unwrap();
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/china.jpg");
    let unwritable = inside_a_file.join("strip.png");
    for (args, message) in [
        (vec!["forward", "--image", "no/such/photo.jpg", "--out", "x.png"], "no/such/photo.jpg"),
        (vec!["forward", "--image", "Cargo.toml", "--out", "x.png"], "could not read as an image"),
        (
            vec!["forward", "--image", photo, "--at", "0", "--height", "8", "--out", unwritable.to_str().unwrap()],
            "file",
        ),
        (vec!["sample", "--run", dir.path().join("no-run").to_str().unwrap()], "no-run"),
    ] {
        let o = ddpm(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn values_outside_a_flags_set_are_usage_errors_that_list_the_allowed_ones() {
    for (args, allowed) in [
        (vec!["forward", "--image", "x.jpg", "--kind", "linear,cubic"], "linear, cosine, quadratic, sigmoid"),
        (vec!["train", "--data", "toy-ring", "--target", "mean"], "eps, x0, v"),
        (vec!["train", "--data", "toy-ring", "--schedule", "exp"], "linear, cosine, quadratic, sigmoid"),
        (vec!["sample", "--run", "r", "--sigma", "zero"], "beta, beta-tilde"),
        (vec!["eval", "--run", "r", "--sampler", "euler"], "ddpm, ddim"),
        (vec!["eval", "--run", "r", "--device", "tpu"], "auto, cpu, cuda, metal"),
        (vec!["inpaint", "--run", "r", "--mask", "top"], "bottom-half, left-half, center, random"),
    ] {
        let o = ddpm(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(&format!("[possible values: {allowed}]")), "{args:?}: {err}");
    }
    // --help lists them too.
    let help = stdout(&ddpm(&["train", "--help"]));
    assert!(help.contains("toy-swiss-roll") && help.contains("Possible values"), "{help}");
}

#[test]
fn forward_writes_the_figure_1_strip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("strip.png");
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/china.jpg");
    let o =
        ddpm(&["forward", "--image", photo, "--at", "0,500,1000", "--height", "48", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&out).unwrap();
    assert!(img.height() > 2 * 48, "two rows of 48 px plus captions");
    let o = ddpm(&["forward", "--image", photo, "--at", "0,1001", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a step out of range is a usage error");
    assert!(stderr(&o).contains("t must be in 0..=1000, got 1001"));
}

#[test]
fn plot_schedules_writes_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let o = ddpm(&["plot", "schedules", "--out", dir.path().to_str().unwrap(), "--steps", "200"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["alpha_bar", "sqrt_alpha_bar", "beta", "log_snr"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains("cosine") && svg.contains("linear"), "{name}.svg has a legend");
        assert!(image::open(dir.path().join(format!("{name}.png"))).is_ok());
    }
}

#[test]
fn verify_passes_and_says_so() {
    let o = ddpm(&["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).trim_end().ends_with("0 failed, 2 skipped"));
    let o = ddpm(&["verify", "--only", "E6"]);
    assert!(stdout(&o).lines().filter(|l| l.starts_with("E6")).count() == 5);
}

#[test]
fn help_explains_the_commands() {
    let text = stdout(&ddpm(&["--help"]));
    for word in ["schedule", "plot", "forward", "train", "sample", "eval", "verify"] {
        assert!(text.contains(word), "{text}");
    }
    // The description above the list names what train, sample and eval do, and the exit codes.
    let long = text.split("Commands:").next().unwrap();
    for words in ["train a", "draw samples", "evaluate", "Exit status"] {
        assert!(long.contains(words), "{long}");
    }
    // No help text quotes a measured figure.
    for command in ["train", "sample", "eval"] {
        let text = stdout(&ddpm(&[command, "--help"]));
        assert!(!text.contains('%') && !text.contains("steps/s"), "{command}: {text}");
    }
}

/// Reads a float32 .npy file written by `ddpm sample --npy`: (shape, values).
fn read_npy_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    assert_eq!((10 + header_len) % 64, 0, "numpy aligns the data to 64 bytes");
    let inside = &header[header.find("'shape': (").unwrap() + 10..header.find(')').unwrap()];
    let shape: Vec<usize> =
        inside.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let values = bytes[10 + header_len..].chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, values)
}

#[test]
fn train_then_sample_a_toy_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("ring");
    let run_s = run.to_str().unwrap();
    let o = ddpm(&[
        "train",
        "--data",
        "toy-ring",
        "--steps",
        "30",
        "--batch",
        "32",
        "--ema-decay",
        "0.9",
        "--lr-decay",
        "cosine",
        "--out",
        run_s,
        "--log-every",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("step 30/30") && text.contains("done: steps 1..=30"), "{text}");
    let saved = std::fs::read_to_string(run.join("checkpoint.json")).unwrap();
    assert!(text.contains("EMA 0.9,") && saved.contains("\"ema_decay\": 0.9"), "{text}\n{saved}");
    assert!(text.contains("(cosine decay to step 30)") && saved.contains("\"lr_decay_end\": 30"), "{text}\n{saved}");
    // Again without --resume: refused, the run is kept.
    let o = ddpm(&["train", "--data", "toy-ring", "--steps", "30", "--out", run_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already holds a checkpoint (step 30): pass --resume"), "{}", stderr(&o));
    // --resume with more steps: past the end of the cosine decay it is refused, with the way
    // out; moving the end with --lr-decay cosine continues the count.
    let o = ddpm(&["train", "--data", "toy-ring", "--steps", "40", "--out", run_s, "--resume"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("steps (40) go past lr_decay_end (30)"), "{}", stderr(&o));
    // The loss weighting, like the target, belongs to the run.
    let o = ddpm(&["train", "--data", "toy-ring", "--out", run_s, "--resume", "--loss-weighting", "min-snr"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--loss-weighting"), "{}", stderr(&o));
    let o = ddpm(&["train", "--data", "toy-ring", "--steps", "40", "--out", run_s, "--resume", "--lr-decay", "cosine"]);
    assert!(o.status.success() && stdout(&o).contains("done: steps 31..=40"), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("(cosine decay to step 40)"), "{}", stdout(&o));
    // The flags that define the run may be repeated with the run's own values; a change is
    // refused, naming the flag, the run's value and the one given.
    let same = ["--seed", "0", "--schedule", "linear", "--target", "eps", "--loss-weighting", "uniform"];
    let o =
        ddpm(&[&["train", "--data", "toy-ring", "--out", run_s, "--resume", "--seed", "1"][..], &same[2..]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--seed 1 (the run's: 0)"), "{}", stderr(&o));
    let o = ddpm(&["train", "--data", "toy-ring", "--out", run_s, "--resume", "--schedule", "cosine"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--schedule cosine (the run's: linear)"), "{}", stderr(&o));
    let o = ddpm(
        &[
            &["train", "--data", "toy-ring", "--steps", "42", "--out", run_s, "--resume", "--lr-decay", "cosine"][..],
            &same,
        ]
        .concat(),
    );
    assert!(o.status.success() && stdout(&o).contains("done: steps 41..=42"), "{}{}", stdout(&o), stderr(&o));

    let png = dir.path().join("s.png");
    let npy = dir.path().join("s.npy");
    let o = ddpm(&[
        "sample",
        "--run",
        run_s,
        "--n",
        "50",
        "--sampler",
        "ddim",
        "--ddim-steps",
        "20",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(image::open(&png).is_ok());
    let (shape, values) = read_npy_f32(&npy);
    assert_eq!(shape, vec![50, 2]);
    assert_eq!(values.len(), 100);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn sample_and_eval_refuse_bad_requests_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("ring");
    let run_s = run.to_str().unwrap();
    let o = ddpm(&["train", "--data", "toy-ring", "--steps", "2", "--out", run_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: [(&[&str], &str); 13] = [
        (
            &["sample", "--run", run_s, "--classifier-guidance", "g", "--class", "3"],
            "--classifier-guidance steers an unconditional image run",
        ),
        (&["inpaint", "--run", run_s], "ddpm inpaint needs an unconditional image run"),
        (&["sample", "--run", run_s, "--device", "cpu", "--dtype", "bf16"], "dtype bf16 asked for on the CPU"),
        (
            &["eval", "--run", run_s, "--dtype", "f16"],
            "invalid value 'f16' for '--dtype <DTYPE>'\n  [possible values: f32, bf16]",
        ),
        (&["sample", "--run", run_s, "--sampler", "euler"], "[possible values: ddpm, ddim]"),
        (&["sample", "--run", run_s, "--class", "3"], "--class needs a class-conditional run"),
        (&["sample", "--run", run_s, "--sampler", "ddim", "--ddim-steps", "5000"], "DDIM steps must be in 1..=1000"),
        (&["sample", "--run", run_s, "--sampler", "ddim", "--ddim-steps", "0"], "DDIM steps must be in 1..=1000"),
        (&["sample", "--run", run_s, "--ddim-steps", "10"], "--ddim-steps is for --sampler ddim"),
        (&["sample", "--run", run_s, "--trajectory", "t.png", "--n", "2"], "--trajectory draws images"),
        (&["sample", "--run", run_s, "--gif", "a.png", "--n", "2"], "--animation draws images"),
        (&["eval", "--run", run_s], "ddpm eval judges MNIST runs"),
        (&["train", "--data", "cifar"], "[possible values: mnist, toy-ring, toy-moons, toy-swiss-roll]"),
    ];
    for (args, expected) in cases {
        let o = ddpm(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let missing = dir.path().join("no-run");
    let o = ddpm(&["sample", "--run", missing.to_str().unwrap()]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("no-run"), "a missing run is a failure: {}", stderr(&o));
}

#[test]
fn asking_for_a_gpu_the_build_lacks_says_how_to_rebuild() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = ddpm(&["train", "--data", "toy-ring", "--device", "cuda", "--out", dir.path().join("r").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rebuild with `--features cuda`"), "{}", stderr(&o));
    let o = ddpm(&["train", "--data", "toy-ring", "--device", "tpu"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[possible values: auto, cpu, cuda, metal]"), "{}", stderr(&o));
}

#[test]
fn eval_reports_the_frechet_distance_in_its_features_and_the_judges_each_with_yardsticks() {
    let run = ddpm::data::Pretrained::Mnist.dir().unwrap();
    let features = ddpm::data::Pretrained::Features.dir().unwrap();
    let o = ddpm(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--features",
        features.to_str().unwrap(),
        "--n",
        "20",
        "--bpd-images",
        "1",
        "--bpd-strata",
        "1",
        "--ddim-steps",
        "2",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The new figure first, then the judge's, labelled, each followed by its yardsticks at the
    // samples' number.
    let new = text.find("Fréchet distance to the test set in the feature network's features:").expect(&text);
    let judge = text.find("Fréchet distance to the test set in the classifier's features:").expect(&text);
    assert!(new < judge, "{text}");
    let sticks: Vec<&str> = text.lines().filter(|l| l.contains("yardsticks, 20 images each:")).collect();
    assert_eq!(sticks.len(), 2, "{text}");
    for line in sticks {
        for what in ["real training images", "blurred test images", "uniform noise", "one class only (digit 0)"] {
            assert!(line.contains(what), "{line}");
        }
    }
}
