// A real OpenID Connect provider on loopback for Slipway's tests:
// discovery, JWKS, authorization code with PKCE (S256), signed ID tokens.
// The signed-in account comes from the environment:
//   OIDC_PORT, OIDC_SUB, OIDC_LOGIN, OIDC_NAME, OIDC_EMAIL, OIDC_GROUPS (comma-separated)
// It prints "ready <issuer>" once it listens.
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.env.OIDC_PORT || 0);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on('beforeTokenSigning', (token) => {
  token.payload.sub = process.env.OIDC_SUB || 'subject-1';
  token.payload.preferred_username = process.env.OIDC_LOGIN || 'oidc-user';
  token.payload.name = process.env.OIDC_NAME || 'OIDC User';
  token.payload.email = process.env.OIDC_EMAIL || 'oidc-user@example.invalid';
  token.payload.groups = (process.env.OIDC_GROUPS || '').split(',').filter(Boolean);
});

await server.start(port, '127.0.0.1');
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(`ready ${server.issuer.url}`);

const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
