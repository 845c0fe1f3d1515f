// Baseline for benchmarks: the same hop to the origin with no edgeguard in between.
export default {
  fetch(request, env) {
    return env.ORIGIN.fetch(request);
  },
};
