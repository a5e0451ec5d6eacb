import { randomBytes } from "node:crypto";

import { betterAuth, type BetterAuthOptions } from "better-auth";
import { nextCookies } from "better-auth/next-js";
import { jwt, type JwtOptions } from "better-auth/plugins/jwt";
import { SignJWT, type JWTPayload } from "jose";
import { Pool } from "pg";

import { auditAuthOutcome, auditSessionEnded } from "@/lib/server/auth-audit";
import {
  appBaseURL,
  databaseURL,
  isBuildPhase,
  jwtAlgorithm,
  jwtAudience,
  jwtIssuer,
  jwtLifetimeSeconds,
  jwtSharedSecret,
  trustedOrigins,
} from "@/lib/server/config";
import { forgetSession } from "@/lib/server/session-cache";
import { forgetToken } from "@/lib/server/token-cache";

const DAY_SECONDS = 24 * 60 * 60;
const MIN_HS256_SECRET_LENGTH = 32;

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

function jwtPluginOptions(): JwtOptions {
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
      // A new Ed25519 key every 30 days; a retired key stays in /jwks for 7 more days,
      // far longer than any 15-minute token it signed.
      rotationInterval: 30 * DAY_SECONDS,
      gracePeriod: 7 * DAY_SECONDS,
    },
  } satisfies JwtOptions;
  if (jwtAlgorithm() !== "HS256") return options;

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
      keyPairConfig: { alg: "EdDSA", crv: "Ed25519" },
    },
  };
}

export const pool = new Pool({ connectionString: databaseURL() });

/** The single Better Auth configuration, shared with scripts/check-schema-drift.mts and scripts/print-schema.mts. */
export const authOptions = {
  appName: "Tandem",
  database: pool,
  // BETTER_AUTH_SECRETS (versioned, "2:new,1:old"), when set, takes precedence: Better Auth reads it itself.
  // `next build` evaluates this module without runtime secrets and serves no request: a throwaway
  // secret keeps Better Auth from refusing to initialise there.
  secret: process.env.BETTER_AUTH_SECRET ?? (isBuildPhase() ? randomBytes(32).toString("base64url") : undefined),
  baseURL: appBaseURL(),
  trustedOrigins: trustedOrigins(),
  emailAndPassword: {
    enabled: true,
    minPasswordLength: 8,
    maxPasswordLength: 128,
  },
  rateLimit: {
    // On in every environment (Better Auth's default is production only), shared through the database.
    enabled: true,
    storage: "database",
    window: 10,
    max: 100,
    customRules: {
      "/sign-in/email": { window: 60, max: 10 },
      "/sign-up/email": { window: 60, max: 10 },
      "/change-password": { window: 60, max: 5 },
      "/change-email": { window: 60, max: 5 },
      "/request-password-reset": { window: 300, max: 3 },
      "/reset-password": { window: 300, max: 5 },
      "/reset-password/*": { window: 300, max: 5 },
    },
  },
  // The audit trail (src/lib/server/auth-audit.ts): sign-in and sign-up outcomes here, sign-out
  // and every other end of a session in the hook below, and rate-limit hits and refused
  // requests in the route handler, the only place that sees them.
  hooks: {
    after: auditAuthOutcome,
  },
  databaseHooks: {
    session: {
      delete: {
        // Fires for sign-out and for every other way a session row is deleted (revocation too).
        after: async (session, context) => {
          forgetToken(session.id);
          forgetSession(session.token);
          auditSessionEnded(session, context?.path);
        },
      },
    },
  },
  telemetry: { enabled: false },
  plugins: [
    jwt(jwtPluginOptions()),
    // Must stay last: it copies Set-Cookie headers from auth.api calls into Next's cookie store.
    nextCookies(),
  ],
} satisfies BetterAuthOptions;

export const auth = betterAuth(authOptions);

export type Session = typeof auth.$Infer.Session;
