/**
 * The `auth` block of an HTTP source. Secrets are references ({@link SecretRefSchema}: an environment
 * variable or an AWS Secrets Manager secret), never values in the config file.
 *
 * @module
 */
import { z } from 'zod';
import { SecretRefSchema } from '../../../secrets/resolve.js';

const secret = (what: string) =>
  SecretRefSchema.describe(
    `${what}: \`{ env: NAME }\` or \`{ secretId: NAME_OR_ARN, jsonKey?: KEY }\` (Secrets Manager).`,
  );

export const AuthSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('bearer'),
        tokenEnv: z.string().optional().describe('Environment variable holding the token (or use `token`).'),
        token: secret('The token').optional(),
      })
      .refine((a) => (a.tokenEnv === undefined) !== (a.token === undefined), {
        message: 'bearer auth needs exactly one of `tokenEnv` and `token`',
      })
      .describe('`Authorization: Bearer <token>` (RFC 6750).'),
    z
      .strictObject({
        type: z.literal('header'),
        header: z.string().describe('Header name, e.g. `X-Api-Key`.'),
        valueEnv: z.string().describe('Environment variable holding the value.'),
      })
      .describe('A header whose value comes from an environment variable (same as `apiKey` in a header).'),
    z
      .strictObject({
        type: z.literal('apiKey'),
        in: z.enum(['header', 'query']).default('header').describe('Where the key goes.'),
        name: z.string().min(1).describe('Header or query parameter name, e.g. `X-Api-Key` or `api_key`.'),
        value: secret('The key'),
      })
      .describe(
        'An API key in a header or a query parameter. A key in the query is sent only to credential origins and masked wherever the URL is quoted.',
      ),
    z
      .strictObject({
        type: z.literal('basic'),
        username: z.string().describe('User name (not a secret).'),
        password: secret('The password'),
      })
      .describe('HTTP basic authentication (RFC 7617).'),
    z
      .strictObject({
        type: z.literal('oauth2ClientCredentials'),
        tokenUrl: z.url().describe('Token endpoint (RFC 6749 §4.4), http or https.'),
        clientId: secret('The client id'),
        clientSecret: secret('The client secret'),
        scope: z.string().optional().describe('Space-separated scopes to request.'),
        audience: z.string().optional().describe('`audience` form parameter (Auth0, Okta style), if needed.'),
        clientAuth: z
          .enum(['basic', 'body'])
          .default('basic')
          .describe(
            'How the client authenticates to the token endpoint: HTTP basic (RFC 6749 §2.3.1) or `client_id`/`client_secret` in the form body.',
          ),
        refreshBeforeExpirySecs: z
          .number()
          .nonnegative()
          .default(60)
          .describe('A cached token is replaced this many seconds before its `expires_in` runs out.'),
      })
      .describe(
        'OAuth2 client credentials: the access token is cached, fetched again before it expires, and after a 401 the token is fetched again and the request retried once.',
      ),
  ])
  .optional()
  .describe('Authentication. Secrets come only from environment variables or Secrets Manager, named here.');

export type AuthConfig = NonNullable<z.infer<typeof AuthSchema>>;
