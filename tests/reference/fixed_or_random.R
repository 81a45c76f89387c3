#!/usr/bin/env Rscript
# Reference numbers for hlmteach.within_between (notebook 15, "Fixed or random school
# effects?"): the within (fixed-effects, school-dummy), between, random-effects
# (Swamy-Arora) estimators and the Hausman test by plm, and the Mundlak (within-between,
# hybrid) model by lme4.
#
# Run from the repository root:
#
#     Rscript tests/reference/fixed_or_random.R
#
# It reads data/timss_synthetic.csv and data/hsb.csv and writes
# tests/fixtures/fixed_or_random.json; the Python tests only read it
# (Debian: r-cran-plm r-cran-lme4 r-cran-jsonlite).
#
# Data sets (students with a missing predictor are dropped first, as hlmteach does):
#   timss_korea, timss_usa:  math ~ college + boy, schools as the groups
#   hsb:                     mathach ~ ses + female + minority, schools as the groups
# For each:
#   ols:      lm(y ~ x)                               (pooled OLS, plm "pooling")
#   dummies:  lm(y ~ x + factor(school))              (the school-dummy model)
#   within:   plm(model = "within")                   (fixed effects; equals the dummies)
#   between:  plm(model = "between")                  (OLS on the school means, unweighted)
#   random:   plm(model = "random", random.method = "swar")  (Swamy-Arora FGLS;
#             unbalanced schools: plm's dfcor = 3 quadratic forms)
#   hausman:  phtest(within, random)                  (chi-square form, df = number of slopes)
#   mundlak:  lmer(y ~ x + xbar + (1 | school), REML) (xbar = the school means of each x),
#             bobyqa at tight tolerances; the Wald chi-square of the xbar coefficients,
#             b' V^-1 b with V = vcov(fit), is the regression form of the Hausman test.

suppressPackageStartupMessages({
  library(plm)
  library(lme4)
  library(jsonlite)
})

TIMSS <- "data/timss_synthetic.csv"
HSB <- "data/hsb.csv"
OUT <- "tests/fixtures/fixed_or_random.json"
if (!file.exists(TIMSS)) stop("Run from the repository root: ", TIMSS, " not found")

CTRL <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6))

coef_table <- function(b, V) {
  out <- lapply(names(b), function(n) list(estimate = unname(b[[n]]), se = sqrt(V[n, n])))
  setNames(out, names(b))
}

analyse <- function(data, outcome, predictors) {
  data <- data[complete.cases(data[, c(outcome, predictors, "school")]), ]
  data <- data[order(data$school), ]
  data$school <- factor(data$school)
  rhs <- paste(predictors, collapse = " + ")
  fml <- as.formula(paste(outcome, "~", rhs))
  pdata <- pdata.frame(data, index = "school", row.names = FALSE)
  # plm wants a second index; a within-school counter is fine (it is not used here)
  ols <- lm(fml, data = data)
  dummies <- lm(as.formula(paste(outcome, "~", rhs, "+ school")), data = data)
  within <- plm(fml, data = data, index = "school", model = "within")
  between <- plm(fml, data = data, index = "school", model = "between")
  random <- plm(fml, data = data, index = "school", model = "random", random.method = "swar")
  hausman <- phtest(within, random)
  er <- ercomp(fml, data = data, index = "school", method = "swar")
  means <- paste0(predictors, "_mean")
  for (p in predictors) data[[paste0(p, "_mean")]] <- ave(data[[p]], data$school)
  mfml <- as.formula(paste(outcome, "~", rhs, "+", paste(means, collapse = " + "),
                           "+ (1 | school)"))
  mundlak <- lmer(mfml, data = data, REML = TRUE, control = CTRL)
  mundlak_alt <- lmer(mfml, data = data, REML = TRUE, control = CTRL,
                      start = list(theta = 0.2))
  if (abs(REMLcrit(mundlak_alt) - REMLcrit(mundlak)) > 1e-8) stop("Mundlak refit disagrees")
  bm <- fixef(mundlak)
  Vm <- as.matrix(vcov(mundlak))
  wald <- as.numeric(t(bm[means]) %*% solve(Vm[means, means]) %*% bm[means])
  vc <- as.data.frame(VarCorr(mundlak))
  sizes <- table(data$school)
  list(
    formula = paste(outcome, "~", rhs),
    n_obs = nrow(data),
    n_groups = nlevels(data$school),
    ols = coef_table(coef(ols), vcov(ols)),
    dummies = coef_table(coef(dummies)[predictors], vcov(dummies)[predictors, predictors]),
    dummies_df_residual = df.residual(dummies),
    within = coef_table(coef(within), vcov(within)),
    between = coef_table(coef(between), vcov(between)),
    random = coef_table(coef(random), vcov(random)),
    random_sigma2 = list(idiosyncratic = unname(er$sigma2["idios"]),
                         school = unname(er$sigma2["id"])),
    random_theta = list(min = min(er$theta), max = max(er$theta),
                        mean_over_students = mean(er$theta)),
    hausman = list(statistic = unname(hausman$statistic), df = unname(hausman$parameter),
                   p_value = hausman$p.value),
    mundlak = list(formula = deparse(mfml),
                   fixed = coef_table(bm, Vm),
                   tau00 = vc$vcov[vc$grp == "school"],
                   sigma2 = vc$vcov[vc$grp == "Residual"],
                   reml_deviance = REMLcrit(mundlak),
                   wald_means = list(statistic = wald, df = length(means),
                                     p_value = pchisq(wald, length(means), lower.tail = FALSE)))
  )
}

timss <- read.csv(TIMSS)
hsb <- read.csv(HSB)
stopifnot(nrow(hsb) == 7185)
cases <- list(
  timss_korea = analyse(timss[timss$country == "Korea", ], "math", c("college", "boy")),
  timss_usa = analyse(timss[timss$country == "USA", ], "math", c("college", "boy")),
  hsb = analyse(hsb, "mathach", c("ses", "female", "minority"))
)

md5 <- function(f) unname(tools::md5sum(f))
pkg <- function(p) as.character(packageVersion(p))
result <- list(
  description = paste(
    "Within (school dummies), between, random-effects (Swamy-Arora) estimators and the",
    "Hausman test by plm, and the Mundlak model by lme4, for hlmteach.within_between.",
    "Generated by tests/reference/fixed_or_random.R; see the comments there."),
  data = list(timss = list(file = TIMSS, md5 = md5(TIMSS)), hsb = list(file = HSB, md5 = md5(HSB))),
  provenance = list(
    command = "Rscript tests/reference/fixed_or_random.R",
    date = format(Sys.Date()),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = list(plm = pkg("plm"), lme4 = pkg("lme4"), Matrix = pkg("Matrix"),
                    jsonlite = pkg("jsonlite")),
    control = paste("lme4: bobyqa rhobeg 0.1 rhoend 1e-12, checked by a refit from theta 0.2",
                    "(REML deviances agree to 1e-8); plm: defaults (swar, dfcor = 3)")),
  cases = cases
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE), OUT)
cat("wrote", OUT, "\n")
