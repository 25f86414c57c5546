// Mercato's GraphiQL setup: queries and mutations over HTTP, subscriptions over /graphql/ws
// (graphql-ws protocol), the request headers (Authorization) kept in the browser's storage.
(function () {
  'use strict';
  var httpUrl = new URL('/graphql', window.location.href).href;
  var wsUrl = httpUrl.replace(/^http/, 'ws') + '/ws';
  var http = GraphiQL.createFetcher({ url: httpUrl });

  // One WebSocket per Authorization value: the server authenticates a socket once, in its
  // connection_init message.
  var sockets = {};
  function socket(authorization) {
    var key = authorization || '';
    if (!sockets[key]) {
      sockets[key] = graphqlWs.createClient({
        url: wsUrl,
        lazy: true,
        connectionParams: authorization ? { authorization: authorization } : {},
      });
    }
    return sockets[key];
  }

  function operationOf(params, opts) {
    var doc = opts && opts.documentAST;
    if (doc && doc.definitions) {
      for (var i = 0; i < doc.definitions.length; i++) {
        var d = doc.definitions[i];
        if (d.kind !== 'OperationDefinition') continue;
        if (!params.operationName || (d.name && d.name.value === params.operationName)) {
          return d.operation;
        }
      }
    }
    return /^\s*subscription\b/.test(params.query || '') ? 'subscription' : 'query';
  }

  function header(headers, name) {
    if (!headers) return undefined;
    for (var k in headers) {
      if (k.toLowerCase() === name) return headers[k];
    }
    return undefined;
  }

  function fetcher(params, opts) {
    if (operationOf(params, opts) !== 'subscription') {
      return http(params, opts);
    }
    var client = socket(header(opts && opts.headers, 'authorization'));
    return client.iterate({
      query: params.query,
      variables: params.variables,
      operationName: params.operationName,
    });
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: true,
      defaultHeaders: '{\n  "Authorization": "Bearer <accessToken from logIn>"\n}',
      defaultQuery:
        '# Log in (mutation logIn), paste the accessToken into the Authorization header below,\n' +
        '# then try:\n' +
        '#\n' +
        '# query { viewer { user { email } } products(first: 5) { edges { node { name } } } }\n' +
        '#\n' +
        '# subscription { heartbeat(intervalSeconds: 2) { at } }\n',
      isHeadersEditorEnabled: true,
    })
  );
})();
