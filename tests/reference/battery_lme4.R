#!/usr/bin/env Rscript
# An extended lme4/lmerTest validation battery for hlmteach's REML/ML engine:
# two-level linear mixed models (one grouping factor) on real data sets from
# Debian's r-cran-lme4, r-cran-nlme, r-cran-mlmrev and R's datasets, and on
# simulated data sets, fitted at tight optimiser settings.
#
# Run from the repository root:
#
#     Rscript tests/reference/battery_lme4.R
#
# (Debian: r-base-core r-cran-lme4 r-cran-lmertest r-cran-nlme r-cran-mlmrev
# r-cran-numderiv r-cran-jsonlite.) It writes
#
#   tests/fixtures/battery/<data set>.csv  the data each model is fitted to:
#                                          only the columns used, with simple
#                                          names that R and patsy both accept;
#   tests/fixtures/battery_lme4.json       the reference fits, with provenance.
#
# The fixtures are committed; the Python tests (tests/test_lme4_battery.py)
# only read them. R fits the data it has read back from the CSV it wrote, so
# that R and Python fit bit-identical numbers (both parse the decimal text to
# the nearest double). write.csv keeps 15 significant digits; simulated values
# are rounded to 8 significant digits first, every other non-integer value to
# 15, so the read-back data differ from the generated ones by < 1e-13 relative.
#
# Factors are written as 0/1 dummy columns (e.g. Orthodont's Sex as `female`,
# Machines' Machine as `mB`, `mC`), powers as their own columns (`age2`), so
# that each model's R formula and its patsy formula name the same columns and
# the fixed-effect terms have the same names (R "(Intercept)" = patsy
# "Intercept"; "a:b" is "a:b" in both).
#
# What is computed, per model and per method (REML and ML)
# --------------------------------------------------------
# * The fit (fit_best): lme4::lmer by several optimisers at tight settings,
#     bobyqa        rhobeg 0.1, rhoend 1e-12, maxfun 1e6, lme4's default start;
#     nelder_mead   lme4's Nelder_Mead, FtolAbs = FtolRel = 1e-15,
#                   XtolRel 1e-13, xt 1e-8 per theta;
#     nlopt_bobyqa  nloptwrap NLOPT_LN_BOBYQA, xtol_rel 1e-12, ftol_rel
#                   1e-15, ftol_abs 1e-15, maxeval 1e5;
#     bobyqa_alt    bobyqa as above from theta 0.2 (diagonal) / 0.05 (off);
#     bobyqa_equiv  (uncentred / rescaled predictors only) bobyqa from the
#                   optimum of the equivalent well-scaled model mapped to this
#                   parameterisation (Lambda' = chol(A^-1 Lambda Lambda' A^-T)
#                   for Z' = Z A), so a poorly scaled start cannot hide the
#                   optimum;
#     polish        bobyqa restarted from the best of these, rhobeg 1e-3,
#                   rhoend 1e-14; then Newton steps on theta (gradient and
#                   Hessian of the profiled deviance by numDeriv, Richardson
#                   extrapolation), each kept only if it lowers the deviance;
#                   at a boundary optimum the components at their bound are
#                   held there and the others polished.
#   The lowest deviance is the reference. Stored under "convergence": every
#   optimiser's deviance and the largest relative difference of its fixed
#   effects and covariance parameters from the reference's, the number of
#   optimisers within 1e-6 of the best deviance, and the gradient of the
#   profiled deviance in the free components of the reference theta with the
#   size of the Newton step it implies (numDeriv), where the Hessian there is
#   positive definite.
# * Models on a rescaled or uncentred predictor x' = a + b x (the sim_scaled_*
#   ones with x_k, x_u, x_1000, x_50k) are the same model as the one in x, so
#   their exact optimum is known: it is the base fit mapped exactly
#   (exact_transform below), and that is their reference; what lme4 itself
#   reaches on x' is stored under "lme4_direct" (on x_1000 and x_50k it stops
#   above the exact optimum; its criterion evaluation loses digits there).
# * lmerTest::lmer evaluated at the reference theta (lmerControl(optimizer =
#   NULL), start = theta) gives the reported fixed effects, SEs and
#   Satterthwaite df (summary(ddf = "Satterthwaite")); non-finite df are
#   stored as null.
# * deviance: lme4's REMLcrit() for REML fits, deviance() = -2 logLik for ML
#   fits (the constants of SAS and lme4).
# * tau: the random-effect covariance matrix G (sigma^2 Lambda Lambda'),
#   rows/columns named by lme4's column names; sigma2; theta; isSingular
#   (lme4::isSingular, tol 1e-4) and the lme4 convergence messages of the
#   default fit.
# * timing: elapsed seconds of a plain lme4::lmer call with lme4's default
#   control (what a user runs), median over several runs (5, or 3 for data
#   with more than 5000 rows), on this machine; with the machine's R version
#   and BLAS in "provenance".

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(nlme)
  library(mlmRev)
  library(numDeriv)
  library(jsonlite)
})

OUT_DIR <- "tests/fixtures/battery"
OUT <- "tests/fixtures/battery_lme4.json"
if (!dir.exists("tests/fixtures")) stop("Run from the repository root")
dir.create(OUT_DIR, showWarnings = FALSE)

OPT_MAIN <- list(rhobeg = 0.1, rhoend = 1e-12, maxfun = 1e6)
CTRL_MAIN <- lmerControl(optimizer = "bobyqa", optCtrl = OPT_MAIN)
CTRL_POLISH <- lmerControl(optimizer = "bobyqa",
                           optCtrl = list(rhobeg = 1e-3, rhoend = 1e-14, maxfun = 1e6))
CTRL_NLOPT <- lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", xtol_rel = 1e-12,
                                         ftol_rel = 1e-15, ftol_abs = 1e-15, maxeval = 1e5))
ctrl_nm <- function(n_theta) lmerControl(optimizer = "Nelder_Mead",
  optCtrl = list(FtolAbs = 1e-15, FtolRel = 1e-15, XtolRel = 1e-13,
                 xt = rep(1e-8, n_theta), maxfun = 1e5))

sig8 <- function(x) signif(x, 8)

# ---------------------------------------------------------------------------
# Data sets: each a data frame with a grouping column `g`, written to CSV and
# read back.
# ---------------------------------------------------------------------------
DATA <- list()
SOURCES <- list()
add_data <- function(name, df, source) {
  df <- df[stats::complete.cases(df), , drop = FALSE]
  rownames(df) <- NULL
  for (v in names(df)) if (is.double(df[[v]])) df[[v]] <- signif(df[[v]], 15)
  path <- file.path(OUT_DIR, paste0(name, ".csv"))
  write.csv(df, path, row.names = FALSE)
  back <- read.csv(path)
  stopifnot(nrow(back) == nrow(df))
  for (v in names(df)) if (is.numeric(df[[v]]))
    stopifnot(isTRUE(all.equal(back[[v]], df[[v]], tolerance = 1e-13)))
  back$g <- factor(back$g, levels = unique(back$g))
  DATA[[name]] <<- back
  SOURCES[[name]] <<- c(source, list(file = path, md5 = unname(tools::md5sum(path)),
                                     n_obs = nrow(back), n_groups = nlevels(back$g)))
}
pkgsrc <- function(pkg, ds, note) list(
  source = paste0(pkg, "::", ds), package_version = as.character(packageVersion(pkg)),
  columns = note)
ds <- function(pkg, name) {
  e <- new.env()
  utils::data(list = name, package = pkg, envir = e)
  as.data.frame(get(name, envir = e))
}
dummy <- function(f, lev) as.integer(f == lev)

# --- lme4 -------------------------------------------------------------------
d <- ds("lme4", "sleepstudy")
add_data("sleepstudy", data.frame(g = d$Subject, y = d$Reaction, days = d$Days),
         pkgsrc("lme4", "sleepstudy", "g = Subject, y = Reaction, days = Days"))
d <- ds("lme4", "cake")
add_data("cake", data.frame(g = d$replicate, y = d$angle, temp = d$temp,
                            rB = dummy(d$recipe, "B"), rC = dummy(d$recipe, "C")),
         pkgsrc("lme4", "cake", "g = replicate, y = angle, temp = temp (175-225, uncentred), rB/rC = recipe dummies"))
d <- ds("lme4", "Dyestuff")
add_data("dyestuff", data.frame(g = d$Batch, y = d$Yield),
         pkgsrc("lme4", "Dyestuff", "g = Batch, y = Yield"))
d <- ds("lme4", "Dyestuff2")
add_data("dyestuff2", data.frame(g = d$Batch, y = d$Yield),
         pkgsrc("lme4", "Dyestuff2", "g = Batch, y = Yield (a singular fit)"))
d <- ds("lme4", "Penicillin")
add_data("penicillin", data.frame(g = d$plate, y = d$diameter,
                                  sB = dummy(d$sample, "B"), sC = dummy(d$sample, "C"),
                                  sD = dummy(d$sample, "D"), sE = dummy(d$sample, "E"),
                                  sF = dummy(d$sample, "F")),
         pkgsrc("lme4", "Penicillin", "g = plate, y = diameter, sB..sF = sample dummies (sample as fixed)"))
d <- ds("lme4", "Pastes")
add_data("pastes", data.frame(g = d$sample, y = d$strength),
         pkgsrc("lme4", "Pastes", "g = sample (30 groups of 2), y = strength"))

# --- nlme -------------------------------------------------------------------
d <- ds("nlme", "Orthodont")
add_data("orthodont", data.frame(g = as.character(d$Subject), y = d$distance, age = d$age,
                                 female = dummy(d$Sex, "Female")),
         pkgsrc("nlme", "Orthodont", "g = Subject, y = distance, age (8-14, uncentred), female = Sex dummy"))
d <- ds("nlme", "Oxboys")
add_data("oxboys", data.frame(g = as.character(d$Subject), y = d$height, age = d$age,
                              age2 = d$age^2, age3 = d$age^3),
         pkgsrc("nlme", "Oxboys", "g = Subject, y = height, age (centred, -1..1), age2 = age^2, age3 = age^3"))
d <- ds("datasets", "Orange")
add_data("orange", data.frame(g = as.character(d$Tree), y = d$circumference, age = d$age),
         pkgsrc("datasets", "Orange", "g = Tree (5 trees), y = circumference, age (118-1582 days)"))
d <- ds("nlme", "ergoStool")
add_data("ergostool", data.frame(g = as.character(d$Subject), y = d$effort,
                                 t2 = dummy(d$Type, "T2"), t3 = dummy(d$Type, "T3"),
                                 t4 = dummy(d$Type, "T4")),
         pkgsrc("nlme", "ergoStool", "g = Subject, y = effort, t2..t4 = Type dummies"))
d <- ds("nlme", "Machines")
add_data("machines", data.frame(g = as.character(d$Worker), y = d$score,
                                mB = dummy(d$Machine, "B"), mC = dummy(d$Machine, "C")),
         pkgsrc("nlme", "Machines", "g = Worker, y = score, mB/mC = Machine dummies"))
d <- ds("nlme", "Rail")
add_data("rail", data.frame(g = as.character(d$Rail), y = d$travel),
         pkgsrc("nlme", "Rail", "g = Rail, y = travel"))
d <- ds("nlme", "BodyWeight")
add_data("bodyweight", data.frame(g = as.character(d$Rat), y = d$weight, time = d$Time,
                                  diet2 = dummy(d$Diet, "2"), diet3 = dummy(d$Diet, "3")),
         pkgsrc("nlme", "BodyWeight", "g = Rat, y = weight, time = Time (1-64 days), diet2/diet3 = Diet dummies"))
d <- ds("nlme", "Ovary")
add_data("ovary", data.frame(g = as.character(d$Mare), y = d$follicles,
                             s1 = sig8(sin(2 * pi * d$Time)), c1 = sig8(cos(2 * pi * d$Time))),
         pkgsrc("nlme", "Ovary", "g = Mare, y = follicles, s1/c1 = sin/cos(2 pi Time) to 8 significant digits"))
d <- ds("nlme", "Dialyzer")
add_data("dialyzer", data.frame(g = as.character(d$Subject), y = d$rate, pressure = d$pressure,
                                qb300 = dummy(d$QB, "300")),
         pkgsrc("nlme", "Dialyzer", "g = Subject, y = rate, pressure, qb300 = QB dummy"))
d <- ds("datasets", "Loblolly")
add_data("loblolly", data.frame(g = as.character(d$Seed), y = d$height, age = d$age),
         pkgsrc("datasets", "Loblolly", "g = Seed, y = height, age (3-25)"))
d <- ds("nlme", "Spruce")
add_data("spruce", data.frame(g = as.character(d$Tree), y = d$logSize, days = d$days),
         pkgsrc("nlme", "Spruce", "g = Tree, y = logSize, days (152-674, uncentred)"))
d <- ds("nlme", "Milk")
add_data("milk", data.frame(g = as.character(d$Cow), y = d$protein, time = d$Time,
                            barley = dummy(d$Diet, "barley"), lupins = dummy(d$Diet, "lupins")),
         pkgsrc("nlme", "Milk", "g = Cow, y = protein, time = Time (weeks), barley/lupins = Diet dummies"))

# --- datasets ------------------------------------------------------------------
d <- ds("datasets", "ChickWeight")
add_data("chickweight", data.frame(g = as.character(d$Chick), y = d$weight, time = d$Time),
         list(source = "datasets::ChickWeight", package_version = as.character(getRversion()),
              columns = "g = Chick (2-12 measurements per chick), y = weight, time = Time"))

# --- mlmRev -------------------------------------------------------------------
d <- ds("mlmRev", "Chem97")
add_data("chem97", data.frame(g = as.integer(as.character(d$school)), y = d$score,
                              gcsecnt = d$gcsecnt),
         pkgsrc("mlmRev", "Chem97", "g = school (2410 schools, 1-188 students), y = score, gcsecnt"))
d <- ds("mlmRev", "Exam")
add_data("exam", data.frame(g = as.integer(as.character(d$school)), y = d$normexam,
                            lrt = d$standLRT, girl = dummy(d$sex, "F")),
         pkgsrc("mlmRev", "Exam", "g = school, y = normexam, lrt = standLRT, girl = sex dummy"))
d <- ds("mlmRev", "Gcsemv")
add_data("gcsemv", data.frame(g = as.character(d$school), y = d$course,
                              written = d$written, female = dummy(d$gender, "F")),
         pkgsrc("mlmRev", "Gcsemv", "g = school, y = course, written, female = gender dummy; rows with a missing value dropped"))
d <- ds("mlmRev", "ScotsSec")
add_data("scotssec", data.frame(g = as.character(d$second), y = d$attain, verbal = d$verbal,
                                female = dummy(d$sex, "F")),
         pkgsrc("mlmRev", "ScotsSec", "g = second (secondary school), y = attain, verbal, female = sex dummy"))
d <- ds("mlmRev", "Early")
add_data("early", data.frame(g = as.character(d$id), y = d$cog, age = d$age,
                             trt = dummy(d$trt, "Y")),
         pkgsrc("mlmRev", "Early", "g = id, y = cog, age (1, 1.5, 2), trt dummy"))
d <- ds("mlmRev", "star")
add_data("star", data.frame(g = as.character(d$sch), y = d$math,
                            grade = as.integer(d$gr) - 1L, small = dummy(d$cltype, "small")),
         pkgsrc("mlmRev", "star", "g = sch (80 schools), y = math, grade = gr as 0 (K) .. 3, small = cltype dummy; rows with a missing value dropped"))
d <- ds("mlmRev", "bdf")
add_data("bdf", data.frame(g = as.character(d$schoolNR), y = d$langPOST, iq = d$IQ.verb,
                           ses = d$ses),
         pkgsrc("mlmRev", "bdf", "g = schoolNR, y = langPOST, iq = IQ.verb, ses"))
d <- ds("mlmRev", "egsingle")
add_data("egsingle", data.frame(g = as.character(d$childid), y = d$math, year = d$year),
         pkgsrc("mlmRev", "egsingle", "g = childid (1721 children), y = math, year (-2.5..2.5)"))

# --- simulated ------------------------------------------------------------------
simsrc <- function(note) list(source = "simulated in this script (set.seed as in the code)",
                              package_version = as.character(getRversion()), columns = note)

# q = 4, unstructured: 120 groups of 8-25
set.seed(20261201)
ng <- 120; nj <- sample(8:25, ng, replace = TRUE); g <- rep(seq_len(ng), nj); n <- length(g)
x1 <- rnorm(n); x2 <- rnorm(n); x3 <- runif(n, -1, 1)
Tq4 <- matrix(c(1, .3, -.2, .1, .3, .5, .1, 0, -.2, .1, .4, .05, .1, 0, .05, .3), 4)
B <- MASS::mvrnorm(ng, rep(0, 4), Tq4)
y <- 1 + 0.5 * x1 - 0.3 * x2 + 0.2 * x3 + B[g, 1] + B[g, 2] * x1 + B[g, 3] * x2 + B[g, 4] * x3 + rnorm(n)
add_data("sim_q4", data.frame(g = g, y = sig8(y), x1 = sig8(x1), x2 = sig8(x2), x3 = sig8(x3)),
         simsrc("q = 4: intercept and x1, x2, x3 random, unstructured G; 120 groups of 8-25"))

# tiny groups: 300 groups of 1-4 with a random slope (lme4 refuses a model with
# as many random effects as observations, so not 1-3)
set.seed(20261202)
ng <- 300; nj <- sample(1:4, ng, replace = TRUE); g <- rep(seq_len(ng), nj); n <- length(g)
x <- rnorm(n); b0 <- rnorm(ng, 0, 0.8); b1 <- rnorm(ng, 0, 0.4)
y <- 2 + x + b0[g] + b1[g] * x + rnorm(n)
add_data("sim_tiny", data.frame(g = g, y = sig8(y), x = sig8(x)),
         simsrc("tiny groups: 300 groups of 1-4, random intercept and slope of x"))

# very unbalanced: one group of 2000, 59 groups of 2-4
set.seed(20261203)
nj <- c(2000, sample(2:4, 59, replace = TRUE)); ng <- length(nj); g <- rep(seq_len(ng), nj); n <- length(g)
x <- rnorm(n, 0, 2); b0 <- rnorm(ng, 0, 1); b1 <- rnorm(ng, 0, 0.3)
y <- 10 + 0.4 * x + b0[g] + b1[g] * x + rnorm(n, 0, 2)
add_data("sim_unbalanced", data.frame(g = g, y = sig8(y), x = sig8(x)),
         simsrc("very unbalanced: one group of 2000, 59 groups of 2-4; random intercept and slope of x"))

# singular: no slope variance in truth; 40 groups of 10
set.seed(20261204)
ng <- 40; g <- rep(seq_len(ng), each = 10); n <- length(g)
x <- rnorm(n); z <- rnorm(n); b0 <- rnorm(ng, 0, 0.7)
y <- 1 + 0.5 * x + 0.2 * z + b0[g] + rnorm(n)
add_data("sim_singular", data.frame(g = g, y = sig8(y), x = sig8(x), z = sig8(z)),
         simsrc("no slope variance in truth (singular random-slope fits); 40 groups of 10"))

# scaling and centring: one data set, one predictor in several units
set.seed(20261205)
ng <- 80; nj <- sample(5:40, ng, replace = TRUE); g <- rep(seq_len(ng), nj); n <- length(g)
x <- sig8(rnorm(n)); b0 <- rnorm(ng, 0, 1); b1 <- rnorm(ng, 0, 0.5)
y <- 3 + 0.8 * x + b0[g] + b1[g] * x + rnorm(n, 0, 1.5)
add_data("sim_scaled", data.frame(g = g, y = sig8(y), x = x, x_k = x * 1000, x_u = x * 1e-5,
                                  x_1000 = 1000 + x, x_50k = 50000 + 15000 * x),
         simsrc("one predictor in several units: x ~ N(0,1), x_k = 1000 x, x_u = 1e-5 x, x_1000 = 1000 + x (1000 +- 1), x_50k = 50000 + 15000 x; random intercept and slope; 80 groups of 5-40"))

# an outcome with a large mean and a small spread, and a mildly large N
set.seed(20261206)
ng <- 400; nj <- sample(10:40, ng, replace = TRUE); g <- rep(seq_len(ng), nj); n <- length(g)
x <- rnorm(n); b0 <- rnorm(ng, 0, 0.05); b1 <- rnorm(ng, 0, 0.02)
y <- 100 + 0.03 * x + b0[g] + b1[g] * x + rnorm(n, 0, 0.1)
add_data("sim_offset", data.frame(g = g, y = sig8(y), x = sig8(x)),
         simsrc("outcome about 100 +- 0.1; 400 groups of 10-40; random intercept and slope"))

# ---------------------------------------------------------------------------
# Models: id, data set, outcome, fixed predictors, random slopes, covariance.
# The R formula is built from these: (1 + s | g) for "un", (1 | g) + (0 + s | g)
# ... for "vc"; the Python call is fit_hlm(data, "y ~ ...", group = "g",
# random = slopes, covariance = ...).
# ---------------------------------------------------------------------------
M <- function(id, data, fixed, random = character(0), cov = "un", equiv = NULL)
  list(id = id, data = data, fixed = fixed, random = random, cov = cov, equiv = equiv)
MODELS <- list(
  M("sleepstudy_ri", "sleepstudy", "days"),
  M("sleepstudy_un", "sleepstudy", "days", "days"),
  M("sleepstudy_vc", "sleepstudy", "days", "days", "vc"),
  M("cake_ri", "cake", c("temp", "rB", "rC")),
  M("cake_temp_un", "cake", c("temp", "rB", "rC"), "temp"),
  M("dyestuff_ri", "dyestuff", character(0)),
  M("dyestuff2_ri", "dyestuff2", character(0)),
  M("penicillin_ri", "penicillin", c("sB", "sC", "sD", "sE", "sF")),
  M("pastes_ri", "pastes", character(0)),
  M("orthodont_un", "orthodont", c("age", "female", "age:female"), "age"),
  M("orthodont_vc", "orthodont", c("age", "female", "age:female"), "age", "vc"),
  M("oxboys_un", "oxboys", "age", "age"),
  M("oxboys_q3_un", "oxboys", c("age", "age2"), c("age", "age2")),
  M("oxboys_q4_un", "oxboys", c("age", "age2", "age3"), c("age", "age2", "age3")),
  M("oxboys_q4_vc", "oxboys", c("age", "age2", "age3"), c("age", "age2", "age3"), "vc"),
  M("orange_un", "orange", "age", "age"),
  M("orange_vc", "orange", "age", "age", "vc"),
  M("ergostool_ri", "ergostool", c("t2", "t3", "t4")),
  M("machines_ri", "machines", c("mB", "mC")),
  M("machines_q3_un", "machines", c("mB", "mC"), c("mB", "mC")),
  M("machines_q3_vc", "machines", c("mB", "mC"), c("mB", "mC"), "vc"),
  M("rail_ri", "rail", character(0)),
  M("bodyweight_un", "bodyweight", c("time", "diet2", "diet3", "time:diet2", "time:diet3"), "time"),
  M("ovary_ri", "ovary", c("s1", "c1")),
  M("ovary_q3_un", "ovary", c("s1", "c1"), c("s1", "c1")),
  M("dialyzer_un", "dialyzer", c("pressure", "qb300", "pressure:qb300"), "pressure"),
  M("loblolly_un", "loblolly", "age", "age"),
  M("spruce_un", "spruce", "days", "days"),
  M("milk_un", "milk", c("time", "barley", "lupins"), "time"),
  M("chickweight_un", "chickweight", "time", "time"),
  M("chem97_ri", "chem97", "gcsecnt"),
  M("chem97_un", "chem97", "gcsecnt", "gcsecnt"),
  M("exam_un", "exam", c("lrt", "girl"), "lrt"),
  M("exam_q3_vc", "exam", c("lrt", "girl"), c("lrt", "girl"), "vc"),
  M("gcsemv_un", "gcsemv", c("written", "female"), "female"),
  M("scotssec_un", "scotssec", c("verbal", "female"), "verbal"),
  M("early_un", "early", c("age", "trt", "age:trt"), "age"),
  M("star_un", "star", c("grade", "small"), "grade"),
  M("bdf_un", "bdf", c("iq", "ses"), "iq"),
  M("egsingle_un", "egsingle", "year", "year"),
  M("sim_q4_un", "sim_q4", c("x1", "x2", "x3"), c("x1", "x2", "x3")),
  M("sim_q4_vc", "sim_q4", c("x1", "x2", "x3"), c("x1", "x2", "x3"), "vc"),
  M("sim_tiny_ri", "sim_tiny", "x"),
  M("sim_tiny_un", "sim_tiny", "x", "x"),
  M("sim_unbalanced_un", "sim_unbalanced", "x", "x"),
  M("sim_singular_un", "sim_singular", c("x", "z"), "x"),
  M("sim_singular_vc", "sim_singular", c("x", "z"), "x", "vc"),
  M("sim_singular_q3_un", "sim_singular", c("x", "z"), c("x", "z")),
  M("sim_scaled_un", "sim_scaled", "x", "x"),
  M("sim_scaled_vc", "sim_scaled", "x", "x", "vc"),
  M("sim_scaled_k_un", "sim_scaled", "x_k", "x_k", equiv = list(base = "x", base_id = "sim_scaled_un", a = 0, b = 1000)),
  M("sim_scaled_k_vc", "sim_scaled", "x_k", "x_k", "vc", equiv = list(base = "x", base_id = "sim_scaled_vc", a = 0, b = 1000)),
  M("sim_scaled_u_un", "sim_scaled", "x_u", "x_u", equiv = list(base = "x", base_id = "sim_scaled_un", a = 0, b = 1e-5)),
  M("sim_scaled_u_vc", "sim_scaled", "x_u", "x_u", "vc", equiv = list(base = "x", base_id = "sim_scaled_vc", a = 0, b = 1e-5)),
  M("sim_scaled_1000_un", "sim_scaled", "x_1000", "x_1000", equiv = list(base = "x", base_id = "sim_scaled_un", a = 1000, b = 1)),
  M("sim_scaled_50k_un", "sim_scaled", "x_50k", "x_50k", equiv = list(base = "x", base_id = "sim_scaled_un", a = 50000, b = 15000)),
  M("sim_offset_un", "sim_offset", "x", "x")
)

r_formula <- function(m) {
  fx <- if (length(m$fixed)) paste(m$fixed, collapse = " + ") else "1"
  re <- if (!length(m$random)) "(1 | g)" else if (m$cov == "un")
    paste0("(1 + ", paste(m$random, collapse = " + "), " | g)")
  else paste(c("(1 | g)", paste0("(0 + ", m$random, " | g)")), collapse = " + ")
  paste("y ~", fx, "+", re)
}
py_formula <- function(m) paste("y ~", if (length(m$fixed)) paste(m$fixed, collapse = " + ") else "1")

# ---------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------
dev_of <- function(fit) if (isREML(fit)) REMLcrit(fit) else deviance(fit)

G_matrix <- function(fit) {
  vc <- VarCorr(fit)
  cols <- unique(unlist(lapply(vc, colnames)))
  G <- matrix(0, length(cols), length(cols), dimnames = list(cols, cols))
  for (b in vc) G[colnames(b), colnames(b)] <- G[colnames(b), colnames(b)] + as.matrix(b)
  G
}

estimates_of <- function(fit) {
  G <- G_matrix(fit)
  c(fixef(fit), G[lower.tri(G, diag = TRUE)], sigma(fit)^2)
}

rel_diff <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-8 * abs(b[length(b)])))

quiet_lmer <- function(...) {
  msgs <- character(0)
  fit <- withCallingHandlers(
    tryCatch(lme4::lmer(...), error = function(e) structure(conditionMessage(e), class = "fit_error")),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  if (inherits(fit, "fit_error")) return(NULL)
  attr(fit, "msgs") <- msgs
  fit
}

# theta of the equivalent model's optimum mapped to this model's columns:
# this model's random columns are (1, a + b x) = (1, x) A with A = [[1, a], [0, b]].
equiv_start <- function(m, fml, dat, reml) {
  e <- m$equiv
  fml0 <- as.formula(gsub(m$random, e$base, deparse(fml), fixed = TRUE))
  f0 <- quiet_lmer(fml0, data = dat, REML = reml, control = CTRL_MAIN)
  if (is.null(f0)) return(NULL)
  G0 <- G_matrix(f0) / sigma(f0)^2
  A <- matrix(c(1, 0, e$a, e$b), 2)
  Ai <- solve(A)
  G1 <- Ai %*% G0 %*% t(Ai)
  if (m$cov == "un") {
    L <- t(chol(G1 + diag(1e-14, 2)))
    L[lower.tri(L, diag = TRUE)]
  } else sqrt(pmax(diag(G1), 0))
}

# Newton steps on the free components of theta: all of them for an interior
# optimum; for a boundary optimum the components at their bound (a zero
# diagonal element of Lambda) are held there and the others polished, which is
# the optimum of the reduced problem. Derivatives by numDeriv (Richardson).
newton_polish <- function(devfun, theta, lower) {
  at_bound <- is.finite(lower) & (theta - lower) <= 1e-6 * pmax(1, abs(theta))
  free <- which(!at_bound)
  none <- list(theta = theta, steps = 0, gradient = NULL, free = free)
  if (!length(free)) return(none)
  f_free <- function(v) { th <- theta; th[free] <- v; devfun(th) }
  H <- tryCatch(numDeriv::hessian(f_free, theta[free]), error = function(e) NULL)
  if (is.null(H) || any(!is.finite(H))) return(none)
  if (min(eigen(H, symmetric = TRUE, only.values = TRUE)$values) <= 0) return(none)
  d_cur <- devfun(theta)
  steps <- 0
  for (it in 1:4) {
    g <- numDeriv::grad(f_free, theta[free])
    H <- numDeriv::hessian(f_free, theta[free])
    step <- tryCatch(drop(solve(H, g)), error = function(e) NULL)
    if (is.null(step)) break
    cand <- theta
    cand[free] <- theta[free] - step
    if (any(cand < lower)) break
    d_new <- devfun(cand)
    if (!(d_new < d_cur)) break
    theta <- cand; d_cur <- d_new; steps <- steps + 1
  }
  g <- numDeriv::grad(f_free, theta[free])
  step <- tryCatch(drop(solve(numDeriv::hessian(f_free, theta[free]), g)), error = function(e) NA)
  list(theta = theta, steps = steps, free = free, gradient = g,
       last_newton_step = max(abs(step)))
}

time_default <- function(fml, dat, reml) {
  reps <- if (nrow(dat) > 5000) 3 else 5
  t <- replicate(reps, {
    d2 <- data.frame(dat)  # a fresh copy of the frame each run
    system.time(suppressMessages(suppressWarnings(lme4::lmer(fml, data = d2, REML = reml))))[["elapsed"]]
  })
  list(median_s = median(t), runs_s = unname(t), reps = reps)
}

named_list <- function(x) setNames(as.list(unname(x)), names(x))

fit_best <- function(m, reml) {
  dat <- DATA[[m$data]]
  fml <- as.formula(r_formula(m))
  cands <- list()
  cands$bobyqa <- quiet_lmer(fml, data = dat, REML = reml, control = CTRL_MAIN)
  if (is.null(cands$bobyqa)) stop(m$id, ": lmer failed")
  nth <- length(getME(cands$bobyqa, "theta"))
  lower <- getME(cands$bobyqa, "lower")
  cands$nelder_mead <- quiet_lmer(fml, data = dat, REML = reml, control = ctrl_nm(nth))
  cands$nlopt_bobyqa <- quiet_lmer(fml, data = dat, REML = reml, control = CTRL_NLOPT)
  cands$bobyqa_alt <- quiet_lmer(fml, data = dat, REML = reml, control = CTRL_MAIN,
                                 start = list(theta = ifelse(lower == 0, 0.2, 0.05)))
  if (!is.null(m$equiv)) {
    st <- equiv_start(m, fml, dat, reml)
    if (!is.null(st)) cands$bobyqa_equiv <- quiet_lmer(fml, data = dat, REML = reml,
                                                       control = CTRL_MAIN, start = list(theta = st))
  }
  cands <- cands[!vapply(cands, is.null, TRUE)]
  devs <- vapply(cands, dev_of, 0)
  best <- cands[[which.min(devs)]]
  cands$polish <- quiet_lmer(fml, data = dat, REML = reml, control = CTRL_POLISH,
                             start = list(theta = getME(best, "theta")))
  if (!is.null(cands$polish) && dev_of(cands$polish) < dev_of(best)) best <- cands$polish
  theta <- unname(getME(best, "theta"))
  devfun <- lme4::lmer(fml, data = dat, REML = reml, devFunOnly = TRUE)
  pol <- newton_polish(devfun, theta, lower)
  if (devfun(pol$theta) < dev_of(best)) theta <- pol$theta

  fit <- suppressMessages(suppressWarnings(
    lmerTest::lmer(fml, data = dat, REML = reml, control = lmerControl(optimizer = NULL),
                   start = list(theta = theta))))
  stopifnot(inherits(fit, "lmerModLmerTest"))
  dev <- dev_of(fit)
  est <- estimates_of(fit)
  devs <- vapply(cands, dev_of, 0)
  conv <- list(
    optimisers = lapply(cands, function(f) list(
      deviance = dev_of(f), minus_best = dev_of(f) - dev,
      max_rel_diff_estimates = rel_diff(estimates_of(f), est))),
    n_within_1e6_of_best = sum(devs - dev < 1e-6),
    newton_steps = pol$steps,
    newton_free_theta = as.list(pol$free),
    gradient_free_theta = if (is.null(pol$gradient)) NULL else pol$gradient,
    next_newton_step_max_abs = if (is.null(pol$gradient)) NULL else pol$last_newton_step,
    lowest_optimiser = names(devs)[which.min(devs)])
  default_fit <- quiet_lmer(fml, data = dat, REML = reml)
  ct <- summary(fit, ddf = "Satterthwaite")$coefficients
  fixed <- list()
  for (term in rownames(ct)) fixed[[term]] <- list(
    estimate = unname(ct[term, "Estimate"]), se = unname(ct[term, "Std. Error"]),
    df = if (is.finite(ct[term, "df"])) unname(ct[term, "df"]) else NULL,
    t = unname(ct[term, "t value"]),
    p = if (is.finite(ct[term, "Pr(>|t|)"])) unname(ct[term, "Pr(>|t|)"]) else NULL)
  G <- G_matrix(fit)
  tau <- list()
  for (i in seq_len(nrow(G))) for (j in seq_len(i)) {
    key <- if (i == j) rownames(G)[i] else paste0(colnames(G)[j], ":", rownames(G)[i])
    tau[[key]] <- G[i, j]
  }
  gs <- table(dat$g)
  FITOBJ[[paste0(m$id, "_", if (reml) "REML" else "ML")]] <<- fit
  res <- list(
    id = m$id, data = m$data, method = if (reml) "REML" else "ML",
    formula_r = r_formula(m),
    python = list(formula = py_formula(m), group = "g", random = as.list(m$random),
                  covariance = m$cov),
    q = 1 + length(m$random), n_obs = nrow(dat), n_groups = nlevels(dat$g),
    group_size = list(min = min(gs), max = max(gs), median = median(gs)),
    deviance = dev, fixed = fixed, tau = tau, sigma2 = sigma(fit)^2,
    theta = theta, is_singular = isSingular(fit),
    convergence = conv,
    default_fit = if (is.null(default_fit)) NULL else list(
      deviance_minus_best = dev_of(default_fit) - dev,
      messages = as.list(attr(default_fit, "msgs")),
      is_singular = isSingular(default_fit)),
    timing = time_default(fml, dat, reml))
  if (is.null(m$equiv)) return(res)
  exact <- exact_transform(m, reml)
  res$lme4_direct <- list(
    deviance = dev, deviance_minus_exact = dev - exact$deviance, fixed = fixed, tau = tau,
    sigma2 = sigma(fit)^2, theta = theta, is_singular = isSingular(fit))
  res$reference <- exact$reference
  for (nm in c("deviance", "fixed", "tau", "sigma2", "theta", "is_singular",
              "is_singular_lme4_rule")) res[[nm]] <- exact[[nm]]
  res
}

# The exact optimum of a model whose random/fixed column is x' = a + b x, from
# the reference fit of the same model in x (the base): with A = [[1, a], [0, b]],
# Z' = Z A and X' = X A, so beta' = A^-1 gamma, Cov(beta') = A^-1 Cov(gamma) A^-T,
# G' = A^-1 G A^-T, sigma2' = sigma2, and the criterion is the base's plus
# 2 log|det A| = 2 log|b| under REML (log|X'V^-1X| moves by it), unchanged under ML.
# Satterthwaite df are those of the same linear combinations of the base's fixed
# effects (lmerTest::contest1D with L = the rows of A^-1). theta' is lme4's
# relative Cholesky factor of G' / sigma2 (its last diagonal element from
# det G' = det G / b^2, without cancellation). is_singular is the base's: the
# optimum is the same point of the same model, interior or not. lme4's rule
# (a diagonal element of theta below 1e-4) depends on the units, and on x_50k
# it calls the (interior) optimum singular: stored as is_singular_lme4_rule.
exact_transform <- function(m, reml) {
  e <- m$equiv
  method <- if (reml) "REML" else "ML"
  fb <- FITOBJ[[paste0(e$base_id, "_", method)]]
  if (is.null(fb)) stop(m$id, ": base fit ", e$base_id, " must come first")
  A <- matrix(c(1, 0, e$a, e$b), 2)
  Ai <- solve(A)
  gam <- fixef(fb)
  stopifnot(identical(names(gam), c("(Intercept)", e$base)))
  beta <- drop(Ai %*% gam)
  vb <- Ai %*% as.matrix(vcov(fb)) %*% t(Ai)
  names_new <- c("(Intercept)", m$random)
  fixed <- list()
  for (i in 1:2) {
    df <- lmerTest::contest1D(fb, L = Ai[i, ], ddf = "Satterthwaite")$df
    se <- sqrt(vb[i, i])
    tt <- beta[i] / se
    fixed[[names_new[i]]] <- list(estimate = beta[i], se = se,
                                  df = if (is.finite(df)) df else NULL, t = tt,
                                  p = if (is.finite(df)) 2 * pt(-abs(tt), df) else NULL)
  }
  G <- G_matrix(fb)
  G1 <- Ai %*% G %*% t(Ai)
  s2 <- sigma(fb)^2
  tau <- list()
  tau[["(Intercept)"]] <- G1[1, 1]
  if (m$cov == "un") {
    tau[[paste0("(Intercept):", m$random)]] <- G1[2, 1]
    tau[[m$random]] <- G1[2, 2]
    detG1 <- (G[1, 1] * G[2, 2] - G[1, 2]^2) / e$b^2
    theta <- c(sqrt(G1[1, 1] / s2), G1[2, 1] / sqrt(G1[1, 1] * s2), sqrt(detG1 / G1[1, 1] / s2))
    diag_theta <- theta[c(1, 3)]
  } else {
    stopifnot(e$a == 0)
    tau[[paste0("(Intercept):", m$random)]] <- 0
    tau[[m$random]] <- G1[2, 2]
    theta <- sqrt(c(G1[1, 1], G1[2, 2]) / s2)
    diag_theta <- theta
  }
  list(deviance = dev_of(fb) + if (reml) 2 * log(abs(e$b)) else 0,
       fixed = fixed, tau = tau, sigma2 = s2, theta = theta,
       is_singular = isSingular(fb), is_singular_lme4_rule = any(diag_theta < 1e-4),
       reference = paste0("exact transform of ", e$base_id, "_", method,
                          " (x' = ", e$a, " + ", e$b, " x); lme4's own fit under lme4_direct"))
}

ONLY <- Sys.getenv("BATTERY_ONLY")  # for development: a regular expression of model ids
if (nzchar(ONLY)) MODELS <- Filter(function(m) grepl(ONLY, m$id), MODELS)
t_start <- Sys.time()
FITS <- list()
FITOBJ <- list()
for (m in MODELS) for (reml in c(TRUE, FALSE)) {
  key <- paste0(m$id, "_", if (reml) "REML" else "ML")
  t0 <- Sys.time()
  FITS[[key]] <- fit_best(m, reml)
  f <- FITS[[key]]
  cat(sprintf("%-26s dev %.10f sing %d  n_ok %d  worst-opt %.2e  t %.3fs  (%.1fs)\n", key, f$deviance,
              f$is_singular, f$convergence$n_within_1e6_of_best,
              max(vapply(f$convergence$optimisers, function(o) o$minus_best, 0)),
              f$timing$median_s, as.numeric(Sys.time() - t0, units = "secs")))
}

if (nzchar(ONLY) && file.exists(OUT)) {  # development: replace only the fits run now
  old <- fromJSON(OUT, simplifyVector = FALSE)$fits
  for (k in names(FITS)) old[[k]] <- FITS[[k]]
  FITS <- old
}
pk <- function(p) as.character(packageVersion(p))
out <- list(
  description = paste(
    "An extended lme4/lmerTest validation battery: two-level linear mixed models on",
    length(DATA), "data sets (real ones from lme4, nlme, mlmRev and datasets, and simulated ones),",
    "q = 1..4 random effects, unstructured and variance-components G, REML and ML, fitted by several",
    "optimisers at tight settings (the lowest deviance kept). Generated by",
    "tests/reference/battery_lme4.R; see the comments there for exactly how each number is computed."),
  provenance = list(
    command = "Rscript tests/reference/battery_lme4.R",
    date = format(Sys.Date()),
    r_version = R.version.string, platform = R.version$platform,
    blas = tryCatch(sessionInfo()$BLAS, error = function(e) NA),
    packages = list(lme4 = pk("lme4"), lmerTest = pk("lmerTest"), nlme = pk("nlme"),
                    mlmRev = pk("mlmRev"), Matrix = pk("Matrix"), minqa = pk("minqa"),
                    nloptr = pk("nloptr"), numDeriv = pk("numDeriv"), jsonlite = pk("jsonlite")),
    optimisers = list(
      bobyqa = OPT_MAIN,
      nelder_mead = "lme4 Nelder_Mead: FtolAbs 1e-15, FtolRel 1e-15, XtolRel 1e-13, xt 1e-8 per theta, maxfun 1e5",
      nlopt_bobyqa = "nloptwrap NLOPT_LN_BOBYQA: xtol_rel 1e-12, ftol_rel 1e-15, ftol_abs 1e-15, maxeval 1e5",
      bobyqa_alt = "bobyqa as above from theta 0.2 (diagonal) / 0.05 (off-diagonal)",
      bobyqa_equiv = "rescaled/uncentred predictors only: bobyqa from the equivalent well-scaled model's optimum, mapped",
      polish = "bobyqa rhobeg 1e-3 rhoend 1e-14 from the best; then Newton steps (numDeriv) on interior theta, kept only if the deviance falls"),
    satterthwaite = "lmerTest summary(ddf = 'Satterthwaite') at the reference theta; null where not finite",
    timing = "elapsed s of lme4::lmer(formula, data, REML) with default control, median of 5 runs (3 above 5000 rows)",
    total_run_s = as.numeric(Sys.time() - t_start, units = "secs")),
  data = SOURCES,
  fits = FITS)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), OUT)
cat("wrote", OUT, "\n")
