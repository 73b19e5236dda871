// node run.mjs <k6 dir> <profile> <iterations>: imports load/k6/<profile>.js as k6 would (open() relative to the
// scripts, __ENV, __VU, __ITER), runs setup() once and the default function <iterations> times as one VU, and
// prints the options and what the shims recorded as JSON. K6SHIM_SEED seeds Math.random (default 1);
// K6SHIM_SECONDS_PER_ITERATION makes Date.now advance that much per iteration, so a short run spans the profile.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { state } from './state.mjs';

const [dir, profile, iterations] = process.argv.slice(2);
globalThis.open = (p) => readFileSync(resolve(dir, p), 'utf8');
globalThis.__ENV = { ...process.env };
globalThis.__VU = 1;
globalThis.__ITER = 0;
// The scripts draw their mix and wallets from Math.random; a seeded generator (mulberry32) makes a run repeatable.
let seed = Number(process.env.K6SHIM_SEED || 1) >>> 0;
Math.random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const step = Number(process.env.K6SHIM_SECONDS_PER_ITERATION || 0) * 1000;
if (step > 0) {
  const base = Date.now();
  Date.now = () => base + globalThis.__ITER * step;
}

const mod = await import(pathToFileURL(resolve(dir, `${profile}.mjs`)).href);
const data = mod.setup ? mod.setup() : undefined;
for (let i = 0; i < Number(iterations); i++) {
  globalThis.__ITER = i;
  mod.default(data);
}
process.stdout.write(JSON.stringify({ options: mod.options, ...state }));
process.exit(0);
