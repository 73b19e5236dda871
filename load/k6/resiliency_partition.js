// Resiliency: run during a controlled fault window; writes must answer 201 or 503 (fail closed), and
// retries with the same key must take effect once.
// Run: BASE_URL=http://127.0.0.1:8080 k6 run load/k6/resiliency_partition.js (parameters in load/data/scenarios.json).
import { options as profile, iteration, setupTokens } from './lib.js';

const NAME = 'resiliency_partition';

export const options = profile(NAME);

export function setup() {
  return setupTokens();
}

export default function (tokens) {
  iteration(NAME, tokens);
}
