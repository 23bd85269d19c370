//! The vocabulary of `ddpm::diffusion`: one formula, the same numbers on every kind of array, at
//! one t or at one t per batch element; bad input is an error naming what is wrong.

use ddpm::candle_core::{DType, Device, Tensor};
use ddpm::diffusion::{
    p_mean, predict_eps_from_mean, predict_eps_from_v, predict_eps_from_x0, predict_v, predict_x0_from_eps,
    q_posterior_mean, q_sample, At,
};
use ddpm::posterior::Parameterisation;
use ddpm::NoiseSchedule;
use ndarray::{array, Array2};

fn rows(x: &Array2<f64>, i: usize) -> ndarray::Array1<f64> {
    x.row(i).to_owned()
}

fn tensor(x: &Array2<f64>, dtype: DType) -> Tensor {
    let (b, d) = x.dim();
    Tensor::from_vec(x.iter().copied().collect::<Vec<f64>>(), (b, d), &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn array(x: &Tensor) -> Array2<f64> {
    let v: Vec<Vec<f64>> = x.to_dtype(DType::F64).unwrap().to_vec2().unwrap();
    let (b, d) = (v.len(), v[0].len());
    Array2::from_shape_vec((b, d), v.into_iter().flatten().collect()).unwrap()
}

#[test]
fn one_t_per_batch_element_is_each_row_at_its_own_t() {
    let s = NoiseSchedule::cosine(200).unwrap();
    let ts = vec![1, 50, 200];
    let x0 = array![[0.5, -0.3], [0.9, 0.1], [-1.0, 0.4]];
    let eps = array![[1.2, -0.7], [0.0, 2.0], [-0.4, 0.3]];
    let xt = q_sample(&s, &x0, &ts, &eps).unwrap();
    let v = predict_v(&s, &x0, &ts, &eps).unwrap();
    let mean = p_mean(&s, &xt, &ts, &eps).unwrap();
    for (i, &t) in ts.iter().enumerate() {
        // Bit for bit: the same arithmetic, row by row.
        assert_eq!(rows(&xt, i), q_sample(&s, &rows(&x0, i), t, &rows(&eps, i)).unwrap());
        assert_eq!(rows(&v, i), predict_v(&s, &rows(&x0, i), t, &rows(&eps, i)).unwrap());
        assert_eq!(rows(&mean, i), p_mean(&s, &rows(&xt, i), t, &rows(&eps, i)).unwrap());
    }
}

#[test]
fn tensors_in_f64_give_the_numbers_of_ndarray() {
    let s = NoiseSchedule::linear(1000).unwrap();
    let ts = [3, 400, 999];
    let x0 = array![[0.5, -0.3], [0.9, 0.1], [-1.0, 0.4]];
    let eps = array![[1.2, -0.7], [0.0, 2.0], [-0.4, 0.3]];
    let (x0_t, eps_t) = (tensor(&x0, DType::F64), tensor(&eps, DType::F64));
    let xt = q_sample(&s, &x0, &ts, &eps).unwrap();
    let xt_t = q_sample(&s, &x0_t, &ts, &eps_t).unwrap();
    assert_eq!(array(&xt_t), xt);
    assert_eq!(
        array(&predict_x0_from_eps(&s, &xt_t, &ts, &eps_t).unwrap()),
        predict_x0_from_eps(&s, &xt, &ts, &eps).unwrap()
    );
    assert_eq!(array(&q_posterior_mean(&s, &x0_t, &xt_t, &ts).unwrap()), q_posterior_mean(&s, &x0, &xt, &ts).unwrap());
    // And one t for the batch.
    assert_eq!(array(&q_sample(&s, &x0_t, 400, &eps_t).unwrap()), q_sample(&s, &x0, 400, &eps).unwrap());
}

#[test]
fn every_conversion_inverts_its_partner_on_f32_tensors() {
    let s = NoiseSchedule::linear(1000).unwrap();
    let ts = [10, 500];
    let x0 = tensor(&array![[0.5, -0.3], [0.9, 0.1]], DType::F32);
    let eps = tensor(&array![[1.2, -0.7], [0.0, 2.0]], DType::F32);
    let xt = q_sample(&s, &x0, &ts, &eps).unwrap();
    let close = |a: &Tensor, b: &Tensor, tol: f64| {
        let d = (array(a) - array(b)).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(d < tol, "max |diff| {d} >= {tol}");
    };
    // f32 rounding of x_t, amplified by 1/sqrt(alpha_bar_500) ~ 3.6 at most here.
    close(&predict_x0_from_eps(&s, &xt, &ts, &eps).unwrap(), &x0, 1e-5);
    close(&predict_eps_from_x0(&s, &xt, &ts, &x0).unwrap(), &eps, 1e-4);
    let v = predict_v(&s, &x0, &ts, &eps).unwrap();
    close(&predict_eps_from_v(&s, &xt, &ts, &v).unwrap(), &eps, 1e-5);
    let mean = p_mean(&s, &xt, &ts, &eps).unwrap();
    close(&predict_eps_from_mean(&s, &xt, &ts, &mean).unwrap(), &eps, 1e-2);
    for p in Parameterisation::ALL {
        let value = p.from_eps(&s, &xt, &eps, &ts).unwrap();
        close(&p.to_eps(&s, &xt, &value, &ts).unwrap(), &eps, 1e-2);
    }
}

#[test]
fn bad_steps_and_shapes_are_errors_that_say_what_is_allowed() {
    let s = NoiseSchedule::linear(10).unwrap();
    let x = array![[1.0], [2.0]];
    let message = |r: ddpm::Result<Array2<f64>>| r.unwrap_err().to_string();
    assert!(message(q_sample(&s, &x, 11, &x)).contains("t must be in 0..=10, got 11"));
    assert!(message(p_mean(&s, &x, &[1, 0], &x)).contains("t must be in 1..=10, got 0"));
    assert!(message(q_sample(&s, &x, &[1, 2, 3], &x)).contains("one step per batch element needs a batch of 3"));
    assert!(message(q_sample(&s, &x, 1, &array![[1.0, 2.0]])).contains("x0 and eps must have the same shape"));
    let xt = Tensor::zeros((2, 1), DType::F32, &Device::Cpu).unwrap();
    let eps = Tensor::zeros((3, 1), DType::F32, &Device::Cpu).unwrap();
    assert!(predict_x0_from_eps(&s, &xt, 1, &eps)
        .unwrap_err()
        .to_string()
        .contains("xt and eps must have the same shape"));
    assert_eq!(At::from(&[1usize, 2][..]), At::Each(&[1, 2]));
}
