// Shared k6 driver for the profiles in load/data/scenarios.json. Each profile
// script imports this and exports its options and default function, so k6 and
// cmd/loadgen run the same rates, mix, population and thresholds.
import http from 'k6/http';
import { check } from 'k6';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter } from 'k6/metrics';
import { walletID } from './ids.js';

const FILE = JSON.parse(open('../data/scenarios.json'));
const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const SECRET = __ENV.JWT_SECRET || 'dev-secret-change-me';
const AUDIENCE = __ENV.JWT_AUDIENCE || 'agentic-commerce';

export const retryMismatches = new Counter('idempotent_retry_mismatches');

const sha1Hex = (buf) => crypto.sha1(buf, 'hex');

function b64url(s) {
  return encoding.b64encode(s, 'rawurl');
}

// mintToken signs an HS256 JWT with the claims the API expects.
export function mintToken(sub, scope) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, aud: AUDIENCE, scope, iat: now, exp: now + 7200 }));
  const sig = crypto.hmac('sha256', SECRET, `${head}.${body}`, 'base64rawurl');
  return `${head}.${body}.${sig}`;
}

export function scenario(name) {
  const sc = FILE.scenarios[name];
  if (!sc) throw new Error(`scenario ${name} not in scenarios.json`);
  return sc;
}

function seconds(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$/.exec(d);
  if (!m) throw new Error(`unsupported duration ${d}`);
  return (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + (+(m[3] || 0));
}

// options maps a profile to a constant-arrival-rate style k6 executor: each
// stage jumps to its rate in one second and holds it, like loadgen's pacer.
// allowedStatuses are the answers a check accepts; a profile with a fault also
// accepts its fail-closed statuses (503), since k6 cannot tell when the fault is.
function allowedStatuses(sc) {
  return sc.thresholds.allowed_statuses.concat(sc.thresholds.fault_statuses || []);
}

// recoveryFrom is when, in seconds from the start, the writes a profile's
// thresholds.recovery judges begin: its last stage, once recovery.after has passed.
function recoveryFrom(sc) {
  const r = sc.thresholds.recovery;
  if (!r) return Infinity;
  const total = sc.stages.reduce((s, st) => s + seconds(st.duration), 0);
  return total - seconds(sc.stages[sc.stages.length - 1].duration) + seconds(r.after);
}

export function options(name) {
  const sc = scenario(name);
  const stages = [];
  for (const st of sc.stages) {
    stages.push({ target: st.rate, duration: '1s' });
    stages.push({ target: st.rate, duration: `${Math.max(seconds(st.duration) - 1, 1)}s` });
  }
  const t = sc.thresholds;
  const thresholds = {
    'http_req_duration{kind:write}': [`p(95)<${t.p95_write_ms}`],
    'checks{check:status}': [`rate>=${1 - t.max_error_rate}`],
    idempotent_retry_mismatches: ['count==0'],
  };
  if (t.recovery) thresholds['http_req_duration{kind:write,phase:recovery}'] = [`p(95)<${t.recovery.p95_write_ms}`];
  return {
    scenarios: {
      [name]: {
        executor: 'ramping-arrival-rate',
        startRate: sc.stages[0].rate,
        timeUnit: '1s',
        preAllocatedVUs: Math.min(sc.max_vus, 100),
        maxVUs: sc.max_vus,
        stages,
      },
    },
    thresholds,
    httpReqTimeout: sc.request_timeout,
    tags: { profile: name },
  };
}

let seq = 0;
const done = []; // this VU's finished transfers: candidates for a same-key retry

function pick(sc) {
  let u = Math.random();
  const ops = ['transfer', 'balance_read', 'audit', 'create_wallet', 'adjustment', 'idempotent_retry'];
  const total = ops.reduce((s, o) => s + (sc.mix[o] || 0), 0);
  for (const o of ops) {
    u -= (sc.mix[o] || 0) / total;
    if (u < 0) return o;
  }
  return 'transfer';
}

function wallet(sc) {
  const p = sc.population;
  if (p.hot_wallets > 0 && Math.random() < p.hot_share) return walletID(sha1Hex, Math.floor(Math.random() * p.hot_wallets));
  return walletID(sha1Hex, Math.floor(Math.random() * p.wallets));
}

// transferPair: a payer and one of the merchants when the population has merchants (load/targets.go does the
// same), else two distinct wallets.
function transferPair(sc) {
  const p = sc.population;
  if (p.merchants > 0) {
    return [walletID(sha1Hex, p.merchants + Math.floor(Math.random() * (p.wallets - p.merchants))),
      walletID(sha1Hex, Math.floor(Math.random() * p.merchants))];
  }
  const from = wallet(sc);
  let to = wallet(sc);
  while (to === from) to = walletID(sha1Hex, Math.floor(Math.random() * p.wallets));
  return [from, to];
}

function amount(sc) {
  return sc.amount.min + Math.floor(Math.random() * (sc.amount.max - sc.amount.min + 1));
}

// post sends a write; phase tags the ones the recovery threshold judges.
function post(path, key, body, token, phase) {
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body), {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
    tags: { kind: 'write', name: path, phase },
  });
}

// iteration runs one request of the mix, retrying earlier keys with the same
// body and checking the replay answers with the same transaction.
export function iteration(name, tokens) {
  const sc = scenario(name);
  const allowed = allowedStatuses(sc);
  // The clock starts in setup(), which k6 runs just before the scenario.
  const phase = (Date.now() - tokens.started) / 1000 >= recoveryFrom(sc) ? 'recovery' : 'load';
  let op = pick(sc);
  if (op === 'idempotent_retry' && done.length === 0) op = 'transfer';
  let res;
  if (op === 'idempotent_retry') {
    const prev = done.splice(Math.floor(Math.random() * done.length), 1)[0];
    res = post('/v1/transfers', prev.key, prev.body, tokens.user, phase);
    if (prev.txID && res.status === 201) {
      const same = res.headers['Idempotent-Replayed'] === 'true' && res.json('transaction_id') === prev.txID;
      if (!same) retryMismatches.add(1);
      check(res, { 'retry replays the same transaction': () => same });
    }
  } else if (op === 'transfer') {
    const [from, to] = transferPair(sc);
    const body = { from_wallet_id: from, to_wallet_id: to, amount: amount(sc), asset: sc.population.asset, description: 'k6' };
    const key = `k6-${__VU}-${__ITER}-${seq++}-${Date.now()}`;
    res = post('/v1/transfers', key, body, tokens.user, phase);
    if (res.status === 201 || res.status === 503 || res.status === 0) {
      done.push({ key, body, txID: res.status === 201 ? res.json('transaction_id') : '' });
      if (done.length > 1000) done.shift();
    }
  } else if (op === 'create_wallet') {
    res = post('/v1/wallets', `k6-w-${__VU}-${__ITER}-${Date.now()}`, { asset: sc.population.asset }, tokens.user, phase);
  } else if (op === 'adjustment') {
    const amt = amount(sc) * (Math.random() < 0.5 ? -1 : 1);
    res = post('/v1/adjustments', `k6-a-${__VU}-${__ITER}-${Date.now()}`,
      { wallet_id: wallet(sc), amount: amt, asset: sc.population.asset, reason: 'k6 adjustment' }, tokens.admin, phase);
  } else {
    const path = `/v1/wallets/${wallet(sc)}/balance${op === 'audit' ? '/audit' : ''}`;
    res = http.get(`${BASE_URL}${path}`, { headers: { Authorization: `Bearer ${tokens.user}` }, tags: { kind: 'read', name: op } });
  }
  check(res, { status: (r) => allowed.includes(r.status) }, { check: 'status' });
}

// setupTokens mints the run's tokens once (k6 setup()), for the seeded owner
// and an admin for adjustments, like cmd/loadgen.
export function setupTokens() {
  return {
    user: mintToken('loadgen', 'wallet:read wallet:write'),
    admin: mintToken('loadgen-admin', 'wallet:read wallet:write wallet:admin'),
    started: Date.now(),
  };
}
