#!/usr/bin/env Rscript
# Reference numbers for hlmteach.simulation.simulate_eblup_tests (notebook 05): lme4's REML
# fit of two of its simulated data sets, 40 schools of 7 students, y = u_j + r_ij with
# sigma2 = 0.9: tau00 = 0.1 (seed 3, an interior fit) and tau00 = 0 (seed 0, a boundary
# fit). The students are in tests/fixtures/eblup_tests_replicates.csv (written by Python
# with the draws of simulate_eblup_tests(n_reps=1, n_schools=40, school_size=7, seed=...);
# tests/test_simulation.py checks that they are).
#
# Run from the repository root:
#
#     Rscript tests/reference/eblup_tests_lme4.R
#
# It writes tests/fixtures/eblup_tests_lme4.json (Debian: r-cran-lme4 r-cran-jsonlite).
# Per case: tau00 and sigma2 (REML), the EBLUPs (ranef), their conditional variances
# (ranef(condVar = TRUE), fixed effects treated as known), and SAS's prediction error
# variance, condVar plus the part due to estimating gamma00, lambda * tau / J
# for balanced schools, lambda = tau / (tau + sigma2 / n); then the number of schools with
# |EBLUP| > 1.96 sqrt(PEV) and the share whose true u_j lies within EBLUP +- 1.96 sqrt(PEV).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

students <- read.csv("tests/fixtures/eblup_tests_replicates.csv")
out <- list()
for (case in unique(students$case)) {
  d <- students[students$case == case, ]
  d$school <- factor(d$school)
  fit <- lmer(y ~ 1 + (1 | school), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa",
                                    optCtrl = list(rhoend = 1e-10, maxfun = 1e5),
                                    check.conv.singular = "ignore"))
  vc <- as.data.frame(VarCorr(fit))
  tau <- vc$vcov[vc$grp == "school"]
  sigma2 <- vc$vcov[vc$grp == "Residual"]
  re <- ranef(fit, condVar = TRUE)$school
  eblup <- re[["(Intercept)"]]
  cond_var <- as.numeric(attr(re, "postVar"))
  J <- nlevels(d$school)
  n <- nrow(d) / J
  lambda <- tau / (tau + sigma2 / n)
  pev <- cond_var + lambda * tau / J
  u <- tapply(d$u, d$school, mean)[rownames(re)]
  out[[case]] <- list(
    tau00 = tau, sigma2 = sigma2,
    eblup = eblup, cond_var = cond_var,
    significant = sum(abs(eblup) > 1.96 * sqrt(pev) + 1e-9),
    coverage = mean(abs(eblup - u) <= 1.96 * sqrt(pev) + 1e-9)
  )
}
out$provenance <- list(
  r = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  date = as.character(Sys.Date()),
  script = "tests/reference/eblup_tests_lme4.R"
)
write_json(out, "tests/fixtures/eblup_tests_lme4.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
