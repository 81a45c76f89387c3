#!/usr/bin/env Rscript
# Reference profile-likelihood confidence intervals of variance components for
# hlmteach.variance_tests.profile_ci, on High School and Beyond.
#
# Run from the repository root:
#
#     Rscript tests/reference/profile_lme4.R
#
# It reads data/hsb.csv and writes tests/fixtures/profile_lme4.json; the Python
# tests only read it (Debian: r-cran-lme4 r-cran-minqa r-cran-jsonlite).
#
# Models: anova = mathach ~ 1 + (1 | school) and
#         random_coefficient = mathach ~ cses + (cses | school),
# cses = ses minus the school's mean ses in the file.
#
# IMPORTANT: lme4's profile() -- and so confint(fit, method = "profile") --
# always profiles the *ML* deviance: lme4:::devfun2 starts with
# `fm <- refitML(fm)`, even for a REML fit. Its intervals for a REML fit are
# therefore ML intervals. This script stores three things per model:
#
# 1. ml$lme4_confint: confint(fit, method = "profile", oldNames = FALSE), the
#    default call (SD / correlation scale; sigma is the residual SD). Variance
#    bounds are the squared SD bounds: the square is monotone on SD >= 0 and
#    the other parameters are profiled out either way, so the intervals are
#    the same. Correlations are not comparable with covariance intervals and
#    are not stored. lme4 evaluates the profile on a grid (delta.cutoff = 1/8)
#    and interpolates the signed square root of the deviance with splines, so
#    these bounds carry interpolation error (see 4).
#    ml$lme4_confint_varcov: the same with profile(prof.scale = "varcov"), which
#    profiles variances and the covariance directly (gives the covariance's
#    interval; sigma row = residual variance).
# 2. ml$exact: the ML profile computed here without interpolation: the
#    deviance function lme4 profiles (lme4:::devfun2, in sd/cor/sigma) is
#    minimised over the other parameters by minqa::bobyqa (rhoend 1e-10, warm
#    starts) at each trial value, and uniroot (tol 1e-11) finds where it is
#    qchisq(0.95, 1) above its minimum. A variance whose profile at zero is
#    still below the cutoff gets lower bound 0.
# 3. reml$exact: the same for the REML criterion. The REML deviance in
#    (sd, cor, sigma) is written like lme4:::devfun2 but without refitML and with
#    lme4's REML terms: ldL2 + ldRX2 + pwrss / sigma^2 + (n - p) log(2 pi sigma^2);
#    at the REML estimates it must equal REMLcrit(fit) (checked).
# 4. ml$lme4_confint_fine: lme4's profile with a 8 times finer grid
#    (delta.cutoff = 1/64, maxpts = 800), to show how much lme4's default
#    interpolation moves the bounds. accuracy$... records the largest relative
#    difference between lme4's default bounds (and its fine-grid and
#    variance-covariance-scale bounds) and the exact ML bounds.

suppressPackageStartupMessages({
  library(lme4)
  library(minqa)
  library(jsonlite)
})

CSV <- "data/hsb.csv"
OUT <- "tests/fixtures/profile_lme4.json"
LEVEL <- 0.95
CUTOFF <- qchisq(LEVEL, 1)
if (!file.exists(CSV)) stop("Run from the repository root: ", CSV, " not found")

hsb <- read.csv(CSV)
stopifnot(nrow(hsb) == 7185)
hsb$cses <- hsb$ses - ave(hsb$ses, hsb$school, FUN = mean)
hsb$school <- factor(hsb$school)

CTRL <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6))
MODELS <- list(anova = "mathach ~ 1 + (1 | school)",
               random_coefficient = "mathach ~ cses + (cses | school)")

# lme4:::devfun2 for REML: the unprofiled REML criterion in (sd, cor, sigma).
reml_devfun <- function(fm) {
  pp <- fm@pp$copy()
  resp <- fm@resp$copy()
  vlist <- lengths(fm@cnms)
  n <- nrow(pp$V)
  p <- ncol(pp$X)
  function(pars) {
    sigma <- pars[length(pars)]
    thpars <- lme4:::Sv_to_Cv(pars, n = vlist, s = sigma)
    .Call(lme4:::lmer_Deviance, pp$ptr(), resp$ptr(), thpars)
    pp$ldL2() + pp$ldRX2() + (resp$wrss() + pp$sqrL(1)) / sigma^2 +
      (n - p) * log(2 * pi * sigma^2)
  }
}

# Names of the (sd, cor, sigma) parameters in devfun2's order, hlmteach-style.
par_info <- function(fm) {
  cn <- fm@cnms$school
  cn[cn == "(Intercept)"] <- "Intercept"
  if (length(cn) == 1) {
    return(data.frame(name = c("Var(Intercept)", "Residual"), kind = c("sd", "sigma")))
  }
  data.frame(name = c(paste0("Var(", cn[1], ")"), "cor", paste0("Var(", cn[2], ")"), "Residual"),
             kind = c("sd", "cor", "sd", "sigma"))
}

exact_profile <- function(dev, opt, info) {
  lower_b <- ifelse(info$kind == "cor", -1, 0)
  upper_b <- ifelse(info$kind == "cor", 1, Inf)
  # polish the optimum first
  pol <- bobyqa(opt, dev, lower = lower_b, upper = upper_b,
                control = list(rhobeg = 1e-3, rhoend = 1e-11, maxfun = 1e5))
  opt <- pol$par
  base <- pol$fval
  out <- list()
  for (i in which(info$kind != "cor")) {
    warm <- list(list(x = opt[i], z = opt[-i]))
    prof <- function(x) {
      near <- warm[[which.min(sapply(warm, function(w) abs(w$x - x)))]]
      f <- function(z) { pp <- opt; pp[i] <- x; pp[-i] <- z; dev(pp) }
      start <- pmin(pmax(near$z, lower_b[-i] + 1e-6), upper_b[-i] - 1e-6)
      r <- bobyqa(start, f, lower = lower_b[-i], upper = upper_b[-i],
                  control = list(rhobeg = 1e-2, rhoend = 1e-10, maxfun = 1e5))
      warm[[length(warm) + 1]] <<- list(x = x, z = r$par)
      r$fval
    }
    g <- function(x) prof(x) - base - CUTOFF
    step <- 0.2 * opt[i]
    # lower bound
    if (info$kind[i] == "sd" && g(0) <= 0) {
      lo <- 0
    } else {
      a <- opt[i]
      b <- max(opt[i] - step, if (info$kind[i] == "sd") 0 else opt[i] / 2)
      while (g(b) < 0) { a <- b; b <- max(b - step, b / 2) }
      lo <- uniroot(g, c(b, a), tol = 1e-11)$root
    }
    a <- opt[i]
    b <- opt[i] + step
    while (g(b) < 0) { a <- b; b <- b + step }
    hi <- uniroot(g, c(a, b), tol = 1e-11)$root
    out[[info$name[i]]] <- list(sd_lower = lo, sd_upper = hi, lower = lo^2, upper = hi^2,
                                estimate = opt[i]^2)
  }
  list(intervals = out, base_deviance = base)
}

lme4_bounds <- function(ci, info, squared = TRUE) {
  out <- list()
  rn <- rownames(ci)
  for (k in seq_len(nrow(info))) {
    nm <- info$name[k]
    row <- switch(info$kind[k],
                  sigma = "sigma",
                  sd = grep(if (nm == "Var(Intercept)") "^(sd|var)_\\(Intercept\\)" else "^(sd|var)_cses", rn),
                  cor = grep("^(cor|cov)_", rn))
    b <- unname(ci[row, ])
    if (info$kind[k] == "cor") {
      if (squared) next
      nm <- "Cov(Intercept, cses)"
      out[[nm]] <- list(lower = b[1], upper = b[2])
      next
    }
    out[[nm]] <- if (squared) list(sd_lower = b[1], sd_upper = b[2], lower = b[1]^2, upper = b[2]^2)
                 else list(lower = b[1], upper = b[2])
  }
  out
}

results <- list()
for (name in names(MODELS)) {
  fml <- as.formula(MODELS[[name]])
  fit_reml <- lmer(fml, data = hsb, REML = TRUE, control = CTRL)
  fit_ml <- lmer(fml, data = hsb, REML = FALSE, control = CTRL)
  info <- par_info(fit_reml)

  # REML exact profile
  rdev <- reml_devfun(fit_reml)
  vl <- lengths(fit_reml@cnms)
  opt_reml <- lme4:::Cv_to_Sv(getME(fit_reml, "theta"), n = vl, s = sigma(fit_reml))
  stopifnot(abs(rdev(opt_reml) - REMLcrit(fit_reml)) < 1e-7)
  reml_ex <- exact_profile(rdev, unname(opt_reml), info)

  # ML exact profile on lme4's own profiling function
  mdev <- lme4:::devfun2(fit_ml)
  np <- length(getME(fit_ml, "theta")) + 1
  opt_ml <- unname(attr(mdev, "optimum")[seq_len(np)])
  ml_ex <- exact_profile(function(p) unname(mdev(p)), opt_ml, info)

  # lme4's own intervals (ML, whatever the fit's method)
  ci_default <- suppressWarnings(confint(fit_reml, parm = "theta_", method = "profile",
                                         oldNames = FALSE, level = LEVEL))
  ci_ml <- suppressWarnings(confint(fit_ml, parm = "theta_", method = "profile",
                                    oldNames = FALSE, level = LEVEL))
  stopifnot(max(abs(ci_default - ci_ml)) < 1e-6)
  pr_fine <- suppressWarnings(profile(fit_ml, which = "theta_", signames = FALSE,
                                      delta.cutoff = 1 / 64, maxpts = 800))
  ci_fine <- suppressWarnings(confint(pr_fine, level = LEVEL))
  pr_vc <- suppressWarnings(profile(fit_ml, which = "theta_", signames = FALSE,
                                    prof.scale = "varcov"))
  ci_vc <- suppressWarnings(confint(pr_vc, level = LEVEL))

  lme4_default <- lme4_bounds(ci_default, info)
  rel <- c()
  for (nm in names(lme4_default)) rel <- c(rel,
    abs(lme4_default[[nm]]$lower / ml_ex$intervals[[nm]]$lower - 1),
    abs(lme4_default[[nm]]$upper / ml_ex$intervals[[nm]]$upper - 1))
  rel_fine <- c()
  lme4_fine <- lme4_bounds(ci_fine, info)
  for (nm in names(lme4_fine)) rel_fine <- c(rel_fine,
    abs(lme4_fine[[nm]]$lower / ml_ex$intervals[[nm]]$lower - 1),
    abs(lme4_fine[[nm]]$upper / ml_ex$intervals[[nm]]$upper - 1))

  lme4_vc <- lme4_bounds(ci_vc, info, squared = FALSE)
  rel_vc <- c()
  for (nm in names(ml_ex$intervals)) rel_vc <- c(rel_vc,
    abs(lme4_vc[[nm]]$lower / ml_ex$intervals[[nm]]$lower - 1),
    abs(lme4_vc[[nm]]$upper / ml_ex$intervals[[nm]]$upper - 1))

  results[[name]] <- list(
    formula = MODELS[[name]],
    reml = list(deviance = REMLcrit(fit_reml), base_deviance_polished = reml_ex$base_deviance,
                exact = reml_ex$intervals),
    ml = list(deviance = deviance(fit_ml), base_deviance_polished = ml_ex$base_deviance,
              exact = ml_ex$intervals,
              lme4_confint = lme4_default,
              lme4_confint_fine = lme4_fine,
              lme4_confint_varcov = lme4_vc),
    accuracy = list(
      lme4_default_vs_exact_max_rel = max(rel),
      lme4_fine_vs_exact_max_rel = max(rel_fine),
      lme4_varcov_vs_exact_max_rel = max(rel_vc)))
  message(sprintf("%s: lme4 vs exact ML bounds, max rel diff %.2e (fine grid %.2e, varcov %.2e)",
                  name, max(rel), max(rel_fine), max(rel_vc)))
}

ver <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "Profile-likelihood 95% intervals of HSB variance components: exact REML and ML",
    "profiles by root finding, and lme4's confint(method = 'profile') (which is ML).",
    "Generated by tests/reference/profile_lme4.R; see the comments there."),
  level = LEVEL,
  cutoff = CUTOFF,
  data = list(file = CSV, md5 = unname(tools::md5sum(CSV)), n_obs = nrow(hsb),
              n_groups = nlevels(hsb$school)),
  provenance = list(
    command = "Rscript tests/reference/profile_lme4.R",
    date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(lme4 = ver("lme4"), Matrix = ver("Matrix"), minqa = ver("minqa"),
                    jsonlite = ver("jsonlite")),
    lme4_call = "confint(fit, parm = 'theta_', method = 'profile', oldNames = FALSE)"),
  models = results)
dir.create(dirname(OUT), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), OUT)
message("wrote ", OUT)
