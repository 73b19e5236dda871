// k6/http as the scripts use it: synchronous requests, k6-style response objects.
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { state } from './state.mjs';

const requests = new MessageChannel();
const replies = new MessageChannel();
const signal = new Int32Array(new SharedArrayBuffer(4));
const worker = new Worker(new URL('./fetcher.mjs', import.meta.url), {
  workerData: { requests: requests.port2, replies: replies.port2, signal },
  transferList: [requests.port2, replies.port2],
});
worker.unref();

// k6 names headers in canonical form (Idempotent-Replayed); fetch gives them in lower case.
const canonical = (name) => name.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('-');

function request(method, url, body, params = {}) {
  const headers = params.headers || {};
  if (method === 'POST') {
    const key = headers['Idempotency-Key'];
    state.keys[key] = (state.keys[key] || 0) + 1;
    const phase = (params.tags && params.tags.phase) || '';
    state.phases[phase] = (state.phases[phase] || 0) + 1;
  }
  Atomics.store(signal, 0, 0);
  requests.port1.postMessage({ method, url, body, headers });
  Atomics.wait(signal, 0, 0, 20000);
  const msg = receiveMessageOnPort(replies.port1);
  const out = msg ? msg.message : { status: 0, headers: {}, body: '', error: 'no answer in 20 s' };
  if (out.error && state.errors.length < 5) state.errors.push(`${method} ${url}: ${out.error}`);
  const res = { status: out.status, body: out.body, headers: {} };
  for (const [k, v] of Object.entries(out.headers)) res.headers[canonical(k)] = v;
  res.json = (selector) => {
    const doc = JSON.parse(res.body);
    return selector === undefined ? doc : selector.split('.').reduce((o, k) => (o == null ? o : o[k]), doc);
  };
  if (res.headers['Idempotent-Replayed'] === 'true') state.replayed++;
  const route = `${method} ${(params.tags && params.tags.name) || url}`;
  const byStatus = (state.statuses[route] ||= {});
  byStatus[out.status] = (byStatus[out.status] || 0) + 1;
  return res;
}

export const get = (url, params) => request('GET', url, undefined, params);
export const post = (url, body, params) => request('POST', url, body, params);
export default { get, post };
