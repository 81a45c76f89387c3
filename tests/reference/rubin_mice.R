#!/usr/bin/env Rscript
# Independent reference numbers for hlmteach.plausible.rubin_pool: Rubin's rules
# with the Barnard-Rubin (1999) degrees of freedom, computed by R's mice.
#
# Run from the repository root:
#
#     Rscript tests/reference/rubin_mice.R
#
# It writes tests/fixtures/rubin_reference.json; the Python tests only read it
# (Debian: r-cran-mice r-cran-mitools r-cran-jsonlite).
#
# What is computed
# ----------------
# The inputs are fixed numbers written below (and copied into the JSON): for
# each case, M completed-data estimates and their squared standard errors for
# k parameters, and a complete-data df per parameter (Inf allowed).
#
# For each parameter, mice::pool.scalar(Q, U, n, k) pools them. Its Barnard-Rubin
# df uses dfcom = n - k (see mice:::barnard.rubin), so we pass n = dfcom + 1 and
# k = 1, or n = Inf for an infinite dfcom. pool.scalar returns
#   qbar (pooled estimate), ubar (within variance), b (between variance),
#   t = ubar + (1 + 1/m) b (total variance), r = (1 + 1/m) b / ubar (relative
#   increase in variance), df (Barnard-Rubin) and
#   fmi = (r + 2 / (df + 3)) / (r + 1) (fraction of missing information).
# We add lambda = (1 + 1/m) b / t (the proportion of the total variance due to
# the missing data), which mice:::barnard.rubin uses internally.
#
# Note on mice's clamp: mice:::barnard.rubin replaces lambda < 1e-4 by 1e-4,
# which the exact formula does not do. Every case below has lambda well above
# 1e-4, so the clamp does not act and the numbers are the exact formula.
#
# mitools::MIcombine is run too, for information only: its estimate and total
# variance are the same, but its observed-data df uses ubar / (ubar + b) where
# Barnard & Rubin (1999, eq. 3 and below) have 1 - lambda = ubar / t, so its df
# differs slightly when dfcom is finite (identical when dfcom = Inf).

suppressPackageStartupMessages({
  library(mice)
  library(mitools)
  library(jsonlite)
})

OUT <- "tests/fixtures/rubin_reference.json"

CASES <- list(
  # Five plausible values, four parameters shaped like an HLM's fixed effects:
  # intercept (between-school df), two student-level slopes (within-school df)
  # and one parameter with an infinite complete-data df.
  five_pvs = list(
    estimates = rbind(
      c(0.6103, 0.4888, 0.1393, 0.8270),
      c(0.6235, 0.4671, 0.1512, 0.8194),
      c(0.5978, 0.5032, 0.1288, 0.8351),
      c(0.6187, 0.4795, 0.1457, 0.8233),
      c(0.6051, 0.4950, 0.1342, 0.8302)),
    variances = rbind(
      c(0.028682, 0.042458, 0.034060, 0.022268),
      c(0.028511, 0.042730, 0.033891, 0.022301),
      c(0.028840, 0.042299, 0.034190, 0.022187),
      c(0.028602, 0.042515, 0.034003, 0.022344),
      c(0.028777, 0.042391, 0.034122, 0.022250))^2,
    df_complete = c(149, 2748, 2748, Inf)),
  # Two imputations, much missing information, small complete-data df.
  two_imputations = list(
    estimates = rbind(c(1.0, -2.5, 10.0), c(3.0, -1.5, 12.5)),
    variances = rbind(c(1.0, 0.25, 4.0), c(1.2, 0.30, 3.0)),
    df_complete = c(10, 4, 30)),
  # Ten imputations, little missing information.
  ten_imputations = list(
    estimates = cbind(
      c(2.11, 2.13, 2.08, 2.15, 2.12, 2.10, 2.14, 2.09, 2.12, 2.13),
      c(5.90, 5.81, 5.87, 5.95, 5.84, 5.88, 5.86, 5.91, 5.83, 5.89)),
    variances = cbind(rep(0.109, 10) + (0:9) * 1e-3, rep(0.36, 10) - (0:9) * 2e-3),
    df_complete = c(7023, 158))
)

pool_case <- function(case) {
  Q <- case$estimates
  U <- case$variances
  stopifnot(all(dim(Q) == dim(U)))
  res <- lapply(seq_len(ncol(Q)), function(j) {
    dfcom <- case$df_complete[j]
    n <- if (is.finite(dfcom)) dfcom + 1 else Inf
    p <- mice::pool.scalar(Q[, j], U[, j], n = n, k = 1)
    lambda <- (1 + 1 / p$m) * p$b / p$t
    stopifnot(lambda > 1e-3)  # mice's clamp at 1e-4 must not act
    list(estimate = p$qbar, within = p$ubar, between = p$b, total = p$t,
         se = sqrt(p$t), df = p$df, riv = p$r, lambda = lambda, fmi = p$fmi)
  })
  mi <- mitools::MIcombine(
    results = lapply(seq_len(nrow(Q)), function(i) Q[i, ]),
    variances = lapply(seq_len(nrow(U)), function(i) diag(U[i, ], ncol(U))),
    df.complete = Inf)
  mi_df <- sapply(seq_len(ncol(Q)), function(j) {
    mitools::MIcombine(results = as.list(Q[, j]), variances = as.list(U[, j]),
                       df.complete = case$df_complete[j])$df
  })
  list(
    inputs = list(estimates = unname(lapply(seq_len(nrow(Q)), function(i) Q[i, ])),
                  variances = unname(lapply(seq_len(nrow(U)), function(i) U[i, ])),
                  df_complete = ifelse(is.finite(case$df_complete), case$df_complete, NA)),
    mice = list(
      estimate = sapply(res, `[[`, "estimate"), within = sapply(res, `[[`, "within"),
      between = sapply(res, `[[`, "between"), total = sapply(res, `[[`, "total"),
      se = sapply(res, `[[`, "se"), df = sapply(res, `[[`, "df"),
      riv = sapply(res, `[[`, "riv"), lambda = sapply(res, `[[`, "lambda"),
      fmi = sapply(res, `[[`, "fmi")),
    mitools_for_information = list(
      estimate = unname(coef(mi)), total = unname(diag(vcov(mi))), df = unname(mi_df)))
}

cases <- lapply(CASES, pool_case)
ver <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "Rubin's rules with Barnard-Rubin (1999) df by mice::pool.scalar, for",
    "hlmteach.plausible.rubin_pool. Generated by tests/reference/rubin_mice.R;",
    "see the comments there. df_complete null means infinite."),
  provenance = list(
    command = "Rscript tests/reference/rubin_mice.R",
    date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(mice = ver("mice"), mitools = ver("mitools"), jsonlite = ver("jsonlite")),
    call = "mice::pool.scalar(Q, U, n = df_complete + 1 (Inf if infinite), k = 1)"),
  cases = cases)
dir.create(dirname(OUT), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), OUT)
message("wrote ", OUT)
