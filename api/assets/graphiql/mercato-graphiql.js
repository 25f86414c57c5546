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

  // The type of the operation about to run, read from the text sent (GraphiQL's parsed document
  // can lag behind the editor): the keyword of the named operation, or of the first one at the top
  // level (`{` alone is a query).
  function operationOf(params) {
    var text = (params.query || '').replace(/#[^\n\r]*/g, '').replace(/"(?:\\.|[^"\\])*"/g, '""');
    if (params.operationName) {
      var named = new RegExp('\\b(query|mutation|subscription)\\s+' + params.operationName + '\\b').exec(text);
      if (named) return named[1];
    }
    var depth = 0;
    var fragment = false;
    var re = /[{}]|\b(query|mutation|subscription|fragment)\b/g;
    var m;
    while ((m = re.exec(text))) {
      if (m[0] === '{') {
        if (depth === 0 && !fragment) return 'query';
        fragment = false;
        depth++;
      } else if (m[0] === '}') {
        depth--;
      } else if (depth === 0 && m[1] === 'fragment') {
        fragment = true;
      } else if (depth === 0) {
        return m[1];
      }
    }
    return 'query';
  }

  function header(headers, name) {
    if (!headers) return undefined;
    for (var k in headers) {
      if (k.toLowerCase() === name) return headers[k];
    }
    return undefined;
  }

  function fetcher(params, opts) {
    if (operationOf(params) !== 'subscription') {
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
