import { state } from './state.mjs';

// check runs each named predicate on value and records its outcome, as k6's check does.
export function check(value, sets) {
  let all = true;
  for (const [name, fn] of Object.entries(sets)) {
    let ok = false;
    try {
      ok = !!fn(value);
    } catch (e) {
      state.errors.push(`check ${name}: ${e}`);
    }
    const c = (state.checks[name] ||= { pass: 0, fail: 0 });
    ok ? c.pass++ : c.fail++;
    if (!ok && state.errors.length < 5) state.errors.push(`check ${name} failed: ${value && value.status} ${String(value && value.body).slice(0, 200)}`);
    all &&= ok;
  }
  return all;
}

export function sleep() {}
