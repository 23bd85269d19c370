//! Convolution benchmarks (`cargo bench --bench conv`): every 3x3 convolution shape of the
//! default U-Net at batch 64 and of `mnist_fast` at batch 32 (as `ddpm train --data mnist`
//! trains), on the CPU: candle's built-in `conv2d` against this crate's im2col convolution
//! (src/nn/cpu/conv_op.rs), forward alone and forward + backward (input and kernel gradients of
//! sum(y r)), milliseconds, median of 3 after a warm-up.
//!
//! The shapes are read off the network's variables: (out, in, 3, 3) weights, at the resolution
//! of their level (`down.{l}`, `up.{l}`: image_size / 2^l; an `up.{l}.upsample` convolution
//! runs after the up-sampling, at image_size / 2^(l-1); `mid` at the lowest level), stride 2
//! for `downsample`.

mod common;

use std::collections::BTreeMap;

use candle_core::{Device, Tensor, Var};
use common::{median_time, ms};
use ddpm::nn::cpu::conv2d_im2col;
use ddpm::nn::{UNet, UNetConfig};
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;

/// The `ddpm` binary's allocator: mimalloc, keeping the memory it frees.
#[path = "../src/bin/ddpm/alloc.rs"]
mod alloc;

/// (in channels, out channels, input size, stride) of every 3x3 convolution, with its count.
fn conv_shapes(config: &UNetConfig) -> BTreeMap<(usize, usize, usize, usize), usize> {
    let (_, varmap) = UNet::new_seeded(config, &Device::Cpu, 0).expect("valid config");
    let lowest = config.channel_mults.len() - 1;
    let mut shapes = BTreeMap::new();
    for (name, var) in varmap.data().lock().expect("varmap").iter() {
        let dims = var.dims();
        if !name.ends_with(".weight") || dims.len() != 4 || dims[2] != 3 {
            continue;
        }
        let parts: Vec<&str> = name.split('.').collect();
        let mut level = match parts[0] {
            "down" | "up" => parts[1].parse::<usize>().expect("a level number"),
            "mid" => lowest,
            _ => 0, // conv_in, conv_out
        };
        if parts[0] == "up" && parts[2] == "upsample" {
            level -= 1;
        }
        let stride = if parts.get(2) == Some(&"downsample") { 2 } else { 1 };
        *shapes.entry((dims[1], dims[0], config.image_size >> level, stride)).or_insert(0) += 1;
    }
    shapes
}

/// Milliseconds of (forward, forward + backward) of `conv` on x (batch, c_in, size, size).
fn time(
    shape: (usize, usize, usize, usize),
    batch: usize,
    conv: impl Fn(&Tensor, &Tensor, usize) -> Tensor,
) -> (f64, f64) {
    let (c_in, c_out, size, stride) = shape;
    let (mut rng, dev) = (seeded(0), Device::Cpu);
    let x = Var::from_tensor(&normal_tensor(&mut rng, &[batch, c_in, size, size], &dev).expect("x")).expect("var");
    let w = Var::from_tensor(&(normal_tensor(&mut rng, &[c_out, c_in, 3, 3], &dev).expect("w") * 0.1).expect("w"))
        .expect("var");
    let r = normal_tensor(&mut rng, conv(&x, &w, stride).dims(), &dev).expect("r");
    let forward = median_time(3, || {
        std::hint::black_box(conv(&x, &w, stride));
    });
    let both = median_time(3, || {
        let loss = (conv(&x, &w, stride) * &r).expect("mul").sum_all().expect("sum");
        std::hint::black_box(loss.backward().expect("backward"));
    });
    (ms(forward), ms(both))
}

fn bench(name: &str, config: &UNetConfig, batch: usize) {
    println!("\n{name}, batch {batch}: ms (candle's conv2d / ours = speed-up)");
    println!(
        "{:>4} {:>4} {:>4} {:>2} {:>3}  {:>24}  {:>24}",
        "in", "out", "size", "s", "n", "forward", "forward + backward"
    );
    let candle = |x: &Tensor, w: &Tensor, stride: usize| x.conv2d(w, 1, stride, 1, 1).expect("conv2d");
    let ours = |x: &Tensor, w: &Tensor, stride: usize| conv2d_im2col(x, w, None, stride, 1).expect("conv2d_im2col");
    let mut total = [0.0; 4];
    for (&shape, &count) in &conv_shapes(config) {
        let ((cf, cb), (of, ob)) = (time(shape, batch, candle), time(shape, batch, ours));
        for (t, v) in total.iter_mut().zip([cf, cb, of, ob]) {
            *t += count as f64 * v;
        }
        let (c_in, c_out, size, stride) = shape;
        println!(
            "{c_in:>4} {c_out:>4} {size:>4} {stride:>2} {count:>3}  {cf:>7.1} / {of:>6.1} = {:>5.2}x  {cb:>7.1} / {ob:>6.1} = {:>5.2}x",
            cf / of,
            cb / ob
        );
    }
    let [cf, cb, of, ob] = total;
    println!(
        "all 3x3 convolutions, weighted by count: forward {cf:.0} / {of:.0} ms = {:.2}x, forward + backward {cb:.0} / {ob:.0} ms = {:.2}x",
        cf / of,
        cb / ob
    );
}

fn main() {
    alloc::keep_freed_memory();
    bench("default U-Net", &UNetConfig::default(), 64);
    bench("mnist_fast", &UNetConfig::mnist_fast(), 32);
}
