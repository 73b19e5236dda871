// The worker behind http.mjs: it fetches, posts the answer on the reply port and wakes the waiting caller.
import { workerData } from 'node:worker_threads';

workerData.requests.on('message', async ({ method, url, body, headers }) => {
  let out;
  try {
    const r = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(15000) });
    out = { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
  } catch (e) {
    out = { status: 0, headers: {}, body: '', error: String(e) };
  }
  workerData.replies.postMessage(out);
  Atomics.store(workerData.signal, 0, 1);
  Atomics.notify(workerData.signal, 0);
});
