#!/usr/bin/env Rscript
# Outside reference numbers for hlmteach.variance_explained (notebook 14) and the
# worked write-up of notebook 16.
#
# Run from the repository root:
#
#     Rscript tests/reference/variance_explained.R
#
# It reads data/hsb.csv and data/timss_synthetic.csv and writes
# tests/fixtures/variance_explained_lme4.json. The fixture is committed; the
# Python tests only read it, so R is needed only to regenerate it (Debian:
# r-base-core r-cran-lme4 r-cran-lmertest r-cran-performance r-cran-insight
# r-cran-jsonlite).
#
# For each model below the script stores
# * the lme4 fit (REML, bobyqa at tight tolerances, restarted twice): fixed effects, tau, sigma2,
#   REML deviance, N and J;
# * performance::r2_nakagawa (R2_marginal, R2_conditional) and the variance
#   components of insight::get_variance (var.fixed, var.random, var.residual):
#   the package implementation of Nakagawa & Schielzeth (2013) with Johnson's
#   (2014) random slopes;
# * Rights & Sterba's (2019) decomposition, implemented here from the paper's
#   formulas (their eqs. for f1, f2, v, m; Phi and Sigma are R's var(), the
#   n - 1 denominator, as their r2mlm package uses): components, shares of the
#   total, within and between variance. tests/fixtures/variance_explained_r2mlm.json
#   holds the numbers of the authors' own r2mlm package for the same models;
#   tests/test_variance_explained.py checks both.
#   Level-2 predictors are the fixed-effect columns constant within every school;
#   the decomposition into f1 and f2 exists only when the level-1 columns are
#   centred within schools (otherwise only f, the total fixed part, is given).
# * for pairs of models: Raudenbush & Bryk's proportional reduction in each
#   variance, and Snijders & Bosker's R2_1 and R2_2 (n = harmonic mean of the
#   school sizes, and n = N / J), from the lme4 estimates.
# * for the course's US model (notebook 16): lmerTest's Satterthwaite df and
#   profile-likelihood intervals of the standard deviations from
#   confint(method = "profile") (lme4 profiles the ML deviance, see the note in
#   hlmteach.variance_tests.profile_ci; the REML profile is checked against
#   tests/fixtures/profile_lme4.json elsewhere).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(performance)
  library(insight)
  library(jsonlite)
})

CTRL <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6),
                    check.conv.singular = "ignore")

hsb <- read.csv("data/hsb.csv")
hsb$cses <- hsb$ses - ave(hsb$ses, hsb$school)
hsb$school <- factor(hsb$school)

timss <- read.csv("data/timss_synthetic.csv")
usa <- timss[timss$country == "USA", ]
usa <- usa[!is.na(usa$math), ]
usa_complete <- usa[complete.cases(usa[, c("math", "college", "boy")]), ]
usa$school <- factor(usa$school)
usa_complete$school <- factor(usa_complete$school)
# A copy of the school id: with the uncorrelated slope as a term of its own grouping
# factor, insight::get_variance counts its variance (written as a second term of the
# same factor, as lme4's || writes it, insight 0.19.0 leaves it out of var.random).
usa_complete$school_copy <- usa_complete$school

MODELS <- list(
  hsb_anova = list(data = "hsb", formula = "mathach ~ 1 + (1 | school)"),
  hsb_meanses = list(data = "hsb", formula = "mathach ~ meanses + (1 | school)"),
  hsb_cses = list(data = "hsb", formula = "mathach ~ cses + (1 | school)"),
  hsb_ses_meanses = list(data = "hsb", formula = "mathach ~ ses + meanses + (1 | school)"),
  hsb_ses_meanses_rs = list(data = "hsb", formula = "mathach ~ ses + meanses + (ses | school)"),
  hsb_cses_meanses_rs = list(data = "hsb",
                             formula = "mathach ~ cses + meanses + (cses | school)"),
  hsb_full = list(data = "hsb", formula = paste(
    "mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (cses | school)")),
  usa_anova_complete = list(data = "usa_complete", formula = "math ~ 1 + (1 | school)"),
  usa_ri = list(data = "usa_complete", formula = "math ~ college + boy + (1 | school)"),
  usa_rc = list(data = "usa_complete",
                formula = "math ~ college + boy + (1 | school) + (0 + college | school)"),
  usa_rc_copy = list(data = "usa_complete",
                     formula = "math ~ college + boy + (1 | school) + (0 + college | school_copy)"),
  usa_rc_un = list(data = "usa_complete", formula = "math ~ college + boy + (college | school)")
)

PAIRS <- list(
  hsb_meanses = c("hsb_anova", "hsb_meanses"),
  hsb_cses = c("hsb_anova", "hsb_cses"),
  hsb_ses_meanses = c("hsb_anova", "hsb_ses_meanses"),
  usa_ri = c("usa_anova_complete", "usa_ri")
)

frames <- list(hsb = hsb, usa_complete = usa_complete)

tau_matrix <- function(fit) {
  vc <- VarCorr(fit)
  blocks <- lapply(vc, function(b) { m <- as.matrix(b); attr(m, "stddev") <- NULL;
                                    attr(m, "correlation") <- NULL; m })
  names_all <- unlist(lapply(blocks, rownames))
  tau <- as.matrix(Matrix::bdiag(blocks))
  dimnames(tau) <- list(names_all, names_all)
  tau
}

rights_sterba <- function(fit) {
  X <- getME(fit, "X")
  beta <- fixef(fit)
  school <- getME(fit, "flist")[[1]]
  constant <- apply(X, 2, function(col) all(tapply(col, school, function(v) diff(range(v))) == 0))
  tau <- tau_matrix(fit)
  zn <- rownames(tau)
  Z <- X[, zn, drop = FALSE]
  sigma2 <- sigma(fit)^2
  within_cols <- c(colnames(X)[!constant], setdiff(zn, "(Intercept)"))
  centred <- all(sapply(unique(within_cols), function(n)
    max(abs(tapply(X[, n], school, mean))) <= 1e-9 * max(abs(X[, n]))))
  quad <- function(cols) {
    if (length(cols) == 0) return(0)
    phi <- var(X[, cols, drop = FALSE])
    g <- beta[cols]
    as.numeric(t(g) %*% phi %*% g)
  }
  v <- sum(diag(tau %*% var(Z)))
  m <- as.numeric(t(colMeans(Z)) %*% tau %*% colMeans(Z))
  if (centred) {
    comp <- c(f1 = quad(colnames(X)[!constant]), f2 = quad(colnames(X)[constant]),
              v = v, m = m, sigma2 = sigma2)
    within <- comp[c("f1", "v", "sigma2")] / sum(comp[c("f1", "v", "sigma2")])
    between <- comp[c("f2", "m")] / sum(comp[c("f2", "m")])
    shares <- list(total = as.list(comp / sum(comp)), within = as.list(within),
                   between = as.list(between))
  } else {
    comp <- c(f = quad(colnames(X)), v = v, m = m, sigma2 = sigma2)
    shares <- list(total = as.list(comp / sum(comp)))
  }
  list(centred = centred, components = as.list(comp), shares = shares)
}

# bobyqa stops where the REML criterion (~47000 for HSB) no longer changes to its rounding,
# up to ~4e-7 (relative) short of the optimum in the variances; two restarts from its own
# theta with a small trust region (rhobeg 1e-4) bring the estimates to ~1e-8.
CTRL_RESTART <- lmerControl(optimizer = "bobyqa",
                            optCtrl = list(rhobeg = 1e-4, rhoend = 1e-14, maxfun = 1e6),
                            check.conv.singular = "ignore")

fit_model <- function(spec) {
  data <- frames[[spec$data]]
  fit <- lmerTest::lmer(as.formula(spec$formula), data = data, REML = TRUE, control = CTRL)
  for (i in 1:2) {
    fit <- lmerTest::lmer(as.formula(spec$formula), data = data, REML = TRUE,
                          control = CTRL_RESTART, start = getME(fit, "theta"))
  }
  fit
}

fits <- lapply(MODELS, fit_model)

describe <- function(name) {
  fit <- fits[[name]]
  tau <- tau_matrix(fit)
  r2 <- performance::r2_nakagawa(fit)
  v <- insight::get_variance(fit)
  list(
    formula = MODELS[[name]]$formula,
    data = MODELS[[name]]$data,
    n_obs = nobs(fit),
    n_groups = nlevels(getME(fit, "flist")[[1]]),
    fixed = as.list(fixef(fit)),
    tau = lapply(split(tau, row(tau)), function(r) r),
    tau_names = rownames(tau),
    sigma2 = sigma(fit)^2,
    reml_deviance = REMLcrit(fit),
    nakagawa = list(marginal = unname(r2$R2_marginal), conditional = unname(r2$R2_conditional),
                    var_fixed = v$var.fixed, var_random = v$var.random,
                    var_residual = v$var.residual),
    rights_sterba = rights_sterba(fit)
  )
}

models_out <- setNames(lapply(names(MODELS), describe), names(MODELS))

variances <- function(fit) {
  tau <- tau_matrix(fit)
  out <- as.list(diag(tau))
  names(out) <- paste0("Var(", sub("\\(Intercept\\)", "Intercept", names(out)), ")")
  out$Residual <- sigma(fit)^2
  out
}

pair_out <- lapply(PAIRS, function(p) {
  base <- fits[[p[1]]]
  full <- fits[[p[2]]]
  vb <- variances(base)
  vf <- variances(full)
  shared <- intersect(names(vb), names(vf))
  prv <- setNames(lapply(shared, function(n) (vb[[n]] - vf[[n]]) / vb[[n]]), shared)
  sizes <- as.numeric(table(getME(full, "flist")[[1]]))
  sb <- function(n) {
    t0 <- vb[["Var(Intercept)"]]; s0 <- vb$Residual
    t1 <- vf[["Var(Intercept)"]]; s1 <- vf$Residual
    list(cluster_size = n, R2_1 = 1 - (s1 + t1) / (s0 + t0),
         R2_2 = 1 - (s1 / n + t1) / (s0 / n + t0))
  }
  list(baseline = p[1], fitted = p[2], proportional_reduction = prv,
       snijders_bosker_harmonic = sb(length(sizes) / sum(1 / sizes)),
       snijders_bosker_mean = sb(mean(sizes)))
})

# Notebook 16: the course's US model, as reported.
us <- fits$usa_rc
sat <- summary(us, ddf = "Satterthwaite")$coefficients
profile_sd <- suppressMessages(confint(us, method = "profile", oldNames = FALSE))
report <- list(
  n_obs = nobs(us), n_groups = nlevels(getME(us, "flist")[[1]]),
  rows_dropped_for_missing = nrow(usa) - nrow(usa_complete),
  cluster_sizes = as.list(summary(as.numeric(table(usa_complete$school)))),
  satterthwaite = list(estimate = as.list(sat[, "Estimate"]), se = as.list(sat[, "Std. Error"]),
                       df = as.list(sat[, "df"]), p = as.list(sat[, "Pr(>|t|)"])),
  profile_ci_sd_ml = list(lower = as.list(profile_sd[, 1]), upper = as.list(profile_sd[, 2]))
)

out <- list(
  description = paste(
    "lme4 fits, performance::r2_nakagawa, and Rights-Sterba, Raudenbush-Bryk and",
    "Snijders-Bosker measures from the published formulas, for hlmteach.variance_explained."),
  provenance = list(
    command = "Rscript tests/reference/variance_explained.R",
    script = "tests/reference/variance_explained.R",
    date = format(Sys.Date()),
    r_version = R.version.string,
    platform = R.version$platform,
    packages = lapply(setNames(nm = c("lme4", "lmerTest", "performance", "insight", "Matrix",
                                      "jsonlite")),
                      function(p) as.character(packageVersion(p))),
    control = list(optimizer = "bobyqa", rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6,
                   restarts = "2, rhobeg 1e-4, rhoend 1e-14, from the previous theta"),
    data = c("data/hsb.csv", "data/timss_synthetic.csv (country USA, rows with math, college and boy)")
  ),
  models = models_out,
  pairs = pair_out,
  us_report = report
)

writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
           "tests/fixtures/variance_explained_lme4.json")
cat("wrote tests/fixtures/variance_explained_lme4.json\n")
