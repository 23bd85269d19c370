//! `ddpm verify`'s table as a whole: every row passes, every equation is there, same seed same table.

use ddpm::verify;

#[test]
fn every_equation_and_erratum_has_a_row_and_all_pass() {
    let table = verify::all(verify::DEFAULT_SEED).unwrap();
    println!("{table}");
    for id in (1..=24).map(|i| format!("E{i}")).chain(["err1", "err2", "err4"].map(String::from)) {
        assert!(table.0.iter().any(|c| c.id == id), "no row for {id}");
    }
    let (passed, failed, skipped) = table.counts();
    assert_eq!(failed, 0, "{table}");
    assert_eq!(skipped, 2, "only E19 and E23 need training");
    assert!(passed > 80);
}

#[test]
fn same_seed_same_table_other_seed_other_numbers() {
    let a = verify::forward::e1(1000, 1).unwrap();
    assert_eq!(a, verify::forward::e1(1000, 1).unwrap());
    assert_ne!(a[0].seen, verify::forward::e1(1000, 2).unwrap()[0].seen);
}

#[test]
fn e22_and_e18_on_the_untrained_unet() {
    let checks = verify::network::e22(verify::DEFAULT_SEED).unwrap();
    println!("{}", checks.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n"));
    assert!(checks.iter().all(|c| c.pass));
    assert_eq!(checks.iter().filter(|c| c.id == "E22").count(), 3);
}
