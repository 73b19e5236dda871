// Spike: a 10 s burst on hot wallets between two calm stretches.
// Run: BASE_URL=http://127.0.0.1:8080 k6 run load/k6/spike.js (parameters in load/data/scenarios.json).
import { options as profile, iteration, setupTokens } from './lib.js';

const NAME = 'spike';

export const options = profile(NAME);

export function setup() {
  return setupTokens();
}

export default function (tokens) {
  iteration(NAME, tokens);
}
