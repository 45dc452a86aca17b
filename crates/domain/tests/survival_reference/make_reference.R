# Reference results for Tessera's survival engine, from R's `survival` package (Debian's
# r-cran-survival). Run from this directory: `Rscript make_reference.R`. It writes the two
# datasets it uses (lung and veteran, as shipped with `survival`) and R's results on them, with
# 17 significant digits, as CSV files that crates/domain/tests/survival.rs compares against.
suppressPackageStartupMessages(library(survival))

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

write_frame <- function(df, file) {
  for (n in names(df)) if (is.numeric(df[[n]])) df[[n]] <- num(df[[n]])
  write.csv(df, file, row.names = FALSE, quote = FALSE)
}

# The datasets: time, event (0/1) and grouping columns.
lung_df <- data.frame(time = lung$time, event = as.integer(lung$status == 2), sex = lung$sex,
                      ecog = ifelse(is.na(lung$ph.ecog), -1L, as.integer(lung$ph.ecog)))
vet_df <- data.frame(time = veteran$time, event = as.integer(veteran$status), trt = veteran$trt,
                     celltype = as.character(veteran$celltype))
write_frame(lung_df, "lung.csv")
write_frame(vet_df, "veteran.csv")

km <- function(df, group, conf, file) {
  f <- as.formula(paste("Surv(time, event) ~", group))
  fit <- survfit(f, data = df, conf.type = conf)
  strata <- rep(sub(".*=", "", names(fit$strata)), fit$strata)
  write_frame(data.frame(group = strata, time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
                         n_censor = fit$n.censor, surv = fit$surv, std_err = fit$std.err,
                         lower = fit$lower, upper = fit$upper), file)
}
for (conf in c("log", "log-log", "plain")) {
  km(lung_df, "sex", conf, sprintf("km_lung_sex_%s.csv", conf))
  km(vet_df, "celltype", conf, sprintf("km_veteran_celltype_%s.csv", conf))
}

logrank <- function(df, formula, file) {
  d <- survdiff(formula, data = df)
  groups <- sub(".*=", "", names(d$n))
  write_frame(data.frame(group = groups, observed = if (is.matrix(d$obs)) rowSums(d$obs) else d$obs,
                         expected = if (is.matrix(d$exp)) rowSums(d$exp) else d$exp,
                         chisq = d$chisq, df = length(d$n) - 1), file)
}
logrank(lung_df, Surv(time, event) ~ sex, "logrank_lung_sex.csv")
logrank(vet_df, Surv(time, event) ~ celltype, "logrank_veteran_celltype.csv")
logrank(lung_df[lung_df$ecog >= 0, ], Surv(time, event) ~ sex + strata(ecog), "logrank_lung_sex_strata_ecog.csv")
logrank(vet_df, Surv(time, event) ~ trt + strata(celltype), "logrank_veteran_trt_strata_celltype.csv")

# Medians with their confidence limits (log scale, R's default).
med <- function(df, group, file) {
  fit <- survfit(as.formula(paste("Surv(time, event) ~", group)), data = df)
  t <- summary(fit)$table
  write_frame(data.frame(group = sub(".*=", "", rownames(t)), median = t[, "median"],
                         lower = t[, "0.95LCL"], upper = t[, "0.95UCL"]), file)
}
med(lung_df, "sex", "median_lung_sex.csv")
med(vet_df, "celltype", "median_veteran_celltype.csv")
cat("R", R.version$major, R.version$minor, "survival", as.character(packageVersion("survival")), "\n",
    file = "VERSIONS")
