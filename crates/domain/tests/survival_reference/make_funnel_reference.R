# Reference results for Tessera's funnel-plot limits and risk-adjusted CUSUM (crates/domain/src/
# funnel.rs and cusum.rs), in base R only. Run from this directory:
# `Rscript make_funnel_reference.R`. It writes, with 17 significant digits:
#   funnel_limits.csv  Spiegelhalter's (2005, Stat Med 24:1185, Appendix A.1.1) interpolated
#                      Poisson limits on the O/E scale, from R's own qpois and ppois;
#   cusum_input.csv    a reproducible sequence of outcomes and predicted risks;
#   cusum.csv          the Steiner et al. (2000) Bernoulli CUSUM of it, by a plain loop,
# which crates/domain/tests/funnel.rs compares against. The CRAN package FunnelPlotR is not
# installed here (and draws chi-squared limits, not these), so this script, written from the
# paper's formula with R's Poisson functions, is the independent implementation.

num <- function(x) sprintf("%.17g", x)

# y_p = qpois(p, E), the smallest y with F(y) >= p; alpha = (F(y_p) - p) / (F(y_p) - F(y_p - 1));
# limit = (y_p - alpha) / E, and 0 where that is negative (y_p = 0: no count can fall below).
funnel_limit <- function(E, p) {
  yp <- qpois(p, E)
  alpha <- (ppois(yp, E) - p) / (ppois(yp, E) - ppois(yp - 1, E))
  pmax(0, (yp - alpha) / E)
}
grid <- expand.grid(p = c(0.001, 0.025, 0.975, 0.999),
                    expected = c(0.5, 1, 2, 5, 10, 20, 50, 100, 500, 2000, 0.05, 3.7, 12.5, 77.7, 333.3, 10000))
grid$limit <- mapply(funnel_limit, grid$expected, grid$p)
write.csv(data.frame(expected = num(grid$expected), p = num(grid$p), limit = num(grid$limit)),
          "funnel_limits.csv", row.names = FALSE, quote = FALSE)

# A CUSUM input: 400 operations with risks spread over (0.01, 0.5); events drawn at three times the
# odds for the second half, so the chart has something to find.
set.seed(20050401)
n <- 400
risk <- round(exp(runif(n, log(0.01), log(0.5))), 6)
odds <- risk / (1 - risk) * ifelse(seq_len(n) > n / 2, 3, 1)
event <- as.integer(runif(n) < odds / (1 + odds))
write.csv(data.frame(event = event, risk = num(risk)), "cusum_input.csv", row.names = FALSE, quote = FALSE)

# W_t = max(0, W_{t-1} + y ln R - ln(1 - p + R p)), written ln(1 + (R - 1) p) with log1p (the same
# quantity; keeps digits for small p). Signal when W > h; with reset, the next step starts at 0;
# without, a signal is each crossing from <= h to > h. Signal indices are from 0, as in Rust.
cusum <- function(event, risk, R, h, reset) {
  w <- 0
  values <- numeric(length(event))
  signal <- integer(length(event))
  for (t in seq_along(event)) {
    before <- w
    w <- max(0, w + event[t] * log(R) - log1p((R - 1) * risk[t]))
    values[t] <- w
    if (w > h && (reset || before <= h)) {
      signal[t] <- 1L
      if (reset) w <- 0
    }
  }
  data.frame(t = seq_along(event) - 1L, value = values, signal = signal)
}
out <- NULL
for (cfg in list(list(R = 2, h = 4.5, reset = TRUE), list(R = 2, h = 4.5, reset = FALSE),
                 list(R = 2, h = 2, reset = TRUE), list(R = 0.5, h = 2, reset = TRUE),
                 list(R = 3, h = 3.5, reset = FALSE))) {
  r <- cusum(event, risk, cfg$R, cfg$h, cfg$reset)
  out <- rbind(out, data.frame(odds_ratio = num(cfg$R), h = num(cfg$h), reset = as.integer(cfg$reset),
                               t = r$t, value = num(r$value), signal = r$signal))
}
write.csv(out, "cusum.csv", row.names = FALSE, quote = FALSE)
cat("R", R.version$major, R.version$minor, "(base R: qpois, ppois, log1p)\n", file = "VERSIONS_funnel")
