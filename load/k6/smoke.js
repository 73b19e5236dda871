// Smoke: every operation at a few requests per second; seed first with scripts/seed_wallets.sh.
// Run: BASE_URL=http://127.0.0.1:8080 k6 run load/k6/smoke.js (parameters in load/data/scenarios.json).
import { options as profile, iteration, setupTokens } from './lib.js';

const NAME = 'smoke';

export const options = profile(NAME);

export function setup() {
  return setupTokens();
}

export default function (tokens) {
  iteration(NAME, tokens);
}
