//! Cox regression against R's `survival::coxph` (3.5, Debian's r-cran-survival): the reference
//! files `survival_reference/cox_*.csv` were written by `make_cox_reference.R` there, from the
//! `lung` and `veteran` datasets shipped with R. `cox_fits.csv` says what each fit is (data,
//! covariates, strata, ties), so every fit R made is refitted here and every number compared to
//! 1e-9 relative.

mod common;

use std::collections::BTreeMap;

use common::read;
use tessera_domain::cox::{CoxFit, Ties, cox};

const TOL: f64 = 1e-9;

fn num(v: &str) -> f64 {
    v.parse().unwrap_or_else(|_| panic!("{v:?} is not a number"))
}

fn close(ours: f64, theirs: f64, what: &str) {
    let rel = (ours - theirs).abs() / theirs.abs().max(1e-300);
    assert!(ours == theirs || rel < TOL, "{what}: ours {ours:.17e}, R {theirs:.17e} (relative {rel:.2e})");
}

/// A dataset's columns by name, as text.
fn columns(name: &str) -> BTreeMap<String, Vec<String>> {
    let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in read(name) {
        for (k, v) in row {
            columns.entry(k).or_default().push(v);
        }
    }
    columns
}

/// Refits one of R's fits: rows with `NA` in a column used are left out, as R's na.omit does;
/// strata labels become indices.
fn refit(data: &str, covariates: &[&str], strata: &str, ties: Ties) -> CoxFit {
    let cols = columns(&format!("{data}.csv"));
    let used: Vec<&str> = ["time", "event"]
        .into_iter()
        .chain(covariates.iter().copied())
        .chain(Some(strata).filter(|s| !s.is_empty()))
        .collect();
    let rows: Vec<usize> = (0..cols["time"].len()).filter(|&i| used.iter().all(|c| cols[*c][i] != "NA")).collect();
    let time: Vec<f64> = rows.iter().map(|&i| num(&cols["time"][i])).collect();
    let event: Vec<bool> = rows.iter().map(|&i| cols["event"][i] == "1").collect();
    let x: Vec<Vec<f64>> = covariates.iter().map(|c| rows.iter().map(|&i| num(&cols[*c][i])).collect()).collect();
    let strata: Option<Vec<u32>> = (!strata.is_empty()).then(|| {
        let mut labels: Vec<&String> = rows.iter().map(|&i| &cols[strata][i]).collect();
        labels.sort();
        labels.dedup();
        rows.iter().map(|&i| labels.iter().position(|l| **l == cols[strata][i]).unwrap() as u32).collect()
    });
    cox(&time, &event, &x, strata.as_deref(), ties, 0.95).unwrap()
}

#[test]
fn every_cox_fit_matches_r() {
    let reference = read("cox_fits.csv");
    let variance = read("cox_variance.csv");
    let mut fits: Vec<(&str, &str)> = reference.iter().map(|r| (r["fit"].as_str(), r["ties"].as_str())).collect();
    fits.dedup();
    assert!(fits.len() >= 16, "{} fits", fits.len());
    let mut compared = 0;
    for (name, ties_name) in fits {
        let rows: Vec<_> = reference.iter().filter(|r| r["fit"] == name && r["ties"] == ties_name).collect();
        let first = rows[0];
        let covariates: Vec<&str> = first["covariates"].split(' ').collect();
        let ties = match ties_name {
            "efron" => Ties::Efron,
            "breslow" => Ties::Breslow,
            other => panic!("ties {other}"),
        };
        let fit = refit(&first["data"], &covariates, &first["strata"], ties);
        let at = format!("{name} {ties_name}");
        assert_eq!(fit.iterations as f64, num(&first["iterations"]), "{at}: iterations");
        assert_eq!(fit.n as f64, num(&first["n"]), "{at}: n");
        assert_eq!(fit.events as f64, num(&first["events"]), "{at}: events");
        assert_eq!(fit.df as f64, num(&first["df"]), "{at}: df");
        close(fit.loglik_null, num(&first["loglik_null"]), &format!("{at} loglik null"));
        close(fit.loglik, num(&first["loglik"]), &format!("{at} loglik"));
        close(fit.lr_test, num(&first["lr"]), &format!("{at} LR test"));
        close(fit.wald_test, num(&first["wald"]), &format!("{at} Wald test"));
        close(fit.score_test, num(&first["score"]), &format!("{at} score test"));
        close(fit.lr_p(), num(&first["lr_p"]), &format!("{at} LR p"));
        close(fit.wald_p(), num(&first["wald_p"]), &format!("{at} Wald p"));
        close(fit.score_p(), num(&first["score_p"]), &format!("{at} score p"));
        assert_eq!(rows.len(), covariates.len());
        for (k, r) in rows.iter().enumerate() {
            let at = format!("{at} {}", r["term"]);
            assert_eq!(r["term"], covariates[k]);
            close(fit.coef[k], num(&r["coef"]), &format!("{at} coef"));
            close(fit.se[k], num(&r["se"]), &format!("{at} se"));
            close(fit.hazard_ratio[k], num(&r["hazard_ratio"]), &format!("{at} hazard ratio"));
            close(fit.hr_lower[k], num(&r["lower"]), &format!("{at} lower .95"));
            close(fit.hr_upper[k], num(&r["upper"]), &format!("{at} upper .95"));
            close(fit.z[k], num(&r["z"]), &format!("{at} z"));
            close(fit.p[k], num(&r["p"]), &format!("{at} p"));
            for (l, other) in covariates.iter().enumerate() {
                let v = variance
                    .iter()
                    .find(|v| {
                        v["fit"] == name && v["ties"] == ties_name && v["row"] == covariates[k] && v["col"] == *other
                    })
                    .unwrap();
                close(fit.variance[k][l], num(&v["variance"]), &format!("{at} variance with {other}"));
            }
            compared += 1;
        }
    }
    assert!(compared >= 40, "{compared} coefficients compared");
}

#[test]
fn the_order_of_the_rows_does_not_matter() {
    let cols = columns("cox_veteran.csv");
    let n = cols["time"].len();
    // A fixed permutation (7 is coprime with 137).
    let order: Vec<usize> = (0..n).map(|i| (i * 7) % n).collect();
    let pick = |c: &str, rows: &[usize]| rows.iter().map(|&i| num(&cols[c][i])).collect::<Vec<f64>>();
    let fit = |rows: &[usize]| {
        let event: Vec<bool> = pick("event", rows).iter().map(|&e| e == 1.0).collect();
        let x = vec![pick("karno", rows), pick("trt", rows)];
        cox(&pick("time", rows), &event, &x, None, Ties::Efron, 0.95).unwrap()
    };
    let (a, b) = (fit(&(0..n).collect::<Vec<_>>()), fit(&order));
    for k in 0..2 {
        close(a.coef[k], b.coef[k], "coefficient");
        close(a.se[k], b.se[k], "standard error");
    }
    close(a.loglik, b.loglik, "log likelihood");
}
