//! A training step and a network call while sampling run on rayon's pool on the CPU
//! (`device::on_cpu_pool`): on a thread of the pool, whichever thread asks, and with the same
//! numbers whatever the pool's size.

use ddpm::candle_core::{Device, Tensor};
use ddpm::device::on_cpu_pool;
use ddpm::nn::{UNet, UNetConfig};
use ddpm::posterior::Parameterisation;
use ddpm::rng::seeded;
use ddpm::sample::network::normal_tensor;
use ddpm::sample::Prediction;
use ddpm::train::{NoisedBatch, TrainConfig, Trainer};
use ddpm::NoiseSchedule;

#[test]
fn the_cpu_work_moves_onto_a_thread_of_the_pool_and_stays_in_a_pool_already_chosen() {
    assert_eq!(rayon::current_thread_index(), None, "a test thread is not one of rayon's");
    assert!(on_cpu_pool(&Device::Cpu, rayon::current_thread_index).is_some());
    // Called from a thread of another pool, it runs right there, in that pool.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(one.install(|| on_cpu_pool(&Device::Cpu, rayon::current_num_threads)), 1);
}

/// Two training steps of a small U-Net, then the trained network's eps at t = 500: the losses and
/// every value of eps, as bits.
fn steps_then_eps() -> (Vec<u32>, Vec<u32>) {
    let device = Device::Cpu;
    let schedule = NoiseSchedule::linear(1000).unwrap();
    let config = UNetConfig::tiny(8);
    let (unet, varmap) = UNet::new_seeded(&config, &device, 3).unwrap();
    let train = TrainConfig { steps: 2, batch_size: 4, warmup_steps: 0, log_every: 0, ..Default::default() };
    let mut trainer = Trainer::new(unet, varmap, schedule.clone(), train).unwrap();
    let mut rng = seeded(5);
    let x0 = normal_tensor(&mut rng, &[4, 1, 8, 8], &device).unwrap();
    let losses: Vec<u32> = (0..2)
        .map(|_| {
            let batch = NoisedBatch::draw(&mut rng, &schedule, x0.clone(), None).unwrap();
            trainer.step_on(&batch).unwrap().loss.to_bits()
        })
        .collect();
    let (unet, _, _) = trainer.into_parts();
    let prediction = Prediction { model: &unet, parameterisation: Parameterisation::Eps };
    let eps: Tensor = prediction.denoise(&schedule, &x0, 500, None, false).unwrap().eps;
    let eps: Vec<u32> = eps.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect();
    (losses, eps)
}

#[test]
fn a_step_and_a_sampling_call_give_the_same_bits_on_one_thread_and_on_three() {
    let pool = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let one = pool(1).install(steps_then_eps);
    let three = pool(3).install(steps_then_eps);
    assert_eq!(one, three);
    // From the test's own thread, the global pool does the work: the same bits again.
    assert_eq!(steps_then_eps(), one);
}
