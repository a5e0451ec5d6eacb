/**
 * Per-process cache of the BFF proxy's session lookups, so that a task request costs no Better
 * Auth call and no database round trip of its own.
 *
 * Why this is safe: FastAPI checks the JWT's `sid` against the session table on every task
 * request, so a signed-out, revoked or expired session is refused there at once, whatever this
 * cache holds; the proxy then forgets the entry and asks Better Auth again (backend.ts). Until
 * then, only what the proxy answers itself (a malformed task id, a body too large) can reach a
 * session that has just ended, and that reads and changes nothing. An entry is made from Better
 * Auth's own lookup, only for a cookie whose signature holds under Better Auth's secret and whose
 * token names the session found, and it serves that exact cookie value alone. Sign-out in this
 * process drops it at once (auth.ts); otherwise it lives at most TTL_MS, after which Better Auth
 * looks the session up again (and slides its expiry as usual). Pages never use it: they look the
 * session up themselves (session.ts).
 */

import { createHmac, timingSafeEqual } from "node:crypto";

import { makeRoom } from "@/lib/server/bounded-map";

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;
const STORE_KEY = Symbol.for("tandem.frontend.sessionCache");

/** What the proxy needs from a session. */
export interface ProxySession {
  sub: string;
  sessionId: string;
  /** The session token: the secret part of the cookie, and this cache's key. */
  sessionToken: string;
}

interface Entry extends ProxySession {
  /** The exact signed cookie value this entry serves (its signature checked). */
  cookie: string;
  expiresAt: number;
}

/** Shared through globalThis by every route bundle and Better Auth's sign-out hook (like the token cache). */
function entries(): Map<string, Entry> {
  const holder = globalThis as typeof globalThis & { [STORE_KEY]?: Map<string, Entry> };
  holder[STORE_KEY] ??= new Map();
  return holder[STORE_KEY];
}

/** The token part of a signed session cookie (`<token>.<signature>`), as Better Auth splits it. */
function tokenOf(cookie: string): string {
  return cookie.slice(0, Math.max(cookie.lastIndexOf("."), 0));
}

/**
 * Whether the cookie's signature is Better Auth's (HMAC-SHA256 of the token, in base64), checked
 * here too because Better Auth may have verified another cookie of the same name in the request.
 */
function signedWith(secret: string, cookie: string): boolean {
  const signature = Buffer.from(cookie.slice(cookie.lastIndexOf(".") + 1));
  const expected = Buffer.from(createHmac("sha256", secret).update(tokenOf(cookie)).digest("base64"));
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

/** The session behind a signed session cookie value, if looked up within TTL_MS. */
export function cachedSession(cookie: string): ProxySession | null {
  const sessionToken = tokenOf(cookie);
  const entry = entries().get(sessionToken);
  if (!entry || entry.cookie !== cookie) return null;
  if (Date.now() >= entry.expiresAt) {
    entries().delete(sessionToken);
    return null;
  }
  return { sub: entry.sub, sessionId: entry.sessionId, sessionToken };
}

/**
 * Remembers Better Auth's answer for `cookie`, unless the cookie is not signed with `secret` or
 * the session found is not the one it names (another cookie of the same name in the request).
 */
export function rememberSession(cookie: string, session: ProxySession & { expiresAt: Date }, secret: string): void {
  if (tokenOf(cookie) !== session.sessionToken || !signedWith(secret, cookie)) return;
  const now = Date.now();
  const expiresAt = Math.min(now + TTL_MS, session.expiresAt.getTime());
  if (expiresAt <= now) return;
  const map = entries();
  map.delete(session.sessionToken);
  makeRoom(map, MAX_ENTRIES, (entry) => entry.expiresAt <= now);
  const { sub, sessionId, sessionToken } = session;
  map.set(sessionToken, { sub, sessionId, sessionToken, cookie, expiresAt });
}

/** Drops a session: on sign-out, and when FastAPI refused its token. */
export function forgetSession(sessionToken: string): void {
  entries().delete(sessionToken);
}
