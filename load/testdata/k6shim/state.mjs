// What the scripts did, for run.mjs to print: checks by name, counters, answers by route and status, and how
// many times each Idempotency-Key was sent, and how many writes carried each phase tag.
export const state = { checks: {}, counters: {}, statuses: {}, keys: {}, phases: {}, replayed: 0, errors: [] };
