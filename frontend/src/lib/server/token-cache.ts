/**
 * Per-session cache of the short-lived JWTs the BFF proxy sends to FastAPI.
 *
 * A token is reused until shortly before its `exp` (refreshMarginMs), then replaced: that is the
 * automatic refresh. The cache lives on globalThis so that every route bundle in the
 * Next.js server process (and Better Auth's sign-out hook) shares one instance.
 */

import { makeRoom } from "@/lib/server/bounded-map";
import { jwtLifetimeSeconds } from "@/lib/server/config";

const MAX_ENTRIES = 10_000;
const MAX_REFRESH_MARGIN_MS = 60_000;

interface Entry {
  token: string;
  refreshAt: number;
}

interface Store {
  entries: Map<string, Entry>;
  inflight: Map<string, Promise<string>>;
}

const STORE_KEY = Symbol.for("tandem.frontend.tokenCache");

function store(): Store {
  const holder = globalThis as typeof globalThis & { [STORE_KEY]?: Store };
  holder[STORE_KEY] ??= { entries: new Map(), inflight: new Map() };
  return holder[STORE_KEY];
}

/** The `exp` claim in milliseconds, read WITHOUT verifying the token: only used to schedule a refresh. */
export function tokenExpiryMs(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    if (typeof claims !== "object" || claims === null || !("exp" in claims)) return null;
    return typeof claims.exp === "number" && Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

/** How long before `exp` a token is replaced: a minute, or a third of a shorter lifetime. */
function refreshMarginMs(): number {
  return Math.min(MAX_REFRESH_MARGIN_MS, (jwtLifetimeSeconds() * 1000) / 3);
}

function remember(sessionId: string, token: string): void {
  const exp = tokenExpiryMs(token);
  if (exp === null) return;
  const refreshAt = exp - refreshMarginMs();
  const now = Date.now();
  if (refreshAt <= now) return;
  const { entries } = store();
  entries.delete(sessionId);
  makeRoom(entries, MAX_ENTRIES, (entry) => entry.refreshAt <= now);
  entries.set(sessionId, { token, refreshAt });
}

/**
 * The cached token for a session, or a new one from `issue` (one call per session at a time).
 */
export async function cachedToken(sessionId: string, issue: () => Promise<string>): Promise<string> {
  const { entries, inflight } = store();
  const entry = entries.get(sessionId);
  if (entry && Date.now() < entry.refreshAt) return entry.token;
  const pending = inflight.get(sessionId);
  if (pending) return pending;
  const request = issue()
    .then((token) => {
      remember(sessionId, token);
      return token;
    })
    .finally(() => inflight.delete(sessionId));
  inflight.set(sessionId, request);
  return request;
}

/** Drops a session's token: on sign-out, and when FastAPI rejected it. */
export function forgetToken(sessionId: string): void {
  store().entries.delete(sessionId);
}

