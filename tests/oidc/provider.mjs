// The OpenID provider the tests sign in with: panva's oidc-provider (OpenID Certified), over
// HTTPS, in place of Microsoft Entra ID. One confidential client (`mlflow`, authorization-code
// flow with PKCE) and four people: two teams, an admin, and one in no MLflow group. Its login
// page is the package's development form (any password is accepted for a listed login).
//
// Environment: MP_IDP_ISSUER (https://host:port), MP_IDP_PORT, MP_IDP_CERT and MP_IDP_KEY (PEM
// files), MP_IDP_CLIENT_SECRET_FILE, MP_IDP_REDIRECT_URIS (comma-separated).
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

// The groups claim carries group names, as Entra ID does with "Groups assigned to the
// application" and cloud-only group names (otherwise it sends object ids).
const people = {
  alice: { name: 'Alice A', groups: ['mlflow-users', 'team-a'] },
  bob: { name: 'Bob B', groups: ['mlflow-users', 'team-b'] },
  carol: { name: 'Carol Admin', groups: ['mlflow-admins'] },
  mallory: { name: 'Mallory', groups: ['contractors'] },
};

const provider = new Provider(env('MP_IDP_ISSUER'), {
  clients: [{
    client_id: 'mlflow',
    client_secret: fs.readFileSync(env('MP_IDP_CLIENT_SECRET_FILE'), 'utf8').trim(),
    redirect_uris: env('MP_IDP_REDIRECT_URIS').split(','),
    post_logout_redirect_uris: env('MP_IDP_REDIRECT_URIS').split(',').map((uri) => new URL(uri).origin + '/'),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Entra ID puts the groups claim into the ID token; the plugin reads it from there.
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => {
    const person = people[id];
    return person && {
      accountId: id,
      claims: async () => ({
        sub: id,
        email: `${id}@mlflow.test`,
        email_verified: true,
        preferred_username: `${id}@mlflow.test`,
        name: person.name,
        groups: person.groups,
      }),
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['mlflow-provision-test-idp'] },
});
// The development form signs in any login; only the listed people have accounts.
provider.on('server_error', (ctx, error) => console.error('server_error', error));

https
  .createServer({ cert: fs.readFileSync(env('MP_IDP_CERT')), key: fs.readFileSync(env('MP_IDP_KEY')) }, provider.callback())
  .listen(Number(env('MP_IDP_PORT')), '0.0.0.0', () => console.log(`listening on ${env('MP_IDP_ISSUER')}`));
