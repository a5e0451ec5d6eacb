/**
 * The options of Better Auth's `jwt` plugin for the configured JWT_ALGORITHM (DESIGN.md §2).
 * Free of side effects, so that instrumentation.ts can build them at start-up to check the settings.
 */

import type { JWKOptions, Jwk, JwtOptions } from "better-auth/plugins/jwt";
import { SignJWT, type JWTPayload } from "jose";
import type { Pool } from "pg";

import {
  isBuildPhase,
  jwtAlgorithm,
  jwtAudience,
  jwtIssuer,
  jwtLifetimeSeconds,
  jwtSharedSecret,
  type JwtAlgorithm,
} from "@/lib/server/config";
import { createJwkOnce } from "@/lib/server/signing-key-lock";

const DAY_SECONDS = 24 * 60 * 60;
const MIN_HS256_SECRET_LENGTH = 32;
/** The smallest RSA modulus the back end accepts (tandem_auth's MIN_RSA_BITS). */
const RSA_MODULUS_BITS = 2048;

type KeyAlgorithm = Exclude<JwtAlgorithm, "HS256">;
type GetJwks = NonNullable<NonNullable<JwtOptions["adapter"]>["getJwks"]>;

/** The key pair the plugin generates for each algorithm; `satisfies` ties each entry to its own `alg`. */
const KEY_PAIRS = {
  EdDSA: { alg: "EdDSA", crv: "Ed25519" },
  ES256: { alg: "ES256" },
  ES512: { alg: "ES512" },
  RS256: { alg: "RS256", modulusLength: RSA_MODULUS_BITS },
  PS256: { alg: "PS256", modulusLength: RSA_MODULUS_BITS },
} as const satisfies { [A in KeyAlgorithm]: Extract<JWKOptions, { alg: A }> };

/**
 * A placeholder for `jwks.remoteUrl` in HS256 mode. The plugin refuses a custom `jwt.sign`
 * unless `jwks.remoteUrl` is set (it assumes the keys then live elsewhere), and the only effects
 * of setting it are that /api/auth/jwks answers 404 and that OpenID discovery metadata (which
 * Tandem does not serve) would advertise it. HS256 has no public keys to publish, so the URL
 * says exactly that, under the reserved `.invalid` TLD (RFC 6761) so nothing can ever fetch it.
 */
const HS256_NO_JWKS_URL = "https://jwks.invalid/hs256-shared-secret-has-no-public-keys";

/** Keeps the claims small (DESIGN.md §2); the plugin adds iat, exp, iss, aud and forces `sub` to the user id. */
function definePayload({ user, session }: { user: { id: string; email: string; name: string }; session: { id: string } }) {
  return { sub: user.id, sid: session.id, email: user.email, name: user.name };
}

/** Signs the plugin's payload with the shared secret as HS256, for `JWT_ALGORITHM=HS256`. */
function hs256Signer(secret: string) {
  const key = new TextEncoder().encode(secret);
  return async (payload: JWTPayload): Promise<string> => {
    const { sub, sid, email, name, iat, exp, iss, aud } = payload;
    if (typeof sub !== "string" || typeof iat !== "number" || typeof exp !== "number" || !iss || !aud) {
      throw new Error("HS256 signer received an incomplete payload");
    }
    return new SignJWT({ sid, email, name })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setIssuer(iss)
      .setAudience(aud)
      .sign(key);
  };
}

/**
 * The plugin's view of the `jwks` table: the keys of `alg` alone. Left to itself, the plugin signs
 * with the newest live key of any algorithm when none of `keyPairConfig.alg` exists (resolveSigningKey
 * in better-auth/dist/plugins/jwt/sign.mjs), and /jwks publishes every algorithm's keys but mints a
 * key only into an empty table. After JWT_ALGORITHM changes on a database that already holds a key,
 * tokens would keep the old algorithm until that key expired, and the back end would find no key of
 * its algorithm to load. Seeing only its own keys, the plugin mints one of its algorithm at the first
 * token or /jwks request. Better Auth 1.7 stores `alg` with every key it creates.
 */
function keysOf(alg: KeyAlgorithm): GetJwks {
  return (ctx) =>
    ctx.context.adapter.findMany<Jwk>({
      model: "jwks",
      where: [{ field: "alg", value: alg }],
      // Newest first, so the adapter's default row limit can only ever leave out old keys.
      sortBy: { field: "createdAt", direction: "desc" },
    });
}

/**
 * `keyStore` is the database pool keys are minted through, under an advisory lock
 * (signing-key-lock.ts); the start-up check, which only validates the settings, passes none.
 */
export function jwtPluginOptions(keyStore?: Pool): JwtOptions {
  const algorithm = jwtAlgorithm();
  const options = {
    disableSettingJwtHeader: true,
    jwt: {
      issuer: jwtIssuer(),
      audience: jwtAudience(),
      // A duration string: jose reads a bare number as an absolute `exp`. The plugin derives `exp`
      // from it before signing, so the HS256 signer below inherits the same lifetime.
      expirationTime: `${jwtLifetimeSeconds()}s`,
      definePayload,
    },
    jwks: {
      // A new key every 30 days; a retired key stays in /jwks for 7 more days,
      // far longer than any 15-minute token it signed.
      rotationInterval: 30 * DAY_SECONDS,
      gracePeriod: 7 * DAY_SECONDS,
    },
  } satisfies JwtOptions;
  if (algorithm !== "HS256") {
    return {
      ...options,
      jwks: { ...options.jwks, keyPairConfig: KEY_PAIRS[algorithm] },
      adapter: { getJwks: keysOf(algorithm), ...(keyStore && { createJwk: createJwkOnce(keyStore) }) },
    };
  }

  const secret = jwtSharedSecret();
  if (!secret || secret.length < MIN_HS256_SECRET_LENGTH) {
    if (isBuildPhase()) return options;
    throw new Error(
      `JWT_ALGORITHM=HS256 needs JWT_SECRET (or BETTER_AUTH_SECRET) of at least ${MIN_HS256_SECRET_LENGTH} characters`,
    );
  }
  return {
    ...options,
    jwt: { ...options.jwt, sign: hs256Signer(secret) },
    jwks: {
      ...options.jwks,
      remoteUrl: HS256_NO_JWKS_URL,
      // Required by the plugin next to remoteUrl, and read only for OpenID discovery metadata;
      // no key pair is generated or used in HS256 mode.
      keyPairConfig: KEY_PAIRS.EdDSA,
    },
  };
}
