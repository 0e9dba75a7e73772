// Apollo Client's automatic persisted queries against a live Parley: node apq.mjs URL
// Prints one JSON object: the HTTP exchanges each client made and the data it got.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = process.argv[2];
const QUERY = gql`
  query ServerInfo {
    serverInfo {
      name
      version
    }
  }
`;

function client(exchanges) {
  const recordingFetch = async (input, init = {}) => {
    const response = await fetch(input, init);
    const target = new URL(typeof input === "string" ? input : input.url);
    const body = init.body ? JSON.parse(init.body) : null;
    exchanges.push({
      method: init.method || "GET",
      sentQuery: Boolean(body?.query || target.searchParams.get("query")),
      sentHash: Boolean(body?.extensions?.persistedQuery || target.searchParams.get("extensions")),
      status: response.status,
      cacheControl: response.headers.get("cache-control"),
    });
    return response;
  };
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: true,
  });
  return new ApolloClient({
    link: persisted.concat(new HttpLink({ uri: url, fetch: recordingFetch })),
    cache: new InMemoryCache(),
  });
}

const first = [];
const second = [];
const a = await client(first).query({ query: QUERY, fetchPolicy: "network-only" });
const b = await client(second).query({ query: QUERY, fetchPolicy: "network-only" });
console.log(JSON.stringify({ first, second, firstData: a.data, secondData: b.data }));
