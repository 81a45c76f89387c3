#!/usr/bin/env Rscript
# Reference numbers for hlmteach's weighted (pseudo-)maximum likelihood, from
# the "replication identity": with integer weights, the weighted pseudo-ML fit
# equals ordinary ML on the data replicated by the weights --
#   * a school of weight k appears as k distinct schools (k copies, each with
#     its own id "<schoolid>#<copy>");
#   * a student of conditional weight m appears m times within each copy.
# Point estimates and log-likelihood are then equal (not the SEs).
#
# Only Debian packages are needed (r-base-core r-cran-lme4 r-cran-numderiv
# r-cran-jsonlite); WeMix is NOT used here. Run from the repository root:
#
#     Rscript tests/reference/weighted_lme4.R
#
# It reads the PISA 2012 USA extract (pisa2012_usa.csv, md5 checked; taken
# from $PISA_CSV, else data/pisa2012_usa.csv, else
# /work/shared/weights/pisa2012_usa.csv) and writes
# tests/fixtures/weighted_replication_lme4.json. schoolid is read as text.
#
# Cases (the exact construction is also written into the JSON):
#   rep12 (the README example): the first 12 schools in sorted text schoolid
#     order (215 students); j = 1..12 the school's position in that order,
#     school weight k = 1 + ((j - 1) mod 3); i = 1, 2, ... the student's
#     position within the school ordered by `student`, conditional student
#     weight m = 1 + ((i - 1) mod 3); unconditional weight mk = m * k.
#     Outcome pv2math, predictors escs and male = (st04q01 == "Male") as 0/1.
#     Replicated data: 931 rows, 24 school copies.
#     Models: ri  pv2math ~ escs + male + (1 | g)
#             un  pv2math ~ escs + male + (1 + escs | g)
#             vc  pv2math ~ escs + male + (1 | g) + (0 + escs | g)
#   rep30: 30 schools at sorted positions 40..69 (1-based), k = 1 + ((j - 1)
#     mod 4) with j = 1..30 the position within the subset, m = 1 + ((i - 1)
#     mod 2); outcome pv1math ~ escs. Models ri and un.
#   For both cases, also the unit-weight ML fit of the original (not
#   replicated) rows, grouped by schoolid ("unweighted").
#
# Fits: lme4 ML (REML = FALSE). bobyqa with rhobeg 0.1, rhoend 1e-12, then
# Newton steps on theta with numDeriv (Richardson) derivatives of lme4's
# profiled deviance; convergence is verified (the script stops otherwise):
#   * the final Newton step must be below STEP_TOL standard errors of theta;
#   * refits by nloptwrap (NLOPT_LN_BOBYQA, xtol_abs 1e-12, ftol_abs 1e-14)
#     and by bobyqa from another start must reach the deviance to DEV_AGREE.
# For each fit: logLik, deviance (= -2 logLik), fixed effects, G elements
# (variances and covariance of the random effects), sigma2, theta (lme4's
# relative Cholesky factor, column-major lower triangle per term).
# Independent check: a direct implementation of the weighted pseudo-log-
# likelihood (Rabe-Hesketh & Skrondal 2006) on the ORIGINAL rows with
# conditional weights m and school weights k,
#   sum_j k_j log int prod_i f(y_ij | u_j)^m_ij phi(u_j; 0, G) du_j
#   = sum_j k_j [ -(sum_i m_ij)/2 log(2 pi sigma2) - Q_j/2
#                 - 1/2 log det(I + G Z_j' M_j Z_j / sigma2) ],
#   Q_j = r'M r / sigma2 - (Z'M r)' A^{-1} (Z'M r) / sigma2^2,
#   A = Z'M Z / sigma2 + G^{-1},  r = y - X beta,  M = diag(m),
# evaluated at the lme4 estimates: it must equal lme4's logLik to 1e-9
# relative (stored as weighted_loglik_direct).

suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
  library(jsonlite)
})

MD5 <- "ce1bde7161dc5eaa799ddfe4fe65d297"
OUT <- "tests/fixtures/weighted_replication_lme4.json"
cands <- c(Sys.getenv("PISA_CSV"), "data/pisa2012_usa.csv",
           "/work/shared/weights/pisa2012_usa.csv")
cands <- cands[nzchar(cands) & file.exists(cands)]
if (!length(cands)) stop("pisa2012_usa.csv not found; set PISA_CSV")
CSV <- cands[1]
if (unname(tools::md5sum(CSV)) != MD5) stop(CSV, ": md5 differs from ", MD5)
if (!dir.exists("tests/fixtures")) stop("Run from the repository root")

DEV_AGREE <- 1e-8    # |deviance(refit) - deviance(reported)|
STEP_TOL <- 1e-6     # final Newton step, in standard errors of theta
LL_AGREE <- 1e-9     # direct weighted logLik vs lme4 logLik, relative
HESS_STEP_SE <- 0.1  # first finite-difference step, in SEs of theta

d <- read.csv(CSV, colClasses = c(schoolid = "character"))
stopifnot(nrow(d) == 3136, all(nchar(d$schoolid) == 7), all(grepl("^[0-9]+$", d$schoolid)))
d$male <- as.numeric(d$st04q01 == "Male")
all_schools <- sort(unique(d$schoolid), method = "radix")   # C-locale text order
stopifnot(length(all_schools) == 157)

CTRL_MAIN <- lmerControl(optimizer = "bobyqa",
                         optCtrl = list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6))
CTRL_NLOPT <- lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", xtol_abs = 1e-12,
                                         ftol_abs = 1e-14, xtol_rel = 0, ftol_rel = 0,
                                         maxeval = 1e6))

# ---------------------------------------------------------------------------
# Construction of the weighted and the replicated data
# ---------------------------------------------------------------------------
build_case <- function(first, n_schools, k_mod, m_mod) {
  schools <- all_schools[first:(first + n_schools - 1)]
  s <- d[d$schoolid %in% schools, ]
  s <- s[order(s$schoolid, s$student, method = "radix"), ]
  j <- match(s$schoolid, schools)
  s$k <- 1 + ((j - 1) %% k_mod)
  i <- ave(seq_len(nrow(s)), s$schoolid, FUN = seq_along)
  s$m <- 1 + ((i - 1) %% m_mod)
  s$mk <- s$m * s$k
  rownames(s) <- NULL
  pieces <- list()
  for (sid in schools) {
    blk <- s[s$schoolid == sid, ]
    blk <- blk[rep(seq_len(nrow(blk)), blk$m), ]
    for (cc in seq_len(blk$k[1])) {
      b2 <- blk
      b2$school_copy <- paste0(sid, "#", cc)
      pieces[[length(pieces) + 1]] <- b2
    }
  }
  rep_d <- do.call(rbind, pieces)
  rownames(rep_d) <- NULL
  list(schools = schools, s = s, rep = rep_d)
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
scaled_fun <- function(f, x, scl, what) {
  ma <- list(eps = HESS_STEP_SE, d = 0.1, r = 4, v = 2,
             zero.tol = sqrt(.Machine$double.eps / 7e-7))
  h <- function(z) f(x + scl * z)
  if (what == "grad") numDeriv::grad(h, rep(0, length(x)), method.args = ma) / scl
  else numDeriv::hessian(h, rep(0, length(x)), method.args = ma) / outer(scl, scl)
}

# Newton steps on the free elements of theta. Diagonal elements at the bound
# (theta < 1e-8 with lower bound 0: a singular fit) are set to 0 and held
# there; the deviance is even in each diagonal element of Lambda, so its
# derivative there is 0 and the optimum is a boundary one.
polish_theta <- function(devfun, theta, scl, lower) {
  at_bound <- lower == 0 & theta < 1e-8
  theta[at_bound] <- 0
  free <- which(!at_bound)
  f_free <- function(x) { th <- theta; th[free] <- x; devfun(th) }
  d_cur <- devfun(theta)
  n <- 0
  for (it in 1:6) {
    g <- scaled_fun(f_free, theta[free], scl[free], "grad")
    H <- scaled_fun(f_free, theta[free], scl[free], "hess")
    step <- drop(solve(H, g))
    if (max(abs(step) / scl[free]) < 1e-10) break
    cand <- theta
    cand[free] <- theta[free] - step
    if (any(cand < lower)) break
    d_new <- devfun(cand)
    if (d_new > d_cur + 1e-9) break
    theta <- cand
    d_cur <- d_new
    n <- n + 1
  }
  g <- scaled_fun(f_free, theta[free], scl[free], "grad")
  H <- scaled_fun(f_free, theta[free], scl[free], "hess")
  step <- drop(solve(H, g))
  list(theta = theta, steps = n, gradient = g, step_in_se = max(abs(step) / scl[free]),
       at_bound = which(at_bound))
}

g_entries <- function(fit) {
  vc <- VarCorr(fit)
  out <- list()
  for (grp in names(vc)) {
    m <- vc[[grp]]
    cn <- colnames(m)
    for (a in seq_along(cn)) out[[cn[a]]] <- unname(m[a, a])
    if (length(cn) > 1) for (a in 1:(length(cn) - 1)) for (b in (a + 1):length(cn))
      out[[paste0(cn[a], ":", cn[b])]] <- unname(m[a, b])
  }
  out
}

g_matrix <- function(fit, cols) {
  G <- matrix(0, length(cols), length(cols), dimnames = list(cols, cols))
  vc <- VarCorr(fit)
  for (grp in names(vc)) {
    m <- vc[[grp]]
    G[colnames(m), colnames(m)] <- G[colnames(m), colnames(m)] + m
  }
  G
}

# Direct weighted pseudo-log-likelihood on the original rows (see header).
weighted_loglik <- function(s, yname, xnames, znames, beta, G, sigma2, m, k) {
  X <- cbind(`(Intercept)` = 1, as.matrix(s[, xnames, drop = FALSE]))
  Zall <- cbind(`(Intercept)` = 1, as.matrix(s[, setdiff(znames, "(Intercept)"), drop = FALSE]))
  Zall <- Zall[, znames, drop = FALSE]
  r_all <- s[[yname]] - drop(X %*% beta)
  tot <- 0
  for (sid in unique(s$schoolid)) {
    ix <- which(s$schoolid == sid)
    Z <- Zall[ix, , drop = FALSE]
    w <- m[ix]
    r <- r_all[ix]
    ZWZ <- crossprod(Z, w * Z)
    ZWr <- drop(crossprod(Z, w * r))
    A <- ZWZ / sigma2 + solve(G)
    Q <- sum(w * r^2) / sigma2 - sum(ZWr * solve(A, ZWr)) / sigma2^2
    ld <- determinant(diag(nrow(G)) + G %*% ZWZ / sigma2)$modulus[1]
    lj <- -sum(w) / 2 * log(2 * pi * sigma2) - Q / 2 - ld / 2
    tot <- tot + k[ix[1]] * lj
  }
  tot
}

fit_one <- function(label, formula_txt, dat, group, s_orig, yname, xnames, m, k) {
  fml <- as.formula(gsub("\\bg\\b", group, formula_txt, perl = TRUE))
  fit_b <- lmer(fml, data = dat, REML = FALSE, control = CTRL_MAIN)
  lower <- getME(fit_b, "lower")
  devfun <- lmer(fml, data = dat, REML = FALSE, control = CTRL_MAIN, devFunOnly = TRUE)
  theta_b <- unname(getME(fit_b, "theta"))
  # rough SEs of theta (only to scale the finite-difference steps); at a
  # boundary the curvature can be ~0, so floor the scale at 1e-3
  Hb <- numDeriv::hessian(devfun, theta_b)
  scl <- tryCatch(sqrt(diag(2 * solve(Hb))), error = function(e) rep(NA_real_, length(theta_b)))
  scl[!is.finite(scl) | scl > 1] <- 1e-3
  pol <- polish_theta(devfun, theta_b, scl, lower)
  if (pol$step_in_se > STEP_TOL) stop(label, ": Newton step ", pol$step_in_se, " SE")
  fit <- lmer(fml, data = dat, REML = FALSE, control = lmerControl(optimizer = NULL),
              start = list(theta = pol$theta))
  dev <- deviance(fit)
  fit_nl <- lmer(fml, data = dat, REML = FALSE, control = CTRL_NLOPT)
  start_alt <- ifelse(lower == 0, 0.5, -0.05)
  fit_alt <- lmer(fml, data = dat, REML = FALSE, control = CTRL_MAIN,
                  start = list(theta = start_alt))
  devs <- c(bobyqa = deviance(fit_b), nloptwrap = deviance(fit_nl), bobyqa_alt_start = deviance(fit_alt))
  if (max(abs(devs - dev)) > DEV_AGREE) stop(label, ": refits disagree: ", paste(devs - dev, collapse = " "))
  if (dev > min(devs) + 1e-10) stop(label, ": polished deviance not the lowest")
  others <- list(fit_b, fit_nl, fit_alt)
  # relative differences over the non-zero entries (zero at a boundary)
  rel_spread <- function(get) max(sapply(others, function(f) {
    a <- get(fit); nz <- a != 0
    max(abs(get(f) - a)[nz] / abs(a[nz]))
  }))
  beta <- fixef(fit)
  G <- g_entries(fit)
  sig2 <- sigma(fit)^2
  out <- list(
    formula = deparse(fml, width.cutoff = 500),
    n_obs = nrow(dat), n_groups = length(unique(dat[[group]])),
    logLik = as.numeric(logLik(fit)), deviance = dev,
    fixed = as.list(beta), G = G, sigma2 = sig2,
    theta = as.list(getME(fit, "theta")),
    singular = isSingular(fit, tol = 1e-6),
    convergence = list(
      newton_steps_after_bobyqa = pol$steps,
      theta_held_at_zero = names(getME(fit_b, "theta"))[pol$at_bound],
      final_newton_step_in_se = pol$step_in_se,
      gradient_of_deviance_in_theta = pol$gradient,
      deviance_bobyqa = devs[["bobyqa"]], deviance_nloptwrap = devs[["nloptwrap"]],
      deviance_bobyqa_alt_start = devs[["bobyqa_alt_start"]],
      max_abs_deviance_diff_refits = max(abs(devs - dev)),
      max_rel_diff_refits_fixed = rel_spread(fixef),
      max_rel_diff_refits_G_sigma2 = rel_spread(function(f) c(unlist(g_entries(f)), sigma(f)^2)),
      max_abs_diff_refits_theta = max(sapply(others, function(f) max(abs(getME(f, "theta") - getME(fit, "theta")))))))
  if (!is.null(m)) {
    cols <- names(G)[!grepl(":", names(G))]
    ll <- weighted_loglik(s_orig, yname, xnames, cols, beta, g_matrix(fit, cols), sig2, m, k)
    rel <- abs(ll - out$logLik) / abs(out$logLik)
    if (rel > LL_AGREE) stop(label, ": direct weighted logLik ", ll, " vs lme4 ", out$logLik)
    out$weighted_loglik_direct <- ll
    out$weighted_loglik_direct_rel_diff <- rel
  }
  message(sprintf("%-22s logLik %.10f  (step %.2e SE, refit dev diff %.2e)", label,
                  out$logLik, pol$step_in_se, max(abs(devs - dev))))
  out
}

run_case <- function(cs, models, yname, xnames) {
  res <- list(replicated = list(), unweighted = list())
  for (nm in names(models)) {
    res$replicated[[nm]] <- fit_one(paste0("rep ", nm), models[[nm]], cs$rep, "school_copy",
                                    cs$s, yname, xnames, cs$s$m, cs$s$k)
    res$unweighted[[nm]] <- fit_one(paste0("unit ", nm), models[[nm]], cs$s, "schoolid",
                                    NULL, yname, xnames, NULL, NULL)
  }
  res
}

describe_data <- function(cs) list(
  schools = cs$schools,
  n_students = nrow(cs$s),
  school_weight_k = as.list(setNames(cs$s$k[match(cs$schools, cs$s$schoolid)], cs$schools)),
  students_in_order = cs$s$student,
  m = cs$s$m,
  n_rows_replicated = nrow(cs$rep),
  n_school_copies = length(unique(cs$rep$school_copy)),
  sum_m = sum(cs$s$m), sum_mk = sum(cs$s$mk))

# ---------------------------------------------------------------------------
cs12 <- build_case(1, 12, 3, 3)
stopifnot(nrow(cs12$s) == 215, nrow(cs12$rep) == 931, length(unique(cs12$rep$school_copy)) == 24)
cs30 <- build_case(40, 30, 4, 2)

MODELS12 <- list(
  ri = "pv2math ~ escs + male + (1 | g)",
  un = "pv2math ~ escs + male + (1 + escs | g)",
  vc = "pv2math ~ escs + male + (1 | g) + (0 + escs | g)")
MODELS30 <- list(
  ri = "pv1math ~ escs + (1 | g)",
  un = "pv1math ~ escs + (1 + escs | g)")

res12 <- run_case(cs12, MODELS12, "pv2math", c("escs", "male"))
res30 <- run_case(cs30, MODELS30, "pv1math", "escs")
sing_note <- function(res) {
  out <- character(0)
  for (ty in names(res)) for (nm in names(res[[ty]])) if (isTRUE(res[[ty]][[nm]]$singular)) {
    r <- res[[ty]][[nm]]
    G <- r$G
    txt <- paste0(ty, ".", nm, " is a boundary (singular) fit")
    if (!is.null(G[["(Intercept):escs"]]))
      txt <- paste0(txt, ": intercept-slope correlation ",
                    format(G[["(Intercept):escs"]] / sqrt(G[["(Intercept)"]] * G[["escs"]]), digits = 10))
    else txt <- paste0(txt, ": a variance is 0")
    th <- unlist(r$theta)
    out <- c(out, paste0(txt, "; theta at the bound (< 1e-8): ",
                         paste(names(th)[abs(th) < 1e-8], collapse = ", "),
                         ". Compare deviance and estimates, with a looser tolerance for the G entries."))
  }
  out
}

ver <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "Replication-identity references for weighted pseudo-ML two-level fits on the PISA 2012",
    "USA extract: lme4 ML on data replicated by integer weights equals the weighted fit on the",
    "original rows (school weight k -> k school copies; conditional student weight m -> m row",
    "copies within each school copy). Point estimates and logLik only; SEs differ. Generated by",
    "tests/reference/weighted_lme4.R; see the comments there."),
  how_to_use = paste(
    "weighted fit on the original rows (grouped by schoolid) with weights='m', group_weights='k',",
    "conditional_weights=True (or weights='mk', conditional_weights=False), method='ML',",
    "weight_scaling='none' must reproduce cases.<case>.replicated.<model>; the unit-weight ML fit",
    "of the original rows must reproduce cases.<case>.unweighted.<model>."),
  data = list(file = "pisa2012_usa.csv", md5 = MD5, n_obs = nrow(d), n_groups = length(all_schools),
              read_as = "schoolid as text (7 characters, leading zeros)"),
  construction = list(
    school_order = "sorted unique schoolid as text (C-locale / byte order; all ids are 7 digits)",
    student_order = "within a school, ascending `student`",
    k = "school weight k = 1 + ((j - 1) mod K), j = 1-based position of the school within the subset",
    m = "conditional student weight m = 1 + ((i - 1) mod M), i = 1-based position within the school",
    mk = "unconditional student weight m * k",
    male = "male = 1 if st04q01 == 'Male' else 0",
    replicated = paste(
      "for each school of the subset in order, for copy c = 1..k: the school's rows, each row",
      "repeated m times, with school_copy = '<schoolid>#<c>'"),
    python = paste(
      "schools = sorted(d.schoolid.unique())[first-1 : first-1+n_schools];",
      "s = d[d.schoolid.isin(schools)].sort_values(['schoolid','student']);",
      "s['k'] = 1 + s.schoolid.map({sid: j for j, sid in enumerate(schools)}) % K;",
      "s['m'] = 1 + s.groupby('schoolid').cumcount() % M")),
  column_meaning = list(
    `(Intercept)` = "intercept",
    escs = "escs, PISA index of economic, social and cultural status (raw, uncentred)",
    male = "indicator st04q01 == 'Male' (reference Female)",
    G = "random-effect covariance entries: '(Intercept)' = intercept variance tau00, 'escs' = slope variance tau11, '(Intercept):escs' = covariance tau01 (un only; vc has it fixed at 0)",
    sigma2 = "level-1 residual variance",
    theta = "lme4 relative Cholesky factor Lambda (G = sigma2 * Lambda Lambda'), column-major lower triangle per term"),
  provenance = list(
    command = "Rscript tests/reference/weighted_lme4.R",
    date = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(lme4 = ver("lme4"), Matrix = ver("Matrix"), minqa = ver("minqa"),
                    nloptr = ver("nloptr"), numDeriv = ver("numDeriv"), jsonlite = ver("jsonlite")),
    control = paste(
      "lmer REML=FALSE; bobyqa rhobeg 0.1 rhoend 1e-12 maxfun 1e6; then Newton steps on theta",
      "(numDeriv Richardson gradient/Hessian of lme4's profiled deviance, first step 0.1 SE);",
      "reported fit = lmer at the polished theta (optimizer = NULL). Checks: final Newton step <",
      STEP_TOL, "SE of theta; nloptwrap NLOPT_LN_BOBYQA (xtol_abs 1e-12, ftol_abs 1e-14) and",
      "bobyqa from theta 0.5 (diagonal) / -0.05 (off-diagonal) reach the deviance to", DEV_AGREE,
      "; direct weighted pseudo-logLik on the original rows equals lme4 logLik to", LL_AGREE, "relative")),
  cases = list(
    rep12 = c(list(
      subset = list(first_sorted_position = 1, n_schools = 12, K = 3, M = 3),
      outcome = "pv2math", predictors = c("escs", "male"),
      models = MODELS12,
      note = "g = school_copy for the replicated fits, schoolid for the unweighted fits"),
      describe_data(cs12), list(notes = sing_note(res12), results = res12)),
    rep30 = c(list(
      subset = list(first_sorted_position = 40, n_schools = 30, K = 4, M = 2),
      outcome = "pv1math", predictors = c("escs"),
      models = MODELS30,
      note = "g = school_copy for the replicated fits, schoolid for the unweighted fits"),
      describe_data(cs30), list(notes = sing_note(res30), results = res30))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), OUT)
message("wrote ", OUT)
