// The GraphQL-over-HTTP audit of the `graphql-http` package, run against a real server.
//
//   node graphql_http_audit.mjs <url of /graphql>     (the API key in ALLOT_AUDIT_KEY)
//
// Prints one JSON object: every audit's id, name, status ("ok" | "warn" | "error" |
// "notice") and reason. Exits 1 when an audit is an error or a warning.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const key = process.env.ALLOT_AUDIT_KEY;
if (!url || !key) {
  console.error('usage: ALLOT_AUDIT_KEY=<key> node graphql_http_audit.mjs <url>');
  process.exit(2);
}

// Every request the audit sends carries the key (allot answers 401 without one).
function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers || {});
  headers.set('Authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithKey });
const out = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    if (result.response) {
      entry.httpStatus = result.response.status;
      entry.contentType = result.response.headers.get('content-type');
      try {
        entry.body = (await result.response.text()).slice(0, 500);
      } catch {
        // the body was read by the audit already
      }
    }
  }
  out.push(entry);
}
const count = (status) => out.filter((r) => r.status === status).length;
const summary = { ok: count('ok'), warn: count('warn'), error: count('error'), notice: count('notice') };
console.log(JSON.stringify({ summary, results: out }, null, 2));
process.exit(summary.error || summary.warn ? 1 : 0);
