// Stock subscription clients against a live Parley, driven by a Python test: node subscriptions.mjs
// The test writes JSON lines to stdin (the first one configures the run: scenario, urls, credentials,
// cursor) and reads JSON lines from stdout: {"ready"}, {"event"}, {"disconnected"}, {"result"}.
// Clients are used as their documentation shows, with no shim: graphql-ws with ws, urql's
// subscriptionExchange, Apollo Client's GraphQLWsLink + split with the persisted-query link and
// its multipart HTTP subscriptions, and graphql-sse in distinct connections mode.
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { createClient as createWsClient } from "graphql-ws";
import { createClient as createSseClient } from "graphql-sse";
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from "@urql/core";
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { getMainDefinition } from "@apollo/client/utilities";

const ACCOUNT_EVENTS = `subscription AccountEvents($after: String) {
  accountEvents(after: $after) { cursor type message { id content } conversation { id } }
}`;

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function command() {
  const { value, done } = await lines.next();
  if (done) throw new Error("stdin closed");
  return JSON.parse(value);
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const config = await command();
const headers = { Authorization: `Bearer ${config.token}`, "X-Parley-Account": config.accountId };
const connectionParams = { token: config.token, accountId: config.accountId };

// Collects stream items; resolves waiters when an item with the wanted message content arrives.
function collector() {
  const items = [];
  let waiters = [];
  return {
    items,
    push(item) {
      items.push(item);
      say({ event: item });
      waiters = waiters.filter((w) => !(w.test(item) && (w.resolve(), true)));
    },
    until(content, ms = 15000) {
      if (items.some((i) => i.message?.content === content)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no event with ${content} within ${ms} ms`)), ms);
        waiters.push({ test: (i) => i.message?.content === content, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}
const quiet = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fail = (where) => (err) => {
  say({ error: where, detail: String(err?.message ?? JSON.stringify(err)) });
  process.exit(1);
};

// Subscribe, receive the message the test creates, disconnect, let the test create more, resume
// with `after` set to the last cursor and report exactly what arrived.
async function disconnectAndResume(open) {
  const first = collector();
  let close = open(config.after, first);
  say({ ready: true });
  const { content } = await command();
  await first.until(content);
  await close();
  const last = first.items[first.items.length - 1].cursor;
  say({ disconnected: last });
  const { lastContent } = await command();
  const second = collector();
  close = open(last, second);
  await second.until(lastContent);
  await quiet(1500); // anything more would be a duplicate or a stranger
  await close();
  say({ result: { before: first.items, resumed: second.items } });
}

// Subscribe, receive the message the test creates, report.
async function receiveOne(open) {
  const got = collector();
  const close = open(config.after, got);
  say({ ready: true });
  const { content } = await command();
  await got.until(content);
  await close();
  say({ result: { items: got.items } });
}

const scenarios = {
  "graphql-ws": () =>
    disconnectAndResume((after, sink) => {
      const client = createWsClient({ url: config.wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0 });
      client.subscribe(
        { query: ACCOUNT_EVENTS, variables: { after } },
        { next: (r) => (r.errors ? fail("graphql-ws next")(r.errors) : sink.push(r.data.accountEvents)), error: fail("graphql-ws"), complete: () => {} },
      );
      return () => client.dispose();
    }),

  urql: () =>
    receiveOne((after, sink) => {
      const ws = createWsClient({ url: config.wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0 });
      const client = new UrqlClient({
        url: config.url,
        fetchOptions: { headers },
        exchanges: [
          fetchExchange,
          subscriptionExchange({
            forwardSubscription(request) {
              const input = { ...request, query: request.query || "" };
              return { subscribe: (sinkOf) => ({ unsubscribe: ws.subscribe(input, sinkOf) }) };
            },
          }),
        ],
      });
      const subscription = client.subscription(ACCOUNT_EVENTS, { after }).subscribe((result) => {
        if (result.error) fail("urql")(result.error);
        else sink.push(result.data.accountEvents);
      });
      return () => (subscription.unsubscribe(), ws.dispose());
    }),

  apollo: async () => {
    const exchanges = [];
    const recordingFetch = async (input, init = {}) => {
      const response = await fetch(input, init);
      const target = new URL(typeof input === "string" ? input : input.url);
      const body = init.body ? JSON.parse(init.body) : null;
      exchanges.push({
        method: init.method || "GET",
        operationName: body?.operationName ?? target.searchParams.get("operationName"),
        sentQuery: Boolean(body?.query || target.searchParams.get("query")),
        sentHash: Boolean(body?.extensions?.persistedQuery || target.searchParams.get("extensions")),
        status: response.status,
      });
      return response;
    };
    const http = new PersistedQueryLink({
      sha256: (text) => createHash("sha256").update(text).digest("hex"),
      useGETForHashedQueries: true,
    }).concat(new HttpLink({ uri: config.url, headers, fetch: recordingFetch }));
    const wsClient = createWsClient({ url: config.wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0 });
    const link = split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return definition.kind === "OperationDefinition" && definition.operation === "subscription";
      },
      new GraphQLWsLink(wsClient),
      http,
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const cursor = await client.query({ query: gql`query Cursor { eventCursor }`, fetchPolicy: "network-only" });
    const got = collector();
    const observable = client.subscribe({ query: gql(ACCOUNT_EVENTS), variables: { after: cursor.data.eventCursor } });
    const subscription = observable.subscribe({
      next: (r) => (r.error ? fail("apollo next")(r.error) : got.push(r.data.accountEvents)),
      error: fail("apollo"),
    });
    say({ ready: true, cursor: cursor.data.eventCursor });
    const { content } = await command();
    await got.until(content);
    subscription.unsubscribe();
    await wsClient.dispose();
    say({ result: { items: got.items, exchanges } });
  },

  "apollo-multipart": () =>
    disconnectAndResume((after, sink) => {
      const client = new ApolloClient({ link: new HttpLink({ uri: config.url, headers }), cache: new InMemoryCache() });
      const subscription = client.subscribe({ query: gql(ACCOUNT_EVENTS), variables: { after } }).subscribe({
        next: (r) => (r.error ? fail("apollo multipart next")(r.error) : sink.push(r.data.accountEvents)),
        error: fail("apollo multipart"),
      });
      return async () => subscription.unsubscribe();
    }),

  "graphql-sse": () =>
    disconnectAndResume((after, sink) => {
      const client = createSseClient({ url: config.url, headers, retryAttempts: 0 });
      const unsubscribe = client.subscribe(
        { query: ACCOUNT_EVENTS, variables: { after } },
        { next: (r) => (r.errors ? fail("graphql-sse next")(r.errors) : sink.push(r.data.accountEvents)), error: fail("graphql-sse"), complete: () => {} },
      );
      return async () => (unsubscribe(), client.dispose());
    }),
};

const run = scenarios[config.scenario];
if (!run) fail("config")(`unknown scenario ${config.scenario}`);
await run().catch(fail(config.scenario));
process.exit(0);
