# Reference results for Tessera's competing-risks, rate and outlier statistics, from R's
# `survival` (Debian's r-cran-survival) and base R's qchisq/ppois/poisson.test, with `cmprsk`
# (r-cran-cmprsk) as a second opinion on the cumulative incidence. Run from this directory:
# `Rscript make_competing_reference.R`. Everything is written with 17 significant digits, as CSV
# files that crates/domain/tests/competing.rs and crates/domain/tests/rates.rs compare against.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

write_frame <- function(df, file) {
  for (n in names(df)) if (is.numeric(df[[n]])) df[[n]] <- num(df[[n]])
  write.csv(df, file, row.names = FALSE, quote = FALSE)
}

# --- Aalen-Johansen cumulative incidence -------------------------------------------------------
# mgus2 (shipped with survival): progression to a plasma-cell malignancy (cause 1) with death
# before it as the competing risk (cause 2); 0 = censored.
mgus_df <- data.frame(time = with(mgus2, ifelse(pstat == 0, futime, ptime)),
                      status = with(mgus2, ifelse(pstat == 0, 2 * death, 1)))
write_frame(mgus_df, "competing_mgus2.csv")

# A small made-up dataset with three causes, many ties (events of several causes and censorings
# at one time) and a last time at which everyone left fails, so survival reaches 0.
set.seed(20240607)
small_df <- data.frame(time = c(sample(1:15, 60, replace = TRUE), 16, 16),
                       status = c(sample(0:3, 60, replace = TRUE, prob = c(0.3, 0.3, 0.25, 0.15)), 1, 3))
write_frame(small_df, "competing_small.csv")

aj <- function(df, conf, file) {
  k <- max(df$status)
  fit <- survfit(Surv(time, factor(status, 0:k)) ~ 1, data = df, conf.type = conf)
  out <- data.frame(time = fit$time, n_risk = fit$n.risk[, 1], n_censor = fit$n.censor)
  # survfit's states are "(s0)" (event-free) then each cause; n.event has one column per state.
  for (j in 1:k) out[[sprintf("n_event_%d", j)]] <- fit$n.event[, j + 1]
  for (j in 0:k) {
    out[[sprintf("p_%d", j)]] <- fit$pstate[, j + 1]
    out[[sprintf("se_%d", j)]] <- fit$std.err[, j + 1]
    out[[sprintf("lower_%d", j)]] <- fit$lower[, j + 1]
    out[[sprintf("upper_%d", j)]] <- fit$upper[, j + 1]
  }
  stopifnot(max(abs(rowSums(fit$pstate) - 1)) < 1e-12)
  write_frame(out, file)
  fit
}
for (conf in c("log", "log-log", "plain")) {
  fit <- aj(mgus_df, conf, sprintf("aj_mgus2_%s.csv", conf))
  aj(small_df, conf, sprintf("aj_small_%s.csv", conf))
}

# cmprsk's cuminc must give the same cumulative incidence as survfit's Aalen-Johansen estimate.
ci <- cuminc(mgus_df$time, mgus_df$status, cencode = 0)
for (j in 1:2) {
  est <- timepoints(ci, fit$time)$est[j, ]
  stopifnot(max(abs(est - fit$pstate[, j + 1]), na.rm = TRUE) < 1e-12)
}

# --- Quantiles and tails used by exact Poisson limits ------------------------------------------
ds <- c(0, 1, 2, 5, 10, 50, 500)
ps <- c(0.0005, 0.005, 0.025, 0.05, 0.5, 0.95, 0.975, 0.995, 0.9995)
q <- expand.grid(p = ps, df = c(2 * ds[ds > 0], 2 * ds + 2, 1, 3.5))
q <- unique(q)
q$quantile <- qchisq(q$p, q$df)
write_frame(q, "qchisq.csv")

mus <- c(0.01, 0.3, 1, 2.5, 7.2, 10, 31.7, 49.3, 100, 480, 530)
pp <- expand.grid(d = ds, mu = mus)
# P(X >= d) for X ~ Poisson(mu).
pp$upper_tail <- ppois(pp$d - 1, pp$mu, lower.tail = FALSE)
write_frame(pp, "ppois.csv")

# --- Revision rates per 100 component-years with exact Poisson limits --------------------------
ptir <- expand.grid(d = ds, years = c(0.75, 12.5, 318.4, 5021, 123456.7), level = c(0.95, 0.99))
ptir$rate <- ptir$d / ptir$years * 100
alpha <- 1 - ptir$level
ptir$lower <- ifelse(ptir$d == 0, 0, qchisq(alpha / 2, 2 * ptir$d) / 2) / ptir$years * 100
ptir$upper <- qchisq(1 - alpha / 2, 2 * ptir$d + 2) / 2 / ptir$years * 100
# poisson.test gives the same exact (Garwood) interval.
for (i in seq_len(nrow(ptir))) {
  pt <- poisson.test(ptir$d[i], ptir$years[i], conf.level = ptir$level[i])$conf.int * 100
  stopifnot(abs(pt[1] - ptir$lower[i]) <= 1e-12 * ptir$upper[i], abs(pt[2] / ptir$upper[i] - 1) < 1e-12)
}
write_frame(ptir, "ptir.csv")

# --- Implant outlier rules (DOMAIN.md section 5), written out independently of the Rust code ----
comp <- data.frame(
  name = c("A1", "A2", "A3", "A4", "A5", "A6", "A7", "B1", "B2", "B3", "C1", "C2", "D1", "E1", "E2"),
  group = c("A", "A", "A", "A", "A", "A", "A", "B", "B", "B", "C", "C", "D", "E", "E"),
  primaries = c(5000, 1200, 800, 40, 6, 300, 8, 900, 250, 4, 60, 30, 50, 100, 20),
  revisions = c(60, 14, 25, 4, 5, 9, 2, 10, 2, 3, 1, 2, 3, 0, 2),
  years = c(31000.5, 8000.25, 4100, 150.5, 9.5, 2200, 12, 7000, 1700.2, 6.1, 410, 200.9, 300, 500, 80))
write_frame(comp, "outliers_input.csv")
level <- 0.95
res <- do.call(rbind, lapply(seq_len(nrow(comp)), function(i) {
  c_ <- comp[i, ]
  g <- comp[comp$group == c_$group, ]
  rate <- c_$revisions / c_$years * 100
  lower <- if (c_$revisions == 0) 0 else qchisq((1 - level) / 2, 2 * c_$revisions) / 2 / c_$years * 100
  upper <- qchisq(1 - (1 - level) / 2, 2 * c_$revisions + 2) / 2 / c_$years * 100
  # NJR Level 1: the group's rate over the whole group, the component included.
  njr_rate <- sum(g$revisions) / sum(g$years) * 100
  njr <- lower > 2 * njr_rate
  # AOANJRR: a component with more than 25% of the group's primaries is left out of its rate.
  excluded <- c_$primaries > 0.25 * sum(g$primaries)
  others <- if (excluded) g[g$name != c_$name, ] else g
  aoa_rate <- if (sum(others$years) > 0) sum(others$revisions) / sum(others$years) * 100 else NA
  expected <- aoa_rate / 100 * c_$years
  p <- if (is.na(expected)) NA else ppois(c_$revisions - 1, expected, lower.tail = FALSE)
  enough <- c_$primaries >= 10 || (c_$revisions >= 0.75 * c_$primaries && c_$revisions >= 2)
  aoa <- !is.na(p) && rate > 2 * aoa_rate && p < 1 - level && enough
  data.frame(name = c_$name, rate = rate, lower = lower, upper = upper, njr_group_rate = njr_rate,
             njr_level1 = njr, aoanjrr_excluded = excluded, aoanjrr_group_rate = aoa_rate,
             expected = expected, p_value = p, aoanjrr = aoa)
}))
write_frame(res, "outliers_reference.csv")

cat("R", R.version$major, R.version$minor, "survival", as.character(packageVersion("survival")),
    "cmprsk", as.character(packageVersion("cmprsk")), "\n", file = "VERSIONS_competing")
