#!/usr/bin/env Rscript
# Reference numbers for hlmteach.diagnostics: school-deletion influence (Cook's
# distance, MDFFITS, COVRATIO, COVTRACE, RVC and the change in each fixed effect)
# and Raudenbush & Bryk's (2002, ch. 9) H statistic for homogeneous level-1 variance.
#
# Run from the repository root:
#
#     HLMDIAG_LIB=<a library holding HLMdiag> Rscript tests/reference/diagnostics.R
#
# It reads data/timss_synthetic.csv and data/hsb.csv and writes
# tests/fixtures/diagnostics_hlmdiag.json; the Python tests only read it
# (Debian: r-cran-lme4 r-cran-jsonlite; HLMdiag is not in Debian: install it from
# CRAN or its GitHub source into any library and point HLMDIAG_LIB at it).
#
# Models (REML, bobyqa at tight tolerances):
#   timss_korea, timss_usa: math ~ college + boy + (1 + college || school),
#       each country's rows of the synthetic TIMSS file (notebooks 04, 05, 13);
#   hsb: mathach ~ ses + sector + (1 + ses | school), High School and Beyond
#       (an unstructured 2 x 2 tau).
#
# For each model, with level = "school" (every school deleted in turn):
#   one_step: HLMdiag's cooks.distance(), mdffits(), covratio() and covtrace()
#       (include.attr = TRUE for the change in the fixed effects). These are the
#       one-step formulas of Christensen, Pearson & Johnson (1992) that hold the
#       variance components at the full-data estimates. The same numbers are then
#       recomputed here from their definitions in HLMdiag's C++ source
#       (cdd = (X'V^-1X)^-1 X' V^-1[, A] P_AA^-1 V^-1[A, ] e) and must agree to 1e-8.
#   full_tight: the model refitted by lme4 without each school, at the tight
#       tolerances above, and HLMdiag's case_delete definitions applied to the
#       refits (cooks.distance.case_delete etc.): Cook's distance
#       (b - b_(j))' vcov(full)^-1 (b - b_(j)) / p; MDFFITS the same with
#       vcov(deleted); COVRATIO det(vcov(deleted)) / det(vcov(full)); COVTRACE
#       |tr(vcov(full)^-1 vcov(deleted)) - p|; RVC varcomp(deleted) / varcomp(full) - 1.
#   full_hlmdiag: HLMdiag's own case_delete(level = "school") and its
#       cooks.distance / mdffits / covratio / covtrace / rvc methods. case_delete
#       refits with lme4's default optimizer settings, which stop early (its Cook's
#       distances differ from full_tight by up to 1.4%, in HSB); these numbers are
#       checked here against full_tight to 5e-2 relative (schools with D above 1% of
#       the largest) and kept to show what HLMdiag itself prints.
#   h_statistic: R&B (2002, p. 264) H = sum_j d_j^2, d_j = (log s_j^2 - mean_f) /
#       sqrt(2 / f_j), where s_j^2 is the residual variance of school j's own OLS
#       regression of the outcome on the level-1 predictors (lm), f_j = n_j - p its
#       residual df, mean_f = sum f_j log s_j^2 / sum f_j, over the schools with
#       f_j >= 10; reference distribution chi-squared with (schools used - 1) df.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

OUT <- "tests/fixtures/diagnostics_hlmdiag.json"
TIMSS_CSV <- "data/timss_synthetic.csv"
HSB_CSV <- "data/hsb.csv"
if (!file.exists(TIMSS_CSV)) stop("Run from the repository root: ", TIMSS_CSV, " not found")
lib <- Sys.getenv("HLMDIAG_LIB", "")
suppressPackageStartupMessages(library(HLMdiag, lib.loc = if (nzchar(lib)) lib else NULL))

CTRL <- lmerControl(optimizer = "bobyqa", calc.derivs = FALSE,
                    optCtrl = list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6))
MIN_DF <- 10

timss <- read.csv(TIMSS_CSV, colClasses = c(school = "character"))
hsb <- read.csv(HSB_CSV, colClasses = c(school = "character"))

MODELS <- list(
  timss_korea = list(data = timss[timss$country == "Korea", ], file = TIMSS_CSV,
                     formula = "math ~ college + boy + (1 + college || school)",
                     outcome = "math", level1 = c("college", "boy"), rows = "country == 'Korea'"),
  timss_usa = list(data = timss[timss$country == "USA", ], file = TIMSS_CSV,
                   formula = "math ~ college + boy + (1 + college || school)",
                   outcome = "math", level1 = c("college", "boy"), rows = "country == 'USA'"),
  hsb = list(data = hsb, file = HSB_CSV,
             formula = "mathach ~ ses + sector + (1 + ses | school)",
             outcome = "mathach", level1 = c("ses"), rows = "all")
)

fit_lmer <- function(formula, data) {
  lmer(as.formula(formula), data = data, REML = TRUE, control = CTRL)
}

# The one-step statistics from their definitions (HLMdiag src/*.cpp), dense matrices.
one_step_by_definition <- function(model) {
  X <- as.matrix(getME(model, "X"))
  y <- getME(model, "y")
  s2 <- sigma(model)^2
  V <- s2 * (diag(length(y)) + as.matrix(crossprod(getME(model, "A"))))
  Vinv <- chol2inv(chol(V))
  VinvX <- Vinv %*% X
  XVX <- crossprod(X, VinvX)
  XVXinv <- solve(XVX)
  e <- y - X %*% (XVXinv %*% crossprod(VinvX, y))
  P <- Vinv - VinvX %*% XVXinv %*% t(VinvX)
  groups <- as.character(getME(model, "flist")[["school"]])
  p <- ncol(X)
  out <- lapply(unique(groups), function(g) {
    a <- which(groups == g)
    left <- XVXinv %*% t(VinvX[a, , drop = FALSE]) %*% solve(P[a, a, drop = FALSE])
    cdd <- left %*% Vinv[a, , drop = FALSE] %*% e
    deleted_cov <- XVXinv + left %*% Vinv[a, , drop = FALSE] %*% X %*% XVXinv
    c(cooksd = drop(t(cdd) %*% XVX %*% cdd) / p,
      mdffits = drop(t(cdd) %*% solve(deleted_cov) %*% cdd) / p,
      covratio = det(deleted_cov) / det(XVXinv),
      covtrace = abs(sum(diag(XVX %*% deleted_cov)) - p))
  })
  do.call(rbind, out)
}

varcomp <- function(model) {
  vc <- as.data.frame(VarCorr(model))
  v <- vc$vcov
  names(v) <- ifelse(is.na(vc$var1), "sigma2",
                     ifelse(is.na(vc$var2), paste0("var_", vc$var1),
                            paste0("cov_", vc$var1, "_", vc$var2)))
  v
}

full_deletion_tight <- function(model, spec, schools) {
  b <- fixef(model)
  V <- as.matrix(vcov(model))
  Vinv <- solve(V)
  p <- length(b)
  vc0 <- varcomp(model)
  rows <- lapply(schools, function(g) {
    refit <- fit_lmer(spec$formula, spec$data[spec$data$school != g, ])
    d <- b - fixef(refit)
    Vd <- as.matrix(vcov(refit))
    vc <- varcomp(refit)
    list(change = d,
         stats = c(cooksd = drop(t(d) %*% Vinv %*% d) / p,
                   mdffits = drop(t(d) %*% solve(Vd) %*% d) / p,
                   covratio = det(Vd) / det(V),
                   covtrace = abs(sum(diag(Vinv %*% Vd)) - p)),
         rvc = vc / vc0 - 1,
         singular = isSingular(refit, tol = 1e-6))
  })
  list(change = do.call(rbind, lapply(rows, `[[`, "change")),
       stats = do.call(rbind, lapply(rows, `[[`, "stats")),
       rvc = do.call(rbind, lapply(rows, `[[`, "rvc")),
       singular = vapply(rows, `[[`, logical(1), "singular"))
}

h_statistic <- function(spec) {
  d <- spec$data
  d <- d[complete.cases(d[, c(spec$outcome, spec$level1, "school")]), ]
  rhs <- paste(spec$level1, collapse = " + ")
  per_school <- lapply(split(d, d$school), function(s) {
    fit <- lm(as.formula(paste(spec$outcome, "~", rhs)), data = s)
    f <- fit$df.residual
    c(n = nrow(s), f = f, s2 = if (f > 0) sum(residuals(fit)^2) / f else NA_real_)
  })
  tab <- do.call(rbind, per_school)
  used <- tab[, "f"] >= MIN_DF & is.finite(tab[, "s2"]) & tab[, "s2"] > 0
  f <- tab[used, "f"]
  logs2 <- log(tab[used, "s2"])
  pooled <- sum(f * logs2) / sum(f)
  dj <- (logs2 - pooled) / sqrt(2 / f)
  H <- sum(dj^2)
  df <- sum(used) - 1
  list(min_df = MIN_DF, schools = rownames(tab), n = unname(tab[, "n"]),
       f = unname(tab[, "f"]), s2 = unname(tab[, "s2"]), used = unname(used),
       H = H, df = df, p = pchisq(H, df, lower.tail = FALSE))
}

md5 <- function(path) unname(tools::md5sum(path))

result <- list()
for (name in names(MODELS)) {
  spec <- MODELS[[name]]
  cat(name, "\n")
  model <- fit_lmer(spec$formula, spec$data)
  schools <- levels(getME(model, "flist")[["school"]])
  # HLMdiag orders one-step results by first appearance, case_delete by factor level.
  stopifnot(identical(unique(as.character(getME(model, "flist")[["school"]])), schools))
  beta_names <- names(fixef(model))

  cd <- cooks.distance(model, level = "school", include.attr = TRUE)
  one_step <- list(
    cooksd = cd$cooksd,
    mdffits = as.numeric(mdffits(model, level = "school")),
    covratio = as.numeric(covratio(model, level = "school")),
    covtrace = as.numeric(covtrace(model, level = "school")),
    change = unname(as.matrix(cd[, beta_names]))
  )
  by_def <- one_step_by_definition(model)
  for (stat in colnames(by_def)) {
    rel <- max(abs(by_def[, stat] - one_step[[stat]]) / pmax(abs(one_step[[stat]]), 1e-300))
    if (rel > 1e-8) stop(name, ": HLMdiag's one-step ", stat, " differs from its definition by ", rel)
  }

  tight <- full_deletion_tight(model, spec, schools)

  cdel <- case_delete(model, level = "school")
  full_hlmdiag <- list(
    cooksd = as.numeric(cooks.distance(cdel)),
    mdffits = as.numeric(mdffits(cdel)),
    covratio = as.numeric(covratio(cdel)),
    covtrace = as.numeric(covtrace(cdel)),
    rvc = unname(as.matrix(rvc(cdel)))
  )
  big <- tight$stats[, "cooksd"] > 0.01 * max(tight$stats[, "cooksd"])
  rel <- max(abs(full_hlmdiag$cooksd[big] / tight$stats[big, "cooksd"] - 1))
  if (rel > 5e-2) stop(name, ": HLMdiag's case_delete Cook's distance differs from the tight refits by ", rel)

  vc <- varcomp(model)
  result[[name]] <- list(
    formula = spec$formula,
    data = list(file = spec$file, md5 = md5(spec$file), n_obs = nobs(model),
                n_groups = length(schools),
                rows = spec$rows),
    schools = schools,
    fixed_names = beta_names,
    fixed = unname(fixef(model)),
    vcov = unname(as.matrix(vcov(model))),
    varcomp_names = names(vc),
    varcomp = unname(vc),
    reml_deviance = REMLcrit(model),
    one_step = one_step,
    full_tight = list(
      change = unname(tight$change),
      cooksd = unname(tight$stats[, "cooksd"]),
      mdffits = unname(tight$stats[, "mdffits"]),
      covratio = unname(tight$stats[, "covratio"]),
      covtrace = unname(tight$stats[, "covtrace"]),
      rvc_names = colnames(tight$rvc),
      rvc = unname(tight$rvc),
      singular = tight$singular
    ),
    full_hlmdiag = c(full_hlmdiag, list(rvc_names = colnames(rvc(cdel)))),
    h_statistic = h_statistic(spec)
  )
}

pkg <- function(p) as.character(packageVersion(p, lib.loc = if (p == "HLMdiag" && nzchar(lib)) lib else NULL))
out <- list(
  description = paste(
    "School-deletion influence diagnostics by R's HLMdiag (one-step and case_delete),",
    "full deletion by tight lme4 refits, and R&B's H statistic, for hlmteach.diagnostics.",
    "Generated by tests/reference/diagnostics.R; see the comments there."),
  provenance = list(
    command = "HLMDIAG_LIB=<library> Rscript tests/reference/diagnostics.R",
    date = format(Sys.Date()),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(HLMdiag = pkg("HLMdiag"), lme4 = pkg("lme4"), Matrix = pkg("Matrix"),
                    jsonlite = pkg("jsonlite")),
    hlmdiag_source = Sys.getenv("HLMDIAG_SOURCE", "CRAN"),
    control = "lmer REML, bobyqa rhobeg 0.1 rhoend 1e-12 maxfun 1e6 (full_tight and the full fits); HLMdiag's case_delete uses lme4's defaults"
  ),
  models = result
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), OUT)
cat("wrote", OUT, "\n")
