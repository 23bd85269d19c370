//! The statistics behind every check: KS tests, moment tests, the normal CDF, the Check record.

use ddpm::rng::{normal_vec, seeded};
use ddpm::stats::{
    fmt_num, kolmogorov_sf, ks_critical, ks_one_sample, ks_two_sample, mean_check, mean_var, normal_cdf, var_check,
    Basis, Check, CheckTable, DEFAULT_SIGMAS,
};

#[test]
fn kolmogorov_distribution_matches_scipy() {
    // scipy.special.kolmogorov(x), SciPy 1.x.
    for (x, expected) in
        [(0.3, 0.9999906941986655), (0.5, 0.9639452436648751), (1.0, 0.26999967167735456), (1.5, 0.022217962616525127)]
    {
        assert!((kolmogorov_sf(x) - expected).abs() < 1e-10, "Q({x}) = {} vs {expected}", kolmogorov_sf(x));
    }
    // scipy.special.kolmogi(0.001) = 1.9494746035043753: the critical value for large n.
    let n = 1e8;
    assert!((ks_critical(n, 1e-3) * n.sqrt() - 1.9494746035043753).abs() < 1e-3);
}

#[test]
fn ks_statistics_match_scipy() {
    // scipy.stats.ks_2samp([0.1,0.4,0.7,1.2,1.5], [0.3,0.35,0.9,1.0,2.0,2.5]).statistic = 1/3
    let d = ks_two_sample(&[0.1, 0.4, 0.7, 1.2, 1.5], &[0.3, 0.35, 0.9, 1.0, 2.0, 2.5]).d;
    assert!((d - 1.0 / 3.0).abs() < 1e-15);
    // scipy.stats.kstest([0.1,0.2,0.5,0.9], 'uniform').statistic = 0.3
    assert!((ks_one_sample(&[0.1, 0.2, 0.5, 0.9], |x| x.clamp(0.0, 1.0)).d - 0.3).abs() < 1e-15);
}

#[test]
fn normal_cdf_matches_scipy() {
    // scipy.stats.norm.cdf(-3.0) and (-8.0).
    assert!((normal_cdf(-3.0) - 0.0013498980316300933).abs() < 1e-15);
    assert!((normal_cdf(-8.0) / 6.22096057427174e-16 - 1.0).abs() < 1e-10);
}

#[test]
fn ks_accepts_the_right_distribution_and_rejects_a_shifted_one() {
    let x = normal_vec(&mut seeded(11), 5000);
    assert!(ks_one_sample(&x, normal_cdf).check("t", "N(0,1)", 1e-3).pass);
    assert!(!ks_one_sample(&x, |v| normal_cdf(v - 0.1)).check("t", "N(0.1,1)", 1e-3).pass);
    let y = normal_vec(&mut seeded(12), 5000);
    assert!(ks_two_sample(&x, &y).p_value > 1e-3);
    // A shift of 0.15 moves the CDF by up to Phi(0.075) - Phi(-0.075) = 0.06, above the critical D of ~0.039 at n_eff = 2500.
    let shifted: Vec<f64> = y.iter().map(|v| v + 0.15).collect();
    assert!(ks_two_sample(&x, &shifted).p_value < 1e-3);
}

#[test]
fn moment_checks_have_tolerances_from_the_sample_size() {
    let x = normal_vec(&mut seeded(5), 10_000);
    let (m, v) = mean_var(&x);
    assert!(m.abs() < 0.05 && (v - 1.0).abs() < 0.1);
    let c = mean_check("t", "mean", &x, 0.0, 1.0, DEFAULT_SIGMAS);
    assert!((c.tolerance - 5.0 / 100.0).abs() < 1e-15, "5 standard errors of 1/sqrt(10000)");
    assert!(c.pass);
    assert!(!mean_check("t", "mean", &x, 0.1, 1.0, DEFAULT_SIGMAS).pass);
    assert!(!var_check("t", "var", &x, 1.2, DEFAULT_SIGMAS).pass);
}

#[test]
fn check_records_and_tables() {
    let table: CheckTable = vec![
        Check::close("E1", "close", 1.0, 1.05, 0.1),
        Check::at_most("E2", "bound", 0.2, 0.1),
        Check::skipped("E3", "network", "quick mode"),
    ]
    .into_iter()
    .collect();
    assert_eq!(table.counts(), (1, 1, 1));
    assert!(!table.all_pass());
    let text = table.to_string();
    assert!(text.contains("MISMATCH") && text.contains("skipped") && text.ends_with("1 passed, 1 failed, 1 skipped"));
    assert!(std::panic::catch_unwind(|| table.assert_all()).is_err());
    assert!(!Check::close("E", "nan", f64::NAN, 0.0, 1.0).pass);
    assert_eq!(fmt_num(0.5), "0.5");
    assert_eq!(fmt_num(4.035829765375676e-05), "4.03583e-5");
}

#[test]
fn every_row_says_where_its_tolerance_comes_from() {
    let xs: Vec<f64> = normal_vec(&mut seeded(3), 1000);
    let table: CheckTable = vec![
        mean_check("E1", "mean", &xs, 0.0, 1.0, 4.0),
        var_check("E1", "variance", &xs, 1.0, 5.0),
        ks_one_sample(&xs, normal_cdf).check("E3", "KS", 0.001),
        Check::close("E2", "by hand vs library", 1.0, 1.0, 1e-12).exact(),
        Check::at_most("E18", "loss", 0.03, 0.05).guard("runs/mnist"),
        Check::at_least("E0", "unstated", 1.0, 0.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(table.basis_counts(), (3, 1, 1, 1));
    assert_eq!(table.0[0].basis, Basis::NDerived("k = 4".into()));
    assert_eq!(table.0[2].basis, Basis::NDerived("KS, alpha = 0.001".into()));
    let text = table.to_string();
    for label in ["[n-derived (k = 4)]", "[n-derived (k = 5)]", "[exact]", "[guard (runs/mnist)]", "[-]"] {
        assert!(text.contains(label), "{label} missing from\n{text}");
    }
    // A failing row's panic message names the row: what differs, seen and expected.
    let wrong: CheckTable =
        vec![Check::close("E5", "mean vs sqrt(alpha_bar_t) x_0", 0.7, 0.76, 0.01).exact()].into_iter().collect();
    let err = std::panic::catch_unwind(|| wrong.assert_all()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("mean vs sqrt(alpha_bar_t) x_0") && msg.contains("0.76 ± 0.01") && msg.contains("MISMATCH"));
}

#[test]
fn a_figure_and_its_checks_are_one_html_output_and_still_assert() {
    // The table under a figure: the same rows as the table alone, after the picture.
    let table: CheckTable = vec![Check::close("E1", "close", 1.0, 1.05, 0.1).exact()].into_iter().collect();
    let fig = ddpm::display::grid(&[ndarray::Array3::from_elem((1, 2, 2), 0.0)], 1, None, 1).unwrap();
    let html = table.html();
    assert!(html.starts_with("<table>") && html.contains("close") && html.contains("1 passed, 0 failed"));
    table.show_with_then_assert(&fig);
    let wrong: CheckTable = vec![Check::close("E1", "far", 1.0, 2.0, 0.1).exact()].into_iter().collect();
    assert!(std::panic::catch_unwind(|| wrong.show_with_then_assert(&fig)).is_err());
}
