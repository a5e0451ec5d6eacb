/**
 * Better Auth endpoints called from the account page's server actions, through Better Auth's own
 * HTTP handler rather than `auth.api`: only the handler runs its rate limiter (the router's
 * `onRequest`), so a password tried from the account page counts exactly as one tried against
 * `/api/auth/change-password` directly, and the audit events are the same too. The answer's body
 * (which may hold a new session token) stays on the server; its cookies go to the browser.
 */

import { parseSetCookieHeader, toCookieOptions } from "better-auth/cookies";
import { cookies, headers } from "next/headers";

import { auth } from "@/lib/auth";
import { auditedAuthHandler } from "@/lib/server/auth-audit";
import { clientAddressHeader } from "@/lib/server/client-address";
import { appBaseURL, appOrigin } from "@/lib/server/config";

/** The incoming request headers an endpoint needs: the session, the device, the vouched address. */
const PASSED_ON = ["cookie", "user-agent", "x-request-id"] as const;

const handle = auditedAuthHandler((request) => auth.handler(request));

export interface EndpointOutcome {
  ok: boolean;
  status: number;
  /** Better Auth's error code, when it failed. */
  code: string | undefined;
  /** Seconds to wait, when rate limited. */
  retryAfter: string | null;
}

async function errorCode(response: Response): Promise<string | undefined> {
  if (response.ok || !response.headers.get("content-type")?.includes("application/json")) return undefined;
  try {
    const body: unknown = await response.json();
    return typeof body === "object" && body !== null && "code" in body && typeof body.code === "string" ? body.code : undefined;
  } catch {
    return undefined;
  }
}

/** POSTs `body` to a Better Auth endpoint (`/change-password`) as the current request's browser. */
export async function callAuthEndpoint(path: string, body: Record<string, unknown>): Promise<EndpointOutcome> {
  const incoming = await headers();
  // The app's own origin: Next.js has already checked that the server action came from it.
  const outgoing = new Headers({ "content-type": "application/json", origin: appOrigin() });
  for (const name of [...PASSED_ON, clientAddressHeader()]) {
    const value = incoming.get(name);
    if (value !== null) outgoing.set(name, value);
  }
  const response = await handle(
    new Request(`${appBaseURL()}/api/auth${path}`, { method: "POST", headers: outgoing, body: JSON.stringify(body) }),
  );
  const setCookie = response.headers.get("set-cookie");
  if (setCookie) {
    const store = await cookies();
    parseSetCookieHeader(setCookie).forEach((cookie, name) => store.set(name, cookie.value, toCookieOptions(cookie)));
  }
  const code = await errorCode(response);
  return { ok: response.ok, status: response.status, code, retryAfter: response.headers.get("x-retry-after") };
}
