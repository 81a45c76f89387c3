#!/usr/bin/env Rscript
# Independent R reference numbers for hlmteach's REML/ML engine on the
# High School and Beyond (HSB) data (Raudenbush & Bryk 2002, chapter 4).
#
# Run from the repository root:
#
#     Rscript tests/reference/hsb_lme4.R
#
# It reads data/hsb.csv and writes tests/fixtures/hsb_lme4.json. The fixture is
# committed; the Python test suite only reads it, so R is needed only to
# regenerate it (Debian: r-base-core r-cran-lme4 r-cran-lmertest r-cran-nlme
# r-cran-numderiv r-cran-jsonlite, optionally r-cran-pbkrtest).
#
# What is computed, per model and per method (REML and ML)
# --------------------------------------------------------
# * The fit, in three steps (fit_one below):
#   1. lme4::lmer with bobyqa at very tight tolerances (CTRL_MAIN). lme4's
#      defaults stop after ~3 correct digits in the variance components,
#      which is not enough for tests with 1e-5 relative tolerance.
#   2. Newton steps on theta, with the gradient and Hessian of lme4's
#      profiled deviance function by numDeriv (Richardson extrapolation)
#      on steps of HESS_STEP_SE standard errors of each theta. Derivative-free
#      optimisers stop where the deviance (~47000, rounding noise ~1e-11) no
#      longer changes; in flat directions (the covariance tau01 of the
#      random-slope models) that leaves ~2e-5 relative in the estimate, which
#      Newton steps on accurate derivatives remove.
#   3. lmerTest::lmer evaluated at that theta (lmerControl(optimizer = NULL),
#      start = theta): the reported fit, with lmerTest's extras.
# * Convergence is verified, not assumed (the script stops if a check fails):
#   (a) at the reported theta the next Newton step must be below STEP_TOL
#       standard errors and the deviance decrease it promises below
#       PRED_DEC_TOL;
#   (b) three independent fits -- the bobyqa fit of step 1, Nelder_Mead at
#       tight tolerances from lme4's default start, and bobyqa from another
#       start -- must reach deviances within DEV_AGREE (1e-8) of the reported
#       one, and none lower by more than 1e-10;
#   (c) Newton steps started from the Nelder_Mead optimum must land on the
#       same theta to STEP_TOL standard errors.
#   All of these, and how far each optimiser's tau, sigma2 and fixed effects
#   lie from the reported ones, are stored under "convergence".
# * deviance = -2 * logLik: the REML criterion for REML fits, the -2 log
#   likelihood for ML fits (lme4's REMLcrit() / deviance()).
# * fixed: estimate, model-based SE, Satterthwaite df, t and p from
#   summary(fit, ddf = "Satterthwaite"); for REML fits also the Kenward-Roger
#   df, adjusted SE, t and p from summary(fit, ddf = "Kenward-Roger")
#   (needs pbkrtest).
# * tau (random-effect covariance matrix entries, named "(Intercept)", "cses"
#   for variances and "(Intercept):cses" for the covariance), sigma2 (residual
#   variance) and theta (lme4's relative Cholesky factor, column-major lower
#   triangle per term).
# * covparm_se: SEs of (tau entries, sigma2) from the observed information.
#   lmerTest stores in fit@vcov_varpar the matrix 2 * H^{-1}, where H is
#   numDeriv::hessian of lmerTest:::devfun_vp, the *unprofiled* deviance
#   (-2 log L, or -2 log L_REML for REML) as a function of varpar =
#   c(theta, sigma) (sigma = residual SD, not variance; for ML the fixed
#   effects are profiled out, which leaves the variance-parameter block of the
#   inverse information unchanged). We map it with the delta method,
#   Cov(tau, sigma2) = J vcov_varpar J', where J = numDeriv::jacobian of the
#   map (theta, sigma) -> (tau entries, sigma2), T = sigma^2 * Lambda Lambda'.
#   lmerTest's numDeriv call uses steps of 10% of each |parameter| (halved 4
#   times); for the small off-diagonal theta of the random-slope models those
#   steps are so short that the deviance's rounding noise costs ~1e-5 in the
#   SE of tau01. So covparm_se uses vcov_varpar recomputed from the very same
#   function (lmerTest:::devfun_vp) and formula, 2 * H^{-1}, with steps of
#   HESS_STEP_SE standard errors per parameter; the SEs from lmerTest's own
#   fit@vcov_varpar are stored too (covparm_se_lmertest_default_steps) and
#   must agree to SE_AGREE_LT.
#   This is the Wald SE that SAS PROC MIXED's COVTEST prints: the same
#   formula evaluated at SAS's own (less converged) printed estimates gives
#   its printed SEs (1.0778 and 0.6607 for the anova model).
# * covparm_se_check: the same SEs computed a second, independent way, for
#   every model: a deviance function written here from scratch (per-school
#   V_j = Z_j T Z_j' + sigma2 I, GLS for beta, plus the REML term) directly in
#   the parameters (tau entries, sigma2); numDeriv::hessian of it at the
#   estimates; covariance = 2 * H^{-1}. Its value at the estimates must equal
#   lme4's deviance and its SEs must agree with covparm_se to SE_AGREE.
#   Its finite-difference steps are HESS_STEP_SE standard errors of each
#   parameter (halved 4 times for Richardson extrapolation).
#   For `anova` REML the nlme::lme fit gives a third value (apVar, mapped by
#   the delta method from nlme's log-SD scale), stored in cross_check_nlme.
# * ranef (random_coefficient REML only): conditional modes of the first 5
#   schools in file order and their conditional SDs from
#   ranef(fit, condVar = TRUE); these condition on the estimated theta and
#   fixed effects (lme4's "postVar"), i.e. they do not add the uncertainty
#   of the fixed effects.
# * aic, bic, n_par: R's AIC()/BIC() and the df of logLik. For REML fits R
#   counts the fixed effects in n_par (SAS PROC MIXED does not) and BIC uses
#   log(n_obs) with n_obs = 7185 students.
# * reliability_rb (REML fits only): Raudenbush & Bryk's (2002, eq. 3.58)
#   average reliability of the OLS estimate of each random level-1
#   coefficient, mean_j tau_qq / (tau_qq + v_qqj), v_j = sigma2 (Z_j'Z_j)^{-1}
#   -- the "Reliability estimate" HLM prints.
#
# cses = ses - (mean of ses over the school's students in data/hsb.csv); the
# file's meanses column is the school file's MEANSES, which differs from that
# mean by +0.0055 to +0.0065 in every school, so it is NOT used for centring.
# Only the section variant_cses_minus_file_meanses (random_coefficient and
# intercepts_slopes_as_outcomes, REML) uses cses = ses - meanses, as SAS and
# Stata replications of R&B's chapter 4 do, to compare with their output.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(nlme)
  library(numDeriv)
  library(jsonlite)
})

CSV <- "data/hsb.csv"
OUT <- "tests/fixtures/hsb_lme4.json"
DEV_AGREE <- 1e-8     # |deviance(refit) - deviance(main)| allowed
PRED_DEC_TOL <- 1e-12 # deviance decrease a Newton step from the optimum may promise
STEP_TOL <- 1e-6      # size of that Newton step, in standard errors of theta
SE_AGREE <- 1e-5      # relative agreement of the two covparm SE computations
SE_AGREE_LT <- 1e-4   # ... and of lmerTest's default-step vcov_varpar with them
HESS_STEP_SE <- 0.1   # largest finite-difference step of the Hessians, in SEs
if (!file.exists(CSV)) stop("Run from the repository root: ", CSV, " not found")

hsb <- read.csv(CSV)
stopifnot(nrow(hsb) == 7185, length(unique(hsb$school)) == 160)
hsb$cses <- hsb$ses - ave(hsb$ses, hsb$school, FUN = mean)
school_ids <- unique(hsb$school)          # file order
hsb$school <- factor(hsb$school, levels = school_ids)

OPT_MAIN <- list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6)
# lme4's Nelder_Mead stops on the absolute parameter tolerance xt (default
# 5e-4 times the initial step, i.e. 1e-5): set it to 1e-8 for every theta.
# (Much smaller xt makes it cycle on the deviance's rounding noise.)
OPT_NM <- list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-13,
               xt_each_theta = 1e-8, maxfun = 1e5)
# lme4's own gradient check is left at its default tolerance (2e-3): it uses
# plain central differences, whose noise at the optimum is ~1e-4; the real
# convergence checks are ours (see the header).
CTRL_MAIN <- lmerControl(optimizer = "bobyqa", optCtrl = OPT_MAIN)
ctrl_nm <- function(n_theta) {
  oc <- OPT_NM[c("FtolAbs", "FtolRel", "XtolRel", "maxfun")]
  oc$xt <- rep(OPT_NM$xt_each_theta, n_theta)
  lmerControl(optimizer = "Nelder_Mead", optCtrl = oc)
}

MODELS <- list(
  anova = "mathach ~ 1 + (1 | school)",
  means_as_outcomes = "mathach ~ meanses + (1 | school)",
  random_coefficient = "mathach ~ cses + (cses | school)",
  intercepts_slopes_as_outcomes =
    "mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (cses | school)",
  random_coefficient_diag = "mathach ~ cses + (1 | school) + (0 + cses | school)"
)

# ---------------------------------------------------------------------------
# (theta, sigma) -> (tau entries, sigma2), lme4's parameterisation
# ---------------------------------------------------------------------------
term_blocks <- function(fit) {
  cnms <- getME(fit, "cnms")
  lapply(seq_along(cnms), function(k) list(group = names(cnms)[k], cols = cnms[[k]]))
}

tau_names <- function(blocks) {
  out <- character(0)
  for (b in blocks) {
    out <- c(out, b$cols)
    nc <- length(b$cols)
    if (nc > 1) for (i in 1:(nc - 1)) for (j in (i + 1):nc)
      out <- c(out, paste0(b$cols[i], ":", b$cols[j]))
  }
  out
}

varpar_to_tau <- function(varpar, blocks) {
  sigma <- varpar[length(varpar)]
  theta <- varpar[-length(varpar)]
  out <- numeric(0)
  pos <- 0
  for (b in blocks) {
    nc <- length(b$cols)
    L <- matrix(0, nc, nc)
    L[lower.tri(L, diag = TRUE)] <- theta[pos + seq_len(nc * (nc + 1) / 2)]
    pos <- pos + nc * (nc + 1) / 2
    Tm <- sigma^2 * L %*% t(L)
    out <- c(out, diag(Tm))
    if (nc > 1) for (i in 1:(nc - 1)) for (j in (i + 1):nc) out <- c(out, Tm[i, j])
  }
  c(out, sigma^2)
}

# ---------------------------------------------------------------------------
# An independent deviance: written from scratch in (tau entries, sigma2)
# ---------------------------------------------------------------------------
make_direct_deviance <- function(fit, blocks, reml, dat) {
  X <- getME(fit, "X")
  y <- getME(fit, "y")
  Zcols <- lapply(blocks, function(b) b$cols)
  g <- as.character(dat$school)
  Zall <- cbind(`(Intercept)` = 1, cses = dat$cses)
  idx <- split(seq_along(y), factor(g, levels = as.character(school_ids)))
  p <- ncol(X)
  n <- length(y)
  function(par) {
    # par: tau entries in tau_names(blocks) order, then sigma2
    s2 <- par[length(par)]
    Tfull <- matrix(0, 2, 2, dimnames = list(colnames(Zall), colnames(Zall)))
    pos <- 0
    for (b in blocks) {
      nc <- length(b$cols)
      Tm <- diag(par[pos + seq_len(nc)], nc)
      pos <- pos + nc
      if (nc > 1) for (i in 1:(nc - 1)) for (j in (i + 1):nc) {
        pos <- pos + 1
        Tm[i, j] <- Tm[j, i] <- par[pos]
      }
      Tfull[b$cols, b$cols] <- Tfull[b$cols, b$cols] + Tm
    }
    used <- unique(unlist(Zcols))
    Tfull <- Tfull[used, used, drop = FALSE]
    logdet <- 0
    XtVX <- matrix(0, p, p)
    XtVy <- numeric(p)
    ytVy <- 0
    for (ix in idx) {
      Z <- Zall[ix, used, drop = FALSE]
      V <- Z %*% Tfull %*% t(Z) + diag(s2, length(ix))
      R <- chol(V)
      logdet <- logdet + 2 * sum(log(diag(R)))
      Xw <- backsolve(R, X[ix, , drop = FALSE], transpose = TRUE)
      yw <- backsolve(R, y[ix], transpose = TRUE)
      XtVX <- XtVX + crossprod(Xw)
      XtVy <- XtVy + drop(crossprod(Xw, yw))
      ytVy <- ytVy + sum(yw^2)
    }
    beta <- solve(XtVX, XtVy)
    quad <- ytVy - sum(beta * XtVy)
    if (reml) {
      logdet + quad + determinant(XtVX)$modulus[1] + (n - p) * log(2 * pi)
    } else {
      logdet + quad + n * log(2 * pi)
    }
  }
}

# Gradient and Hessian of a function at x by numDeriv (Richardson, 4 halvings)
# with the first step HESS_STEP_SE * scl[i] in parameter i.
scaled_grad <- function(f, x, scl) {
  gz <- numDeriv::grad(function(z) f(x + scl * z), rep(0, length(x)),
                       method.args = list(eps = HESS_STEP_SE, d = 0.1, r = 4, v = 2,
                                          zero.tol = sqrt(.Machine$double.eps / 7e-7)))
  gz / scl
}

# Newton iterations on theta from `theta`, derivatives by Richardson
# extrapolation on steps of HESS_STEP_SE * scl.
polish_theta <- function(devfun, theta, scl, lower) {
  d_cur <- devfun(theta)
  n <- 0
  for (it in 1:6) {
    g <- scaled_grad(devfun, theta, scl)
    H <- scaled_hessian(devfun, theta, scl)
    step <- drop(solve(H, g))
    if (max(abs(step) / scl) < 1e-10) break
    cand <- theta - step
    if (any(cand < lower)) break
    d_new <- devfun(cand)
    if (d_new > d_cur + 1e-9) break
    theta <- cand
    d_cur <- d_new
    n <- n + 1
  }
  g <- scaled_grad(devfun, theta, scl)
  H <- scaled_hessian(devfun, theta, scl)
  step <- drop(solve(H, g))
  list(theta = theta, steps = n, gradient = g, newton_step = step,
       predicted_decrease = 0.5 * sum(g * step))
}

# Hessian of a function at x by numDeriv (Richardson, 4 halvings) with the
# first step HESS_STEP_SE * scl[i] in parameter i.
scaled_hessian <- function(f, x, scl) {
  Hz <- numDeriv::hessian(function(z) f(x + scl * z), rep(0, length(x)),
                          method.args = list(eps = HESS_STEP_SE, d = 0.1, r = 4, v = 2,
                                             zero.tol = sqrt(.Machine$double.eps / 7e-7)))
  Hz / outer(scl, scl)
}

refine_vcov_varpar <- function(fit, varpar, Vvp_lt, reml) {
  devfun <- update(fit, devFunOnly = TRUE)
  dvp <- function(v) lmerTest:::devfun_vp(v, devfun = devfun, reml = reml)
  H <- scaled_hessian(dvp, varpar, sqrt(diag(Vvp_lt)))
  2 * solve(H)
}

reliability_rb <- function(tau_mat, sigma2, cols, dat) {
  Zall <- cbind(`(Intercept)` = 1, cses = dat$cses)[, cols, drop = FALSE]
  idx <- split(seq_len(nrow(dat)), dat$school)
  rel <- t(sapply(idx, function(ix) {
    Z <- Zall[ix, , drop = FALSE]
    v <- sigma2 * diag(solve(crossprod(Z)))
    diag(tau_mat) / (diag(tau_mat) + v)
  }))
  if (length(cols) == 1) rel <- matrix(rel, ncol = 1)
  setNames(as.list(colMeans(rel)), cols)
}

full_tau_matrix <- function(tau, blocks) {
  cols <- unique(unlist(lapply(blocks, function(b) b$cols)))
  Tm <- matrix(0, length(cols), length(cols), dimnames = list(cols, cols))
  for (c1 in cols) Tm[c1, c1] <- tau[[c1]]
  for (nm in names(tau)) if (grepl(":", nm, fixed = TRUE)) {
    ab <- strsplit(nm, ":", fixed = TRUE)[[1]]
    Tm[ab[1], ab[2]] <- Tm[ab[2], ab[1]] <- tau[[nm]]
  }
  Tm
}

coef_table <- function(fit, ddf) {
  ct <- summary(fit, ddf = ddf)$coefficients
  out <- list()
  for (term in rownames(ct)) out[[term]] <- list(
    estimate = unname(ct[term, "Estimate"]),
    se = unname(ct[term, "Std. Error"]),
    df = unname(ct[term, "df"]),
    t = unname(ct[term, "t value"]),
    p = unname(ct[term, "Pr(>|t|)"]))
  out
}

dev_of <- function(fit) -2 * as.numeric(logLik(fit))

# Profiled residual SD at theta, from lme4's deviance-function environment.
sigma_at <- function(devfun, theta, reml) {
  devfun(theta)
  rho <- environment(devfun)
  n <- nrow(rho$pp$V)
  p <- ncol(rho$pp$V)
  pwrss <- rho$resp$wrss() + rho$pp$sqrL(1)
  sqrt(pwrss / (n - if (reml) p else 0))
}

# ---------------------------------------------------------------------------
# One fit
# ---------------------------------------------------------------------------
fit_one <- function(name, formula_txt, reml, dat = hsb) {
  method <- if (reml) "REML" else "ML"
  fml <- as.formula(formula_txt)

  # --- 1. bobyqa at tight tolerances ----------------------------------------
  fit_b <- lme4::lmer(fml, data = dat, REML = reml, control = CTRL_MAIN)
  theta_b <- getME(fit_b, "theta")
  lower <- getME(fit_b, "lower")
  devfun <- lme4::lmer(fml, data = dat, REML = reml, control = CTRL_MAIN,
                       devFunOnly = TRUE)

  # --- 2. Newton polish of theta ----------------------------------------------
  # (see the header). scl: rough standard errors of theta, only used to
  # scale the finite-difference steps.
  scl <- sqrt(diag(2 * solve(numDeriv::hessian(devfun, unname(theta_b)))))
  pol <- polish_theta(devfun, unname(theta_b), scl, lower)
  theta <- pol$theta
  g_final <- pol$gradient
  newton_step <- pol$newton_step
  pred_decrease <- pol$predicted_decrease
  step_in_se <- max(abs(newton_step) / scl)
  n_newton <- pol$steps
  if (pred_decrease > PRED_DEC_TOL || step_in_se > STEP_TOL)
    stop(name, " ", method, ": not converged; Newton step ", step_in_se,
         " SE, predicted decrease ", pred_decrease)
  names(theta) <- names(theta_b)

  # --- 3. the reported fit: lmerTest at the polished theta (no optimiser) -----
  fit <- lmerTest::lmer(fml, data = dat, REML = reml,
                        control = lmerControl(optimizer = NULL),
                        start = list(theta = unname(theta)))
  if (!inherits(fit, "lmerModLmerTest")) stop(name, " ", method, ": lmerTest extras missing")
  stopifnot(isTRUE(all.equal(getME(fit, "theta"), theta, tolerance = 0)))
  blocks <- term_blocks(fit)
  sigma <- sigma(fit)
  dev <- dev_of(fit)

  # --- 4. independent refits --------------------------------------------------
  fit_nm <- lme4::lmer(fml, data = dat, REML = reml, control = ctrl_nm(length(theta)))
  start_alt <- ifelse(lower == 0, 0.2, 0.05)
  fit_alt <- lme4::lmer(fml, data = dat, REML = reml, control = CTRL_MAIN,
                        start = list(theta = start_alt))
  dev_b <- dev_of(fit_b)
  dev_nm <- dev_of(fit_nm)
  dev_alt <- dev_of(fit_alt)
  agree <- max(abs(c(dev_b, dev_nm, dev_alt) - dev))
  if (agree > DEV_AGREE) stop(name, " ", method, ": refits disagree by ", agree)
  if (dev > min(dev_b, dev_nm, dev_alt) + 1e-10)
    stop(name, " ", method, ": polished deviance is not the lowest")
  # Newton polish from the Nelder-Mead optimum must land on the same theta.
  pol_nm <- polish_theta(devfun, unname(getME(fit_nm, "theta")), scl, lower)
  polish_diff <- max(abs(pol_nm$theta - theta) / scl)
  if (polish_diff > STEP_TOL)
    stop(name, " ", method, ": polish from Nelder-Mead lands elsewhere: ", polish_diff, " SE")
  tau_pol_nm <- varpar_to_tau(c(pol_nm$theta, sigma_at(devfun, pol_nm$theta, reml)), blocks)
  others <- list(fit_b, fit_nm, fit_alt)
  theta_diff <- max(sapply(others, function(f)
    max(abs(getME(f, "theta") - theta) / scl)))
  tau_of <- function(f) varpar_to_tau(unname(c(getME(f, "theta"), sigma(f))), term_blocks(f))
  tau_main <- tau_of(fit)
  tau_spread <- Reduce(pmax, lapply(others, function(f) abs(tau_of(f) - tau_main)))
  beta_spread <- Reduce(pmax, lapply(others, function(f) abs(fixef(f) - fixef(fit))))

  # --- variance parameters --------------------------------------------------
  varpar <- unname(c(theta, sigma))
  tn <- c(tau_names(blocks), "sigma2")
  tau_vec <- setNames(varpar_to_tau(varpar, blocks), tn)
  # must agree with VarCorr()
  vc <- VarCorr(fit)
  vc_entries <- unname(unlist(lapply(vc, function(m) {
    nc <- ncol(m)
    out <- diag(m)
    if (nc > 1) for (i in 1:(nc - 1)) for (j in (i + 1):nc) out <- c(out, m[i, j])
    unname(out)
  })))
  vc_chk <- all.equal(unname(tau_vec[-length(tau_vec)]), vc_entries, tolerance = 1e-12)
  if (!isTRUE(vc_chk)) stop(name, " ", method, ": tau differs from VarCorr(): ", vc_chk)

  # lmerTest's own vcov_varpar (numDeriv::hessian with its default steps,
  # 10% of each |parameter|, halved 4 times) ...
  Vvp_lt <- fit@vcov_varpar
  # ... and the same matrix, 2 * H^{-1} of the same function
  # lmerTest:::devfun_vp, with steps on each parameter's statistical scale.
  Vvp <- refine_vcov_varpar(fit, varpar, Vvp_lt, reml)
  J <- numDeriv::jacobian(function(v) varpar_to_tau(v, blocks), varpar)
  cov_tau <- J %*% Vvp %*% t(J)
  dimnames(cov_tau) <- list(tn, tn)
  se_tau <- sqrt(diag(cov_tau))
  se_tau_lt <- sqrt(diag(J %*% Vvp_lt %*% t(J)))
  se_rel_lt <- max(abs(se_tau_lt - se_tau) / se_tau)
  if (se_rel_lt > SE_AGREE_LT) stop(name, " ", method, ": lmerTest's default-step SEs off by ", se_rel_lt)

  # --- independent check of deviance and SEs ---------------------------------
  ddev <- make_direct_deviance(fit, blocks, reml, dat)
  dev_direct <- ddev(unname(tau_vec))
  if (abs(dev_direct - dev) > 1e-6) stop(name, " ", method, ": direct deviance ", dev_direct, " vs ", dev)
  # Steps on each parameter's own statistical scale (its SE from above):
  # numDeriv's default relative steps (d = 0.1 * |x|) are tiny for the small
  # covariance tau01 and drown in the deviance's rounding noise.
  H <- scaled_hessian(ddev, unname(tau_vec), se_tau)
  cov_direct <- 2 * solve(H)
  se_direct <- sqrt(diag(cov_direct))
  se_rel <- max(abs(se_direct - se_tau) / se_tau)
  if (se_rel > SE_AGREE) stop(name, " ", method, ": covparm SEs disagree, rel ", se_rel)

  tau_list <- as.list(tau_vec[-length(tau_vec)])
  fit_r <- fit
  fit_r@vcov_varpar <- Vvp
  df_r <- summary(fit_r, ddf = "Satterthwaite")$coefficients[, "df"]
  df_diff <- max(abs(df_r - summary(fit, ddf = "Satterthwaite")$coefficients[, "df"]))
  res <- list(
    formula = formula_txt,
    method = method,
    n_obs = nobs(fit),
    n_groups = unname(ngrps(fit)[1]),
    deviance = dev,
    fixed = coef_table(fit, "Satterthwaite"))
  if (reml && requireNamespace("pbkrtest", quietly = TRUE)) {
    kr <- coef_table(fit, "Kenward-Roger")
    for (term in names(res$fixed)) {
      res$fixed[[term]]$df_kenward_roger <- kr[[term]]$df
      res$fixed[[term]]$se_kenward_roger <- kr[[term]]$se
      res$fixed[[term]]$t_kenward_roger <- kr[[term]]$t
      res$fixed[[term]]$p_kenward_roger <- kr[[term]]$p
    }
  }
  res$tau <- tau_list
  if (name == "random_coefficient_diag") res$tau_fixed_zero <- list(`(Intercept):cses` = 0)
  res$sigma2 <- unname(tau_vec["sigma2"])
  res$theta <- as.list(theta)
  res$covparm_se <- as.list(se_tau)
  res$covparm_cov <- lapply(tn, function(r) as.list(cov_tau[r, ]))
  names(res$covparm_cov) <- tn
  res$covparm_se_check <- list(
    method = paste("numDeriv::hessian (Richardson, r = 4, first step HESS_STEP_SE standard",
                   "errors of each parameter) of a deviance written from scratch in",
                   "(tau entries, sigma2); covariance = 2 * solve(H)"),
    deviance_at_estimates = dev_direct,
    se = as.list(setNames(se_direct, tn)),
    max_rel_diff_vs_covparm_se = se_rel)
  res$covparm_se_lmertest_default_steps <- as.list(setNames(se_tau_lt, tn))
  res$vcov_varpar <- list(
    parameters = c(names(theta), "sigma"),
    matrix = unname(lapply(seq_len(nrow(Vvp)), function(i) Vvp[i, ])),
    matrix_lmertest_default_steps = unname(lapply(seq_len(nrow(Vvp_lt)), function(i) Vvp_lt[i, ])))
  res$aic <- AIC(fit)
  res$bic <- BIC(fit)
  res$n_par <- attr(logLik(fit), "df")
  if (reml) {
    cols <- unique(unlist(lapply(blocks, function(b) b$cols)))
    res$reliability_rb <- reliability_rb(full_tau_matrix(tau_list, blocks), res$sigma2, cols, dat)
  }
  res$convergence <- list(
    method = paste("bobyqa (control_main), then Newton steps on theta with",
                   "Richardson derivatives of lme4's profiled deviance"),
    bobyqa_feval = fit_b@optinfo$feval,
    bobyqa_message = fit_b@optinfo$message,
    bobyqa_lme4_gradient = unname(fit_b@optinfo$derivs$gradient),
    newton_steps_taken = n_newton,
    theta_scale_se = scl,
    final_gradient_per_se = g_final,
    final_newton_step_in_se = step_in_se,
    final_newton_predicted_deviance_decrease = pred_decrease,
    deviance_bobyqa = dev_b,
    deviance_nelder_mead = dev_nm,
    deviance_bobyqa_alt_start = dev_alt,
    alt_start_theta = start_alt,
    max_abs_deviance_diff = agree,
    max_theta_diff_in_se = theta_diff,
    polish_from_nelder_mead_theta_diff_in_se = polish_diff,
    polish_from_nelder_mead_max_rel_tau_sigma2_diff =
      max(abs(tau_pol_nm - tau_main) / abs(tau_main)),
    max_abs_tau_sigma2_diff = as.list(setNames(tau_spread, c(tau_names(blocks), "sigma2"))),
    max_abs_fixed_diff = as.list(beta_spread),
    satterthwaite_df_max_abs_diff_with_refined_vcov_varpar = df_diff,
    covparm_se_max_rel_diff_lmertest_default_steps = se_rel_lt)
  if (name == "random_coefficient" && reml) {
    re <- ranef(fit, condVar = TRUE)$school
    pv <- attr(re, "postVar")
    first <- as.character(school_ids[1:5])
    rr <- list()
    for (s in first) {
      i <- match(s, rownames(re))
      rr[[s]] <- list(
        mode = as.list(re[i, ]),
        cond_sd = setNames(as.list(sqrt(diag(pv[, , i]))), colnames(re)),
        cond_cov = pv[1, 2, i])
    }
    res$ranef <- rr
  }
  message(sprintf("%-31s %-4s dev %.10f  refit %.1e  Newton %.1e  SE chk %.1e  SE lmerTest %.1e  df %.1e",
                  name, method, dev, agree, step_in_se, se_rel, se_rel_lt, df_diff))
  message("   tau/sigma2 rel spread: ", paste(sprintf("%.1e", tau_spread / abs(tau_main)), collapse = " "),
          "   fixed rel spread: ", paste(sprintf("%.1e", beta_spread / abs(fixef(fit))), collapse = " "),
          sprintf("   polish from NM: %.1e SE, tau rel %.1e", polish_diff,
                  max(abs(tau_pol_nm - tau_main) / abs(tau_main))))
  res
}

# ---------------------------------------------------------------------------
# nlme cross-check for the anova model (REML)
# ---------------------------------------------------------------------------
nlme_check <- function(fixed_fml, reml = TRUE) {
  ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 10000,
                     niterEM = 100, tolerance = 1e-12, msTol = 1e-14,
                     opt = "nlminb", returnObject = FALSE)
  m <- lme(fixed_fml, random = ~ 1 | school, data = hsb,
           method = if (reml) "REML" else "ML", control = ctrl)
  tt <- summary(m)$tTable
  ap <- m$apVar                      # cov of (log sd(Intercept), log sigma)
  pars <- attr(ap, "Pars")
  Jn <- diag(2 * exp(2 * pars))      # d(exp(2 p)) / dp
  cov_n <- Jn %*% ap %*% t(Jn)
  fixed <- list()
  for (term in rownames(tt)) fixed[[term]] <- list(
    estimate = unname(tt[term, "Value"]), se = unname(tt[term, "Std.Error"]),
    df = unname(tt[term, "DF"]), t = unname(tt[term, "t-value"]))
  list(
    call = paste0("nlme::lme(", deparse(fixed_fml), ", random = ~ 1 | school, method = \"",
                  if (reml) "REML" else "ML", "\")"),
    deviance = -2 * as.numeric(logLik(m)),
    fixed = fixed,
    tau = list(`(Intercept)` = unname(exp(2 * pars[1]))),
    sigma2 = m$sigma^2,
    covparm_se_apvar = list(`(Intercept)` = sqrt(cov_n[1, 1]), sigma2 = sqrt(cov_n[2, 2])),
    note = paste("nlme's apVar is a finite-difference Hessian on the log-SD scale",
                 "(mapped here by the delta method); expect agreement to ~1e-4 relative,",
                 "not to full precision."))
}

# ---------------------------------------------------------------------------
results <- list()
for (name in names(MODELS)) {
  results[[name]] <- list(REML = fit_one(name, MODELS[[name]], TRUE),
                          ML = fit_one(name, MODELS[[name]], FALSE))
}

# Variant: cses centred on the file's meanses column (cses = ses - meanses),
# as the widely copied SAS PROC MIXED / Stata versions of R&B's chapter 4
# do. Only for comparing with those printed outputs; REML only.
hsb_m <- hsb
hsb_m$cses <- hsb_m$ses - hsb_m$meanses
variant_models <- c("random_coefficient", "intercepts_slopes_as_outcomes")
variant <- list()
for (name in variant_models) {
  variant[[name]] <- list(REML = fit_one(name, MODELS[[name]], TRUE, dat = hsb_m))
}

nl <- nlme_check(mathach ~ 1, TRUE)
an <- results$anova$REML
nl$agreement <- list(
  deviance_abs_diff = abs(nl$deviance - an$deviance),
  intercept_rel_diff = abs(nl$fixed[["(Intercept)"]]$estimate -
                             an$fixed[["(Intercept)"]]$estimate) / an$fixed[["(Intercept)"]]$estimate,
  tau00_rel_diff = abs(nl$tau[[1]] - an$tau[[1]]) / an$tau[[1]],
  sigma2_rel_diff = abs(nl$sigma2 - an$sigma2) / an$sigma2,
  se_tau00_rel_diff = abs(nl$covparm_se_apvar[[1]] - an$covparm_se[[1]]) / an$covparm_se[[1]],
  se_sigma2_rel_diff = abs(nl$covparm_se_apvar$sigma2 - an$covparm_se$sigma2) / an$covparm_se$sigma2)
results$anova$cross_check_nlme <- nl
nl2 <- nlme_check(mathach ~ meanses, TRUE)
mo <- results$means_as_outcomes$REML
nl2$agreement <- list(
  deviance_abs_diff = abs(nl2$deviance - mo$deviance),
  se_tau00_rel_diff = abs(nl2$covparm_se_apvar[[1]] - mo$covparm_se[[1]]) / mo$covparm_se[[1]],
  se_sigma2_rel_diff = abs(nl2$covparm_se_apvar$sigma2 - mo$covparm_se$sigma2) / mo$covparm_se$sigma2)
results$means_as_outcomes$cross_check_nlme <- nl2

ver <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "Reference fits of the HSB models of Raudenbush & Bryk (2002, ch. 4) by lme4/lmerTest,",
    "fully converged, for hlmteach's tests. Generated by tests/reference/hsb_lme4.R;",
    "see the comments there for exactly how each number is computed."),
  data = list(
    file = CSV,
    md5 = unname(tools::md5sum(CSV)),
    n_obs = nrow(hsb),
    n_groups = nlevels(hsb$school),
    cses = "ses minus the mean of ses over the school's students in the file (not the meanses column)",
    school = "grouping factor, levels in file order"),
  provenance = list(
    command = "Rscript tests/reference/hsb_lme4.R",
    date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(lme4 = ver("lme4"), lmerTest = ver("lmerTest"), nlme = ver("nlme"),
                    numDeriv = ver("numDeriv"), jsonlite = ver("jsonlite"),
                    pbkrtest = if (requireNamespace("pbkrtest", quietly = TRUE)) ver("pbkrtest") else NA,
                    Matrix = ver("Matrix"), minqa = ver("minqa")),
    control_main = list(optimizer = "bobyqa", optCtrl = OPT_MAIN),
    control_check_nelder_mead = list(optimizer = "Nelder_Mead", optCtrl = OPT_NM),
    control_check_alt_start = "bobyqa as control_main, start theta 0.2 (diagonal) / 0.05 (off-diagonal)",
    deviance_agreement_required = DEV_AGREE,
    newton_step_tolerance = STEP_TOL,
    newton_predicted_decrease_tolerance = PRED_DEC_TOL,
    covparm_se_agreement_required = SE_AGREE,
    ddf = "lmerTest summary(ddf = 'Satterthwaite'); Kenward-Roger via pbkrtest (REML fits only)"),
  models = results,
  variant_cses_minus_file_meanses = list(
    description = paste(
      "The same fits with cses = ses - meanses (the file's school-level MEANSES,",
      "which exceeds the mean of the school's students' ses by 0.0055-0.0065),",
      "as in SAS/Stata replications of R&B chapter 4 that compute",
      "'cses = ses - meanses'. Use only to compare with such printed output;",
      "the main fixtures centre on the students' own school mean."),
    models = variant))

dir.create(dirname(OUT), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"), OUT)
message("wrote ", OUT)
