#!/usr/bin/env Rscript
# A Newton-polished lme4 reference for the validation battery (issue 9).
#
# Run from the repository root:
#
#     Rscript tests/reference/battery_polish_lme4.R
#
# (Debian: r-base-core r-cran-lme4 r-cran-lmertest r-cran-numderiv r-cran-jsonlite.)
# It reads tests/fixtures/battery_lme4.json (written by tests/reference/battery_lme4.R)
# and the data it was fitted to (tests/fixtures/battery/<data>.csv), and writes
# tests/fixtures/battery_polish_lme4.json. It refits nothing by an optimiser.
#
# Why: battery_lme4.R keeps a Newton step only if the deviance strictly falls, so at an
# optimum where the deviance change is below rounding it takes no step, and a reference can
# sit a Newton step (up to ~1e-7 in theta) away from the optimum. Here each fit is polished
# by Newton's method with a rule that accepts steps within rounding of the deviance.
#
# Per fit (every key of the fixture's "fits"):
# * lme4's profiled deviance function is rebuilt from the fixture's own R formula
#   (formula_r) and data, with the same REML flag: lmer(..., devFunOnly = TRUE). The data
#   are read as battery_lme4.R reads them back (read.csv; g a factor, levels in order of
#   appearance), so R fits the same numbers as Python.
# * Start: the fixture's theta (for the rescaled/uncentred sim_scaled_* models that is the
#   exact transform of the base model's optimum, the fixture's reference).
# * Free components: all but the diagonal elements of Lambda (lower bound 0) with
#   theta <= 1e-6, which are held at their value, as battery_lme4.R does.
# * Derivatives: gradient and Hessian of the deviance in the free components by
#   numDeriv::genD (Richardson extrapolation, r = 4, v = 2) in scaled coordinates
#   theta_free = theta_start_free + s * u, s_i = 1 / sqrt(H_ii) from a first numDeriv
#   Hessian at the start (so a unit of u moves the deviance by ~1/2 in every component),
#   differentiated at u = 0 with the absolute initial step 1e-2 in u (NUMDERIV below).
#   numDeriv's default relative step (1e-4 |theta|) is too small for small components of
#   theta: its gradient there is dominated by rounding. The step is checked at the final
#   theta with a second initial step (1e-3): final_newton_step_check_max_abs.
# * Newton: step = -H^-1 g (in theta, the largest |component| is the step size). Stop when
#   the Hessian is not positive definite (recorded; the start is kept, and any steps taken
#   before are discarded and counted as steps_discarded), when the step is < 1e-12, or
#   after 10 steps. A step is accepted when the deviance does not rise by more than
#   rounding, d_new <= d_cur + 1e-10 * max(1, |d_cur|), and no diagonal component of Lambda
#   goes below its bound 0; otherwise the loop stops there (recorded) and the current theta
#   is kept.
# * At the final theta, the estimates as battery_lme4.R reports them: lmerTest::lmer at
#   that theta (lmerControl(optimizer = NULL), start = theta), fixed effects, SEs,
#   Satterthwaite df, t and p (summary(ddf = "Satterthwaite"); non-finite df and p as
#   null), tau = sigma^2 Lambda Lambda' named as in battery_lme4.json, sigma2, theta,
#   deviance (REMLcrit for REML, deviance() for ML), isSingular.
# * polish: the steps taken, why the loop stopped, the Newton step at the fixture's theta
#   (start_newton_step_max_abs: how far the fixture is from the optimum) and what the first
#   step alone gives (after_first_step: its largest relative difference in the estimates from
#   the final theta's, i.e. how much the later steps, near the derivatives' noise, moved
#   them), the final Newton step size, the
#   deviance at the start and the deviance change from the fixture's reference
#   (deviance_minus_fixture), and the largest relative change of tau, sigma2 and the
#   fixed effects from the fixture's reference, |new - ref| / max(|ref|, 1e-8 sigma2_ref),
#   with the parameter that moved most and every parameter's relative change.
#   For the sim_scaled_* models with an exact transform, the fixture's reference is that
#   transform, and the comparison is with it; the polished numbers here are lme4's own
#   evaluation on the rescaled/uncentred data (which loses digits on x_1000 and x_50k).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(numDeriv)
  library(jsonlite)
})

IN <- "tests/fixtures/battery_lme4.json"
DATA_DIR <- "tests/fixtures/battery"
OUT <- "tests/fixtures/battery_polish_lme4.json"
SCRIPT <- "tests/reference/battery_polish_lme4.R"
if (!file.exists(IN)) stop("Run from the repository root")

BOUND_TOL <- 1e-6      # a zero-bound diagonal component at or below this is held
MAX_STEPS <- 10
STEP_TOL <- 1e-12
ROUNDING <- 1e-10      # accept d_new <= d_cur + ROUNDING * max(1, |d_cur|)
NUMDERIV <- list(eps = 1e-2, d = 1e-2, r = 4, v = 2)
NUMDERIV_CHECK <- list(eps = 1e-3, d = 1e-3, r = 4, v = 2)

dev_of <- function(fit) if (isREML(fit)) REMLcrit(fit) else deviance(fit)

G_matrix <- function(fit) {
  vc <- VarCorr(fit)
  cols <- unique(unlist(lapply(vc, colnames)))
  G <- matrix(0, length(cols), length(cols), dimnames = list(cols, cols))
  for (b in vc) G[colnames(b), colnames(b)] <- G[colnames(b), colnames(b)] + as.matrix(b)
  G
}

estimates_of <- function(fit) {  # fixed effects, the lower triangle of G, sigma2
  G <- G_matrix(fit)
  c(fixef(fit), G[lower.tri(G, diag = TRUE)], sigma(fit)^2)
}

tau_of <- function(fit) {  # battery_lme4.R's naming: "a" diagonal, "a:b" below it
  G <- G_matrix(fit)
  tau <- list()
  for (i in seq_len(nrow(G))) for (j in seq_len(i)) {
    key <- if (i == j) rownames(G)[i] else paste0(colnames(G)[j], ":", rownames(G)[i])
    tau[[key]] <- G[i, j]
  }
  tau
}

fixed_of <- function(fit) {
  ct <- summary(fit, ddf = "Satterthwaite")$coefficients
  fixed <- list()
  for (term in rownames(ct)) fixed[[term]] <- list(
    estimate = unname(ct[term, "Estimate"]), se = unname(ct[term, "Std. Error"]),
    df = if (is.finite(ct[term, "df"])) unname(ct[term, "df"]) else NULL,
    t = unname(ct[term, "t value"]),
    p = if (is.finite(ct[term, "Pr(>|t|)"])) unname(ct[term, "Pr(>|t|)"]) else NULL)
  fixed
}

read_battery_data <- function(name) {
  dat <- read.csv(file.path(DATA_DIR, paste0(name, ".csv")))
  dat$g <- factor(dat$g, levels = unique(dat$g))
  dat
}

# Gradient and Hessian of f at u = 0 (numDeriv::genD, Richardson).
derivatives <- function(f, n, args) {
  D <- numDeriv::genD(f, rep(0, n), method.args = args)$D
  H <- matrix(0, n, n)
  k <- n
  for (i in seq_len(n)) for (j in seq_len(i)) {
    k <- k + 1
    H[i, j] <- H[j, i] <- D[k]
  }
  list(g = D[seq_len(n)], H = H)
}

min_eigen <- function(H) min(eigen(H, symmetric = TRUE, only.values = TRUE)$values)

# Newton on the free components of theta, in scaled coordinates (see the header).
newton_polish <- function(devfun, theta0, lower) {
  held <- is.finite(lower) & lower == 0 & theta0 <= BOUND_TOL
  free <- which(!held)
  out <- list(theta = theta0, steps = 0L, free = free, stop = NULL)
  if (!length(free)) {
    out$stop <- "no free components (all held at their bound)"
    return(out)
  }
  f_theta <- function(v) { th <- theta0; th[free] <- v; devfun(th) }
  H0 <- tryCatch(numDeriv::hessian(f_theta, theta0[free]), error = function(e) NULL)
  if (is.null(H0) || any(!is.finite(H0)) || any(diag(H0) <= 0)) {
    out$stop <- "Hessian at the start not positive definite (start kept)"
    out$hessian_min_eigen <- if (is.null(H0)) NA else min_eigen(H0)
    return(out)
  }
  s <- 1 / sqrt(diag(H0))
  theta <- theta0
  d_cur <- devfun(theta)
  at <- function(th, args) {  # derivatives in u around th (theta_free = th_free + s u)
    f_u <- function(u) { t2 <- th; t2[free] <- th[free] + s * u; devfun(t2) }
    derivatives(f_u, length(free), args)
  }
  newton_step <- function(d) s * drop(solve(d$H, d$g))  # in theta units
  repeat {
    d <- at(theta, NUMDERIV)
    ev <- min_eigen(d$H)
    if (!is.finite(ev) || ev <= 0) {
      out$stop <- paste0("Hessian not positive definite after ", out$steps,
                         " steps (the start kept)")
      out$hessian_min_eigen <- ev
      out$steps_discarded <- out$steps
      out$steps <- 0L
      theta <- theta0
      break
    }
    step <- newton_step(d)
    if (out$steps == 0L) out$start_newton_step_max_abs <- max(abs(step))
    if (max(abs(step)) < STEP_TOL) { out$stop <- "step < 1e-12"; break }
    if (out$steps >= MAX_STEPS) { out$stop <- "10 steps"; break }
    cand <- theta
    cand[free] <- theta[free] - step
    if (any(cand < lower)) { out$stop <- "step would cross a bound (not taken)"; break }
    d_new <- devfun(cand)
    if (!(d_new <= d_cur + ROUNDING * max(1, abs(d_cur)))) {
      out$stop <- sprintf("step raised the deviance by %.3g (not taken)", d_new - d_cur)
      break
    }
    theta <- cand
    d_cur <- d_new
    out$steps <- out$steps + 1L
    if (out$steps == 1L) out$theta_first_step <- theta
  }
  out$theta <- theta
  if (is.null(out[["hessian_min_eigen"]])) {
    out$gradient_free_theta <- d$g / s  # in theta units
    out$hessian_min_eigen_scaled <- ev
    out$final_newton_step_max_abs <- max(abs(newton_step(d)))
    out$final_newton_step <- newton_step(d)
    d2 <- at(theta, NUMDERIV_CHECK)
    out$final_newton_step_check_max_abs <- max(abs(newton_step(d2)))
  }
  out
}

rel_changes <- function(new, ref) {
  scale <- 1e-8 * abs(ref$sigma2)
  r <- function(a, b) abs(a - b) / max(abs(b), scale)
  ch <- list()
  for (nm in names(ref$fixed)) ch[[paste0("fixed:", nm)]] <-
    r(new$fixed[[nm]]$estimate, ref$fixed[[nm]]$estimate)
  for (nm in names(ref$tau)) ch[[paste0("tau:", nm)]] <- r(new$tau[[nm]], ref$tau[[nm]])
  ch$sigma2 <- r(new$sigma2, ref$sigma2)
  se <- list()
  for (nm in names(ref$fixed)) se[[nm]] <- r(new$fixed[[nm]]$se, ref$fixed[[nm]]$se)
  v <- unlist(ch)
  list(max = max(v), which_max = names(v)[which.max(v)],
       max_tau = max(unlist(ch[grepl("^tau:", names(ch))])),
       sigma2 = ch$sigma2,
       max_fixed = max(unlist(ch[grepl("^fixed:", names(ch))])),
       max_se = max(unlist(se)),
       each = ch)
}

polish_fit <- function(key, ref) {
  dat <- read_battery_data(ref$data)
  fml <- as.formula(ref$formula_r)
  reml <- identical(ref$method, "REML")
  msgs <- character(0)
  devfun <- withCallingHandlers(
    lme4::lmer(fml, data = dat, REML = reml, devFunOnly = TRUE),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  lower <- environment(devfun)$lower
  theta0 <- as.numeric(unlist(ref$theta))
  stopifnot(length(theta0) == length(lower))
  d_start <- devfun(theta0)
  pol <- newton_polish(devfun, theta0, lower)
  fit <- suppressMessages(suppressWarnings(
    lmerTest::lmer(fml, data = dat, REML = reml, control = lmerControl(optimizer = NULL),
                   start = list(theta = pol$theta))))
  stopifnot(inherits(fit, "lmerModLmerTest"))
  res <- list(
    id = ref$id, data = ref$data, method = ref$method, formula_r = ref$formula_r,
    deviance = dev_of(fit), fixed = fixed_of(fit), tau = tau_of(fit),
    sigma2 = sigma(fit)^2, theta = unname(getME(fit, "theta")),
    is_singular = isSingular(fit))
  first <- NULL
  if (!is.null(pol$theta_first_step)) {  # the first Newton step alone, against the final theta
    f1 <- suppressMessages(suppressWarnings(
      lme4::lmer(fml, data = dat, REML = reml, control = lmerControl(optimizer = NULL),
                 start = list(theta = pol$theta_first_step))))
    first <- list(
      theta_change_max_abs = max(abs(pol$theta_first_step - theta0)),
      deviance_minus_fixture = dev_of(f1) - ref$deviance,
      max_rel_diff_from_final = max(abs(estimates_of(f1) - estimates_of(fit)) /
                                      pmax(abs(estimates_of(fit)), 1e-8 * sigma(fit)^2)))
  }
  res$polish <- list(
    steps = pol$steps, stop = pol$stop, steps_discarded = pol$steps_discarded,
    start_newton_step_max_abs = pol$start_newton_step_max_abs,
    after_first_step = first,
    free_theta = as.list(pol$free),
    final_newton_step_max_abs = pol$final_newton_step_max_abs,
    final_newton_step_check_max_abs = pol$final_newton_step_check_max_abs,
    final_newton_step = pol$final_newton_step,
    gradient_free_theta = pol$gradient_free_theta,
    hessian_min_eigen_scaled = pol$hessian_min_eigen_scaled,
    hessian_min_eigen = pol[["hessian_min_eigen"]],  # [[ ]]: no partial matching
    theta_change_max_abs = max(abs(pol$theta - theta0)),
    deviance_at_fixture_theta = d_start,
    deviance_minus_fixture = dev_of(fit) - ref$deviance,
    deviance_minus_start = dev_of(fit) - d_start,
    lme4_messages = as.list(msgs),
    fixture_reference = if (is.null(ref$reference)) "the fixture's lme4 fit" else ref$reference,
    rel_change_from_fixture = rel_changes(res, ref))
  res
}

FIXTURE <- fromJSON(IN, simplifyVector = FALSE)
ONLY <- Sys.getenv("POLISH_ONLY")  # for development: a regular expression of fit keys
keys <- names(FIXTURE$fits)
if (nzchar(ONLY)) keys <- grep(ONLY, keys, value = TRUE)
t_start <- Sys.time()
FITS <- list()
for (key in keys) {
  t0 <- Sys.time()
  f <- polish_fit(key, FIXTURE$fits[[key]])
  FITS[[key]] <- f
  p <- f$polish
  or_na <- function(x) if (is.null(x)) NA else x
  cat(sprintf("%-26s steps %2d  step %.2e/%.2e  ddev %+.2e  rel %.2e (%s)  %s  (%.1fs)\n", key,
              p$steps, or_na(p$final_newton_step_max_abs),
              or_na(p$final_newton_step_check_max_abs), p$deviance_minus_fixture,
              p$rel_change_from_fixture$max,
              p$rel_change_from_fixture$which_max, p$stop,
              as.numeric(Sys.time() - t0, units = "secs")))
}

moved <- Filter(function(f) f$polish$rel_change_from_fixture$max > 1e-6, FITS)
cat(sprintf("%d of %d fits moved by more than 1e-6 relative: %s\n", length(moved), length(FITS),
            paste(names(moved), collapse = ", ")))
off <- Filter(function(f) abs(f$polish$deviance_minus_fixture) > 1e-9, FITS)
cat(sprintf("%d fits with |deviance - fixture| > 1e-9: %s\n", length(off),
            paste(names(off), collapse = ", ")))

pk <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "Newton-polished lme4 reference for every fit of tests/fixtures/battery_lme4.json:",
    "lme4's profiled deviance (devFunOnly) from the fixture's theta, Newton steps on the free",
    "components of theta accepted within rounding of the deviance, then the estimates by",
    "lmerTest at the final theta. Generated by tests/reference/battery_polish_lme4.R; see the",
    "comments there."),
  provenance = list(
    command = paste("Rscript", SCRIPT), script = SCRIPT, input = IN,
    input_md5 = unname(tools::md5sum(IN)),
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S UTC", tz = "UTC"),
    r_version = R.version.string, platform = R.version$platform,
    blas = tryCatch(sessionInfo()$BLAS, error = function(e) NA),
    packages = list(lme4 = pk("lme4"), lmerTest = pk("lmerTest"), numDeriv = pk("numDeriv"),
                    jsonlite = pk("jsonlite"), Matrix = pk("Matrix")),
    rule = paste(
      "Start at the fixture's theta. Free components: all but zero-bound diagonal elements of",
      "Lambda with theta <= 1e-6 (held). Gradient and Hessian of the deviance in the free",
      "components by numDeriv::genD (Richardson, r = 4, v = 2) in scaled coordinates",
      "theta = theta_start + s u, s_i = 1/sqrt(H_ii) from numDeriv::hessian at the start,",
      "initial step 1e-2 in u (check: 1e-3). Newton step -H^-1 g; accepted when",
      "d_new <= d_cur + 1e-10 max(1, |d_cur|) and no bound is crossed; stop when the largest",
      "|step| < 1e-12, after 10 steps, or when the Hessian is not positive definite (the",
      "start kept). Estimates: lmerTest::lmer at the final theta, lmerControl(optimizer =",
      "NULL), summary(ddf = 'Satterthwaite'); deviance REMLcrit (REML) or deviance() (ML)."),
    relative_change = "|new - ref| / max(|ref|, 1e-8 sigma2_ref), ref = the fixture's reference",
    total_run_s = as.numeric(Sys.time() - t_start, units = "secs")),
  fits = FITS)
if (nzchar(ONLY)) OUT <- Sys.getenv("POLISH_OUT", "/tmp/battery_polish_lme4_dev.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), OUT)
cat("wrote", OUT, "\n")
