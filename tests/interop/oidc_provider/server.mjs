// An independent authorization server for jwt_guard's interoperability tests:
// panva's oidc-provider on 127.0.0.1, configured by the JSON file named on the
// command line (written by tests/support/oidc_provider.py). It issues opaque
// access tokens with the client credentials grant, serves RFC 7662
// introspection (RFC 9701 signed answers for clients that ask for them) and
// RFC 7009 revocation.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: [config.signing_jwk] },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: config.scopes,
        audience: resource,
        accessTokenTTL: config.short_lived_clients.includes(client.clientId) ? 1 : 300,
        accessTokenFormat: resource === config.jwt_audience ? 'jwt' : 'opaque',
      }),
    },
  },
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
