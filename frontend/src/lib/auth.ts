import { randomBytes } from "node:crypto";

import { betterAuth, type BetterAuthOptions } from "better-auth";
import { nextCookies } from "better-auth/next-js";
import { jwt } from "better-auth/plugins/jwt";
import { Pool } from "pg";

import { auditAuthOutcome, auditSessionEnded } from "@/lib/server/auth-audit";
import { onExistingUserSignUp, sendResetPassword, sendVerificationEmail } from "@/lib/server/auth-mail";
import { requirePasswordToDelete } from "@/lib/server/auth-guards";
import { clientAddressHeader } from "@/lib/server/client-address";
import { appBaseURL, databaseURL, isBuildPhase, requireEmailVerification, trustedOrigins } from "@/lib/server/config";
import { audit, noteSubject } from "@/lib/server/audit";
import { jwtPluginOptions } from "@/lib/server/jwt-plugin";
import { forgetSession } from "@/lib/server/session-cache";
import { forgetToken } from "@/lib/server/token-cache";

// At most 10 connections per web instance: its share of the connection budget (docs/deployment.md).
export const pool = new Pool({ connectionString: databaseURL(), max: 10 });

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
    // With verification required, sign-up answers alike for a new and a taken address (Better
    // Auth returns a made-up user for the latter), and the taken address's owner gets a notice.
    requireEmailVerification: requireEmailVerification(),
    onExistingUserSignUp,
    sendResetPassword,
    resetPasswordTokenExpiresIn: 3600,
    onPasswordReset: async ({ user }) => noteSubject(user.id, "ok"),
    // A new password ends every session of the user, whoever holds them.
    revokeSessionsOnPasswordReset: true,
  },
  emailVerification: {
    sendVerificationEmail,
    expiresIn: 3600,
    // The link signs its holder in: the address's owner, who just proved it.
    autoSignInAfterVerification: true,
    afterEmailVerification: async (user) => audit("email.verified", { reason: "ok", sub: user.id }),
  },
  user: {
    deleteUser: { enabled: true },
  },
  session: {
    // How often a used session's `updatedAt` (the account page's "last active") moves forward.
    updateAge: 60 * 60,
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
      "/send-verification-email": { window: 300, max: 3 },
      "/delete-user": { window: 60, max: 5 },
      "/update-user": { window: 60, max: 10 },
      "/revoke-session": { window: 60, max: 30 },
      "/revoke-other-sessions": { window: 60, max: 10 },
    },
  },
  advanced: {
    ipAddress: {
      // The rate limits and each session's ipAddress key on the address this server vouches for
      // (client-address.ts): the TCP peer, or what TRUSTED_PROXIES hops forwarded. Better Auth
      // 1.7.25 would otherwise believe a single-valued X-Forwarded-For from anyone. The header
      // always holds exactly one address, so Better Auth's own `trustedProxies` stays unset.
      ipAddressHeaders: [clientAddressHeader()],
      disableIpTracking: false,
    },
  },
  // The audit trail (src/lib/server/auth-audit.ts): sign-in and sign-up outcomes here, sign-out
  // and every other end of a session in the hook below, and rate-limit hits and refused
  // requests in the route handler, the only place that sees them.
  hooks: {
    before: requirePasswordToDelete,
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
    jwt(jwtPluginOptions(pool)),
    // Must stay last: it copies Set-Cookie headers from auth.api calls into Next's cookie store.
    nextCookies(),
  ],
} satisfies BetterAuthOptions;

export const auth = betterAuth(authOptions);

export type Session = typeof auth.$Infer.Session;
