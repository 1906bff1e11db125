// p-values for t and F statistics (Boost.Math students_t and fisher_f,
// upper tails via complements so small p keep their precision).
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_P_VALUES_H_
#define FNPROBE_SERVER_ANALYSIS_P_VALUES_H_

#include <armadillo>

namespace fnprobe::analysis {

enum class Tail {
  kUpper,     // P(T >= t): one-sided, "greater than".
  kTwoSided,  // P(|T| >= |t|).
};

// p-values of `t` under Student's t with `df` > 0 degrees of freedom. NaN in,
// NaN out.
arma::vec TPValues(const arma::vec& t, double df, Tail tail);

// Upper-tail p-values of `f` under F(df1, df2). NaN in, NaN out.
arma::vec FPValues(const arma::vec& f, double df1, double df2);

// The (1 - alpha) quantile of Student's t with df degrees of freedom.
double TQuantileUpper(double alpha, double df);

// P(X >= k) for X ~ Binomial(n, p): the one-sided p-value of k successes
// in n trials at chance p (held-out identification against chance). 1 for
// k <= 0; 0 for k > n. REQUIRES: n >= 0, p in [0, 1].
double BinomialUpperTail(int k, int n, double p);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_P_VALUES_H_
