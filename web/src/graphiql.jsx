// The GraphQL IDE, built from npm's graphiql (Monaco editors, workers bundled by Vite).
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import { storedToken } from './console/token.js';

const origin = window.location.origin;
const fetcher = createGraphiQLFetcher({
  url: `${origin}/graphql`,
  subscriptionUrl: `${origin.replace(/^http/, 'ws')}/graphql`,
});
// A console session's token, when there is one, fills the headers editor.
const token = storedToken();
const headers = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL fetcher={fetcher} defaultHeaders={headers} shouldPersistHeaders={false} />,
);
