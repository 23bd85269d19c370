//! The CPU convolution behind `ddpm::nn::Conv` (src/nn/cpu/conv_op.rs): forward output and the
//! gradients of input, kernel and bias against candle's own `conv2d` (f32, 1e-4 relative), against
//! a convolution written as plain loops (f64), and against finite differences of that reference
//! (f64); a property test over shapes, kernels, strides and paddings.
//!
//! Relative error here is max |ours - theirs| / max |theirs| over a tensor.

use ddpm::candle_core::{DType, Device, Tensor, Var};
use ddpm::candle_nn::VarMap;
use ddpm::nn::cpu::conv2d_im2col;
use ddpm::nn::{seeded_var_builder, Conv};
use ddpm::rng::{normal_vec, seeded};
use proptest::prelude::*;

/// One convolution: input (b, c, h, w), `o` output channels, a k x k kernel, stride and padding.
#[derive(Debug, Clone, Copy)]
struct Case {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

impl Case {
    /// Padding k / 2, as `Conv` uses.
    fn same(b: usize, c: usize, h: usize, w: usize, o: usize, k: usize, stride: usize) -> Self {
        Self { b, c, h, w, o, k, stride, padding: k / 2 }
    }

    fn out(&self, len: usize) -> usize {
        (len + 2 * self.padding - self.k) / self.stride + 1
    }

    /// Whether candle 0.11.1's own gradient applies: its conv2d backward takes the output padding
    /// of `conv_transpose2d` from the height alone, so it fails when height and width leave
    /// different remainders under the stride.
    fn candle_backward_works(&self) -> bool {
        let rem = |len: usize| (len + 2 * self.padding - self.k) % self.stride;
        rem(self.h) == rem(self.w)
    }
}

/// Seeded N(0, 1) draws.
fn randn(seed: u64, shape: &[usize], dtype: DType) -> Tensor {
    let v = normal_vec(&mut seeded(seed), shape.iter().product());
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn rel_err(ours: &[f64], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let diff = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let scale = theirs.iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// y = conv(x, kernel) + bias for seeded x, kernel and bias, and the gradients of sum(y r), r
/// seeded too: (y, [dx, dkernel, dbias]), or None for the gradients when `grads` is false.
fn run(case: Case, dtype: DType, ours: bool, grads: bool) -> (Vec<f64>, Option<[Vec<f64>; 3]>) {
    let x = Var::from_tensor(&randn(1, &[case.b, case.c, case.h, case.w], dtype)).unwrap();
    let kernel = Var::from_tensor(&randn(2, &[case.o, case.c, case.k, case.k], dtype)).unwrap();
    let bias = Var::from_tensor(&randn(3, &[case.o], dtype)).unwrap();
    let y = if ours {
        conv2d_im2col(&x, &kernel, Some(&bias), case.stride, case.padding).unwrap()
    } else {
        let y = x.conv2d(&kernel, case.padding, case.stride, 1, 1).unwrap();
        y.broadcast_add(&bias.reshape((1, case.o, 1, 1)).unwrap()).unwrap()
    };
    assert_eq!(y.dims(), &[case.b, case.o, case.out(case.h), case.out(case.w)]);
    if !grads {
        return (values(&y), None);
    }
    let r = randn(4, y.dims(), dtype);
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let grad = |v: &Var| values(g.get(v.as_tensor()).expect("a gradient"));
    (values(&y), Some([grad(&x), grad(&kernel), grad(&bias)]))
}

/// Ours against candle's conv2d in f32: the forward output always, the gradients where candle's
/// backward works.
fn compare_with_candle(case: Case) -> Result<(), String> {
    let grads = case.candle_backward_works();
    let ((y, g), (y_ref, g_ref)) = (run(case, DType::F32, true, grads), run(case, DType::F32, false, grads));
    let err = rel_err(&y, &y_ref);
    if err > 1e-4 {
        return Err(format!("{case:?}: forward differs from candle's by {err:e} (relative)"));
    }
    if let (Some(g), Some(g_ref)) = (g, g_ref) {
        for (name, a, b) in [("input", &g[0], &g_ref[0]), ("kernel", &g[1], &g_ref[1]), ("bias", &g[2], &g_ref[2])] {
            let err = rel_err(a, b);
            if err > 1e-4 {
                return Err(format!("{case:?}: {name} gradient differs from candle's by {err:e} (relative)"));
            }
        }
    }
    Ok(())
}

/// The convolution as plain loops in f64, with x, kernel and bias as `run` draws them.
fn reference(case: Case, x: &[f64], kernel: &[f64], bias: &[f64]) -> Vec<f64> {
    let (ho, wo) = (case.out(case.h), case.out(case.w));
    let mut y = vec![0.0; case.b * case.o * ho * wo];
    for b in 0..case.b {
        for o in 0..case.o {
            for i in 0..ho {
                for j in 0..wo {
                    let mut sum = bias[o];
                    for c in 0..case.c {
                        for u in 0..case.k {
                            for v in 0..case.k {
                                let yy = (case.stride * i + u) as isize - case.padding as isize;
                                let xx = (case.stride * j + v) as isize - case.padding as isize;
                                if yy < 0 || xx < 0 || yy >= case.h as isize || xx >= case.w as isize {
                                    continue;
                                }
                                let xi = ((b * case.c + c) * case.h + yy as usize) * case.w + xx as usize;
                                sum += kernel[((o * case.c + c) * case.k + u) * case.k + v] * x[xi];
                            }
                        }
                    }
                    y[((b * case.o + o) * ho + i) * wo + j] = sum;
                }
            }
        }
    }
    y
}

/// The inputs `run` draws, as f64 values: x, kernel, bias, r.
fn inputs(case: Case) -> [Vec<f64>; 4] {
    let (ho, wo) = (case.out(case.h), case.out(case.w));
    [
        values(&randn(1, &[case.b, case.c, case.h, case.w], DType::F64)),
        values(&randn(2, &[case.o, case.c, case.k, case.k], DType::F64)),
        values(&randn(3, &[case.o], DType::F64)),
        values(&randn(4, &[case.b, case.o, ho, wo], DType::F64)),
    ]
}

/// Ours in f64 against the loops: the forward output, to 1e-12 relative.
fn compare_with_loops(case: Case) -> Result<(), String> {
    let [x, kernel, bias, _] = inputs(case);
    let err = rel_err(&run(case, DType::F64, true, false).0, &reference(case, &x, &kernel, &bias));
    if err > 1e-12 {
        return Err(format!("{case:?}: f64 forward differs from the loops by {err:e} (relative)"));
    }
    Ok(())
}

#[test]
fn forward_and_gradients_match_candle() {
    let cases = [
        // The default U-Net's shapes (batch 2): conv_in, a level-1 and a level-2 block, the downsamples.
        Case::same(2, 1, 28, 28, 32, 3, 1),
        Case::same(2, 32, 28, 28, 32, 3, 1),
        Case::same(2, 32, 28, 28, 32, 3, 2),
        Case::same(2, 64, 14, 14, 64, 3, 1),
        Case::same(2, 64, 14, 14, 64, 3, 2),
        Case::same(2, 64, 7, 7, 64, 3, 1),
        // Odd and even sizes, kernels 1, 3 and 5, strides 1 and 2.
        Case::same(3, 3, 7, 7, 4, 3, 2),
        Case::same(3, 3, 8, 6, 4, 3, 2),
        Case::same(3, 3, 7, 8, 4, 3, 2), // candle's own gradient fails here: forward only
        Case::same(2, 5, 6, 5, 3, 1, 1),
        Case::same(2, 5, 6, 4, 3, 1, 2),
        Case::same(2, 2, 9, 8, 3, 5, 1),
        Case::same(2, 2, 9, 9, 3, 5, 2),
        Case::same(1, 4, 1, 1, 2, 3, 2),
        Case::same(1, 1, 1, 1, 1, 5, 1), // kernel wider than the image (found by the property test)
        Case::same(2, 2, 2, 1, 2, 5, 1),
        Case { b: 2, c: 3, h: 6, w: 6, o: 2, k: 3, stride: 2, padding: 0 },
        // Batches past the 16 groups the kernel gradient is summed over, one left over.
        Case::same(19, 2, 5, 5, 3, 3, 1),
        Case::same(33, 3, 6, 6, 2, 3, 2),
    ];
    for case in cases {
        compare_with_candle(case).unwrap();
        compare_with_loops(case).unwrap();
    }
}

#[test]
fn an_input_without_gradient_still_gives_the_kernel_gradient() {
    // The network's input x_t needs no gradient: the backward pass then skips dL/dx, and dL/dK
    // is the same as when x is a variable.
    let case = Case::same(5, 3, 9, 9, 4, 3, 1);
    let (_, with_x) = run(case, DType::F32, true, true);
    let x = randn(1, &[case.b, case.c, case.h, case.w], DType::F32);
    let kernel = Var::from_tensor(&randn(2, &[case.o, case.c, case.k, case.k], DType::F32)).unwrap();
    let y = conv2d_im2col(&x, &kernel, None, case.stride, case.padding).unwrap();
    let g = (&y * &randn(4, y.dims(), DType::F32)).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none(), "a gradient for an input that needs none");
    assert_eq!(values(g.get(kernel.as_tensor()).unwrap()), with_x.unwrap()[1]);
}

#[test]
fn same_numbers_whatever_the_number_of_threads() {
    // The kernel gradient is summed over a fixed partition of the batch, so one thread and three
    // give bit-identical outputs and gradients.
    let case = Case::same(21, 4, 8, 8, 5, 3, 1);
    let in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run(case, DType::F32, true, true))
    };
    let (one, three) = (in_pool(1), in_pool(3));
    assert_eq!(one.0, three.0);
    assert_eq!(one.1, three.1);
}

#[test]
fn what_one_convolution_leaves_in_scratch_memory_never_reaches_the_next() {
    // The column matrices live in each thread's scratch memory, reused from call to call without
    // being cleared: a convolution whose values are all NaN, forward and backward, must leave
    // nothing that the next one reads (its padding included), on a pool of one thread so that
    // the second runs on the very buffer the first filled.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let after = |poison: bool| {
        pool.install(|| {
            if poison {
                let nan =
                    |shape: &[usize]| Var::from_tensor(&(randn(1, shape, DType::F32) * f64::NAN).unwrap()).unwrap();
                let (x, kernel) = (nan(&[2, 6, 12, 12]), nan(&[6, 6, 3, 3]));
                let y = conv2d_im2col(&x, &kernel, None, 1, 1).unwrap();
                let g = (&y * &y).unwrap().sum_all().unwrap().backward().unwrap();
                assert!(values(g.get(&x).unwrap()).iter().all(|v| v.is_nan()));
            }
            run(Case::same(3, 4, 9, 7, 5, 3, 1), DType::F32, true, true)
        })
    };
    let (clean, poisoned) = (after(false), after(true));
    assert!(poisoned.0.iter().all(|v| v.is_finite()), "a NaN left in scratch memory reached the output");
    assert_eq!(clean, poisoned);
}

#[test]
fn conv_layer_uses_this_convolution_for_every_stride() {
    // `Conv::forward` on the CPU in f32 gives exactly this convolution's output, bias included
    // (candle's own would round differently).
    for stride in [1, 2] {
        let varmap = VarMap::new();
        let conv = Conv::new(8, 6, 3, stride, seeded_var_builder(&varmap, 7, &Device::Cpu)).unwrap();
        let (w, b) = {
            let vars = varmap.data().lock().unwrap();
            (vars["weight"].as_tensor().clone(), vars["bias"].as_tensor().clone())
        };
        let x = randn(5, &[2, 8, 11, 10], DType::F32);
        let ours = conv2d_im2col(&x, &w, Some(&b), stride, 1).unwrap();
        assert_eq!(values(&conv.forward(&x).unwrap()), values(&ours), "stride {stride}");
    }
}

#[test]
fn gradients_match_finite_differences() {
    // Central differences of sum(reference(x, kernel, bias) r) in f64, where the loss is linear
    // in each input, so only rounding separates them from the exact gradient: ours in f64 to 1e-8,
    // ours in f32 to 1e-4.
    let cases = [
        Case::same(1, 2, 5, 4, 3, 3, 1),
        Case::same(2, 2, 5, 6, 2, 3, 2),
        Case::same(1, 3, 4, 4, 2, 1, 2),
        Case::same(1, 2, 6, 5, 2, 5, 2),
        Case { b: 1, c: 2, h: 7, w: 5, o: 2, k: 3, stride: 3, padding: 0 },
    ];
    for case in cases {
        let [x, kernel, bias, r] = inputs(case);
        let loss = |x: &[f64], kernel: &[f64], bias: &[f64]| -> f64 {
            reference(case, x, kernel, bias).iter().zip(&r).map(|(y, r)| y * r).sum()
        };
        let eps = 1e-4;
        let mut fd: [Vec<f64>; 3] = [vec![], vec![], vec![]];
        let args = [&x, &kernel, &bias];
        for (which, arg) in args.iter().enumerate() {
            for idx in 0..arg.len() {
                let shifted = |delta: f64| {
                    let mut a: [Vec<f64>; 3] = [x.clone(), kernel.clone(), bias.clone()];
                    a[which][idx] += delta;
                    loss(&a[0], &a[1], &a[2])
                };
                fd[which].push((shifted(eps) - shifted(-eps)) / (2.0 * eps));
            }
        }
        for (dtype, tol) in [(DType::F64, 1e-8), (DType::F32, 1e-4)] {
            let grads = run(case, dtype, true, true).1.unwrap();
            for (name, g, fd) in
                [("input", &grads[0], &fd[0]), ("kernel", &grads[1], &fd[1]), ("bias", &grads[2], &fd[2])]
            {
                let err = rel_err(g, fd);
                assert!(err < tol, "{case:?} {dtype:?}: {name} gradient differs from finite differences by {err:e}");
            }
        }
    }
}

#[test]
fn bad_shapes_give_clear_errors() {
    let x = randn(1, &[1, 3, 4, 4], DType::F32);
    let message = conv2d_im2col(&x, &randn(2, &[2, 4, 3, 3], DType::F32), None, 1, 1).unwrap_err().to_string();
    assert!(message.contains("does not fit"), "{message}");
    let message = conv2d_im2col(&x, &randn(2, &[2, 3, 3, 3], DType::F32), None, 0, 1).unwrap_err().to_string();
    assert!(message.contains("stride 0"), "{message}");
    let message = conv2d_im2col(&x, &randn(2, &[2, 3, 7, 7], DType::F32), None, 1, 1).unwrap_err().to_string();
    assert!(message.contains("does not fit"), "{message}");
}

/// Shapes up to 3 x 4 x 10 x 10, kernels 1, 3 and 5, strides 1 to 3, any padding up to k / 2.
fn any_case() -> impl Strategy<Value = Case> {
    (1..=3usize, 1..=4usize, 1..=4usize, 1..=10usize, 1..=10usize, prop::sample::select(vec![1usize, 3, 5]), 1..=3usize)
        .prop_flat_map(|(b, c, o, h, w, k, stride)| {
            (0..=k / 2).prop_map(move |padding| {
                // The padded image must hold one kernel.
                let (h, w) = (h.max(k - 2 * padding), w.max(k - 2 * padding));
                Case { b, c, h, w, o, k, stride, padding }
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_convolution_matches_candle_and_the_loops(case in any_case()) {
        compare_with_candle(case).map_err(TestCaseError::fail)?;
        compare_with_loops(case).map_err(TestCaseError::fail)?;
    }
}

/// `Conv::forward_add(x, shift)` against `forward(x)` plus the shift broadcast over the pixels,
/// in f32: the output and the gradients of x, the shift, the weight and the bias of sum(y r).
/// On the CPU the shift joins the bias inside the operation (a (B, O) bias, one per image), so
/// this checks that path's forward and its per-image bias gradient against candle's broadcast,
/// on output planes small enough to be computed channels first (9x8) and larger ones (18x15).
#[test]
fn a_shift_per_image_equals_adding_it_after_the_convolution() {
    for (stride, b, (h, w)) in [(1, 3, (9, 8)), (2, 2, (9, 8)), (1, 17, (9, 8)), (1, 2, (18, 15))] {
        let varmap = VarMap::new();
        let conv = Conv::new(5, 4, 3, stride, seeded_var_builder(&varmap, 9, &Device::Cpu)).unwrap();
        let x = Var::from_tensor(&randn(1, &[b, 5, h, w], DType::F32)).unwrap();
        let shift = Var::from_tensor(&randn(2, &[b, 4], DType::F32)).unwrap();
        let fused = conv.forward_add(&x, &shift).unwrap();
        let added = conv.forward(&x).unwrap().broadcast_add(&shift.reshape((b, 4, 1, 1)).unwrap()).unwrap();
        assert_eq!(fused.dims(), added.dims());
        let err = rel_err(&values(&fused), &values(&added));
        assert!(err < 1e-6, "stride {stride}, batch {b}: output differs by {err:e}");
        let r = randn(3, fused.dims(), DType::F32);
        let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (g, g_ref) = (grads(&fused), grads(&added));
        let vars = varmap.data().lock().unwrap();
        for (name, t) in [
            ("x", x.as_tensor()),
            ("shift", shift.as_tensor()),
            ("weight", vars["weight"].as_tensor()),
            ("bias", vars["bias"].as_tensor()),
        ] {
            let (a, e) = (values(g.get(t).expect("a gradient")), values(g_ref.get(t).expect("a gradient")));
            let err = rel_err(&a, &e);
            assert!(err < 1e-5, "stride {stride}, batch {b}: the {name} gradient differs by {err:e}");
        }
    }
}

#[test]
fn a_shift_of_the_wrong_shape_is_a_clear_error() {
    let varmap = VarMap::new();
    let conv = Conv::new(3, 4, 3, 1, seeded_var_builder(&varmap, 1, &Device::Cpu)).unwrap();
    let x = randn(1, &[2, 3, 5, 5], DType::F32);
    let message = conv.forward_add(&x, &randn(2, &[2, 3], DType::F32)).unwrap_err().to_string();
    assert!(message.contains("(batch 2, channels 4), got [2, 3]"), "{message}");
    // The operation itself names both shapes it accepts.
    let (w, bias) = (randn(2, &[4, 3, 3, 3], DType::F32), randn(3, &[3, 4], DType::F32));
    let message = conv2d_im2col(&x, &w, Some(&bias), 1, 1).unwrap_err().to_string();
    assert!(message.contains("expected (4) or (2, 4)"), "{message}");
}
