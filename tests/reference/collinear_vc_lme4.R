#!/usr/bin/env Rscript
# lme4's view of tests/fixtures/collinear_vc.csv: uncorrelated random effects (VC) for an
# intercept and three slopes whose columns are nearly collinear with it (cosines 0.997-1.0).
# Run from the repository root:  Rscript tests/reference/collinear_vc_lme4.R
# It writes tests/fixtures/collinear_vc_lme4.json: REML criterion of lme4's own fits (bobyqa
# from lme4's start and from the engine's optimum) and lme4's profiled deviance function
# evaluated at the engine's optimum (theta in lme4's units, given below).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- read.csv("tests/fixtures/collinear_vc.csv")
f <- y ~ x0 + x1 + x2 + x3 + (1 | g) + (0 + x0 | g) + (0 + x1 | g) + (0 + x2 | g)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
fit_from <- function(start) {
  m <- suppressMessages(suppressWarnings(
    lmer(f, data = d, REML = TRUE, control = ctrl, start = start)))
  list(remlcrit = REMLcrit(m), theta = unname(getME(m, "theta")))
}
engine_theta <- c(23.84467016, 0.40715933, 0.20194903, 0)  # hlmteach's optimum, sqrt(tau/sigma2)
devfun <- lmer(f, data = d, REML = TRUE, devFunOnly = TRUE)
out <- list(
  provenance = list(
    script = "tests/reference/collinear_vc_lme4.R",
    date = format(Sys.time(), tz = "UTC", usetz = TRUE),
    r_version = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    data = "tests/fixtures/collinear_vc.csv: a random model of the engine's stress generator, written at 12 significant digits"
  ),
  lme4_default_start = fit_from(NULL),
  lme4_from_engine_optimum = fit_from(list(theta = engine_theta)),
  engine_theta = engine_theta,
  devfun_at_engine_theta = devfun(engine_theta)
)
write_json(out, "tests/fixtures/collinear_vc_lme4.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
