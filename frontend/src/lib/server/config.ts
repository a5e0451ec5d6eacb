/**
 * Server-side settings read from the environment (names shared with the back end, see DESIGN.md §3).
 * Values are read when called, so a build made without the runtime env still starts correctly.
 */

const DEFAULT_WEB_PORT = "3000";
const DEFAULT_API_PORT = "8000";

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

function originOf(url: string, name: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new Error(`${name} must be an absolute URL`);
  }
}

/** Better Auth's base URL, which is also the JWT issuer by default. */
export function appBaseURL(): string {
  return env("BETTER_AUTH_URL") ?? `http://localhost:${env("WEB_PORT") ?? DEFAULT_WEB_PORT}`;
}

/** The app's own origin: the only one allowed to change state through the cookie-authenticated proxy. */
export function appOrigin(): string {
  return originOf(appBaseURL(), "BETTER_AUTH_URL");
}

/** The app origin plus the comma-separated TRUSTED_ORIGINS. */
export function trustedOrigins(): string[] {
  const extra = (env("TRUSTED_ORIGINS") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => originOf(entry, "TRUSTED_ORIGINS entries"));
  return [...new Set([appOrigin(), ...extra])];
}

/** True when the app's public URL (BETTER_AUTH_URL) is https: HSTS and Secure cookies then apply. */
export function servedOverHttps(): boolean {
  return appOrigin().startsWith("https:");
}

/**
 * TRUSTED_PROXIES (the back end's name too): comma-separated addresses or networks (`10.0.0.5`,
 * `10.0.0.0/24`, `::1`) of the hops in front of Next.js whose X-Forwarded-For is believed.
 * Default: none. Checked at start-up (startup-check.ts); a malformed entry stops the server.
 */
export function trustedProxies(): string[] {
  return (env("TRUSTED_PROXIES") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** Where the BFF proxy finds FastAPI, without a trailing slash. */
export function apiBaseURL(): string {
  const url = env("API_URL") ?? `http://127.0.0.1:${env("API_PORT") ?? DEFAULT_API_PORT}`;
  return url.replace(/\/+$/, "");
}

/** Every algorithm Better Auth's `jwt` plugin signs with, then HS256 (a shared secret, signed by our own signer). */
export const JWT_ALGORITHMS = ["EdDSA", "ES256", "ES512", "RS256", "PS256", "HS256"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** JWT_ALGORITHM, default EdDSA; matched exactly, as the back end matches it. */
export function jwtAlgorithm(): JwtAlgorithm {
  const value = env("JWT_ALGORITHM") ?? "EdDSA";
  const algorithm = JWT_ALGORITHMS.find((known) => known === value);
  if (algorithm === undefined) {
    throw new Error(`JWT_ALGORITHM must be one of ${JWT_ALGORITHMS.join(", ")}, not "${value}"`);
  }
  return algorithm;
}

export function jwtIssuer(): string {
  return env("JWT_ISSUER") ?? appBaseURL();
}

export function jwtAudience(): string {
  return env("JWT_AUDIENCE") ?? "tandem-api";
}

/** Better Auth's own default, and the longest `exp - iat` the back end accepts unless told otherwise. */
const DEFAULT_JWT_LIFETIME_SECONDS = 900;

function wholeSeconds(name: string, fallback: number, max: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > max) {
    throw new Error(`${name} must be a whole number from 1 to ${max}, not "${raw}"`);
  }
  return seconds;
}

/**
 * How long a JWT lives, in seconds: JWT_LIFETIME_SECONDS, default 900 (15 min); tests shorten it.
 * It may not exceed JWT_MAX_LIFETIME_SECONDS, the back end's limit (DESIGN.md §4): a longer token
 * would be refused by every API call.
 */
export function jwtLifetimeSeconds(): number {
  const max = wholeSeconds("JWT_MAX_LIFETIME_SECONDS", DEFAULT_JWT_LIFETIME_SECONDS, Number.MAX_SAFE_INTEGER);
  return wholeSeconds("JWT_LIFETIME_SECONDS", Math.min(DEFAULT_JWT_LIFETIME_SECONDS, max), max);
}

/** The HS256 shared secret: JWT_SECRET, else BETTER_AUTH_SECRET (as the back end does). */
export function jwtSharedSecret(): string | undefined {
  return env("JWT_SECRET") ?? env("BETTER_AUTH_SECRET");
}

export function databaseURL(): string | undefined {
  return env("DATABASE_URL");
}

/** True while `next build` evaluates modules, when runtime secrets may be absent. */
export function isBuildPhase(): boolean {
  return process.env.NEXT_PHASE === "phase-production-build";
}

const DEFAULT_MAIL_FROM = "Tandem <no-reply@localhost>";

/**
 * SMTP_URL: where Better Auth's mail goes, `smtp://user:pass@host:port` (`smtps://` for TLS from
 * the first byte). Required at start-up (startup-check.ts): `make run` points it at its catcher.
 */
export function smtpURL(): string {
  const value = env("SMTP_URL");
  if (value === undefined) throw new Error("SMTP_URL must be set (smtp://host:port or smtps://host:port)");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error("SMTP_URL must be an smtp:// or smtps:// URL");
  }
  if ((url.protocol !== "smtp:" && url.protocol !== "smtps:") || !url.hostname) {
    throw new Error("SMTP_URL must be an smtp:// or smtps:// URL with a host");
  }
  return value;
}

/** MAIL_FROM: the sender of every message, a bare address or `Name <address>`. */
export function mailFrom(): string {
  const value = env("MAIL_FROM") ?? DEFAULT_MAIL_FROM;
  if (!/^[^\r\n<>]*<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/.test(value)) {
    throw new Error('MAIL_FROM must be an address or "Name <address>"');
  }
  return value;
}

/** REQUIRE_EMAIL_VERIFICATION, default true: sign-in needs a verified address. */
export function requireEmailVerification(): boolean {
  const value = (env("REQUIRE_EMAIL_VERIFICATION") ?? "true").toLowerCase();
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new Error(`REQUIRE_EMAIL_VERIFICATION must be true or false, not "${value}"`);
}
