"""The self-consuming loop (generations, arms, correction, results) and the paper's Gaussian toy."""
