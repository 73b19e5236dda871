// Hot merchant: 1,000 transfers/s for 60 s from 3000 payers to one merchant wallet, p95 write < 150 ms, zero errors.
// Run: BASE_URL=http://127.0.0.1:8080 k6 run load/k6/hot_merchant.js (parameters in load/data/scenarios.json).
import { options as profile, iteration, setupTokens } from './lib.js';

const NAME = 'hot_merchant';

export const options = profile(NAME);

export function setup() {
  return setupTokens();
}

export default function (tokens) {
  iteration(NAME, tokens);
}
