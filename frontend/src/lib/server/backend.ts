import { parseCookies } from "better-auth/cookies";

import { auth } from "@/lib/auth";
import { audit, logEvent, requestIdFrom, withRequestId } from "@/lib/server/audit";
import { clientAddress } from "@/lib/server/client-address";
import { apiBaseURL } from "@/lib/server/config";
import { addTransportSecurity, errorResponse } from "@/lib/server/responses";
import { crossSiteStateChange } from "@/lib/server/same-origin";
import { cachedSession, forgetSession, rememberSession, type ProxySession } from "@/lib/server/session-cache";
import { cachedToken, forgetToken } from "@/lib/server/token-cache";

const UPSTREAM_TIMEOUT_MS = 15_000;
const MAX_BODY_BYTES = 1024 * 1024;
const RETRY_AFTER_SECONDS = "5";
const TASK_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Never the browser's X-Forwarded-For: the proxy writes its own (upstreamHeaders).
const FORWARDED_REQUEST_HEADERS = ["content-type", "if-match", "idempotency-key"] as const;
const FORWARDED_RESPONSE_HEADERS = ["content-type", "etag", "retry-after", "idempotent-replayed"] as const;
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE"]);

/** Which task resource a proxy route targets, relative to `/api/{user_id}/tasks`. */
export type TaskTarget = { kind: "collection" } | { kind: "task"; id: string; action?: "complete" };

interface Upstream {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer> | null;
}

function upstreamPath(target: TaskTarget): string | null {
  if (target.kind === "collection") return "";
  // Only a well-formed UUID goes into the upstream path, so no "..", "%2F" or look-alike can
  // reach another route. Anything else is a task that cannot exist.
  if (!TASK_ID.test(target.id)) return null;
  return `/${target.id}${target.action ? `/${target.action}` : ""}`;
}

function unavailable(detail: string, code: string): Response {
  return errorResponse(503, detail, code, { "Retry-After": RETRY_AFTER_SECONDS });
}

/** The proxy route a target belongs to, as a template: never a task id or a query string. */
function routeOf(target: TaskTarget): string {
  if (target.kind === "collection") return "/api/tasks";
  return `/api/tasks/{id}${target.action ? `/${target.action}` : ""}`;
}

function reason(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : "unknown error";
}

/** The request body, read up to MAX_BODY_BYTES without buffering more than that. */
async function readBody(request: Request): Promise<Uint8Array<ArrayBuffer> | null | "too_large"> {
  if (BODYLESS_METHODS.has(request.method) || !request.body) return null;
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return "too_large";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    size += chunk.value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return "too_large";
    }
    chunks.push(chunk.value);
  }
  if (size === 0) return null;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function upstreamHeaders(request: Request, target: TaskTarget, requestId: string): Headers {
  const headers = new Headers({ Accept: "application/json", "X-Request-ID": requestId });
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  // Exactly one address, the one this server vouches for (client-address.ts), so that the API
  // (which trusts this hop through TRUSTED_PROXIES) limits each browser on its own and no browser
  // can choose the address it is counted as. Without one, the API counts this server.
  const address = clientAddress(request.headers);
  if (address !== null) headers.set("X-Forwarded-For", address);
  // Every create carries a key: the client's, unchanged, so that its own retries replay the first
  // answer; otherwise a fresh one, so that the 401 retry below can never create a second task.
  if (request.method === "POST" && target.kind === "collection" && !headers.has("idempotency-key")) {
    headers.set("Idempotency-Key", crypto.randomUUID());
  }
  return headers;
}

/** Copies the useful upstream headers, pointing a Location back at the proxy's own paths. */
function responseHeaders(upstream: Response, userPrefix: string, requestId: string): Headers {
  // Everything here is per-user: never cacheable, whatever the upstream said.
  const headers = new Headers({ "Cache-Control": "no-store", "X-Request-ID": requestId });
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = upstream.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  // A 503 always says when to come back, even if the upstream did not.
  if (upstream.status === 503 && !headers.has("retry-after")) headers.set("Retry-After", RETRY_AFTER_SECONDS);
  const location = upstream.headers.get("location");
  if (location !== null) {
    const path = new URL(location, apiBaseURL()).pathname;
    if (path.startsWith(userPrefix)) headers.set("Location", `/api/tasks${path.slice(userPrefix.length)}`);
  }
  return headers;
}

/** How many cookies in a Cookie header are named `name`, split the way both parsers below split it. */
function cookiesNamed(header: string, name: string): number {
  let count = 0;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals !== -1 && pair.slice(0, equals).trim() === name) count += 1;
  }
  return count;
}

/**
 * The signed session cookie, under the name Better Auth itself reads it; "duplicate" when the
 * request carries more than one. Of two cookies with that name, Better Auth's own lookups
 * (`getSession`, `getToken`) use the first (better-call's parseCookies), and `parseCookies` from
 * better-auth/cookies returns the last: the proxy would cache one session's answers under the
 * other's cookie, so such a request is refused rather than guessed at.
 */
async function sessionCookie(headers: Headers): Promise<string | null | "duplicate"> {
  const header = headers.get("cookie");
  if (header === null) return null;
  const { authCookies } = await auth.$context;
  const name = authCookies.sessionToken.name;
  if (cookiesNamed(header, name) > 1) return "duplicate";
  return parseCookies(header).get(name) ?? null;
}

/** Better Auth's own lookup (a database round trip), remembered for the cookie; "failed" when it threw. */
async function lookUpSession(headers: Headers, cookie: string | null): Promise<ProxySession | null | "failed"> {
  try {
    const found = await auth.api.getSession({ headers });
    if (!found) return null;
    const session = { sub: found.user.id, sessionId: found.session.id, sessionToken: found.session.token };
    if (cookie !== null) {
      const { secret } = await auth.$context;
      rememberSession(cookie, { ...session, expiresAt: found.session.expiresAt }, secret);
    }
    return session;
  } catch (error) {
    console.error("proxy: session lookup failed:", reason(error));
    return "failed";
  }
}

/** A JWT for the session, from the per-session cache; null when Better Auth cannot issue one. */
async function tokenFor(sessionId: string, headers: Headers): Promise<string | null> {
  try {
    return await cachedToken(sessionId, async () => (await auth.api.getToken({ headers })).token);
  } catch (error) {
    console.error("proxy: could not issue a token:", reason(error));
    return null;
  }
}

/** One call to FastAPI; "timeout" or "unreachable" when it does not answer. */
async function send(upstream: Upstream, token: string): Promise<Response | "timeout" | "unreachable"> {
  const headers = new Headers(upstream.headers);
  headers.set("Authorization", `Bearer ${token}`);
  try {
    return await fetch(upstream.url, {
      method: upstream.method,
      headers,
      body: upstream.body,
      redirect: "manual",
      cache: "no-store",
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
  } catch (error) {
    console.error("proxy: task service unreachable:", reason(error));
    return error instanceof Error && error.name === "TimeoutError" ? "timeout" : "unreachable";
  }
}

/**
 * The BFF proxy: session cookie → per-session JWT → FastAPI `/api/{user_id}/tasks...`.
 * Identity comes only from the server-side session; the browser never sees the JWT.
 * Every request carries one id, from here to FastAPI's logs (`X-Request-ID`), and every
 * response echoes it.
 */
export async function proxyTaskRequest(request: Request, target: TaskTarget, query?: URLSearchParams): Promise<Response> {
  const requestId = requestIdFrom(request.headers);
  return withRequestId(requestId, async () => {
    const started = performance.now();
    const outcome = await forward(request, target, requestId, query);
    outcome.response.headers.set("X-Request-ID", requestId);
    addTransportSecurity(outcome.response.headers);
    logEvent("proxy.forwarded", {
      reason: outcome.reason,
      sub: outcome.sub,
      route: routeOf(target),
      method: request.method,
      status: outcome.response.status,
      duration_ms: Math.round(performance.now() - started),
    });
    return outcome.response;
  });
}

interface Outcome {
  response: Response;
  /** "forwarded" when FastAPI answered, else why the proxy answered itself. */
  reason: string;
  sub: string | null;
}

async function forward(request: Request, target: TaskTarget, requestId: string, query?: URLSearchParams): Promise<Outcome> {
  const route = routeOf(target);
  // First of all: which session a request with two session cookies means is not decided here.
  const cookie = await sessionCookie(request.headers);
  if (cookie === "duplicate") {
    audit("proxy.duplicate_session_cookie", { reason: "duplicate_session_cookie", route, status: 400 }, "warning");
    return {
      response: errorResponse(400, "More than one session cookie", "duplicate_session_cookie"),
      reason: "duplicate_session_cookie",
      sub: null,
    };
  }
  const csrf = crossSiteStateChange(request);
  if (csrf !== null) {
    audit("proxy.csrf_refused", { reason: csrf, route, status: 403 }, "warning");
    return { response: errorResponse(403, "Cross-site request refused", "csrf"), reason: "csrf", sub: null };
  }

  const noSession = (result: null | "failed"): Outcome => {
    if (result === null) {
      return { response: errorResponse(401, "Not authenticated", "not_authenticated"), reason: "not_authenticated", sub: null };
    }
    audit("proxy.auth_unavailable", { reason: "session_lookup_failed", route, status: 503 }, "warning");
    return { response: unavailable("Sign-in service unavailable", "auth_unavailable"), reason: "auth_unavailable", sub: null };
  };
  const session = (cookie === null ? null : cachedSession(cookie)) ?? (await lookUpSession(request.headers, cookie));
  if (session === null || session === "failed") return noSession(session);
  const { sub, sessionId } = session;

  const path = upstreamPath(target);
  if (path === null) return { response: errorResponse(404, "Task not found", "not_found"), reason: "not_found", sub };
  const body = await readBody(request);
  if (body === "too_large") {
    return { response: errorResponse(413, "Request body too large", "payload_too_large"), reason: "payload_too_large", sub };
  }

  const userPrefix = `/api/${encodeURIComponent(sub)}/tasks`;
  const search = query && query.size > 0 ? `?${query.toString()}` : "";
  const upstream: Upstream = {
    url: `${apiBaseURL()}${userPrefix}${path}${search}`,
    method: request.method,
    headers: upstreamHeaders(request, target, requestId),
    body,
  };
  const tokenUnavailable = (): Outcome => {
    audit("proxy.auth_unavailable", { reason: "token_unavailable", sub, route, status: 503 }, "warning");
    return { response: unavailable("Sign-in service unavailable", "auth_unavailable"), reason: "auth_unavailable", sub };
  };

  let token = await tokenFor(sessionId, request.headers);
  if (token === null) return tokenUnavailable();
  let response = await send(upstream, token);
  if (response instanceof Response && response.status === 401) {
    // The cached token may predate a key rotation or a secret change, and the session may have
    // ended since it was cached: forget both, ask Better Auth again, and retry once.
    await response.body?.cancel();
    forgetToken(sessionId);
    forgetSession(session.sessionToken);
    const current = await lookUpSession(request.headers, cookie);
    if (current === null || current === "failed") return noSession(current);
    token = await tokenFor(sessionId, request.headers);
    if (token === null) return tokenUnavailable();
    response = await send(upstream, token);
  }
  if (!(response instanceof Response)) {
    audit("proxy.upstream_unavailable", { reason: response, sub, route, status: 503 }, "warning");
    return { response: unavailable("Task service unavailable", "service_unavailable"), reason: "upstream_unavailable", sub };
  }

  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    return { response: errorResponse(502, "Unexpected response from the task service", "bad_gateway"), reason: "bad_gateway", sub };
  }
  const bodyless = response.status === 204 || response.status === 304 || request.method === "HEAD";
  return {
    response: new Response(bodyless ? null : response.body, {
      status: response.status,
      headers: responseHeaders(response, userPrefix, requestId),
    }),
    reason: "forwarded",
    sub,
  };
}
