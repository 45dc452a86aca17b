# R `survival` side of the survival benchmark (crates/cli/benches/survival.rs runs it):
# `Rscript survival_r.R FILE.csv [REPS]`. Reads the time,event,brand CSV, then times
# Kaplan–Meier by brand (survfit, R's default log-scale limits) and the log-rank test across
# brands (survdiff), REPS times (default 3), and prints one JSON line: the load time, each
# compute time, and the chi-square with 17 significant digits for the agreement check.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
file <- args[1]
reps <- if (length(args) >= 2) as.integer(args[2]) else 3L

elapsed <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - t0
}

# scan() with fixed column types is base R's fastest plain reader (read.csv guesses types).
t0 <- proc.time()[["elapsed"]]
cols <- scan(file, what = list(time = 0, event = 0L, brand = 0L), sep = ",", skip = 1, quiet = TRUE)
df <- data.frame(time = cols$time, event = cols$event, brand = cols$brand)
load_s <- proc.time()[["elapsed"]] - t0

km_s <- numeric(reps)
lr_s <- numeric(reps)
for (r in seq_len(reps)) {
  gc()
  km_s[r] <- elapsed(fit <- survfit(Surv(time, event) ~ brand, data = df))
  lr_s[r] <- elapsed(lr <- survdiff(Surv(time, event) ~ brand, data = df))
}
num <- function(x) sprintf("%.17g", x)
arr <- function(x) paste0("[", paste(sprintf("%.6f", x), collapse = ","), "]")
cat(sprintf(paste0('{"tool":"R survival","version":"R %s.%s, survival %s","rows":%d,"load_s":%.6f,',
                   '"km_s":%s,"logrank_s":%s,"compute_s":%s,"chisq":"%s","df":%d,"groups":%d,',
                   '"steps":%d,"surv_sum":"%s","events":%d}\n'),
            R.version$major, R.version$minor, as.character(packageVersion("survival")), nrow(df), load_s,
            arr(km_s), arr(lr_s), arr(km_s + lr_s), num(lr$chisq), length(lr$n) - 1L, length(lr$n),
            length(fit$time), num(sum(fit$surv)), sum(df$event)))
