# Reference results for Tessera's Cox regression, from R's `survival` package (Debian's
# r-cran-survival). Run from this directory: `Rscript make_cox_reference.R`. It writes the two
# datasets it uses (lung and veteran, as shipped with `survival`, with the covariates) and
# `coxph`'s results on them with 17 significant digits, for crates/domain/tests/cox.rs.
#
# cox_fits.csv has one row per fit, ties method and covariate; the columns `data`, `covariates`
# (space-separated) and `strata` say what was fitted, so the Rust test needs no list of its own.
# Rows with a missing value in a column used are left out (R's na.omit), as the test does.
suppressPackageStartupMessages(library(survival))

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

write_frame <- function(df, file) {
  for (n in names(df)) if (is.numeric(df[[n]])) df[[n]] <- num(df[[n]])
  write.csv(df, file, row.names = FALSE, quote = FALSE)
}

lung_df <- data.frame(time = lung$time, event = as.integer(lung$status == 2), age = lung$age,
                      sex = lung$sex, ph_ecog = lung$ph.ecog, ph_karno = lung$ph.karno,
                      wt_loss = lung$wt.loss)
vet_df <- data.frame(time = veteran$time, event = as.integer(veteran$status), trt = veteran$trt,
                     karno = veteran$karno, age = veteran$age, diagtime = veteran$diagtime,
                     prior = veteran$prior, celltype = as.character(veteran$celltype))
write_frame(lung_df, "cox_lung.csv")
write_frame(vet_df, "cox_veteran.csv")
datasets <- list(cox_lung = lung_df, cox_veteran = vet_df)

fits <- list(
  list(name = "lung_sex", data = "cox_lung", x = c("sex"), strata = ""),
  list(name = "lung_age_sex", data = "cox_lung", x = c("age", "sex"), strata = ""),
  list(name = "lung_age_sex_ecog", data = "cox_lung", x = c("age", "sex", "ph_ecog"), strata = ""),
  list(name = "lung_five", data = "cox_lung", x = c("age", "sex", "ph_ecog", "ph_karno", "wt_loss"),
       strata = ""),
  list(name = "lung_age_sex_strata_ecog", data = "cox_lung", x = c("age", "sex"), strata = "ph_ecog"),
  list(name = "veteran_trt_karno_age", data = "cox_veteran", x = c("trt", "karno", "age"), strata = ""),
  list(name = "veteran_all", data = "cox_veteran", x = c("trt", "karno", "age", "diagtime", "prior"),
       strata = ""),
  list(name = "veteran_karno_strata_celltype", data = "cox_veteran", x = c("karno", "trt"),
       strata = "celltype")
)

rows <- list()
variances <- list()
for (f in fits) {
  for (ties in c("efron", "breslow")) {
    rhs <- paste(f$x, collapse = " + ")
    if (f$strata != "") rhs <- paste0(rhs, " + strata(", f$strata, ")")
    formula <- as.formula(paste("Surv(time, event) ~", rhs))
    fit <- coxph(formula, data = datasets[[f$data]], ties = ties)
    s <- summary(fit, conf.int = 0.95)
    df <- length(fit$coefficients)
    lr <- 2 * (fit$loglik[2] - fit$loglik[1])
    rows[[length(rows) + 1]] <- data.frame(
      fit = f$name, ties = ties, data = f$data, covariates = paste(f$x, collapse = " "),
      strata = f$strata, term = f$x,
      coef = unname(fit$coefficients), se = unname(sqrt(diag(fit$var))),
      hazard_ratio = unname(exp(fit$coefficients)),
      lower = unname(s$conf.int[, "lower .95"]), upper = unname(s$conf.int[, "upper .95"]),
      z = unname(s$coefficients[, "z"]), p = unname(s$coefficients[, "Pr(>|z|)"]),
      loglik_null = fit$loglik[1], loglik = fit$loglik[2],
      lr = lr, lr_p = pchisq(lr, df, lower.tail = FALSE),
      wald = unname(fit$wald.test), wald_p = pchisq(unname(fit$wald.test), df, lower.tail = FALSE),
      score = unname(fit$score), score_p = pchisq(unname(fit$score), df, lower.tail = FALSE),
      df = df, n = fit$n, events = fit$nevent, iterations = fit$iter)
    v <- fit$var
    variances[[length(variances) + 1]] <- data.frame(
      fit = f$name, ties = ties, row = f$x[row(v)], col = f$x[col(v)], variance = as.vector(v))
  }
}
write_frame(do.call(rbind, rows), "cox_fits.csv")
write_frame(do.call(rbind, variances), "cox_variance.csv")
cat("R", R.version$major, R.version$minor, "survival", as.character(packageVersion("survival")), "\n",
    file = "VERSIONS_cox", append = TRUE)
