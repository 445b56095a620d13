"""Training a context encoder (Sec. 3): the loop, one step of the joint loss, EMA, samples and plots."""
