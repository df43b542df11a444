// An independent graphql-transport-ws client: the graphql-ws package subscribes to allot's
// push and prints one JSON line per message, then exits.
// usage: node subscribe.mjs <ws url> <key> <query> <variables JSON> <events to wait for>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, key, query, variables, wanted] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const timer = setTimeout(() => { print({ timeout: true }); process.exit(2); }, 30000);

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${key}` },
  lazy: false,
  retryAttempts: 0,
  on: {
    connected: () => print({ connected: true }),
    closed: (event) => print({ closed: event.code, reason: event.reason }),
  },
});

let seen = 0;
const done = (code) => { clearTimeout(timer); client.dispose(); process.exit(code); };
client.subscribe(
  { query, variables: JSON.parse(variables) },
  {
    next: (result) => {
      print({ next: result });
      seen += 1;
      if (seen >= Number(wanted)) done(0);
    },
    error: (error) => {
      print({ error: Array.isArray(error) ? error : String(error?.code ?? error) });
      done(1);
    },
    complete: () => done(0),
  },
);
