// Soak: long mixed read/write traffic (raise the stage duration in scenarios.json for a real soak).
// Run: BASE_URL=http://127.0.0.1:8080 k6 run load/k6/soak.js (parameters in load/data/scenarios.json).
import { options as profile, iteration, setupTokens } from './lib.js';

const NAME = 'soak';

export const options = profile(NAME);

export function setup() {
  return setupTokens();
}

export default function (tokens) {
  iteration(NAME, tokens);
}
